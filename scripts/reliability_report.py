#!/usr/bin/env python
"""Run the reliability tests and print the figures of the README's RELIABILITY section.

::

    python scripts/reliability_report.py [--json figures.json] [-- extra pytest args]

Runs ``tests/test_reliability.py`` and ``tests/test_interruption.py`` (pytest, JUnit XML),
collects the figures the tests record (``tests/faults.py:record``) and prints:

* **inputs tried**: every injected fault (damaged files, allStar faults, output places, model
  folders, interruptions, the network guard), with the test that tried it;
* **faults survived**: those whose tests passed (clear message, bad stars skipped and counted,
  no half-written output, good stars unchanged); skipped tests (e.g. no permission to mount a
  file system) are listed separately, never counted as survived;
* **data lost**: good stars / visits / weights / catalog rows of a damaged or interrupted run
  that differ from the clean run (must be 0).

Exit status: 0 when every test passed or was skipped with a reason, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ("tests/test_reliability.py", "tests/test_interruption.py")

sys.path.insert(0, str(ROOT / "tests"))


def inputs() -> list[tuple[str, str, list[str]]]:
    """(category, fault, tests that must pass for it to count as survived)."""
    import faults  # noqa: F401 - the fault catalogue lives with the tests
    from test_reliability import BAD_FOLDERS

    compile_tests = ["test_every_fault_is_skipped_and_counted_by_reason",
                     "test_each_message_names_the_file_and_the_problem",
                     "test_good_stars_are_unchanged", "test_no_partial_output_is_left"]
    out = []
    for name, (_, reason) in faults.FILE_FAULTS.items():
        tests = compile_tests + ([] if name == "nan_one_visit" else
                                 ["test_catalog_skips_bad_stars_and_keeps_the_good_ones"])
        out.append(("spectrum file", f"{name} ({reason})", tests))
    for name in ("duplicated APOGEE_ID row", "-9999 in every column of a star",
                 "every abundance -9999"):
        out.append(("allStar", name, compile_tests))
    out += [("allStar", "missing column", ["test_missing_allstar_column_names_the_file_and_column"]),
            ("allStar", "truncated file", ["test_truncated_allstar_is_a_clear_error"]),
            ("output", "a file where the folder should be",
             ["test_a_file_where_the_output_folder_should_be"]),
            ("output", "read-only folder (bind mount)", ["test_read_only_output_folder"]),
            ("output", "full disk (2 MB tmpfs), then resume",
             ["test_full_disk_then_resume_gives_the_clean_bytes"])]
    for name in BAD_FOLDERS:
        tests = [f"test_bad_model_folder_is_refused_clearly[{name}]"]
        if name == "truncated_weights":
            tests.append("test_predict_command_exits_nonzero_without_a_stack_trace")
        out.append(("model folder", name.replace("_", " "), tests))
    out += [("environment", "TF_DETERMINISTIC_OPS=1 inherited by predict",
             ["test_predict_command_with_tf_determinism_inherited"]),
            ("interruption", "compile, SIGTERM after its first chunk",
             ["test_compile_killed_after_its_first_chunk_resumes_to_the_same_bytes"]),
            ("interruption", "training, SIGKILL while saving the model folder",
             ["test_training_killed_while_saving_restarts_to_the_same_weights"]),
            ("interruption", "catalog, SIGTERM after two chunks",
             ["test_catalog_killed_part_way_resumes_to_the_same_catalog"]),
            ("network", "every socket blocked during the chain",
             ["test_the_chain_runs_offline"])]
    return out


def run_tests(junit: Path, figures: Path, extra: list[str]) -> int:
    env = dict(os.environ, ASTRONN_PAPER_RELIABILITY_JSON=str(figures))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}", *extra]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """{test name: (passed | failed | skipped, message)}."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        status, msg = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                status = "skipped" if tag == "skipped" else "failed"
                msg = el.get("message", "")
        out[case.get("name")] = (status, msg)
    return out


def data_lost(fig: dict) -> int:
    """Good stars, visits, weight arrays or catalog rows that differ from the clean run."""
    lost = 0
    for key in ("compile_good_stars", "catalog_good_stars"):
        f = fig.get(key, {})
        lost += f.get("stars_compared", 0) - f.get("stars_identical", 0)
        lost += f.get("visits_compared", 0) - f.get("visits_identical", 0)
    return lost


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        junit, figures = Path(tmp) / "junit.xml", Path(tmp) / "figures.json"
        rc = run_tests(junit, figures, args.pytest_args)
        res = outcomes(junit) if junit.is_file() else {}
        fig = json.loads(figures.read_text()) if figures.is_file() else {}
    wall = time.time() - t0

    rows, survived, skipped, failed = [], 0, 0, 0
    for category, fault, tests in inputs():
        states = [res.get(t, ("not run", ""))[0] for t in tests]
        if all(s == "passed" for s in states):
            state, survived = "survived", survived + 1
        elif "failed" in states or "not run" in states:
            state, failed = "FAILED", failed + 1
        else:
            state, skipped = "skipped: " + "; ".join(
                res[t][1] for t in tests if res.get(t, ("",))[0] == "skipped")[:80], skipped + 1
        rows.append((category, fault, state))
    lost = data_lost(fig)
    n_tests = len(res)
    n_pass = sum(s == "passed" for s, _ in res.values())

    w1, w2 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print()
    for c, f, s in rows:
        print(f"  {c:<{w1}}  {f:<{w2}}  {s}")
    summary = {
        "inputs_tried": len(rows), "faults_survived": survived, "skipped": skipped,
        "failed": failed, "data_lost": lost, "tests": n_tests, "tests_passed": n_pass,
        "wall_time_s": round(wall, 1),
        "good_stars_compared": fig.get("compile_good_stars", {}).get("stars_compared"),
        "good_visits_compared": fig.get("compile_good_stars", {}).get("visits_compared"),
        "catalog_rows_compared": fig.get("catalog_good_stars", {}).get("stars_compared"),
        "network_attempts": fig.get("offline", {}).get("network_attempts"),
        "figures": fig,
    }
    print(f"""
inputs tried      {len(rows)}
faults survived   {survived}  (skipped {skipped}, failed {failed})
data lost         {lost}  (good stars {summary['good_stars_compared']} and their \
{summary['good_visits_compared']} visits, catalog rows {summary['catalog_rows_compared']}: \
identical to the clean run; resumed dataset byte-identical: \
{fig.get('interrupt_compile', {}).get('byte_identical')}, resumed catalog data identical: \
{fig.get('interrupt_catalog', {}).get('data_identical')}, restarted training weights identical: \
{fig.get('interrupt_training', {}).get('identical')})
network attempts  {summary['network_attempts']}
tests             {n_pass}/{n_tests} passed in {wall:.0f} s""")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))
    return 0 if rc == 0 and failed == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
