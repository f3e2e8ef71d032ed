"""Throughput of the synthetic-spectrum generator.

Times the vectorised ``render`` (batches of stars) and ``render`` + ``observe`` against a
baseline measured in the same run: the same model called one star at a time. Prints
spectra/s and the ratio (the machine is shared and noisy; only ratios are comparable).

    python benchmarks/bench_synth.py [--n 512]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from astronn_paper.synth import instrument, spectra


def _labels(n: int, rng: np.random.Generator):
    teff = rng.uniform(3800, 5500, n)
    logg = rng.uniform(1.0, 3.5, n)
    xh = rng.normal(-0.2, 0.3, (n, 20))
    return teff, logg, xh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="stars for the vectorised runs")
    ap.add_argument("--n-baseline", type=int, default=64, help="stars for the per-star baseline")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    teff, logg, xh = _labels(a.n, rng)
    spectra.render(teff[:4], logg[:4], xh[:4])            # warm caches (line list, kernels)

    t = time.perf_counter()
    for i in range(a.n_baseline):
        spectra.render_one(teff[i], logg[i], xh[i])
    base = a.n_baseline / (time.perf_counter() - t)

    t = time.perf_counter()
    flux = spectra.render(teff, logg, xh)
    vec = a.n / (time.perf_counter() - t)

    t = time.perf_counter()
    f2 = spectra.render(teff, logg, xh)
    for i in range(a.n):
        instrument.observe(f2[i], rng.uniform(40, 80, 3), np.random.default_rng(i), teff[i])
    full = a.n / (time.perf_counter() - t)
    del flux

    print(f"per-star render (baseline): {base:8.1f} spectra/s")
    print(f"vectorised render         : {vec:8.1f} spectra/s  ratio {vec / base:5.2f}x")
    print(f"render + observe (3 visits): {full:8.1f} spectra/s  ratio {full / base:5.2f}x")


if __name__ == "__main__":
    main()
