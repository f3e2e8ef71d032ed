"""``python -m astronn_paper bench NAME``: benchmarks measured against a baseline in one run.

The machine is shared and noisy, so every benchmark times its baseline and the candidate
back to back in the same process and reports their *ratio*, not only absolute numbers.

Benchmarks live in :data:`BENCHMARKS` (name -> :class:`Benchmark`); add one by writing an
``add_arguments(parser)`` and a ``run(args) -> int`` and registering them there.

``inference``
    astroNN 1.1.0's ``model.test()`` and the fast engine (:mod:`astronn_paper.model.engine`) on the
    same model and spectra with the same number of MC passes: throughputs (spectra/s), their
    ratio (wall clock and CPU time), a statistical agreement check, the precision the engine
    used (:mod:`astronn_paper.model.blas`), the share of that precision's GEMM rate measured in
    the same run, and the time the whole DR14 / DR17 catalogues would take.

``memory``
    peak resident memory of the engine streaming ``--n`` spectra (default 100,000) from an HDF5
    file, against the peak with the model loaded.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from astronn_paper import cache, config
from astronn_paper.model.predict import mc_passes


@dataclass(frozen=True)
class Benchmark:
    help: str
    add_arguments: Callable
    run: Callable


# ============================================================================ CPU peak
def cpu_peak() -> dict:
    """Estimate of this machine's fp32 peak from /proc/cpuinfo.

    peak = cores x FMA units (2) x fp32 lanes per vector (16 with AVX-512, 8 with AVX2, 4
    otherwise) x 2 flops per FMA x clock, with the clock the largest "cpu MHz" reported and
    cores the CPUs this process may run on. This is the nominal figure; CPUs that execute
    512-bit instructions as two 256-bit halves (AMD Zen 4) reach half of it at the same clock,
    while boost clocks above the reported one raise it.
    """
    info = {"model": platform.processor() or "unknown", "mhz": None, "flags": set()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = [float(l.split(":")[1]) for l in text.splitlines() if l.startswith("cpu MHz")]
        info["mhz"] = max(mhz) if mhz else None
        for line in text.splitlines():
            if line.startswith("model name") and info["model"] in ("unknown", ""):
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                info["flags"] = set(line.split(":", 1)[1].split())
                break
        model = [l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name")]
        if model:
            info["model"] = model[0]
    except OSError:
        pass
    flags = info["flags"]
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    cores = len(os.sched_getaffinity(0))
    ghz = (info["mhz"] or 0.0) / 1e3
    peak = cores * fma * lanes * 2 * ghz * 1e9
    return {"model": info["model"], "cores": cores, "ghz": ghz, "lanes": lanes,
            "fma_units": fma, "peak_flops": peak,
            "formula": f"{cores} cores x {fma} FMA x {lanes} fp32 lanes x 2 flop x {ghz:.2f} GHz"}


def sgemm_rate(m: int = 2048, k: int = 7512, n: int = 192, repeats: int = 3) -> float:
    """Measured float32 matrix-product rate (flop/s) of numpy's BLAS on all cores, for the
    shape of the network's biggest layer: the practical peak of this machine right now."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * k * n / best


# ============================================================================ inference
def synthetic_spectra(n: int, seed: int, n_pix: int = 7514) -> np.ndarray:
    """Continuum-normalised-looking spectra: flux ~ 1, ~400 absorption lines of random depth
    per star, 1 % noise (float32). Only the shapes and value ranges matter for timing."""
    rng = np.random.default_rng(seed)
    x = 1.0 + 0.01 * rng.standard_normal((n, n_pix), dtype=np.float32)
    centres = rng.integers(0, n_pix, 400)
    depth = rng.uniform(0.0, 0.3, (n, centres.size)).astype(np.float32)
    for off, w in ((-1, 0.5), (0, 1.0), (1, 0.5)):
        np.subtract.at(x, (slice(None), np.clip(centres + off, 0, n_pix - 1)), w * depth)
    return x


