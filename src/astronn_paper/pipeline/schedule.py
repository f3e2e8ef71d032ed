"""Run named jobs as child processes, a few at a time, each once the jobs it reads from are done.

Used by ``run`` (one notebook per job) and by the reproduction check (one nbval session per
notebook). A job that fails does not hold back the jobs after it: they start anyway (the
notebooks build what they miss themselves) and the caller reports the failure.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence


def run_graph(names: Sequence[str], after: Mapping[str, Sequence[str]],
              start: Callable[[str], subprocess.Popen], jobs: int,
              finished: Callable[[str, subprocess.Popen, float], None],
              started: Callable[[str], None] | None = None, poll_s: float = 0.2) -> None:
    """Start ``start(name)`` for each of ``names`` (in that order of priority) with at most
    ``jobs`` running, each after the names in ``after[name]`` that are among ``names`` have
    finished; ``finished(name, process, seconds)`` is called as each one ends."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    todo = list(names)
    waiting = {n: {a for a in after.get(n, ()) if a in todo} for n in todo}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    try:
        _loop(todo, waiting, running, start, jobs, finished, started, poll_s)
    finally:        # interrupted (Ctrl-C) or failed: no child is left running on its own
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in running.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _loop(todo, waiting, running, start, jobs, finished, started, poll_s) -> None:
    while todo or running:
        for name in [n for n in todo if not waiting[n]][:max(0, jobs - len(running))]:
            todo.remove(name)
            if started is not None:
                started(name)
            running[name] = (start(name), time.time())
        if running:
            time.sleep(poll_s)
        elif todo:                       # only possible with a dependency cycle
            raise ValueError(f"jobs wait on each other: {sorted(todo)}")
        for name, (proc, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            for w in waiting.values():
                w.discard(name)
            finished(name, proc, time.time() - t0)
