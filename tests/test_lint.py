"""The code passes ruff (configured in pyproject.toml: pycodestyle and pyflakes, lines <= 110)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("src", "tests", "benchmarks", "scripts", "tools")


def _ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert exe, "ruff is not installed: pip install -c requirements.lock -e '.[test]'"
    return subprocess.run([exe, "check", "--no-cache", *args], cwd=cwd, capture_output=True, text=True)


def test_the_code_is_ruff_clean():
    proc = _ruff(*CHECKED)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_ruff_reports_a_planted_long_line_and_an_unused_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "planted.py").write_text("import os\n\nX = '" + "x" * 120 + "'\n")
    proc = _ruff("planted.py", cwd=tmp_path)
    assert proc.returncode == 1 and "E501" in proc.stdout and "F401" in proc.stdout, proc.stdout