def untrained_censored(seed: int = 0):
    """An astroNN ApogeeBCNNCensored with the paper's layer sizes and random weights, set up
    as ``load_folder`` would set up a trained one (normalisation: input mean 1, std 1;
    labels with APOGEE-like means and spreads)."""
    import contextlib
    import io

    from astroNN.nn.utilities.normalizer import Normalizer

    from astronn_paper import apogee
    from astronn_paper.model import train

    model = train.build_model(train.NETWORKS["censored"], epochs=1)
    n_out = len(apogee.TARGETS)
    model._input_shape = {"input": [apogee.N_PIX_GAP_DELETED, 1]}
    model._labels_shape = {"output": n_out}
    model.input_names, model.output_names = ["input"], ["output", "variance_output"]
    with contextlib.redirect_stdout(io.StringIO()):
        model.compile()
    rng = np.random.default_rng(seed)
    model.keras_model.set_weights([rng.normal(0.0, 0.05, w.shape).astype(np.float32)
                                   for w in model.keras_model.get_weights()])
    mean = np.array([4700.0, 2.5] + [0.0] * (n_out - 2))
    std = np.array([500.0, 1.0] + [0.2] * (n_out - 2))
    model.input_mean = {"input": np.ones(apogee.N_PIX_GAP_DELETED)}
    model.input_std = {"input": np.ones(1)}
    model.labels_mean = {"output": mean, "variance_output": mean}
    model.labels_std = {"output": std, "variance_output": std}
    model.input_normalizer = Normalizer(mode=model.input_norm_mode)
    model.input_normalizer.mean_labels = model.input_mean
    model.input_normalizer.std_labels = model.input_std
    model.labels_normalizer = Normalizer(mode=model.labels_norm_mode)
    model.labels_normalizer.mean_labels = model.labels_mean
    model.labels_normalizer.std_labels = model.labels_std
    return model


def _inference_args(p) -> None:
    p.add_argument("--model", default=None, metavar="DIR",
                   help="astroNN model folder (default: the shipped astroNN_0617_run001 if "
                        "present, else an untrained network of the paper's architecture)")
    p.add_argument("--n", type=int, default=2000, help="spectra (default 2000)")
    p.add_argument("--mc", type=mc_passes, default=None,
                   help=f"MC-dropout passes, >= {config.MIN_MC_PASSES} (default: the profile's "
                        "mc_passes, $ASTRONN_PAPER_PROFILE else default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic spectra / masks")
    p.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16"),
                   help="the engine's precision (default: $ASTRONN_PAPER_PRECISION, else auto: "
                        "bf16 where the CPU has native bfloat16 products)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")


#: allStar rows of SDSS DR17 (allStar-dr17-synspec_rev1), for the "whole DR17" estimate.
DR17_ALLSTAR_ROWS = 733_901


