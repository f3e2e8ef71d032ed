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
