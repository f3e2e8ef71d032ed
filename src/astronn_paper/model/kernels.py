"""Compiled (numba) element-wise kernels of the MC-dropout engine (:mod:`astronn_paper.model.engine`).

The engine's matrix products run in BLAS; what lies between them - drawing the dropout masks
from the random integers, laying out the masked activations for the convolution's banded
matrix, max-pooling, bias, relu and the next dropout - is element-wise work that numpy would
do in many passes over memory. These kernels do each of those sweeps once, on one spectrum's
tile of passes, with the GIL released (the engine's worker threads run them in parallel).

Each kernel works on 1-D row views (``a[i, j]`` rows sliced once per row), which is what lets
LLVM vectorise the inner loops; the arithmetic is the same as the numpy expressions in the
docstrings (the products are exact: a kept value times 1, a dropped one times 0).
"""
from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(nogil=True, cache=True, boundscheck=False)


@njit(**_JIT)
def masked_windows(a1, u, offset, thr, n_shift, C):  # pragma: no cover - compiled
    """Masked first-layer activations, in the layout of the convolution's banded matrix.

    ``a1`` (rows, n_sp) float32: relu(conv1) of one spectrum in super-pixels (row
    ``r * c1 + c`` holds position ``q * P + r`` of channel ``c``). ``u`` (passes, width)
    uint16: the tile's random integers; this stage reads ``u[t, offset + j * n_sp + q]`` and
    keeps a value when it is ``>= thr``. ``C`` (passes, win, n_sp) float32 receives, for each
    shift ``k < n_shift``, rows ``k * rows + j`` = masked row ``j`` shifted left by ``k``
    super-pixels (zeros past the end), i.e. the ``win`` values each pooling window reads::

        m = a1 * (u[:, offset:offset + rows * n_sp] >= thr).reshape(-1, rows, n_sp)
        C[:, k * rows + j, :n_sp - k] = m[:, j, k:]; C[:, k * rows + j, n_sp - k:] = 0
    """
    rows, n_sp = a1.shape
    win = C.shape[1]
    zero = np.float32(0.0)
    for t in range(u.shape[0]):
        ut = u[t]
        for j in range(rows):
            src = a1[j]
            keep = ut[offset + j * n_sp:offset + (j + 1) * n_sp]
            dst = C[t, j]
            for q in range(n_sp):
                dst[q] = src[q] if keep[q] >= thr else zero
            for k in range(1, n_shift):
                row = k * rows + j
                if row >= win:
                    break
                out = C[t, row]
                for q in range(n_sp - k):
                    out[q] = dst[q + k]
                for q in range(n_sp - k, n_sp):
                    out[q] = zero
    return C


@njit(**_JIT)
def pool_relu_dropout(conv, bias, n_valid, u, offset, thr, dst):  # pragma: no cover - compiled
    """Max-pool, bias, relu and the flatten's dropout of one tile.

    ``conv`` (passes, P * c2, n_sp) float32, row ``r * c2 + co`` = output channel ``co`` at
    position ``q * P + r``; ``bias`` (c2,) float32; windows ``q >= n_valid`` lie past the
    spectrum's end and are zeroed; ``u[t, offset + co * n_sp + q] >= thr`` keeps a value.
    ``dst`` (passes, c2, n_sp) float32::

        pooled = conv.reshape(-1, P, c2, n_sp).max(axis=1) + bias[:, None]
        dst = relu(pooled) * keep,  dst[..., n_valid:] = 0
    """
    n_pass, pc2, n_sp = conv.shape
    c2 = dst.shape[1]
    P = pc2 // c2
    zero = np.float32(0.0)
    for t in range(n_pass):
        ut = u[t]
        for co in range(c2):
            out = dst[t, co]
            best = conv[t, co]
            for q in range(n_sp):
                out[q] = best[q]
            for r in range(1, P):
                row = conv[t, r * c2 + co]
                for q in range(n_sp):
                    out[q] = max(out[q], row[q])
            b = bias[co]
            keep = ut[offset + co * n_sp:offset + (co + 1) * n_sp]
            for q in range(n_valid):
                v = out[q] + b
                out[q] = v if (v > zero and keep[q] >= thr) else zero
            for q in range(n_valid, n_sp):
                out[q] = zero
    return dst


