"""Rank-normalised split R-hat and bulk / tail ESS for many parameters at once.

The same estimators as :func:`arviz.rhat` (``method="rank"``) and :func:`arviz.ess`
(``method="bulk"`` and ``"tail"``), from Vehtari, Gelman, Simpson, Carpenter and Buerkner
(2021), "Rank-normalization, folding, and localization: an improved R-hat", Bayesian
Analysis 16(2). Why hand-written: arviz_stats 1.3 applies them element by element in a Python
loop (about 9 ms an element on the development machine), so checking the 25,000 group effects
of a national ``domains`` fit took four minutes, longer than sampling it. Here every step is
a NumPy operation over all elements of a variable at once (ranks by one ``argsort`` along an
axis, ties averaged, autocovariances by FFT along the draws, Geyer's initial positive and monotone
sequences as masked array updates). ``tests/test_national.py`` checks them against arviz to
1e-10.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import fft, special

from pyramid.executor import default_jobs

__all__ = ["rhat_rank", "ess_bulk", "ess_tail", "checks"]


def _flat(ary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """(chain, draw, *shape) -> (elements, chain, draw) float array, and the element shape."""
    ary = np.asarray(ary, dtype=float)
    if ary.ndim < 2:
        raise ValueError(f"need an array (chain, draw, ...), got shape {ary.shape}")
    shape = ary.shape[2:]
    return np.moveaxis(ary.reshape(*ary.shape[:2], -1), -1, 0), shape


def _split(x: np.ndarray) -> np.ndarray:
    """Split each chain in halves (the middle draw of an odd length is left out)."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


#: Values (elements x chains x draws) each public check, and :func:`_z_scale`'s ranking,
#: works on at a time. The ESS estimator's FFT and autocovariances take about 8 times the
#: memory of their input, so without this bound checking the 18,000 observation effects of a
#: national ``domains`` fit needed 2.15 GiB of temporaries at 2 x 1,000 draws and 5.37 GiB at
#: 2 x 2,500; now about 0.25 GiB whatever the size (``benchmarks/checks.py``).
_BLOCK = 1 << 22


def _threads() -> int:
    """Threads for the blocks: the cores this process may use
    (:func:`pyramid.executor.default_jobs`), at most 4 (each block's temporaries are about
    0.25 GiB); one in a worker of :mod:`pyramid.executor`, whose workers already fill the
    cores."""
    if os.environ.get("PYRAMID_WORKER_SLOT"):
        return 1
    return min(4, default_jobs())


