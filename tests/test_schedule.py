"""Stages (and the reproduction check's notebooks) run side by side, each after the ones it
reads from: the order and the concurrency are those asked for."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from astronn_paper.pipeline import schedule, stages


def _sleeper(seconds: float):
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def _run(names, after, jobs, seconds):
    events = []

    def start(name):
        events.append(("start", name, time.time()))
        return _sleeper(seconds[name])

    def finished(name, proc, dt):
        events.append(("end", name, time.time()))
        assert proc.returncode == 0 and dt > 0

    schedule.run_graph(names, after, start, jobs, finished, poll_s=0.02)
    return events


def test_a_job_waits_for_the_jobs_it_reads_from_and_two_run_at_once():
    events = _run(["A", "B", "C"], {"B": ("A",)}, jobs=2, seconds={"A": 0.6, "B": 0.1, "C": 0.1})
    when = {(kind, name): t for kind, name, t in events}
    assert [n for k, n, _ in events if k == "start"][:2] == ["A", "C"]   # C does not wait for B
    assert when[("start", "B")] >= when[("end", "A")]
    assert when[("start", "C")] < when[("end", "A")]                     # side by side


def test_one_job_at_a_time_keeps_the_given_order():
    events = _run(["A", "B", "C"], {}, jobs=1, seconds={"A": 0.05, "B": 0.05, "C": 0.05})
    assert [(k, n) for k, n, _ in events] == [("start", "A"), ("end", "A"), ("start", "B"),
                                             ("end", "B"), ("start", "C"), ("end", "C")]


def test_a_dependency_outside_the_list_does_not_block_and_a_cycle_is_refused():
    events = _run(["B"], {"B": ("A",)}, jobs=2, seconds={"B": 0.01})
    assert [n for _, n, _ in events] == ["B", "B"]
    with pytest.raises(ValueError, match="wait on each other"):
        schedule.run_graph(["X", "Y"], {"X": ("Y",), "Y": ("X",)}, lambda n: _sleeper(0), 2,
                           lambda *a: None)


def test_every_stage_runs_after_the_stages_it_reads_from():
    names = [s.name for s in stages.STAGES]
    for i, stage in enumerate(stages.STAGES):
        assert set(stage.after) <= set(names[:i]), stage.name   # listed after what it reads
    assert sorted(stages.START_ORDER) == sorted(names)


def test_the_test_command_runs_unit_tests_and_notebooks_side_by_side(tmp_path, monkeypatch, data_home,
                                                                     capsys):
    """``python -m astronn_paper test``: the unit tests and each notebook in their own pytest
    session, two at a time; a failing notebook fails the command and its report is printed."""
    from astronn_paper import config
    from astronn_paper.pipeline import notebooks

    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "tests" / "test_unit.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    monkeypatch.setenv(config.ROOT_ENV, str(root))
    first, second = stages.STAGES[0], stages.STAGES[1]
    src = tmp_path / "nb.py"
    src.write_text('# %% tags=["parameters"]\nprofile = None\n\n# %%\nprint(6 * 7)\n')
    notebooks.build_notebook(src, root / f"{first.name}.ipynb")
    src.write_text('# %%\nraise RuntimeError("a notebook that breaks")\n')
    notebooks.build_notebook(src, root / f"{second.name}.ipynb")
    rc = stages.run_tests(jobs=2)
    out = capsys.readouterr().out
    assert rc == 1
    assert "running 3 pytest sessions, up to 2 at a time" in out
    assert "unit tests" in out and "1 passed" in out
    assert f"FAILED: {second.name}" in out and "a notebook that breaks" in out


def test_an_interrupted_schedule_leaves_no_child_running():
    started = []

    def start(name):
        if name == "B":
            raise KeyboardInterrupt          # as Ctrl-C while the second job starts
        started.append(_sleeper(30))
        return started[-1]

    with pytest.raises(KeyboardInterrupt):
        schedule.run_graph(["A", "B"], {}, start, 2, lambda *a: None, poll_s=0.02)
    assert started and started[0].poll() is not None      # A was terminated, not left running
