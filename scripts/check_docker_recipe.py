#!/usr/bin/env python3
"""Check the Docker recipe without Docker.

There is no Docker engine on the CI machine, so this script rebuilds, in a virtual
environment, what matters of the image the ``Dockerfile`` describes:

1. The base image's Python stack. The ``Dockerfile`` builds ``FROM
   nvcr.io/nvidia/tensorflow:23.06-tf2-py3``. NVIDIA's release notes of that container,
   "TensorFlow Release 23.06" (NVIDIA Optimized Frameworks documentation,
   https://docs.nvidia.com/deeplearning/frameworks/tensorflow-release-notes/rel-23-06.html),
   give its contents as "Ubuntu 22.04 including Python 3.10" and state that the container
   image version 23.06 is based on TensorFlow 2.12.0; NVIDIA's Frameworks Support Matrix
   (https://docs.nvidia.com/deeplearning/frameworks/support-matrix/index.html) has the
   same Python 3.10 (with CUDA 12.1.1) for the 23.06 images. Hence ``NGC_PYTHON = 3.10``
   and ``NGC_TENSORFLOW = 2.12.0`` below. (When this was written the 23.06 page itself
   could not be fetched from the CI machine, which is offline; the Python version was
   cross-checked against a copy of the Support Matrix's table of 23.06 images.)

   NVIDIA's release notes do not list the container's numpy (they list the CUDA stack,
   not Python packages), so numpy is the one version here that is not quoted from
   NVIDIA. The check installs the lowest numpy TensorFlow 2.12.0 accepts - its wheel
   declares ``numpy (<1.24,>=1.22)``, so the numpy NVIDIA ships with it lies in 1.22 -
   1.23 - namely 1.22.4, the last 1.22 release. That is the harder case for the recipe:
   locked packages needing numpy >= 1.23 (matplotlib 3.10, astropy 6.1) make pip move
   numpy, which the check reports. ``--numpy`` (or ``NGC_NUMPY``) checks another one,
   e.g. ``--numpy 1.23.5``.

   TensorFlow 2.12.0 comes from PyPI with what its wheel requires (keras, tensorboard,
   h5py, protobuf, grpcio, ...): in the image these come with NVIDIA's TensorFlow, and
   the Dockerfile's filter leaves them unpinned. pip, setuptools and wheel are the
   venv's (the image has its own).

2. The Dockerfile's own steps, read from the Dockerfile at run time (never copied into
   this script): its ``ENV`` values, the build context that ``COPY . <dir>`` sends
   (honouring ``.dockerignore``), and every ``RUN`` instruction - the constraint filter
   on ``requirements.lock`` and the ``pip install -c ... -e ".[test]"`` step - run
   unchanged by ``/bin/sh -c`` with ``python`` being the venv's. Two things differ from a
   real build: absolute paths of the image (``/tmp``, ``/data``, ``/opt``) are relocated
   under a temporary folder (the "image root"), and ``PIP_NO_CACHE_DIR`` is not applied
   so that pip may use this machine's wheel cache (it changes where wheels come from,
   not which versions are installed).

3. A smoke test with the image's ``CMD`` on the ``ci`` profile:
   ``python -m astronn_paper run --profile ci --stages Datasets_Data_Reduction Training``
   (builds the ci datasets from the synthetic survey and trains both networks), then
   checks that the executed notebooks and the trained model folders exist. ``--light``
   runs the Datasets notebook and trains only the censored network (by the ``train``
   command) instead.

The check fails (exit 1) with one line naming the problem if: the Dockerfile's base image
is no longer the one whose versions are quoted above; the build context is larger than
``--max-context-mb`` (the whole context is sent to the Docker daemon and copied into
the image); a ``RUN`` step fails; pip replaced TensorFlow; or the smoke test fails.
Everything is written under a temporary folder (``--workdir`` to choose it), never into
the repository.

Usage::

    python scripts/check_docker_recipe.py [--python /path/to/python3.10] [--light] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The NGC base image whose contents are recreated (the Dockerfile's FROM must match).
NGC_IMAGE = "nvcr.io/nvidia/tensorflow:23.06-tf2-py3"
#: Python of that image: NVIDIA's TensorFlow Release 23.06 notes, "Ubuntu 22.04 including
#: Python 3.10" (see the module docstring for the addresses).
NGC_PYTHON = "3.10"
#: TensorFlow of that image: the same notes, "based on TensorFlow 2.12.0".
NGC_TENSORFLOW = "2.12.0"
#: numpy: not listed by NVIDIA; the lowest release TensorFlow 2.12.0 accepts (see above).
NGC_NUMPY = "1.22.4"

#: Stages of the smoke test (the first two notebooks of the chain).
SMOKE_STAGES = ("Datasets_Data_Reduction", "Training")
#: Image folders relocated under the temporary image root.
IMAGE_DIRS = ("tmp", "data", "opt")

REPO = Path(__file__).resolve().parents[1]


class CheckError(RuntimeError):
    """A failed check: the message is the one line printed."""


# --------------------------------------------------------------------------- Dockerfile
def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """Instructions of a Dockerfile as (KEYWORD, arguments), continuation lines joined.

    Comment lines are dropped, also inside a continued instruction (as Docker does)."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    if current:
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def env_pairs(args: str) -> dict[str, str]:
    """The variables of one ENV instruction (``K=V ...`` or the legacy ``K V`` form)."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def exec_form(args: str) -> list[str]:
    """Arguments of a CMD/ENTRYPOINT: the JSON (exec) form, else split as a shell would."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return shlex.split(args)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CheckError(f"CMD is not a list of strings: {args}")
    return value


