"""Matrix products of the MC-dropout engine in the precision this CPU does fastest.

Two precisions:

``fp32``
    numpy's BLAS (OpenBLAS ``sgemm``), float32 in, float32 accumulation and out. Works on
    every CPU; the reference path.
``bf16``
    bfloat16 operands (8-bit mantissa, round-to-nearest-even from float32), products
    accumulated in float32 by oneDNN inside TensorFlow (already a dependency: astroNN runs
    on it), which uses the CPU's ``AMX_BF16`` tile unit or its ``AVX512_BF16`` dot-product
    instructions. TensorFlow's ``MatMul`` returns the same type it is given, so the float32
    accumulators are rounded once to bfloat16 on the way out (a relative error of at most
    2**-8 per output, ~0.1 % rms, independent between units). numpy's own OpenBLAS builds are
    made without ``sbgemm`` (checked: neither numpy 1.24's 0.3.21 nor scipy's 0.3.27 export
    it), so oneDNN is the bfloat16 GEMM this environment has.

Which one runs
--------------
:func:`resolve_precision`: an explicit ``precision`` argument, else the environment variable
``ASTRONN_PAPER_PRECISION`` (``auto``, ``fp32`` or ``bf16``), else ``auto``. ``auto`` picks
``bf16`` when :func:`bf16_native` holds - the CPU flags in ``/proc/cpuinfo`` include
``amx_bf16`` or ``avx512_bf16``, TensorFlow's oneDNN is enabled, and a tiny probe product
agrees with float32 - and ``fp32`` otherwise. Forcing ``bf16`` on a CPU without bfloat16
instructions still gives correct results (TensorFlow emulates the type; slowly) and warns,
so the tests exercise both paths on any machine.
"""
from __future__ import annotations

import functools
import os
import time
import warnings
from pathlib import Path

import numpy as np

from astronn_paper import config

#: Environment variable that forces the engine's precision (``auto``, ``fp32``, ``bf16``).
PRECISION_ENV = "ASTRONN_PAPER_PRECISION"
PRECISIONS = ("fp32", "bf16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


class PrecisionError(config.UserValueError):
    """An unknown precision name."""


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The feature flags of this CPU from ``/proc/cpuinfo`` (empty where it is unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _onednn_enabled() -> bool:
    """TensorFlow's oneDNN kernels are on (TF >= 2.9 default on x86 Linux, unless
    ``TF_ENABLE_ONEDNN_OPTS=0``)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() in ("0", "false", "False"):
        return False
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - TF is a dependency
        return False
    try:
        return bool(_pywrap_util_port.IsMklEnabled())
    except AttributeError:  # pragma: no cover - older TF
        return False


@functools.lru_cache(maxsize=1)
def bf16_native() -> bool:
    """Native bfloat16 products are available: CPU flags, TF's oneDNN, and a tiny probe
    product that agrees with float32 (to bfloat16 precision)."""
    if not any(f in cpu_flags() for f in BF16_FLAGS) or not _onednn_enabled():
        return False
    try:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((8, 64)).astype(np.float32)
        b = rng.standard_normal((64, 16)).astype(np.float32)
        got = Bf16Matrix(b).matmul(to_bf16_bits(a))
        ref = to_bf16_float(a) @ to_bf16_float(b)
        return bool(np.all(np.abs(got - ref) <= 1e-2 * (np.abs(ref) + 1.0)))
    except Exception:  # noqa: BLE001 - any failure of the probe means "not available"
        return False


def resolve_precision(precision: str | None = None) -> str:
    """``fp32`` or ``bf16``: the argument, else ``$ASTRONN_PAPER_PRECISION``, else ``auto``
    (``bf16`` where :func:`bf16_native`, else ``fp32``)."""
    name = precision if precision is not None else os.environ.get(PRECISION_ENV, "") or "auto"
    name = str(name).strip().lower()
    if name == "auto":
        return "bf16" if bf16_native() else "fp32"
    if name not in PRECISIONS:
        source = "precision" if precision is not None else PRECISION_ENV
        raise PrecisionError(f"{source}={name!r}: expected one of auto, fp32, bf16")
    if name == "bf16" and not bf16_native():
        warnings.warn("bf16 forced on a CPU (or TensorFlow build) without native bfloat16 "
                      "products: results are correct but slower than fp32", RuntimeWarning,
                      stacklevel=2)
    return name


# ============================================================================ conversions
def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return r.astype(np.uint16)


def bits_to_float(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 (exact)."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def to_bf16_float(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (as float32)."""
    return bits_to_float(to_bf16_bits(x))


def aligned_empty(shape, dtype, align: int = 64) -> np.ndarray:
    """``np.empty`` whose data start on an ``align``-byte boundary: TensorFlow wraps such an
    array without copying it (it copies anything less aligned than Eigen's 64 bytes)."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(n + align, np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + n].view(dtype).reshape(shape)


@functools.lru_cache(maxsize=1)
def _tf():
    import tensorflow as tf

    return tf


class Bf16Matrix:
    """A fixed right-hand matrix ``W`` (k, n) for products ``A @ W`` in bfloat16.

    :meth:`matmul` takes ``A`` as bfloat16 bit patterns (uint16, (m, k), e.g. written by the
    engine's kernels; from :func:`aligned_empty` it is read in place, else copied once) and
    returns float32 (m, n).
    """

    def __init__(self, w: np.ndarray):
        tf = _tf()
        self.shape = tuple(np.shape(w))
        self._bf = tf.bfloat16.as_numpy_dtype
        self._w = tf.convert_to_tensor(to_bf16_bits(w).view(self._bf))

    def matmul(self, a_bits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        tf = _tf()
        a = tf.convert_to_tensor(np.ascontiguousarray(a_bits).view(self._bf))
        r = tf.linalg.matmul(a, self._w).numpy().view(np.uint16)
        res = bits_to_float(r)
        if out is None:
            return res
        out[...] = res
        return out


# ============================================================================ rates
def gemm_rate(precision: str, m: int = 2048, k: int = 7512, n: int = 192,
              repeats: int = 3) -> dict:
    """Measured matrix-product rate of ``precision`` on the shape of the network's biggest
    layer, with the BLAS / oneDNN threads this process has (all cores): wall-clock flop/s
    (best of ``repeats``) and flop per CPU-second (process CPU time, all threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    if precision == "bf16":
        mat = Bf16Matrix(b)
        bits = to_bf16_bits(a)
        run = (lambda: mat.matmul(bits))
    elif precision == "fp32":
        run = (lambda: a @ b)
    else:
        raise PrecisionError(f"unknown precision {precision!r}")
    run()
    best, cpu = np.inf, 0.0
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
        cpu += time.process_time() - c0
    flops = 2.0 * m * k * n
    return {"precision": precision, "shape": (m, k, n), "flops_per_s": flops / best,
            "flops_per_cpu_s": flops * repeats / cpu if cpu > 0 else float("nan")}