@njit(**_JIT)
def conv1_superpixels(x, w, b, pad1, pad2, out):  # pragma: no cover - compiled
    """The first convolution (Keras ``Conv1D``, padding 'same', stride 1) and its relu, written
    in the super-pixel layout of :func:`masked_windows`.

    ``x`` (n, n_pix) float32 normalised spectra; ``w`` (k1, c1) float32 kernel (one input
    channel); ``b`` (c1,) bias; ``pad1`` = (k1 - 1) // 2 the convolution's left padding,
    ``pad2`` the second convolution's (position ``p`` is stored at padded index
    ``i = p + pad2``, row ``(i % P) * c1 + c``, column ``i // P``). ``out`` (n, P * c1, n_sp)
    float32 is fully overwritten (zeros in the padding)::

        a[p, c] = relu(b[c] + sum_k w[k, c] * x[p + k - pad1])     (x = 0 outside 0..n_pix-1)
    """
    n, n_pix = x.shape
    k1, c1 = w.shape
    rows, n_sp = out.shape[1], out.shape[2]
    P = rows // c1
    zero = np.float32(0.0)
    acc = np.empty(n_pix, np.float32)
    for s in range(n):
        xs = x[s]
        for j in range(rows):
            o = out[s, j]
            for q in range(n_sp):
                o[q] = zero
        for c in range(c1):
            for p in range(n_pix):
                acc[p] = b[c]
            for k in range(k1):
                wk = w[k, c]
                lo = max(0, pad1 - k)                   # first p with p + k - pad1 >= 0
                hi = min(n_pix, n_pix + pad1 - k)       # p + k - pad1 < n_pix
                for p in range(lo, hi):
                    acc[p] += wk * xs[p + k - pad1]
            for p in range(n_pix):
                i = p + pad2
                v = acc[p]
                out[s, (i % P) * c1 + c, i // P] = v if v > zero else zero
    return out


#: SplitMix64's increment (the golden ratio in 64 bits) and its output mixer's multipliers.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(**_JIT)
def fill_random(key, words_per_pass, t0, w0, out):  # pragma: no cover - compiled
    """Random 64-bit words of one spectrum's stream: SplitMix64 evaluated at counters.

    Word ``w`` of pass ``t`` is ``splitmix64(key + (t * words_per_pass + w + 1) * GAMMA)``
    (the output function of Steele, Lea & Flood's SplitMix64, whose sequential outputs pass
    BigCrush); being a function of its counter, any block of passes and words is computed
    on its own, in vectorised loops. ``out`` (passes, n) uint64 receives words
    ``w0 .. w0 + n - 1`` of passes ``t0 .. t0 + passes - 1``.
    """
    n_pass, n = out.shape
    one = np.uint64(1)
    for t in range(n_pass):
        row = out[t]
        base = key + (np.uint64(t0 + t) * np.uint64(words_per_pass) + np.uint64(w0) + one) * _GAMMA
        for j in range(n):
            z = base + np.uint64(j) * _GAMMA
            z = (z ^ (z >> np.uint64(30))) * _MIX1
            z = (z ^ (z >> np.uint64(27))) * _MIX2
            row[j] = z ^ (z >> np.uint64(31))
    return out


@njit(**_JIT)
def to_bf16_rows(src, dst):  # pragma: no cover - compiled
    """float32 (rows, n) -> bfloat16 bit patterns (rows, n) uint16, round to nearest even
    (finite values; what :func:`astronn_paper.model.blas.to_bf16_bits` does in numpy)."""
    half = np.uint32(0x7FFF)
    one = np.uint32(1)
    s16 = np.uint32(16)
    for i in range(src.shape[0]):
        u = src[i].view(np.uint32)
        d = dst[i]
        for j in range(u.shape[0]):
            v = u[j]
            d[j] = np.uint16((v + half + ((v >> s16) & one)) >> s16)
    return dst



# ============================================================================ fused conv + pool
#: Layer shape (pool P, filter length k2, channels c1 -> c2) of the fused kernel shipped in
#: :mod:`astronn_paper.model.kernels_conv` (both APOGEE networks of the paper have it).
CONV_POOL_SHAPE = (4, 8, 2, 4)


def conv_pool_source(P: int, k2: int, c1: int, c2: int) -> str:
    """Python source of the fused second-convolution kernel for one layer shape.

    The taps, channels and pool offsets are written out, so that the loop over super-pixels
    is the innermost one, with one output row and the P * c1 input rows per loop (few enough
    pointers for LLVM's run-time alias checks): it vectorises. ``kernels_conv.py`` holds the
    output for :data:`CONV_POOL_SHAPE` (a test checks that it is up to date); see
    :func:`conv_pool_kernel` for the arguments.
    """
    name = f"conv_pool_{P}_{k2}_{c1}_{c2}"
    L = ["@njit(nogil=True, cache=True, boundscheck=False, fastmath={'contract'})",
         (f"def {name}(a1, u, o_a1, thr_a1, o_flat, thr_flat, w, bias, n_valid, M,"
          " out):  # pragma: no cover - compiled"),
         "    rows, n_sp = a1.shape",
         "    zero = np.float32(0.0)",
         "    for j in range(rows):",
         "        mj = M[j]",
         "        for q in range(n_sp, M.shape[1]):",
         "            mj[q] = zero",
         "    for t in range(out.shape[0]):",
         "        ut = u[t]",
         "        # the first dropout, into the scratch rows M",
         "        for j in range(rows):",
         "            src = a1[j]",
         "            dst = M[j]",
         "            keep = ut[o_a1 + j * n_sp:o_a1 + (j + 1) * n_sp]",
         "            for q in range(n_sp):",
         "                dst[q] = src[q] if keep[q] >= thr_a1 else zero"]
    L += [f"        m_{j} = M[{j}]" for j in range(P * c1)]
    for co in range(c2):
        L += [(f"        # output channel {co}: conv at the {P} positions of each window, max, "
               "bias, relu, dropout")]
        L += [f"        w_{k}_{ci} = w[{k}, {ci}, {co}]" for k in range(k2) for ci in range(c1)]
        L += [f"        b = bias[{co}]",
              f"        o = out[t, {co}]",
              "        for q in range(n_valid):"]
        for r in range(P):
            terms = [f"w_{k}_{ci} * m_{((r + k) % P) * c1 + ci}[q + {(r + k) // P}]"
                     for k in range(k2) for ci in range(c1)]
            L.append(f"            s_{r} = (" + "\n                   + ".join(terms) + ")")
        L.append("            v = s_0")
        for r in range(1, P):
            L.append(f"            v = v if v > s_{r} else s_{r}")
        L += ["            v += b",
              "            o[q] = v if v > zero else zero",
              f"        keep = ut[o_flat + {co} * n_sp:o_flat + {co + 1} * n_sp]",
              "        for q in range(n_valid):",
              "            o[q] = o[q] if keep[q] >= thr_flat else zero",
              "        for q in range(n_valid, n_sp):",
              "            o[q] = zero"]
    L.append("    return out")
    return "\n".join(L) + "\n"


def conv_pool_module() -> str:
    """The text of ``kernels_conv.py`` (the generated kernel for :data:`CONV_POOL_SHAPE`)."""
    return _CONV_MODULE_HEAD + conv_pool_source(*CONV_POOL_SHAPE)


_CONV_MODULE_HEAD = (
    '"""Generated by :func:`astronn_paper.model.kernels.conv_pool_source` for the layer shape\n'
    ':data:`astronn_paper.model.kernels.CONV_POOL_SHAPE` (pool 4, filter length 8, 2 -> 4 channels):\n'
    'do not edit; regenerate with\n'
    '\n'
    '    python -c "import sys; from astronn_paper.model import kernels; '
    'sys.stdout.write(kernels.conv_pool_module())" > kernels_conv.py\n'
    '\n'
    '(``tests/test_infer.py`` checks that this file is what the generator writes). A real module,\n'
    'so that numba caches the compiled kernel like the others. (No lint: the branch-free\n'
    'selects are what lets LLVM vectorise; ``max`` does not.)\n'
    '"""\n'
    '# ruff: noqa\n'
    'import numpy as np\n'
    'from numba import njit\n'
    '\n'
    '\n'
)


def conv_pool_kernel(P: int, k2: int, c1: int, c2: int):
    """The fused kernel of the second convolution, its relu, the max-pooling and both
    dropouts around them for one tile of passes of one spectrum, or None for a layer shape
    without a shipped kernel (the engine then runs :func:`masked_windows`, the banded
    product and :func:`pool_relu_dropout`). Arguments::

        kernel(a1, u, o_a1, thr_a1, o_flat, thr_flat, w, bias, n_valid, M, out)

    ``a1`` (P * c1, n_sp) float32 relu(conv1) in super-pixels (as :func:`masked_windows`
    reads it); ``u`` (passes, width) uint16 draws (keep when ``>= thr``, stage offsets
    ``o_a1``, ``o_flat``); ``w`` (k2, c1, c2) float32 kernel with the first dropout's
    1/(1-rate) folded in; ``bias`` (c2,); ``M`` (P * c1, n_sp + n_shift - 1) float32
    scratch; ``out`` (passes, c2, n_sp) float32: the same pooled maps as the unfused path
    (its sums in another order: equal to float32 rounding).
    """
    if (P, k2, c1, c2) != CONV_POOL_SHAPE:
        return None
    from astronn_paper.model import kernels_conv

    return getattr(kernels_conv, "conv_pool_{}_{}_{}_{}".format(*CONV_POOL_SHAPE))