def run_inference(args) -> int:
    import contextlib
    import io
    import warnings

    from astronn_paper import config
    from astronn_paper.model import blas, engine

    # a bad precision or model folder is a config.UserError: one line from cli.main
    precision = blas.resolve_precision(args.precision)
    folder = Path(args.model) if args.model else config.shipped_model_dir()
    if folder.is_dir() or args.model:
        model = engine.load_model(folder)
        source = f"model folder {folder}"
    else:
        model = untrained_censored(args.seed)
        source = (f"UNTRAINED ApogeeBCNNCensored with the paper's layer sizes and random "
                  f"weights ({folder} not found; timings do not depend on the weights)")
    eng = engine.engine(model)
    x = synthetic_spectra(args.n, args.seed, eng.arch.n_pix)
    n, mc = len(x), int(args.mc or config.get_profile(None).mc_passes)
    model.mc_num = mc
    print(f"model: {source}")
    print(f"spectra: {n} synthetic, {mc} MC-dropout passes each; "
          f"{eng.flops_per_spectrum(mc) / 1e9:.3f} GFLOP of network per spectrum "
          f"({eng.macs_prefix() / 1e6:.2f} M MAC once + {eng.macs_per_pass() / 1e6:.2f} M MAC "
          "per pass)")

    def cpu_seconds() -> float:
        t = os.times()
        return t.user + t.system

    def time_engine():
        c0, t0 = cpu_seconds(), time.perf_counter()
        pred = engine.predict(model, x, mc=mc, seed=args.seed, progress=False,
                              precision=precision)
        return pred, time.perf_counter() - t0, cpu_seconds() - c0

    engine.predict(model, x[:4], mc=mc, seed=args.seed, progress=False,
                   precision=precision)                                  # warm-up
    pred1, t_e1, c_e1 = time_engine()
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        model.predict(x[:8].copy())          # graph warm-up; predict() is test()'s new name
        c0, t0 = cpu_seconds(), time.perf_counter()
        ref_mean, ref_unc = model.predict(x.copy())
        t_a, c_a = time.perf_counter() - t0, cpu_seconds() - c0
    pred2, t_e2, c_e2 = time_engine()
    t_e, c_e = 0.5 * (t_e1 + t_e2), 0.5 * (c_e1 + c_e2)
    r_a, r_e = n / t_a, n / t_e
    flops = eng.flops_per_spectrum(mc)
    peak = cpu_peak()
    gemm = sgemm_rate()
    rates = {"fp32": blas.gemm_rate("fp32")}
    if precision == "bf16":
        rates["bf16"] = blas.gemm_rate("bf16")
    own = rates[precision]

    # statistical agreement (MC error of a mean of mc passes: model std * sqrt(2 / mc))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (pred1.mean - ref_mean) / (pred1.model * np.sqrt(2.0 / mc))
        ratio = pred1.model / ref_unc["model"]
    z = z[np.isfinite(z)]
    ratio = ratio[np.isfinite(ratio)]

    print(f"astroNN .test():   {r_a:8.1f} spectra/s  ({t_a:.1f} s)")
    print(f"fast engine:       {r_e:8.1f} spectra/s  ({t_e1:.1f} s before, {t_e2:.1f} s after "
          "astroNN's run)")
    flags = ", ".join(f for f in blas.BF16_FLAGS if f in blas.cpu_flags()) or "none"
    print(f"precision: {precision} (of the dense layer after the flatten, the biggest product); "
          f"CPU bfloat16 flags: {flags}; native bf16 products: "
          f"{'yes' if blas.bf16_native() else 'no'}")
    print(f"ratio engine / astroNN: {r_e / r_a:.2f}x (wall clock)")
    print(f"CPU time per spectrum: astroNN {1e3 * c_a / n:.1f} ms, engine {1e3 * c_e / n:.1f} ms "
          f"(all threads): the engine needs {c_a / c_e:.2f}x less CPU; on a shared machine this "
          "ratio is the robust one (the scheduler gives a many-threaded process like "
          "TensorFlow a larger share of busy cores)")
    load = os.getloadavg()[0]
    print(f"CPU-time ratio astroNN / engine: {c_a / c_e:.2f}x "
          f"({'meets' if c_a / c_e >= 10 else 'below'} the 10x target); 1-min load average "
          f"{load:.1f} on {len(os.sched_getaffinity(0))} cores (on a busy machine TensorFlow's "
          "spinning threads raise astroNN's CPU time per spectrum, and so this ratio)")
    print(f"whole DR14 (277,371 spectra) at this rate: {277371 / r_e / 60:.1f} min "
          f"(astroNN: {277371 / r_a / 60:.1f} min)")
    cores = len(os.sched_getaffinity(0))
    print(f"whole DR17 ({DR17_ALLSTAR_ROWS:,} allStar rows) at this rate: "
          f"{DR17_ALLSTAR_ROWS / r_e / 3600:.2f} h wall clock (astroNN: "
          f"{DR17_ALLSTAR_ROWS / r_a / 3600:.1f} h); on {cores} free cores at the engine's CPU "
          f"time per spectrum: {DR17_ALLSTAR_ROWS * c_e / n / cores / 3600:.2f} h "
          f"({n * cores / c_e:.0f} spectra/s)")
    print(f"CPU: {peak['model']}; fp32 peak estimate {peak['peak_flops'] / 1e9:.0f} GFLOP/s "
          f"= {peak['formula']}")
    if peak["peak_flops"]:
        print(f"  engine reaches {r_e * flops / 1e9:.1f} GFLOP/s of useful network arithmetic "
              f"= {100 * r_e * flops / peak['peak_flops']:.1f} % of that peak, "
              f"{100 * r_e * flops / gemm:.1f} % of the {gemm / 1e9:.0f} GFLOP/s this run's "
              f"BLAS sgemm (2048x7512x192) reaches; astroNN reaches "
              f"{100 * r_a * flops / peak['peak_flops']:.1f} % of the peak")
    for name, rate in rates.items():
        print(f"  {name} GEMM (2048x7512x192, this run): {rate['flops_per_s'] / 1e9:.0f} GFLOP/s "
              f"wall, {rate['flops_per_cpu_s'] / 1e9:.0f} GFLOP per CPU-second")
    print(f"  engine: {flops * n / c_e / 1e9:.1f} GFLOP of useful network arithmetic per "
          f"CPU-second = {100 * flops * n / c_e / own['flops_per_cpu_s']:.1f} % of this run's "
          f"{precision} GEMM peak per CPU-second (in wall clock: "
          f"{100 * r_e * flops / own['flops_per_s']:.1f} %)")
    print(f"agreement: (engine - astroNN) mean / MC error: mean {z.mean():+.3f}, std "
          f"{z.std():.3f} (expected 0, 1); model std ratio median {np.median(ratio):.3f}")
    result = {
        "benchmark": "inference", "source": source, "n_spectra": n, "mc": mc,
        "astronn_spectra_per_s": r_a, "engine_spectra_per_s": r_e, "ratio": r_e / r_a,
        "engine_seconds": [t_e1, t_e2], "astronn_seconds": t_a,
        "engine_cpu_seconds": [c_e1, c_e2], "astronn_cpu_seconds": c_a,
        "cpu_ratio": c_a / c_e, "precision": precision,
        "gemm_rates": rates,
        "fraction_of_precision_peak_cpu": flops * n / c_e / own["flops_per_cpu_s"],
        "dr17_hours": DR17_ALLSTAR_ROWS / r_e / 3600,
        "dr17_hours_free_cores": DR17_ALLSTAR_ROWS * c_e / n / len(os.sched_getaffinity(0)) / 3600,
        "flops_per_spectrum": flops, "cpu": {k: v for k, v in peak.items()},
        "sgemm_flops": gemm, "fraction_of_peak": r_e * flops / peak["peak_flops"]
        if peak["peak_flops"] else None,
        "z_mean": float(z.mean()), "z_std": float(z.std()),
        "model_std_ratio_median": float(np.median(ratio)),
        "load_average": os.getloadavg(),
    }
    if args.json:
        cache.atomic_write_json(args.json, result, sort_keys=False, default=float)
    return 0


