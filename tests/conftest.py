"""Shared test set-up: quiet TensorFlow, non-interactive matplotlib, an isolated data folder."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """Point the package's data folder at a temporary directory."""
    monkeypatch.setenv("ASTRONN_PAPER_DATA", str(tmp_path / "data"))
    return tmp_path / "data"