def relocate(text: str, root: Path) -> str:
    """Move the image's absolute paths (/tmp, /data, /opt) under ``root``."""
    pattern = r"(?<![\w./-])/(?=(?:%s)(?:/|\b))" % "|".join(IMAGE_DIRS)
    return re.sub(pattern, str(root).rstrip("/") + "/", text)


# --------------------------------------------------------------------------- build context
def glob_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stay within one path component,
    ``**`` spans any number of them."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def dockerignore_rules(context: Path) -> list[tuple[bool, re.Pattern]]:
    """(exclude?, regex) of each .dockerignore line; later lines win, ``!`` re-includes."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).strip("/")
        rules.append((not include, glob_regex(pattern)))
    return rules


def ignored(rel: str, rules) -> bool:
    """Whether Docker leaves ``rel`` out of the context (a pattern matching one of its
    folders leaves out the folder's content)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for exclude, regex in rules:
        if any(regex.match(p) for p in prefixes):
            result = exclude
    return result


def context_files(context: Path) -> list[Path]:
    """Files of the build context Docker would send (symlinks are copied as links)."""
    rules = dockerignore_rules(context)
    prune = not any(not exclude for exclude, _ in rules)   # '!' rules need every folder
    files = []
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if prune:
            dirnames[:] = [d for d in dirnames if not ignored(rel_dir + d, rules)]
        files.extend(Path(rel_dir + name) for name in filenames
                     if not ignored(rel_dir + name, rules))
    return sorted(files)


#: The build context holds the sources, the committed notebooks (~7 MB) and the shipped model
#: folders (~190 MB: thirteen networks, which belong in the image so that ``run`` trains
#: nothing); anything much larger is a data folder or a venv that .dockerignore missed.
MAX_CONTEXT_MB = 300.0


def copy_context(context: Path, dest: Path, max_mb: float) -> tuple[int, float]:
    """Copy the build context to ``dest``; fail if it is larger than ``max_mb``."""
    files = context_files(context)
    sizes = {f: (context / f).lstat().st_size for f in files}
    total_mb = sum(sizes.values()) / 1e6
    if total_mb > max_mb:
        top: dict[str, int] = {}
        for f, s in sizes.items():
            top[f.parts[0]] = top.get(f.parts[0], 0) + s
        biggest = ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in
                            sorted(top.items(), key=lambda kv: -kv[1])[:4])
        raise CheckError(f"build context is {total_mb:.0f} MB (> {max_mb:.0f} MB): "
                         f"{biggest}; list them in .dockerignore")
    for f in files:
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(context / f, target, follow_symlinks=False)
    return len(files), total_mb


# --------------------------------------------------------------------------- helpers
def run(cmd, *, env=None, cwd=None, log=None, timeout=None) -> None:
    shown = cmd if isinstance(cmd, str) else shlex.join(str(c) for c in cmd)
    print(f"+ {shown}", flush=True)
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout,
                              stdout=log, stderr=subprocess.STDOUT if log else None)
    except subprocess.TimeoutExpired:
        raise CheckError(f"timed out after {timeout:.0f} s: {shown}") from None
    if proc.returncode != 0:
        tail = ""
        if log is not None:
            log.flush()
            lines = Path(log.name).read_text(errors="replace").splitlines()
            tail = "\n".join(lines[-40:])
        raise CheckError(f"command failed (exit {proc.returncode}): {shown}"
                         + (f"\n--- last lines of {log.name}:\n{tail}" if tail else ""))


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"],
                         check=True, capture_output=True, text=True).stdout
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


