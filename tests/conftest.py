"""Shared test set-up: quiet TensorFlow, non-interactive matplotlib, an isolated data folder."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

#: Every Figure a figure function returned during the test session: (test, figure name, problems).
FIGURES_BUILT: list = []


@pytest.fixture(autouse=True)
def figures_read_at_nbviewer_width(monkeypatch, request):
    """Every figure a test builds through a figure function is checked as nbviewer shows it
    (:func:`astronn_paper.figures.style.legibility_problems`) and must carry the survey stamp;
    a test marked ``illegible_ok`` is exempt (planted failures)."""
    try:
        from astronn_paper.figures import style
    except ImportError:     # pragma: no cover - the package is not installed
        yield
        return
    built = []
    real = style.stamp

    def recording(fig, text=None):
        fig = real(fig, text)
        built.append(fig)
        return fig

    monkeypatch.setattr(style, "stamp", recording)
    yield
    if request.node.get_closest_marker("illegible_ok"):
        return
    problems = {}
    for fig in built:
        name = fig.get_label() or repr(fig)
        found = style.legibility_problems(fig)
        if not style.is_stamped(fig):
            found.append("no survey stamp")
        FIGURES_BUILT.append((request.node.nodeid, name, found))
        if found:
            problems[name + f" #{len(problems)}"] = found
    assert not problems, f"figures that do not read at nbviewer's width: {problems}"



@pytest.fixture
def shared_data() -> Path:
    """The shared reference data (``../shared/reference/data`` beside the repository, found by
    :func:`astronn_paper.config.shared_reference_dir`); the test is skipped when it is absent."""
    from astronn_paper import config

    ref = config.shared_reference_dir()
    if ref is None or not (ref / "data").is_dir():
        pytest.skip(f"the shared reference data is absent ({config.repo_root().parent / 'shared'}"
                    " next to the repository): real Meszaros table and PARSEC isochrones")
    return ref / "data"


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """Point the package's data folder at a temporary directory."""
    monkeypatch.setenv("ASTRONN_PAPER_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def assert_same_datasets(a: Path, b: Path) -> None:
    """Two compiled dataset files hold the same columns with the same values, and so the same
    content fingerprint."""
    import h5py
    import numpy as np

    with h5py.File(a) as f, h5py.File(b) as g:
        for kind in ("combined", "visits"):
            assert sorted(f[kind]) == sorted(g[kind])
            for name in f[kind]:
                np.testing.assert_array_equal(f[kind][name][()], g[kind][name][()],
                                              err_msg=f"{kind}/{name}")
        assert f.attrs["fingerprint"] == g.attrs["fingerprint"]