def _blocks(fn, x: np.ndarray):
    """``fn`` (elements, chain, draw) -> (elements,) -- or a tuple of such arrays -- applied
    to blocks of at most ``_BLOCK`` values along the elements, results concatenated (each
    element's check sees only its own draws, so the result is the same).

    The blocks run in threads (:func:`_threads`): sorting, FFTs and array arithmetic release
    the GIL, so two cores check a national fit's 25,668 parameters nearly twice as fast."""
    step = max(1, _BLOCK // max(1, x.shape[1] * x.shape[2]))
    if step >= x.shape[0]:
        return fn(x)
    parts = [x[lo:lo + step] for lo in range(0, x.shape[0], step)]
    n_threads = min(_threads(), len(parts))
    if n_threads > 1:
        err = np.geterr()  # NumPy's error state is per thread: the caller's applies

        def run(b: np.ndarray):
            with np.errstate(**err):
                return fn(b)

        with ThreadPoolExecutor(n_threads) as pool:
            done = list(pool.map(run, parts))
    else:
        done = [fn(b) for b in parts]
    if isinstance(done[0], tuple):
        return tuple(np.concatenate(col) for col in zip(*done, strict=True))
    return np.concatenate(done)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over all chains and draws, per element (Blom's offset).

    Ties get their average rank (as ``scipy.stats.rankdata(method="average")``, which this
    replaces: 3-4x faster on 25,000 elements x 2,000 draws); an element with a NaN gets NaN.
    Sorted once per element; the scores of untied draws come from one precomputed table, those
    of tied runs (an MCMC chain repeats a draw now and then) from their average rank.
    """
    n_el, n_chain, n_draw = x.shape
    size = n_chain * n_draw
    flat = x.reshape(n_el, size)
    table = special.ndtri((np.arange(1, size + 1) - 0.375) / (size + 0.25))
    pos = np.arange(size)
    z = np.empty((n_el, size))
    step = max(1, _BLOCK // size)
    for lo in range(0, n_el, step):
        part = flat[lo:lo + step]
        order = np.argsort(part, axis=1)
        srt = np.take_along_axis(part, order, axis=1)
        scores = np.broadcast_to(table, part.shape).copy()
        same = srt[:, 1:] == srt[:, :-1]  # tied with the previous sorted draw
        rows = np.flatnonzero(same.any(axis=1))
        if rows.size:
            same = same[rows]
            ones = np.ones((rows.size, 1), dtype=bool)
            first = np.maximum.accumulate(np.where(np.hstack([ones, ~same]), pos, 0), axis=1)
            last = np.minimum.accumulate(
                np.where(np.hstack([~same, ones]), pos, size - 1)[:, ::-1], axis=1)[:, ::-1]
            avg = (first + last) / 2.0 + 1.0
            scores[rows] = special.ndtri((avg - 0.375) / (size + 0.25))
        out = z[lo:lo + step]
        np.put_along_axis(out, order, scores, axis=1)
        out[np.isnan(srt[:, -1])] = np.nan  # argsort puts NaN last
    return z.reshape(x.shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    between = n * np.var(np.mean(x, axis=2), axis=1, ddof=1)
    within = np.mean(np.var(x, axis=2, ddof=1), axis=1)
    return np.sqrt((between / within + n - 1) / n)


def _autocov(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    m = fft.next_fast_len(2 * n)
    x = x - x.mean(axis=-1, keepdims=True)
    f = fft.rfft(x, n=m, axis=-1)
    return fft.irfft(f * np.conjugate(f), n=m, axis=-1)[..., :n] / n


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of (elements, chain, draw), Geyer's initial monotone sequence estimator."""
    n_el, n_chain, n_draw = x.shape
    out = np.full(n_el, float(n_chain * n_draw))
    keep = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) >= np.finfo(float).resolution
    if not keep.any():
        return out
    x = x[keep]
    acov = _autocov(x)
    mean_acov = acov.mean(axis=1)  # (el, draw)
    chain_mean = x.mean(axis=2)
    mean_var = mean_acov[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + np.var(chain_mean, axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]  # rho at every lag
    m = x.shape[0]
    rho_t = np.zeros((m, n_draw))
    rho_t[:, 0] = 1.0
    rho_t[:, 1] = rho[:, 1]
    even = np.ones(m)
    odd = rho[:, 1].copy()
    t = np.ones(m, dtype=int)
    active = (even + odd) > 0.0
    step = 1
    # Geyer's initial positive sequence: pairs (t+1, t+2) while the previous pair sums > 0
    while step < n_draw - 3 and active.any():
        e_new = np.where(active, rho[:, step + 1], even)
        o_new = np.where(active, rho[:, step + 2], odd)
        pos = active & ((e_new + o_new) >= 0)
        rho_t[pos, step + 1] = e_new[pos]
        rho_t[pos, step + 2] = o_new[pos]
        even, odd = e_new, o_new
        t = np.where(active, step + 2, t)
        active = active & ((even + odd) > 0.0)
        step += 2
    max_t = t - 2
    rows = np.arange(m)
    fix = even > 0
    rho_t[rows[fix], max_t[fix] + 1] = even[fix]
    # Geyer's initial monotone sequence
    for s in range(1, int(max_t.max(initial=0)) - 1, 2):
        sel = s <= max_t - 2
        up = sel & ((rho_t[:, s + 1] + rho_t[:, s + 2]) > (rho_t[:, s - 1] + rho_t[:, s]))
        avg = (rho_t[up, s - 1] + rho_t[up, s]) / 2.0
        rho_t[up, s + 1] = avg
        rho_t[up, s + 2] = avg
    lags = np.arange(n_draw)
    body = np.where(lags[None, :] <= max_t[:, None], rho_t, 0.0).sum(axis=1)
    nxt = np.where(max_t + 1 < n_draw, rho_t[rows, np.minimum(max_t + 1, n_draw - 1)], 0.0)
    tau = -1.0 + 2.0 * body + nxt
    total = n_chain * n_draw
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho_t).any(axis=1)] = np.nan
    out[keep] = ess
    return out