#: name -> benchmark; others add "compile", "training", "synth", ...
# ============================================================================ training
def _training_args(p) -> None:
    p.add_argument("--n", type=int, default=1000, help="training spectra (default 1000)")
    p.add_argument("--epochs", type=int, default=2, help="epochs timed (the first includes graph set-up)")
    p.add_argument("--profile", default="default", help="whose trained models' wall time to report")


def run_training(args) -> int:
    """Seconds per epoch per 1000 spectra of both networks on this CPU, in the same run, and
    the recorded training wall time of the profile's model folders."""
    import time

    from astronn_paper import config
    from astronn_paper.model import train

    rng = np.random.default_rng(0)
    x = synthetic_spectra(args.n, seed=1)
    y = rng.normal(size=(args.n, len(train.NETWORKS["censored"].targets)))
    y[:, 0] = 4700 + 300 * y[:, 0]
    rows = {}
    for kind, spec in train.NETWORKS.items():
        config.set_global_seeds(0)
        model = train.build_model(spec, epochs=args.epochs)
        t0 = time.perf_counter()
        model.fit(x, y, inputs_err=np.full_like(x, 0.01), labels_err=np.full_like(y, 0.05))
        dt = time.perf_counter() - t0
        rows[kind] = dt / args.epochs / (args.n / 1000)
        print(f"{spec.astronn_class:>20}: {rows[kind]:6.2f} s per epoch per 1000 spectra "
              f"({args.n} spectra, {args.epochs} epochs, {dt:.1f} s incl. set-up)")
    print(f"ratio full-spectrum / censored: {rows['bcnn'] / rows['censored']:.2f}")
    for kind in train.NETWORKS:
        prov = train.read_provenance(train.model_folder(kind, args.profile))
        if prov:
            print(f"{args.profile.name} profile, {kind}: {prov['n_train']} spectra x "
                  f"{prov['network']['epochs']} epochs in {prov['training_wall_time_s']:.0f} s")
    return 0


