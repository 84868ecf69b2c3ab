"""NMF under the Poisson likelihood (Kullback-Leibler loss) on raw counts, for :func:`nmf`.

The model of pixel ``i`` is ``sum_k W_ik H_k`` with every ``H_k`` a spectrum summing to 1, so
``W_ik`` are counts and ``sum_k W_ik`` the pixel's expected total; weights (Poisson maximum
likelihood) and spectra are found in turn, from the clusters' spectra (see :func:`kl_fit`).
``H`` carries a Dirichlet prior of one average pixel (its mean spectrum, plus one count per
channel spread over the sample), so that a channel with no count in a small phase (or in the
sample) keeps a small probability instead of a zero.

Per-pixel weights, ``pixel_components``:

- ``None``: all K components (plain KL NMF: the EM, i.e. probabilistic latent semantic
  analysis, form of Lee & Seung's multiplicative updates). When a phase's spectrum lies near
  the cone of the others' (a glass between its minerals), its pixels' maximum-likelihood
  weights are nearly unidentifiable at a few hundred counts, and spread over the minerals as
  iterations proceed (stopping early, by ``tol``, is what keeps them on the glass).
- ``2``: a pixel is one component or a mix of two (a pure phase, or a grain boundary): the two
  components whose spectra alone explain the pixel best (largest Poisson log-likelihood), and
  the maximum-likelihood fraction between them (safeguarded Newton on a concave function of one
  variable). ``1``: the best component alone (hard assignment).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._stream import csr_from_counts

_TINY = 1e-300


def stack_counts(wb):
    """The sampled raw counts of a :class:`WeightedBlocks` as one float64 CSR (cache consumed)."""
    source = wb._cache if wb.cached else list(wb.blocks())
    wb._cache = []
    return sparse.vstack([csr for _, _, csr in source], format="csr", dtype=np.float64)


def spectra_from_labels(x, labels, k, prior):
    """Pooled spectrum of each cluster (rows sum to 1), with the prior of one average pixel."""
    n = x.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"labels must have one entry per pixel ({n}), got shape {labels.shape}.")
    ok = (labels >= 0) & (labels < k)
    ind = sparse.csr_matrix((np.ones(ok.sum()), (labels[ok], np.flatnonzero(ok))), shape=(k, n))
    return _normalise(np.asarray((ind @ x).todense()) + prior)


def _normalise(h):
    return h / np.maximum(h.sum(1, keepdims=True), _TINY)


def _rows(x):
    return np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))


def sparse_weights(x, h, n_support=2, n_newton=30):
    """Weights with at most ``n_support`` (1 or 2) components per pixel; also the model at x's nonzeros.

    Returns
    -------
    w : (n, K) float64 ndarray
        Counts of each component in each pixel (summing to the pixel's counts).
    model : (nnz,) float64 ndarray
        Expected counts at the nonzero entries of ``x``.
    """
    n, c = x.shape
    k = h.shape[0]
    rows = _rows(x)
    g = np.asarray(x.sum(1)).ravel()
    ll = np.asarray(x @ np.log(np.maximum(h, _TINY)).T)
    if k == 1 or n_support == 1:
        a = ll.argmax(1)
        w = np.zeros((n, k))
        w[np.arange(n), a] = g
        return w, g[rows] * h.ravel()[a[rows] * c + x.indices]
    top = np.argpartition(-ll, 1, axis=1)[:, :2]
    first = ll[np.arange(n), top[:, 0]] >= ll[np.arange(n), top[:, 1]]
    a = np.where(first, top[:, 0], top[:, 1])
    b = np.where(first, top[:, 1], top[:, 0])
    ha = h.ravel()[a[rows] * c + x.indices]
    hb = h.ravel()[b[rows] * c + x.indices]
    # d logL / dt at t = 1 (pure a): >= 0 means the best single component is the MLE
    q = x.data * (ha - hb) / ha
    d1 = np.bincount(rows, q, n)
    mixed = d1 < 0
    t = np.ones(n)
    if mixed.any():
        d2 = np.bincount(rows, q * (ha - hb) / ha, n)
        keep = mixed[rows]
        t0 = np.clip(1 + d1[mixed] / np.maximum(d2[mixed], _TINY), 0.0, 1.0)  # a Newton step from t = 1
        t[mixed] = _newton_fraction(x[mixed], ha[keep], hb[keep], t0, n_newton)
    w = np.zeros((n, k))
    w[np.arange(n), a] = g * t
    w[np.arange(n), b] += g * (1 - t)
    return w, g[rows] * (hb + t[rows] * (ha - hb))


def _newton_fraction(xm, ha, hb, t, n_newton, tol=1e-4):
    """argmax_t sum_j x_j log(t a_j + (1 - t) b_j) on [0, 1] for each row of ``xm``, from ``t``.

    Safeguarded Newton (a step leaving the bracket of the derivative's root bisects it); rows
    stop when their step is below ``tol``, and only the others are carried on.
    """
    n = xm.shape[0]
    t = t.copy()
    idx = np.arange(n)  # the rows still moving
    rows, data, d, hb = _rows(xm), xm.data, ha - hb, hb
    lo, hi = np.zeros(n), np.ones(n)
    for _ in range(n_newton):
        tr = t[idx]
        m = hb + tr[rows] * d
        q = data * d / m
        d1 = np.bincount(rows, q, idx.size)
        d2 = -np.bincount(rows, q * d / m, idx.size)
        lo[idx] = np.where(d1 > 0, tr, lo[idx])
        hi[idx] = np.where(d1 <= 0, tr, hi[idx])
        step = tr - d1 / np.minimum(d2, -_TINY)
        new = np.where((step > lo[idx]) & (step < hi[idx]), step, 0.5 * (lo[idx] + hi[idx]))
        t[idx] = new
        moving = np.abs(new - tr) >= tol
        if not moving.any():
            break
        if moving.mean() < 0.75:  # drop the rows that have stopped
            keep = moving[rows]
            rows = np.repeat(np.arange(int(moving.sum())), np.bincount(rows[keep], minlength=idx.size)[moving])
            data, d, hb, idx = data[keep], d[keep], hb[keep], idx[moving]
    return t


def _model_at(x, w, h, chunk_rows=2048):
    """``(W @ H)`` at the nonzero entries of CSR ``x``, from dense row chunks."""
    out = np.empty(x.nnz)
    c = x.shape[1]
    for s in range(0, x.shape[0], chunk_rows):
        e = min(s + chunk_rows, x.shape[0])
        p0, p1 = x.indptr[s], x.indptr[e]
        local = np.repeat(np.arange(e - s), np.diff(x.indptr[s:e + 1]))
        out[p0:p1] = (w[s:e] @ h).ravel()[local * c + x.indices[p0:p1]]
    return out


def _ratio(x, model):
    return sparse.csr_matrix((x.data / np.maximum(model, _TINY), x.indices, x.indptr), shape=x.shape)


def plain_weights(x, h, max_iter, w=None):
    """All-component weights: EM / multiplicative updates of W with H fixed (from ``w`` or from
    the sparse weights blended with a uniform share, so that no weight starts at zero)."""
    if w is None:
        w = _start(x, h)
    for _ in range(max_iter):
        w *= _ratio(x, _model_at(x, w, h)) @ h.T
    return w


def _start(x, h):
    g = np.asarray(x.sum(1)).ravel()[:, None]
    return 0.9 * sparse_weights(x, h, 2)[0] + 0.1 * g / h.shape[0]


def _loglik(x, model):
    """Mean Poisson log-likelihood per count, up to a constant (the model sums to the counts)."""
    return float(np.sum(x.data * np.log(np.maximum(model, _TINY))) / max(x.data.sum(), 1.0))


def kl_fit(x, h, *, pixel_components, max_iter, tol, prior):
    """Alternate weights and spectra from ``h`` (rows summing to 1) for at most ``max_iter`` rounds.

    Spectra: with ``pixel_components`` (1 or 2), each component's spectrum is the pooled counts
    of the pixels where it holds the largest weight (plus the prior), the maximum-likelihood
    spectrum of its pixels: minor shares (a boundary mix, the rim of a zoned crystal) do not pull
    a neighbour's spectrum toward them, as the EM step below lets them do. Without (plain KL
    NMF), the EM / multiplicative update of every spectrum from every pixel's shares. Stops when
    the mean log-likelihood per count changes by less than ``tol``.

    Returns
    -------
    w : (n, K) ndarray
        Weights of the pixels of ``x`` for the returned spectra.
    h : (K, C) ndarray
    n_iter : int
    """
    k = h.shape[0]
    w = _start(x, h) if pixel_components is None else None
    last, n_iter = None, 0
    while n_iter < max_iter:
        n_iter += 1
        if pixel_components is None:
            w *= _ratio(x, _model_at(x, w, h)) @ h.T
            model = _model_at(x, w, h)
            h = _normalise(h * (_ratio(x, model).T @ w).T + prior)
        else:
            w, model = sparse_weights(x, h, pixel_components)
            h = spectra_from_labels(x, w.argmax(1), k, prior)
        ll = _loglik(x, model)
        if last is not None and abs(ll - last) < tol:
            break
        last = ll
    if pixel_components is None:
        w *= _ratio(x, _model_at(x, w, h)) @ h.T
    else:
        w = sparse_weights(x, h, pixel_components)[0]
    return w, h, n_iter


def weights(x, h, pixel_components, max_iter):
    """Per-pixel weights of the rows of ``x`` for fixed spectra ``h``."""
    if pixel_components is None:
        return plain_weights(x, h, max_iter)
    return sparse_weights(x, h, pixel_components)[0]


def kl_block(r0, r1, block, *, channels, h, pixel_components, max_iter):
    """Pixel sums and KL weights of one row block (a pass over a big map)."""
    x = csr_from_counts(block.reshape(-1, block.shape[-1]), channels).astype(np.float64)
    return np.asarray(x.sum(1)).ravel(), weights(x, h, pixel_components, max_iter)