def rhat_rank(ary: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat (the larger of bulk and folded), per element.

    Parameters
    ----------
    ary : array, shape (chain, draw, ...)

    Returns
    -------
    numpy.ndarray
        Shape ``ary.shape[2:]``; NaN with fewer than 2 chains or 4 draws.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 500, 3))
    >>> bool(np.all(rhat_rank(x) < 1.01))
    True
    """
    x, shape = _flat(ary)
    if x.shape[1] < 2 or x.shape[2] < 4:
        return np.full(shape, np.nan)
    return _blocks(_rhat_rank, x).reshape(shape)


def _rhat_rank(x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """R-hat of (elements, chain, draw); ``z``: the split chains' normal scores if known."""
    s = _split(x)
    bulk = _rhat(_z_scale(s) if z is None else z)
    flat = s.reshape(s.shape[0], -1)
    folded = np.abs(s - np.median(flat, axis=1)[:, None, None])
    tail = _rhat(_z_scale(folded))
    return np.maximum(bulk, tail)


def _ess_tail(b: np.ndarray, prob: float) -> np.ndarray:
    flat = b.reshape(b.shape[0], -1)
    out = None
    for p in sorted((prob, 1.0 - prob)):
        q = np.quantile(flat, p, axis=1)
        e = _ess(_split((b <= q[:, None, None]).astype(float)))
        out = e if out is None else np.minimum(out, e)
    return out


def _default_prob(prob: float | None) -> float:
    if prob is None:
        from arviz_base import rcParams

        prob = float(rcParams["stats.ci_prob"])
    return prob


def ess_bulk(ary: np.ndarray) -> np.ndarray:
    """Bulk effective sample size (rank-normalised, split chains), per element.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 500))
    >>> bool(800 < ess_bulk(x[..., None])[0] < 1300)
    True
    """
    x, shape = _flat(ary)
    if x.shape[2] < 4:
        return np.full(shape, np.nan)
    return _blocks(lambda b: _ess(_z_scale(_split(b))), x).reshape(shape)


def ess_tail(ary: np.ndarray, prob: float | None = None) -> np.ndarray:
    """Tail effective sample size: the smaller of the ESS of the ``prob`` and ``1 - prob``
    quantile indicators (split chains), per element.

    ``prob`` defaults to arviz's ``rcParams["stats.ci_prob"]`` (0.89 unless configured: the
    0.11 and 0.89 quantiles), as :func:`arviz.ess` with ``method="tail"`` does, so the checks
    are the ones arviz reports.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 500))
    >>> bool(500 < ess_tail(x[..., None])[0] < 1500)
    True
    """
    prob = _default_prob(prob)
    x, shape = _flat(ary)
    if x.shape[2] < 4:
        return np.full(shape, np.nan)
    return _blocks(lambda b: _ess_tail(b, prob), x).reshape(shape)


def checks(ary: np.ndarray, prob: float | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """:func:`rhat_rank`, :func:`ess_bulk` and :func:`ess_tail` of each element at once.

    The same values as the three calls, with the split chains' normal scores computed once
    for both R-hat and bulk ESS (the ranking is the costliest step).

    Parameters
    ----------
    ary : array, shape (chain, draw, ...)
    prob : float, optional
        As in :func:`ess_tail`.

    Returns
    -------
    tuple of numpy.ndarray
        R-hat, bulk ESS and tail ESS, each of shape ``ary.shape[2:]``.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 500, 3))
    >>> r, b, t = checks(x)
    >>> bool(np.allclose(r, rhat_rank(x)) and np.allclose(b, ess_bulk(x)))
    True
    """
    prob = _default_prob(prob)
    x, shape = _flat(ary)
    if x.shape[2] < 4:
        nan = np.full(shape, np.nan)
        return nan, nan.copy(), nan.copy()

    def block(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = _z_scale(_split(b))
        rhat = _rhat_rank(b, z) if b.shape[1] >= 2 else np.full(b.shape[0], np.nan)
        return rhat, _ess(z), _ess_tail(b, prob)

    r, e_b, e_t = _blocks(block, x)
    return r.reshape(shape), e_b.reshape(shape), e_t.reshape(shape)
