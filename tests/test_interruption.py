"""Interrupted runs resume to the outputs of uninterrupted ones (issue 11).

Each test starts the real code in a subprocess on the tiny exported mirror of :mod:`faults`,
waits (by polling for the file it writes, never a blind sleep) until it has written part of
its output, kills it, restarts, and compares with an uninterrupted run:

* **compile** (SIGTERM after the first chunk): the resumed HDF5 is byte-identical to a clean
  compile (``SOURCE_DATE_EPOCH`` pins the one recorded time);
* **training** (SIGKILL while the model folder is being written, after the weights are on
  disk): no model folder appears, the stale ``.partial-<pid>`` folder is removed by the
  restart (the same command in a new process), which trains *from scratch* (there is no
  mid-training checkpoint) and gives the same weights bit for bit (same seed, TF op
  determinism). Bit-identity holds between fresh processes: a second training inside a
  process that has already built Keras models does not match (measured; Keras' unseeded
  layer initialisers draw from per-process counters);
* **catalog** (SIGTERM after two chunks of predictions): the resumed FITS has the same
  data bytes (equal ``DATASUM``) and the same header as an uninterrupted run, except the cards
  that measure this run (``WALLTIME``, the wall time inside the ``PROVENANCE`` comment, and
  the header ``CHECKSUM`` that covers them).

``test_dataset.py`` already kills an in-memory compile with SIGKILL; here the source is a
mirror on disk and the signal SIGTERM.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import faults  # noqa: E402

from astronn_paper import cache, dataset  # noqa: E402 - after faults
from astronn_paper.survey.mirror import MirrorSource  # noqa: E402

PRELUDE = f"""
import sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, {str(HERE)!r})
import faults
"""


def _start(code: str) -> subprocess.Popen:
    env = dict(os.environ, SOURCE_DATE_EPOCH=faults.EPOCH)
    return subprocess.Popen([sys.executable, "-c", PRELUDE + code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_when(proc: subprocess.Popen, ready, sig, timeout: float = 400.0) -> None:
    """Poll ``ready()`` every 20 ms; send ``sig`` when it is true (the process must still run)."""
    deadline = time.time() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail("the process ended before it could be interrupted:\n"
                            + proc.stdout.read()[-3000:])
            if time.time() > deadline:
                pytest.fail("the process wrote nothing to interrupt in time")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(60)
    assert proc.returncode == -sig


@pytest.mark.subprocess
def test_compile_killed_after_its_first_chunk_resumes_to_the_same_bytes(tmp_path):
    root = faults.base_mirror().root
    out = tmp_path / "train.h5"
    work = Path(str(out) + ".partial")
    proc = _start(f"""
from astronn_paper import dataset
from astronn_paper.survey.mirror import MirrorSource
read = MirrorSource.apstar
MirrorSource.apstar = lambda self, i: (time.sleep(0.2), read(self, i))[1]   # a slow disk
dataset.compile_dataset(MirrorSource({str(root)!r}), faults.SELECTION, {str(out)!r},
                        workers=1, chunk_size=1, progress=False)
""")
    _kill_when(proc, lambda: (work / "chunk_000000.npz").exists(), signal.SIGTERM)
    done = sorted(work.glob("chunk_*.npz"))
    assert 1 <= len(done) < faults.N_STARS and not out.exists()
    with faults.pinned_epoch():
        rep = dataset.compile_dataset(MirrorSource(root), faults.SELECTION, out, workers=1,
                                      chunk_size=1, progress=False)
    assert rep.resumed_chunks == len(done) and rep.written == faults.N_STARS
    assert cache.file_sha1(out) == cache.file_sha1(faults.clean_dataset())
    assert faults.leftovers(tmp_path) == []
    faults.record("interrupt_compile", {"signal": "SIGTERM", "chunks_before_kill": len(done),
                                        "chunks": faults.N_STARS, "byte_identical": True})


@pytest.mark.subprocess
def test_training_killed_while_saving_restarts_to_the_same_weights(tmp_path):
    data = faults.clean_dataset()
    out = faults.model_folder()
    shutil.rmtree(out, ignore_errors=True)
    marker = tmp_path / "weights_written"
    proc = _start(f"""
from astronn_paper.model import train
strip = train.strip_optimizer
def hook(path):          # the weights are on disk; the folder is not complete yet
    strip(path)
    Path({str(marker)!r}).write_text(str(path))
    time.sleep(600)
train.strip_optimizer = hook
train.train_network("censored", {str(data)!r}, {str(out)!r}, faults.TRAIN_PROFILE,
                    seed=faults.TRAIN_SEED, epochs=1)