def find_python(explicit: str | None) -> Path:
    """The interpreter asked for (which must be Python 3.10), else the first 3.10 found."""
    chosen = explicit or os.environ.get("NGC_PYTHON_EXE")
    pyenv = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions")
                   .glob(f"{NGC_PYTHON}.*/bin/python{NGC_PYTHON}"))
    candidates = [chosen] if chosen else [shutil.which(f"python{NGC_PYTHON}"),
                                          *map(str, reversed(pyenv))]
    for c in filter(None, candidates):
        probe = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        version = probe.stdout.strip()
        if version == NGC_PYTHON:
            return Path(c)
        if chosen:
            raise CheckError(f"{c} is not Python {NGC_PYTHON} (it says {version or 'nothing'})")
    raise CheckError(f"no Python {NGC_PYTHON} found: pass --python or set NGC_PYTHON_EXE")


def clean_env(venv: Path) -> dict[str, str]:
    """The host environment minus what would leak into the image build."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASTRONN_PAPER_", "PYTHON", "SDSS_", "GAIA_TOOLS", "LASMOT",
                                "VIRTUAL_ENV", "CONDA"))}
    env.pop("PIP_NO_CACHE_DIR", None)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


# --------------------------------------------------------------------------- the check
def check(args) -> None:
    t0 = time.time()
    context = Path(args.context).resolve() if args.context else REPO
    dockerfile = context / "Dockerfile"
    instructions = parse_dockerfile(dockerfile.read_text())
    froms = [a.split()[0] for k, a in instructions if k == "FROM"]
    if froms != [NGC_IMAGE]:
        raise CheckError(f"Dockerfile builds FROM {froms}, this check recreates {NGC_IMAGE}: "
                         "update NGC_* in scripts/check_docker_recipe.py from NVIDIA's notes")

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="docker-recipe-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "root"            # the image's filesystem root, relocated
    venv = work / "venv"            # the image's Python
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    print(f"work folder: {work}", flush=True)
    try:
        python = find_python(args.python)
        # -- 1. the NGC image's Python stack
        if not (venv / "bin" / "python").exists():
            run([str(python), "-m", "venv", str(venv)])
        vpy = venv / "bin" / "python"
        env = clean_env(venv)
        with open(logs / "ngc.log", "w") as log:
            run([str(vpy), "-m", "pip", "install", f"tensorflow=={NGC_TENSORFLOW}",
                 f"numpy=={args.numpy}"], env=env, log=log)
        before = freeze(vpy)
        t_ngc = time.time()
        print(f"NGC stand-in: Python {NGC_PYTHON}, tensorflow {before.get('tensorflow')}, "
              f"numpy {before.get('numpy')} ({t_ngc - t0:.0f} s)", flush=True)

        # -- 2. the Dockerfile's steps
        (root / "tmp").mkdir(parents=True, exist_ok=True)   # every base image has /tmp
        workdir = None
        for keyword, a in instructions:
            if keyword == "ENV":
                for k, v in env_pairs(a).items():
                    if k == "PIP_NO_CACHE_DIR":
                        continue  # see the module docstring: only where wheels come from
                    env[k] = relocate(v, root)
            elif keyword == "WORKDIR":
                workdir = Path(relocate(a, root))
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                src, dest = shlex.split(a)[-2:]
                if src != ".":
                    raise CheckError(f"COPY {a}: this check only knows 'COPY . <dir>'")
                target = Path(relocate(dest, root))
                n, mb = copy_context(context, target, args.max_context_mb)
                print(f"build context: {n} files, {mb:.1f} MB -> {target}", flush=True)
            elif keyword == "RUN":
                with open(logs / "run.log", "a") as log:
                    run(["/bin/sh", "-c", relocate(a, root)], env=env, cwd=workdir, log=log)
            elif keyword == "CMD":
                env["_CMD"] = json.dumps(exec_form(a))
        after = freeze(vpy)
        t_build = time.time()

        # TensorFlow and the packages the Dockerfile's filter keeps: did pip touch them?
        run_text = " ".join(a for k, a in instructions if k == "RUN")
        kept = re.search(r"\^\(([^)]*)\)", run_text)
        names = [n.lower().replace("[-_]", "-").replace("_", "-")
                 for n in kept.group(1).split("|")] if kept else []
        changed = {n: (before.get(n), after.get(n)) for n in names
                   if before.get(n) and before.get(n) != after.get(n)}
        for n, (old, new) in changed.items():
            print(f"note: the pip step changed {n} {old} -> {new}, a package the image "
                  "provides (the Dockerfile's filter leaves it unpinned)", flush=True)
        if "tensorflow" in changed or after.get("tensorflow") != NGC_TENSORFLOW:
            raise CheckError(f"the pip step replaced TensorFlow {NGC_TENSORFLOW} by "
                             f"{after.get('tensorflow')}")
        locked = {}
        for line in (context / "requirements.lock").read_text().splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.startswith("#"):
                locked[name.strip().lower().replace("_", "-")] = version.strip()
        off_lock = sorted(f"{n} {v} -> {after[n]}" for n, v in locked.items()
                          if n in after and after[n] != v and n not in names)
        if off_lock:
            print(f"note: {len(off_lock)} locked release(s) installed at another version "
                  f"(Python {NGC_PYTHON}): {', '.join(off_lock)}", flush=True)
        print(f"Dockerfile steps passed ({t_build - t_ngc:.0f} s)", flush=True)

        # -- 3. smoke test with the image's CMD, ci profile
        cmd = json.loads(env.pop("_CMD", "[]"))
        if cmd[-1:] != ["run"]:
            raise CheckError(f"CMD {cmd} is not '... run': update the smoke test")
        cmd[0] = str(venv / "bin" / cmd[0]) if cmd[0].startswith("python") else cmd[0]
        stages = SMOKE_STAGES[:1] if args.light else SMOKE_STAGES
        commands = [cmd + ["--profile", "ci", "--stages", *stages]]
        if args.light:   # the Datasets notebook, then one network trained by the CLI
            commands.append([cmd[0], "-m", "astronn_paper", "train", "--profile", "ci",
                             "--network", "censored"])
        deadline = time.time() + args.timeout
        with open(logs / "smoke.log", "w") as log:
            for c in commands:
                run(c, env=env, cwd=workdir, log=log, timeout=max(1.0, deadline - time.time()))
        data = Path(env["ASTRONN_PAPER_DATA"]) / "ci"
        missing = [s for s in stages if not (data / "notebooks" / f"{s}.ipynb").is_file()]
        models = sorted(p.name for p in (data / "models").glob("*") if p.is_dir()) \
            if (data / "models").is_dir() else []
        if missing:
            raise CheckError(f"smoke test wrote no executed notebook for {missing} under {data}")
        expected = 1 if args.light else 2
        if len(models) < expected:
            raise CheckError(f"smoke test left {len(models)} model folder(s) in {data / 'models'}, "
                             f"expected {expected}")
        t_end = time.time()
        print(f"smoke test passed ({t_end - t_build:.0f} s): notebooks {list(stages)}, "
              f"models {models}", flush=True)
        print(f"docker recipe check passed in {t_end - t0:.0f} s "
              f"(NGC stand-in {t_ngc - t0:.0f} s, Dockerfile steps {t_build - t_ngc:.0f} s, "
              f"smoke test {t_end - t_build:.0f} s)", flush=True)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help=f"a Python {NGC_PYTHON} interpreter "
                        "(default: $NGC_PYTHON_EXE, python3.10 on PATH, pyenv's)")
    parser.add_argument("--numpy", default=os.environ.get("NGC_NUMPY", NGC_NUMPY),
                        help=f"numpy of the NGC stand-in (default {NGC_NUMPY})")
    parser.add_argument("--context", help="build context holding the Dockerfile "
                        "(default: this repository)")
    parser.add_argument("--workdir", help="work folder (kept); default: a temporary one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--max-context-mb", type=float, default=MAX_CONTEXT_MB,
                        help=f"largest acceptable build context (default {MAX_CONTEXT_MB:.0f} MB)")
    parser.add_argument("--light", action="store_true",
                        help="lighter smoke test: the Datasets notebook, then the censored "
                        "network trained by 'python -m astronn_paper train'")
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds allowed for the smoke test (default 1200)")
    args = parser.parse_args(argv)
    try:
        check(args)
    except CheckError as exc:
        print(f"docker recipe check FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