# ============================================================================ memory
def _memory_args(p) -> None:
    p.add_argument("--model", default=None, metavar="DIR",
                   help="astroNN model folder (default: the shipped astroNN_0617_run001)")
    p.add_argument("--n", type=int, default=100_000, help="spectra (default 100000)")
    p.add_argument("--mc", type=mc_passes, default=2,
                   help="MC-dropout passes (default 2: the engine's buffers hold ~400 "
                        "spectra x passes rows whatever mc is, so memory does not grow with it)")
    p.add_argument("--dir", default=None, metavar="DIR",
                   help="where to write the temporary HDF5 file of spectra (default: a temporary "
                        "directory; it needs 4 x 7514 bytes per spectrum)")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: kB


def run_memory(args) -> int:
    """Peak resident memory of the engine streaming ``--n`` spectra from an HDF5 file on disk
    (as the catalog does), against the process's peak before the prediction (model loaded)."""
    import tempfile

    import h5py

    from astronn_paper import config
    from astronn_paper.model import engine

    folder = Path(args.model) if args.model else config.shipped_model_dir()
    model = engine.load_model(folder)           # a bad folder: one line from cli.main
    eng = engine.engine(model)
    n, chunk = int(args.n), 2000
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "spectra.h5"
        with h5py.File(path, "w") as f:
            d = f.create_dataset("x", (n, eng.arch.n_pix), np.float32, chunks=(256, eng.arch.n_pix))
            for c0 in range(0, n, chunk):
                c1 = min(n, c0 + chunk)
                d[c0:c1] = synthetic_spectra(c1 - c0, c0, eng.arch.n_pix)
        engine.predict(eng, synthetic_spectra(4, 0, eng.arch.n_pix), mc=args.mc, progress=False)
        before = _peak_rss_mb()
        t0 = time.perf_counter()
        with h5py.File(path, "r") as f:
            pred = engine.predict(eng, f["x"], mc=args.mc, progress=True)
        dt = time.perf_counter() - t0
    after = _peak_rss_mb()
    print(f"{n} spectra streamed from HDF5, {args.mc} MC passes, {dt:.0f} s ({n / dt:.0f} spectra/s)")
    print(f"peak RSS: {before:.0f} MB with the model loaded, {after:.0f} MB after the prediction "
          f"(+{after - before:.0f} MB; the results alone are {4 * pred.mean.nbytes / 1e6:.0f} MB)")
    return 0


BENCHMARKS: dict[str, Benchmark] = {
    "training": Benchmark(
        "seconds per epoch per 1000 spectra of both networks, and the profile's training wall time",
        _training_args, run_training),
    "inference": Benchmark(
        "astroNN's .test() vs the fast MC-dropout engine (same model, spectra, passes)",
        _inference_args, run_inference),
    "memory": Benchmark(
        "peak memory of the engine streaming many spectra from disk",
        _memory_args, run_memory),
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmarks (ratios against a baseline, same run)",
        description="Benchmarks measured against a baseline in one run: the machine is shared "
                    "and noisy, so each benchmark times its baseline and the candidate back to "
                    "back in the same process and reports their ratio, not only absolute numbers.")
    sub = p.add_subparsers(dest="benchmark", metavar="NAME")
    for name, bench in BENCHMARKS.items():
        q = sub.add_parser(name, help=bench.help, description=bench.help)
        bench.add_arguments(q)
        q.set_defaults(func=bench.run)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