""")
    _kill_when(proc, marker.exists, signal.SIGKILL)
    partial = Path(marker.read_text()).parent
    assert partial.name == f"{out.name}.partial-{proc.pid}" and partial.is_dir()
    assert not out.exists()  # no half-written model folder under the real name
    killed = faults.weights(partial)
    # the restart: the same command in a new process, from scratch, same seed
    restart = _start(f"""
from astronn_paper.model import train
train.train_network("censored", {str(data)!r}, {str(out)!r}, faults.TRAIN_PROFILE,
                    seed=faults.TRAIN_SEED, epochs=1)
""")
    log = restart.communicate(timeout=600)[0]
    assert restart.returncode == 0, log[-3000:]
    folder = out
    assert (folder / "model_weights.h5").is_file() and not partial.exists()
    assert faults.leftovers(out.parent) == []
    restarted = faults.weights(folder)
    assert len(restarted) == len(killed) > 10
    for a, b in zip(killed, restarted):
        np.testing.assert_array_equal(a, b)
    faults.record("interrupt_training", {"signal": "SIGKILL", "restart": "from scratch",
                                         "weight_arrays": len(killed), "identical": True,
                                         "parameters": int(sum(a.size for a in killed))})


def _header_without_this_run(path):
    """Header cards, without those measuring the run (WALLTIME, CHECKSUM and the wall time
    inside the PROVENANCE comment, which spans several COMMENT cards)."""
    import re

    from astropy.io import fits

    h = fits.getheader(path, 1)
    cards = [(c.keyword, str(c.value)) for c in h.cards
             if c.keyword not in ("WALLTIME", "CHECKSUM", "COMMENT")]
    comments = "".join(str(v) for v in h["COMMENT"])
    assert '"wall_time_s"' in comments
    return cards, re.sub(r'"wall_time_s": [0-9.eE+-]+', '"wall_time_s": X', comments)


@pytest.mark.subprocess
def test_catalog_killed_part_way_resumes_to_the_same_catalog(tmp_path):
    from astropy.io import fits

    from astronn_paper.analysis import catalog

    root, model = faults.base_mirror().root, faults.tiny_model()
    out, marker = tmp_path / "catalog.fits", tmp_path / "two_chunks_written"
    kw = dict(model_folder=model, rows=np.arange(faults.N_STARS), chunk_size=4, mc=5,
              progress=False)
    proc = _start(f"""
from astronn_paper.analysis import catalog
from astronn_paper.survey.mirror import MirrorSource
read, calls = catalog.read_spectra, []
def hook(source, idx):   # chunk 3 never arrives: chunks 1 and 2 get written, then it waits
    calls.append(idx)
    if len(calls) == 3:
        time.sleep(600)
    return read(source, idx)
bar = catalog.progress_bar
def counting_bar(enabled, **kw):   # the bar advances once a chunk's group is closed on disk
    b = bar(enabled, **kw)
    update = b.update
    def counted(n=1):
        update(n)
        counted.chunks += 1
        if counted.chunks == 2:
            Path({str(marker)!r}).write_text("2")
    counted.chunks = 0
    b.update = counted
    return b
catalog.read_spectra, catalog.progress_bar = hook, counting_bar
catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource({str(root)!r}),
                      model_folder={str(model)!r}, rows=np.arange({faults.N_STARS}), chunk_size=4,
                      mc=5, progress=False, out_path={str(out)!r})
""")
    partial = out.with_name(out.name + ".partial")

    # The marker says when two chunks are done (the chunk files are written atomically, but
    # counting them would race the writer).
    def two_chunks_done() -> bool:
        return marker.exists()

    _kill_when(proc, two_chunks_done, signal.SIGTERM)
    assert partial.is_dir() and not out.exists()
    with faults.pinned_epoch():
        rep = catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource(root),
                                    out_path=out, **kw)
        ref = catalog.build_catalog(faults.TRAIN_PROFILE, source=MirrorSource(root),
                                    out_path=tmp_path / "straight.fits", **kw)
    assert rep.n_chunks_resumed == 2 and rep.n_run == faults.N_STARS - 8
    assert ref.n_chunks_resumed == 0 and rep.n_predicted == ref.n_predicted == faults.N_STARS
    with fits.open(out) as a, fits.open(tmp_path / "straight.fits") as b:
        assert a[1].data.tobytes() == b[1].data.tobytes()
        assert a[1].header["DATASUM"] == b[1].header["DATASUM"]
    assert _header_without_this_run(out) == _header_without_this_run(tmp_path / "straight.fits")
    assert faults.leftovers(tmp_path) == []
    faults.record("interrupt_catalog", {"signal": "SIGTERM", "chunks_resumed": rep.n_chunks_resumed,
                                        "chunks": rep.n_chunks, "data_identical": True})
