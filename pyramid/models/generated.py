"""Generated quantities from posterior (or prior) draws, in numpy.

Everything computed after sampling lives here, vectorised over the draws: expected skill for
new covariate settings (what :meth:`pyramid.results.FitResult.expected_skill` returns), pointwise
log-likelihoods for LOO, posterior and prior predictive draws, and the exact conditional draws
of the group effects that the ``marginal`` Gaussian model integrates out while sampling.

Draws come as a dict of arrays with the sample axis first: ``{"sigma": (S,), "b_training":
(S, 3), ...}`` (see :func:`stack_draws`). The formulas mirror :mod:`pyramid.models.builder`;
``tests/test_models.py`` checks that both give the same log-density.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse, special

from pyramid.data.schema import derive_csw
from pyramid.errors import InputError
from pyramid.models.coding import ModelData, Term, term_values
from pyramid.specs import ModelSpec

__all__ = [
    "stack_draws",
    "unstack",
    "fixed_part",
    "expected_skill",
    "pointwise_loglik",
    "pointwise_dim",
    "occasion_level",
    "heldout_loglik",
    "levels_of",
    "ordinal_logp_all",
    "predictive",
    "draw_marginal_effects",
    "draw_path_unit",
    "draw_path_unit_prior",
    "integrated_draws",
    "ordinal_probs",
]

LOG_2PI = float(np.log(2 * np.pi))


def stack_draws(ds: xr.Dataset) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """Flatten (chain, draw) into one leading sample axis.

    Returns
    -------
    draws : dict
        Variable -> array (S, ...).
    shape : tuple
        (chains, draws), to undo it with :func:`unstack`.
    """
    nc, nd = ds.sizes["chain"], ds.sizes["draw"]
    out = {}
    for name, da in ds.data_vars.items():
        da = da.transpose("chain", "draw", ...)
        out[name] = np.asarray(da.values, dtype=float).reshape(nc * nd, *da.shape[2:])
    return out, (nc, nd)


def unstack(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Undo :func:`stack_draws` on the leading axis."""
    return values.reshape(*shape, *values.shape[1:])


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# --------------------------------------------------------------------------------------------
# linear predictors
# --------------------------------------------------------------------------------------------
def term_effect(draws: dict, term: Term, name: str, zeta_name: str) -> np.ndarray:
    """Per-level effect (S, L) of a categorical or monotonic term, or the slope (S,)."""
    if term.kind == "categorical":
        b = draws[name]
        return np.concatenate([np.zeros((b.shape[0], 1)), b], axis=1)
    if term.kind == "mo":
        b = draws[name]
        zeta = draws[zeta_name]
        d = zeta.shape[1]
        cum = np.concatenate([np.zeros((b.shape[0], 1)), np.cumsum(zeta, axis=1)], axis=1)
        return b[:, None] * d * cum
    return draws[name]


def _apply(effect: np.ndarray, term: Term) -> np.ndarray:
    if term.kind == "interaction":
        return effect @ np.nan_to_num(np.asarray(term.values, dtype=float)).T
    if term.kind == "numeric":
        return effect[:, None] * np.nan_to_num(term.values)[None, :]
    return effect[:, np.maximum(term.values, 0)]


def fixed_part(draws: dict, terms: list[Term], *, prefix: str = "b_", intercept: bool = True,
               skip: tuple[str, ...] = ()) -> np.ndarray:
    """Intercept plus the fixed effects of ``terms``, (S, N); (S, 1), broadcasting over the
    rows, when there are no terms (an intercept-only model)."""
    s = next(iter(draws.values())).shape[0]
    n = len(terms[0].values) if terms else 1
    eta = np.zeros((s, n))
    if intercept:
        eta = eta + draws["intercept"][:, None]
    for t in terms:
        if t.column in skip:
            continue
        zeta = f"zeta_{t.column}" if prefix == "b_" else f"{prefix}zeta_{t.column}"
        eta = eta + _apply(term_effect(draws, t, f"{prefix}{t.column}", zeta), t)
    return eta


def group_part(draws: dict, md: ModelData) -> np.ndarray:
    """Sum of the group effects of each row, (S, N)."""
    s = next(iter(draws.values())).shape[0]
    total = np.zeros((s, md.n_rows))
    for g in md.groups:
        total = total + draws[f"r_{g.name}"][:, g.index]
    for b in md.blocks:
        r = draws[f"r_{b.name}"]
        if r.ndim == 2:  # intercepts only
            total = total + r[:, b.index]
        else:
            total = total + np.einsum("snq,nq->sn", r[:, b.index, :], b.design)
    return total


# --------------------------------------------------------------------------------------------
# ordinal pieces
# --------------------------------------------------------------------------------------------
def ordinal_probs(eta: np.ndarray, cuts: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """P(y = k) of a cumulative probit, (..., K): ``eta`` (S, ...), ``cuts`` (S, K-1).

    Examples
    --------
    >>> p = ordinal_probs(np.zeros((1, 2)), np.array([[-1.0, 1.0]]))
    >>> p.shape, bool(np.allclose(p.sum(-1), 1))
    ((1, 2, 3), True)
    """
    extra = eta.ndim - 1
    c = cuts.reshape(cuts.shape[0], *([1] * extra), cuts.shape[1])
    sc = np.asarray(scale, dtype=float)
    if sc.ndim:
        sc = sc.reshape(sc.shape[0], *([1] * extra), 1)
    cdf = special.ndtr((c - eta[..., None]) / sc)
    zeros = np.zeros((*cdf.shape[:-1], 1))
    ones = np.ones((*cdf.shape[:-1], 1))
    return np.diff(np.concatenate([zeros, cdf, ones], axis=-1), axis=-1)


def ordinal_logp(y: np.ndarray, eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """log P(y) of a cumulative probit, stable in the tails (numpy twin of the model's).

    ``y`` (N,) categories 0..K-1, ``eta`` (S, N), ``cuts`` (S, K-1).
    """
    km1 = cuts.shape[1]
    lo = np.take_along_axis(cuts, np.broadcast_to(np.clip(y - 1, 0, km1 - 1), eta.shape), axis=1)
    hi = np.take_along_axis(cuts, np.broadcast_to(np.clip(y, 0, km1 - 1), eta.shape), axis=1)
    a = np.where(y == 0, -np.inf, lo - eta)
    b = np.where(y == km1, np.inf, hi - eta)
    flip = (a + b) > 0
    lo_, hi_ = np.where(flip, -b, a), np.where(flip, -a, b)
    l_hi = special.log_ndtr(hi_)
    l_lo = special.log_ndtr(lo_)
    d = np.minimum(l_lo - l_hi, -1e-300)
    return l_hi + np.where(d > -np.log(2), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def ordinal_logp_all(eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """log P(y = k) for every category k, stable in the tails (numpy twin of
    :func:`pyramid.models.builder.ordinal_logp_all`): ``eta`` (S, ...), ``cuts`` (S, K-1);
    returns (S, ..., K). The first and last categories are one log-CDF each.

    Examples
    --------
    >>> lp = ordinal_logp_all(np.array([[-40.0]]), np.array([[-1.5, 1.5]]))
    >>> bool(lp[0, 0, 0] == 0.0), round(float(lp[0, 0, 2]), 2)
    (True, -865.77)
    """
    extra = eta.ndim - 1
    c = cuts.reshape(cuts.shape[0], *([1] * extra), cuts.shape[1])
    z = c - eta[..., None]  # (S, ..., K-1)
    a, b = z[..., :-1], z[..., 1:]
    flip = (a + b) > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    l_hi, l_lo = special.log_ndtr(hi), special.log_ndtr(lo)
    d = np.minimum(l_lo - l_hi, -1e-300)
    with np.errstate(divide="ignore"):  # the branch np.where does not take
        inner = l_hi + np.where(d > -np.log(2), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))
    return np.concatenate([special.log_ndtr(z[..., :1]), inner,
                           special.log_ndtr(-z[..., -1:])], axis=-1)


# --------------------------------------------------------------------------------------------
# expected skill
# --------------------------------------------------------------------------------------------
def _newdata_terms(spec: ModelSpec, newdata: pd.DataFrame, csw: np.ndarray | None,
                   terms: list[str], optional: tuple[str, ...] = (),
                   centring: dict | None = None) -> list[Term]:
    out = []
    study = spec.the_study
    coding = {t.name: t for t in spec.formula.fixed} if spec.formula is not None else {}
    for t in terms:
        if ":" in t or t in coding and coding[t].kind == "interaction":
            absent = [c for c in t.split(":") if c not in study.derived
                      and c not in newdata.columns]
            if absent:
                raise InputError(f"newdata needs the column(s) {', '.join(map(repr, absent))} "
                                 f"(term {t!r} of model {spec.name!r}); got columns "
                                 f"{list(newdata.columns)}")
            term = term_values(t, newdata, csw, study=study, centring=centring,
                               coding=coding.get(t))
            if term.missing.any():
                raise InputError(f"newdata: term {t!r} of model {spec.name!r} is missing on "
                                 f"{int(term.missing.sum())} row(s); it needs every factor of it")
            out.append(term)
            continue
        col = t[3:-1] if t.startswith("mo(") else t
        if col not in study.derived and col not in newdata.columns:
            if col in optional:
                blank = pd.DataFrame({col: pd.Series([pd.NA] * len(newdata), dtype=object)})
                out.append(term_values(t, blank, study=study))
                continue
            raise InputError(
                f"newdata needs a column {col!r} (term {t!r} of model {spec.name!r}); "
                f"got columns {list(newdata.columns)}"
            )
        term = term_values(t, newdata, csw if col in study.derived else None, study=study,
                           centring=centring)
        if col not in optional and term.missing.any():
            raise InputError(
                f"newdata column {col!r} is missing on {int(term.missing.sum())} row(s); model "
                f"{spec.name!r} needs it on every row"
                + (" (only the pyramid model integrates out a missing discussion or clinician)"
                   if col in ("discussion", "clinician") else "")
            )
        out.append(term)
    return out


def _csw_for(newdata: pd.DataFrame, spec: ModelSpec | None = None,
             name: str = "csw") -> np.ndarray:
    """A derived term's values (``csw``) on new data: each row its own unit unless the
    data say which unit a row is in."""
    study = spec.the_study if spec is not None else None
    derive = derive_csw if study is None or study.is_default() else (
        lambda frame: study.derive(name, frame))
    if name in newdata.columns:
        return derive(newdata)
    if "unit" not in newdata.columns:
        frame = newdata.copy()
        frame["unit"] = np.arange(len(newdata)).astype(str)  # each row its own unit
        return derive(frame)
    return derive(newdata)


def expected_skill(spec: ModelSpec, draws: dict, newdata: pd.DataFrame, *,
                   groups: list[str], domains: list[str],
                   occasion: str | None = None,
                   centring: dict | None = None) -> np.ndarray:
    """Expected overall skill (the study's scale, 1-5 for rsw2017) per draw and row of
    ``newdata``, group effects at 0.

    Parameters
    ----------
    spec : ModelSpec
    draws : dict
        Stacked draws (S, ...).
    newdata : pandas.DataFrame
        Covariate settings: the model's term columns (``training``, ``clinician``,
        ``discussion``; ``csw`` or ``group``/``unit`` for the pyramid model).
    groups : list of str
        Group levels kept in the fitted model.
    domains : list of str
        Domains of the cumulative-probit model.
    occasion : str, optional
        The kept group level that holds the occasion effect (``r_obs``) of the cumulative
        probit: the innermost level each of whose groups is one observation (see
        :func:`occasion_level`). Default: ``observation`` where it is kept.
    centring : dict, optional
        Numeric factor -> ``(centre, scale)`` of the fit (``info["centring"]``), so that new
        data are coded as the fitted data were.

    Returns
    -------
    numpy.ndarray
        (S, rows).

    Notes
    -----
    * gaussian: ``eta``.
    * cumulative probit: the mean over domains of ``E[y_d] = 1 + sum_k P(y_d > k)``, with the
      occasion effect (the ``r_obs`` of the generative model) integrated out exactly where the
      model has one, the other group effects at zero; as
      :func:`pyramid.data.simulate.expected_skill` with ``integrate_groups=False``. The
      occasion effect is that of the ``occasion`` level: the observation level, or, where
      each worker was observed once and the model kept the worker level for the two aliased
      ones, the worker level, whose effects are then the occasions' (the model cannot tell the
      worker's share of their variance from the occasion's, and integrates all of it). So the
      result depends on the SD of the row-level effect, not on which name it kept.
    * path: for a row that gives ``discussion`` and ``clinician``, the skill equation at those
      values (a direct effect); a missing one is integrated out over its equation given what
      the row gives (a total effect).
    """
    if not isinstance(newdata, pd.DataFrame):
        raise InputError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if len(newdata) == 0:
        raise InputError("newdata has no rows")
    newdata = newdata.reset_index(drop=True)
    derived = [
        c for t in [*spec.terms, *spec.mediator_terms, *(spec.exposure.terms if spec.exposure else [])]
        if (c := t[3:-1] if t.startswith("mo(") else t) in spec.derived_terms
    ]
    csw = _csw_for(newdata, spec, derived[0]) if derived else None

    if spec.family == "gaussian":
        terms = _newdata_terms(spec, newdata, csw, spec.terms, centring=centring)
        eta = fixed_part(draws, terms)
        return np.broadcast_to(eta, (eta.shape[0], len(newdata))).copy()

    if spec.family == "cumulative_probit":
        terms = _newdata_terms(spec, newdata, csw, spec.terms, centring=centring)
        eta = fixed_part(draws, terms, intercept=False)
        cuts = draws["cutpoints"]
        if occasion is None and "observation" in groups:
            occasion = "observation"
        scale = np.sqrt(1.0 + draws[f"sd_{occasion}"] ** 2) if occasion else 1.0
        deltas = draws["delta"] if "delta" in draws else np.zeros((eta.shape[0], 1))
        total = np.zeros_like(eta)
        lowest = spec.the_study.scale_min
        for j in range(deltas.shape[1]):
            p = ordinal_probs(eta + deltas[:, j:j + 1], cuts, scale)
            total += (p * np.arange(lowest, lowest + p.shape[-1])).sum(axis=-1)
        return total / deltas.shape[1]

    # path model
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    optional = tuple(c for c in (med, expo) if c)
    terms = _newdata_terms(spec, newdata, csw, spec.terms, optional=optional, centring=centring)
    mterms = _newdata_terms(spec, newdata, csw, spec.mediator.terms, optional=optional,
                            centring=centring)
    eterms = (_newdata_terms(spec, newdata, csw, spec.exposure.terms, centring=centring)
              if spec.exposure else [])
    w, mu = _path_weights_and_means(spec, draws, terms, mterms, eterms)
    return (w * mu).sum(axis=(2, 3))


def occasion_level(data: pd.DataFrame, groups: Sequence[str]) -> str | None:
    """The kept group level that holds each observation's own (occasion) effect: the innermost
    of ``groups`` whose every group is one row of ``data`` (``observation``, or ``worker``
    where each worker was observed once and the two aliased levels were merged), else None.

    Examples
    --------
    >>> df = pd.DataFrame({"worker": ["a", "b", "c"], "observation": ["1", "2", "3"]})
    >>> occasion_level(df, ["worker"]), occasion_level(df, ["worker", "observation"])
    ('worker', 'observation')
    >>> occasion_level(pd.DataFrame({"worker": ["a", "a"]}), ["worker"]) is None
    True
    """
    for g in reversed(list(groups)):
        if g in data.columns and data[g].nunique(dropna=False) == len(data) and len(data):
            return g
    return None


def _path_pieces(spec: ModelSpec, draws: dict, terms: list[Term], mterms: list[Term],
                 eterms: list[Term]):
    """Skill means mu (S, N, C, K), log P(mediator = k | c) (S, N, C, K), log P(c) (S, N, C),
    and the observed mediator / exposure codes (-1 missing)."""
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    t_med = next(t for t in terms if t.column == med)
    t_expo = next((t for t in terms if t.column == expo), None)
    base = fixed_part(draws, terms, skip=tuple(c for c in (med, expo) if c))
    med_eff = term_effect(draws, t_med, f"b_{med}", f"zeta_{med}")  # (S, K)
    if t_med.kind != "mo" and t_med.kind != "categorical":  # pragma: no cover
        raise InputError(f"mediator {med!r} must be categorical or monotonic")
    c_vals = np.array([0.0, 1.0]) if expo else np.zeros(1)
    b_expo = draws[f"b_{expo}"] if (expo and t_expo is not None) else np.zeros(base.shape[0])
    mu = (base[:, :, None, None] + b_expo[:, None, None, None] * c_vals[None, None, :, None]
          + med_eff[:, None, None, :])
    # mediator equation
    m_expo = next((t for t in mterms if t.column == expo), None)
    m_base = fixed_part(draws, mterms, prefix=f"{med}_", intercept=False,
                        skip=(expo,) if expo else ())
    g = draws[f"{med}_{expo}"] if m_expo is not None else np.zeros(base.shape[0])
    m_eta = m_base[:, :, None] + g[:, None, None] * c_vals[None, None, :]
    cuts = draws[f"{med}_cutpoints"]
    log_pk = ordinal_logp_all(m_eta, cuts)  # (S, N, C, K)
    # exposure
    if expo:
        cell = np.zeros(base.shape[1], dtype=np.int64)
        for j, t in enumerate(eterms):
            cell += np.asarray(t.values, dtype=np.int64) << j
        p1 = draws[f"{expo}_rate"][:, cell]
        log_pc = np.stack([np.log1p(-p1), np.log(p1)], axis=-1)  # (S, N, 2)
    else:
        log_pc = np.zeros((base.shape[0], base.shape[1], 1))
    k_obs = t_med.values
    c_obs = (np.where(t_expo.missing, -1, t_expo.values).astype(int) if t_expo is not None
             else np.full(base.shape[1], -1))
    if not expo:
        c_obs = np.full(base.shape[1], -1)
    return mu, log_pk, log_pc, k_obs, c_obs


def _mask(k_obs: np.ndarray, c_obs: np.ndarray, n_c: int, n_k: int) -> np.ndarray:
    ok_c = (c_obs[:, None] < 0) | (c_obs[:, None] == np.arange(n_c)[None, :])
    ok_k = (k_obs[:, None] < 0) | (k_obs[:, None] == np.arange(n_k)[None, :])
    return ok_c[:, :, None] & ok_k[:, None, :]  # (N, C, K)


def _path_weights_and_means(spec, draws, terms, mterms, eterms):
    mu, log_pk, log_pc, k_obs, c_obs = _path_pieces(spec, draws, terms, mterms, eterms)
    n_c, n_k = mu.shape[2], mu.shape[3]
    ok = _mask(k_obs, c_obs, n_c, n_k)
    # a given exposure is conditioned on: its own probability drops out
    log_pc = np.where((c_obs >= 0)[None, :, None], 0.0, log_pc)
    logw = np.where(ok[None], log_pc[..., None] + log_pk, -np.inf)
    logw -= special.logsumexp(logw, axis=(2, 3), keepdims=True)
    return np.exp(logw), mu


# --------------------------------------------------------------------------------------------
# marginal Gaussian: exact conditional draws of the group effects
# --------------------------------------------------------------------------------------------
def _segment(index: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    n = len(index)
    return sparse.csr_matrix((np.ones(n), (np.arange(n), index)), shape=(n, n_groups))


def draw_marginal_effects(md: ModelData, draws: dict, rng: np.random.Generator,
                          chunk: int = 500) -> dict[str, np.ndarray]:
    """Draw the integrated-out group effects from p(r | y, theta) for each draw of theta.

    The upward pass repeats the model's message passing (precision ``P`` and mean ``m`` of each
    group's message before its own effect is integrated); the downward pass draws each level
    given the effects above it: ``r ~ Normal(P (m - c) / (P + 1/s^2), 1 / (P + 1/s^2))``, where
    ``c`` is the sum of the effects drawn above. Together with the sampled theta these are
    exact joint posterior draws.
    """
    s_total = draws["sigma"].shape[0]
    out = {f"r_{g.name}": np.zeros((s_total, g.n)) for g in md.groups}
    if not md.groups:
        return out
    levels = list(reversed(md.groups))  # innermost first
    mats = []
    for j, g in enumerate(levels):
        index = g.index if j == 0 else levels[j - 1].parent
        mats.append(_segment(index, g.n))
    for sl in _chunks(s_total, chunk):
        d = {k: v[sl] for k, v in draws.items()}
        resid = md.y[None, :] - fixed_part(d, md.terms)  # (s, N)
        prec = 1.0 / d["sigma"] ** 2
        P = np.broadcast_to(prec[:, None], resid.shape)  # noqa: N806
        S = resid * prec[:, None]  # noqa: N806
        msgs = []
        for j, g in enumerate(levels):
            Pg = np.asarray(P @ mats[j])  # noqa: N806
            Sg = np.asarray(S @ mats[j])  # noqa: N806
            mg = Sg / Pg
            msgs.append((Pg, mg))
            s2 = d[f"sd_{g.name}"][:, None] ** 2
            P = Pg / (1.0 + Pg * s2)  # noqa: N806
            S = P * mg  # noqa: N806
        above = None
        for j in range(len(levels) - 1, -1, -1):
            g = levels[j]
            Pg, mg = msgs[j]  # noqa: N806
            c = 0.0 if above is None else above
            prior_prec = 1.0 / d[f"sd_{g.name}"][:, None] ** 2
            post_prec = Pg + prior_prec
            mean = Pg * (mg - c) / post_prec
            r = mean + rng.standard_normal(mean.shape) / np.sqrt(post_prec)
            out[f"r_{g.name}"][sl] = r
            total = r + c
            if j > 0:
                above = total[:, levels[j - 1].parent]
    return out


def _upward(resid: np.ndarray, sigma: np.ndarray, chain: list) -> list:
    """Gaussian messages up a chain of nested levels, per draw.

    ``chain``: list of (child -> group sparse matrix, sd draws (S,) or None); ``None`` combines
    the children without integrating an effect. Returns, per level, (P, m) of the combined
    message before its own effect is integrated, and the (P, m) passed up after it.
    """
    prec = 1.0 / sigma[:, None] ** 2
    P = np.broadcast_to(prec, resid.shape)  # noqa: N806
    S = resid * prec  # noqa: N806
    out = []
    for mat, sd in chain:
        Pg = np.asarray(P @ mat)  # noqa: N806
        Sg = np.asarray(S @ mat)  # noqa: N806
        mg = Sg / Pg
        if sd is None:
            P, S = Pg, Sg  # noqa: N806
        else:
            P = Pg / (1.0 + Pg * sd[:, None] ** 2)  # noqa: N806
            S = P * mg  # noqa: N806
        out.append((Pg, mg, P))
    return out


def _downward(msgs: list, chain: list, parents: list, offset: np.ndarray | float,
              rng: np.random.Generator) -> list:
    """Draw each level's effects top-down given the sum of the effects above (``offset``).

    ``parents[j]`` maps the groups of level j to the groups of level j+1 (None at the top).
    Returns the draws per level (zeros for a level without an effect).
    """
    draws = [None] * len(chain)
    above = offset
    for j in range(len(chain) - 1, -1, -1):
        Pg, mg, _ = msgs[j]  # noqa: N806
        sd = chain[j][1]
        c = above if np.ndim(above) else np.full(Pg.shape, float(above))
        if sd is None:
            r = np.zeros(Pg.shape)
        else:
            post_prec = Pg + 1.0 / sd[:, None] ** 2
            r = Pg * (mg - c) / post_prec + rng.standard_normal(Pg.shape) / np.sqrt(post_prec)
        draws[j] = r
        if j > 0:
            above = (c + r)[:, parents[j - 1]]
    return draws


def _unit_latent_logs(md: ModelData, d: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit: log P(mediator = k | c) (S, U, C, K), log P(exposure = c) (S, U, C), and the
    skill shifts (S, C, K) of each (c, k)."""
    spec = md.spec
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    s = next(iter(d.values())).shape[0]
    n_u = len(md.unit_ids)
    m_terms = [t for t in md.unit_terms if t.column in [u.column for u in md.mediator_terms]]
    m_base = fixed_part(d, m_terms, prefix=f"{med}_", intercept=False) if m_terms else np.zeros((s, n_u))
    c_vals = np.array([0.0, 1.0]) if expo else np.zeros(1)
    has_g = expo is not None and f"{med}_{expo}" in d
    g = d[f"{med}_{expo}"] if has_g else np.zeros(s)
    m_eta = m_base[:, :, None] + g[:, None, None] * c_vals[None, None, :]
    log_pk = ordinal_logp_all(m_eta, d[f"{med}_cutpoints"])
    if expo:
        cell = np.zeros(n_u, dtype=np.int64)
        for j, et in enumerate(md.exposure_terms):
            ut = next(t for t in md.unit_terms if t.column == et.column)
            cell += np.asarray(ut.values, dtype=np.int64) << j
        p1 = d[f"{expo}_rate"][:, cell]
        log_pc = np.stack([np.log1p(-p1), np.log(p1)], axis=-1)
    else:
        log_pc = np.zeros((s, n_u, 1))
    t_med = next(t for t in md.terms if t.column == med)
    med_eff = term_effect(d, t_med, f"b_{med}", f"zeta_{med}")  # (S, K)
    has_b = expo is not None and f"b_{expo}" in d
    b_c = d[f"b_{expo}"] if has_b else np.zeros(s)
    shift = b_c[:, None, None] * c_vals[None, :, None] + med_eff[:, None, :]
    return log_pk, log_pc, shift


def draw_path_unit(md: ModelData, draws: dict, rng: np.random.Generator,
                   chunk: int = 250) -> dict[str, np.ndarray]:
    """Draw the unit-level path model's integrated-out quantities for each posterior draw.

    For each unit the (exposure, mediator) value is drawn from its posterior given the unit's
    rows (the mixture weights of the model's likelihood), then the unit and worker effects
    from their Gaussian conditional given it. Returns ``r_unit`` / ``r_worker`` (for the
    marginal levels kept), ``<mediator>_unit`` and ``<exposure>_unit`` (codes per unit).
    """
    spec = md.spec
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    s_total = draws["sigma"].shape[0]
    marginal = {g.name: g for g in md.groups if g.parametrisation == "marginal"}
    explicit = [g for g in md.groups if g.parametrisation != "marginal"]
    n_u = len(md.unit_ids)
    out = {f"r_{name}": np.zeros((s_total, g.n)) for name, g in marginal.items()}
    out[f"{med}_unit"] = np.zeros((s_total, n_u))
    if expo:
        out[f"{expo}_unit"] = np.zeros((s_total, n_u))
    # chain rows -> (worker) -> unit
    chain_idx, parents, names = [], [], []
    if "worker" in marginal:
        w = marginal["worker"]
        worker_unit = np.zeros(w.n, dtype=np.int64)
        worker_unit[w.index] = md.unit_index
        chain_idx.append((_segment(w.index, w.n), "worker"))
        chain_idx.append((_segment(worker_unit, n_u), "unit"))
        parents.append(worker_unit)
    else:
        chain_idx.append((_segment(md.unit_index, n_u), "unit"))
    names = [n for _, n in chain_idx]
    skip = tuple(c for c in (med, expo) if c)
    k_obs = md.unit_mediator
    c_obs = md.unit_exposure if expo else np.full(n_u, -1)
    for sl in _chunks(s_total, chunk):
        d = {k: v[sl] for k, v in draws.items()}
        s = sl.stop - sl.start
        base = fixed_part(d, md.terms, skip=skip)
        for g in explicit:
            base = base + d[f"r_{g.name}"][:, g.index]
        resid = md.y[None, :] - base
        chain = []
        for mat, name in chain_idx:
            sd = d[f"sd_{name}"] if name in marginal else None
            chain.append((mat, sd))
        msgs = _upward(resid, d["sigma"], chain)
        _, m_u, p_up = msgs[-1]
        log_pk, log_pc, shift = _unit_latent_logs(md, d)
        n_c, n_k = shift.shape[1], shift.shape[2]
        ll = -0.5 * p_up[:, :, None, None] * (shift[:, None, :, :] - m_u[:, :, None, None]) ** 2
        ok = _mask(k_obs, c_obs, n_c, n_k)
        logw = np.where(ok[None], ll + log_pk + log_pc[..., None], -np.inf)
        w = np.exp(logw - special.logsumexp(logw, axis=(2, 3), keepdims=True)).reshape(s, n_u, -1)
        u = rng.random((s, n_u, 1))
        cell = np.minimum((np.cumsum(w, axis=-1) < u).sum(axis=-1), n_c * n_k - 1)
        c_draw, k_draw = np.divmod(cell, n_k)
        shift_u = np.take_along_axis(shift.reshape(s, -1), cell, axis=1)  # (s, U)
        effects = _downward(msgs, chain, parents, shift_u, rng)
        for name, r in zip(names, effects, strict=True):
            if name in marginal:
                out[f"r_{name}"][sl] = r
        out[f"{med}_unit"][sl] = k_draw
        if expo:
            out[f"{expo}_unit"][sl] = c_draw
    return out


def draw_path_unit_prior(md: ModelData, draws: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each unit's mediator / exposure value drawn from the prior equations (observed values
    kept), for prior draws of the unit-level path model."""
    med = md.spec.mediator.outcome
    expo = md.spec.exposure.outcome if md.spec.exposure else None
    log_pk, log_pc, shift = _unit_latent_logs(md, draws)
    s, n_u = log_pk.shape[0], log_pk.shape[1]
    n_c, n_k = shift.shape[1], shift.shape[2]
    c_obs = md.unit_exposure if expo else np.full(n_u, -1)
    ok = _mask(md.unit_mediator, c_obs, n_c, n_k)
    logw = np.where(ok[None], log_pk + log_pc[..., None], -np.inf)
    w = np.exp(logw - special.logsumexp(logw, axis=(2, 3), keepdims=True)).reshape(s, n_u, -1)
    cell = np.minimum((np.cumsum(w, axis=-1) < rng.random((s, n_u, 1))).sum(axis=-1),
                      n_c * n_k - 1)
    c_draw, k_draw = np.divmod(cell, n_k)
    out = {f"{med}_unit": k_draw.astype(float)}
    if expo:
        out[f"{expo}_unit"] = c_draw.astype(float)
    return out


def _path_unit_mean(md: ModelData, d: dict) -> np.ndarray:
    """Mean skill of each row given the drawn unit values and all group effects, (S, N)."""
    med = md.spec.mediator.outcome
    expo = md.spec.exposure.outcome if md.spec.exposure else None
    base = fixed_part(d, md.terms, skip=tuple(c for c in (med, expo) if c)) + group_part(d, md)
    _, _, shift = _unit_latent_logs(md, d)
    k = d[f"{med}_unit"].astype(int)
    c = d[f"{expo}_unit"].astype(int) if expo else np.zeros_like(k)
    s = shift.shape[0]
    flat = shift.reshape(s, -1)
    cell = c * shift.shape[2] + k  # (S, U)
    return base + np.take_along_axis(flat, cell, axis=1)[:, md.unit_index]


# --------------------------------------------------------------------------------------------
# log-likelihood and predictive draws
# --------------------------------------------------------------------------------------------
def _rows_matrix(md: ModelData) -> sparse.csr_matrix:
    return _segment(md.rating_row, md.n_rows)


def pointwise_dim(md: ModelData) -> tuple[str, list[str] | np.ndarray]:
    """The dimension of :func:`pointwise_loglik`'s values: ``("unit", unit ids)`` for the
    unit-level path model, else ``("row", 0..N-1)``.

    Examples
    --------
    >>> from pyramid.data.simulate import simulate
    >>> from pyramid.models.coding import prepare
    >>> from pyramid.specs import load_spec
    >>> sim = simulate((2, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    >>> pointwise_dim(prepare(load_spec("pyramid"), sim.data, warn=False))[0]
    'unit'
    >>> pointwise_dim(prepare(load_spec("skill"), sim.data, warn=False))[0]
    'row'
    """
    if md.spec.family == "path" and md.unit_index is not None:
        return "unit", [str(u) for u in md.unit_ids]
    return "row", np.arange(md.n_rows)


def pointwise_loglik(md: ModelData, draws: dict, chunk: int = 250) -> np.ndarray:
    """Pointwise log-likelihood given each draw: what LOO leaves out one at a time.

    Their sum is the model's log-likelihood at the same draws (``loglik_total``, the
    model's potential). Gaussian and cumulative-probit models: one value per row
    (observation; for the cumulative probit the sum over the row's ratings), group effects
    included. Row-level path model: the row's joint density of skill, mediator and exposure,
    the missing ones summed out over their equations. Unit-level path model: one value per
    unit (see :func:`pointwise_dim`), the joint density of what was observed in the unit -- its
    rows' skill scores, its discussion and clinician presence where given, the missing ones
    summed out over their equations -- with the unit and worker effects integrated out as the
    model does; its rows share those, so a row alone is not the unit of the likelihood.

    Returns
    -------
    numpy.ndarray
        (S, N rows) or (S, units).

    Examples
    --------
    tests/test_models.py checks that the values sum to the model's ``loglik_total``:

    >>> from pyramid.models.generated import pointwise_loglik  # doctest: +SKIP
    """
    spec = md.spec
    s_total = next(iter(draws.values())).shape[0]
    out = np.empty((s_total, len(pointwise_dim(md)[1])))
    rows = _rows_matrix(md) if spec.family == "cumulative_probit" else None
    for sl in _chunks(s_total, chunk):
        d = {k: v[sl] for k, v in draws.items()}
        if spec.family == "gaussian":
            mu = fixed_part(d, md.terms) + group_part(d, md)
            sig = d["sigma"][:, None]
            out[sl] = -0.5 * (LOG_2PI + 2 * np.log(sig) + ((md.y[None, :] - mu) / sig) ** 2)
        elif spec.family == "cumulative_probit":
            eta = (fixed_part(d, md.terms, intercept=False) + group_part(d, md))[:, md.rating_row]
            if "delta" in d:
                eta = eta + d["delta"][:, md.rating_domain]
            ll = ordinal_logp(md.y, eta, d["cutpoints"])
            out[sl] = np.asarray(ll @ rows)
        elif md.unit_index is not None:
            out[sl] = _unit_loglik(md, d)
        else:
            joint = _path_joint(md, d)
            out[sl] = special.logsumexp(joint, axis=(2, 3))
    return out


def _unit_loglik(md: ModelData, d: dict, offset: np.ndarray | None = None) -> np.ndarray:
    """log p(a unit's rows' skill, its observed mediator and exposure | theta), (S, U): the
    terms the unit-level path model's potential sums (builder._path_unit), in numpy.
    ``offset`` (S, N) replaces the explicit group effects (held-out rows)."""
    spec = md.spec
    med = spec.mediator.outcome
    expo = spec.exposure.outcome if spec.exposure else None
    marginal = {g.name: g for g in md.groups if g.parametrisation == "marginal"}
    base = fixed_part(d, md.terms, skip=tuple(c for c in (med, expo) if c))
    if offset is not None:
        base = base + offset
    else:
        for g in md.groups:
            if g.parametrisation != "marginal":
                base = base + d[f"r_{g.name}"][:, g.index]
    resid = md.y[None, :] - base
    prec = 1.0 / d["sigma"][:, None] ** 2
    msg = (np.broadcast_to(prec, resid.shape), resid * prec, resid * resid * prec,
           np.broadcast_to(-0.5 * (LOG_2PI - np.log(prec)), resid.shape))
    n_u = len(md.unit_ids)
    to_unit = md.unit_index
    if "worker" in marginal:
        w = marginal["worker"]
        msg = _integrate_np(_combine_np(msg, w.index, w.n), d["sd_worker"])
        to_unit = np.zeros(w.n, dtype=np.int64)
        to_unit[w.index] = md.unit_index
    msg = _combine_np(msg, to_unit, n_u)
    if "unit" in marginal:
        msg = _integrate_np(msg, d["sd_unit"])
    p, s_, q, a = msg
    mean = s_ / p
    log_pk, log_pc, shift = _unit_latent_logs(md, d)
    ll = ((a - 0.5 * (q - s_ * mean))[:, :, None, None]
          - 0.5 * p[:, :, None, None] * (shift[:, None, :, :] - mean[:, :, None, None]) ** 2)
    c_obs = md.unit_exposure if expo else np.full(n_u, -1)
    ok = _mask(md.unit_mediator, c_obs, shift.shape[1], shift.shape[2])
    joint = np.where(ok[None], ll + log_pk + log_pc[..., None], -np.inf)
    return special.logsumexp(joint, axis=(2, 3))


def _combine_np(msg: tuple, index: np.ndarray, n_groups: int) -> tuple:
    """Sum the children's Gaussian messages (P, S, Q, A) into their groups, (S, groups)."""
    mat = _segment(index, n_groups)
    return tuple(np.asarray(x @ mat) for x in msg)


def _integrate_np(msg: tuple, sd: np.ndarray) -> tuple:
    """Integrate each group's own Normal(0, sd) effect out of its message (builder._integrate)."""
    p, s_, q, a = msg
    mean = s_ / p
    shrink = 1.0 + p * sd[:, None] ** 2
    a = a - 0.5 * (q - s_ * mean) - 0.5 * np.log(shrink)
    p = p / shrink
    s_ = p * mean
    return p, s_, s_ * mean, a


def _path_joint(md: ModelData, d: dict) -> np.ndarray:
    """log p(skill, mediator = k, exposure = c) per draw, row, c, k with impossible cells -inf."""
    mu, log_pk, log_pc, k_obs, c_obs = _path_pieces(md.spec, d, md.terms, md.mediator_terms,
                                                    md.exposure_terms)
    mu = mu + group_part(d, md)[:, :, None, None]
    sig = d["sigma"][:, None, None, None]
    ll_y = -0.5 * (LOG_2PI + 2 * np.log(sig) + ((md.y[None, :, None, None] - mu) / sig) ** 2)
    ok = _mask(k_obs, c_obs, mu.shape[2], mu.shape[3])
    return np.where(ok[None], ll_y + log_pk + log_pc[..., None], -np.inf)


def predictive(md: ModelData, draws: dict, rng: np.random.Generator, *,
               condition_latent: bool = True, chunk: int = 250) -> dict[str, np.ndarray]:
    """Draws of replicated outcomes for the model's rows.

    Returns
    -------
    dict
        ``skill`` (S, N) for every family (for the cumulative probit the mean of the replicated
        ratings of the row's observed domains) and ``ratings`` (S, n_ratings, as 1-5) for the
        cumulative probit. For the path model a missing mediator / exposure is drawn from its
        posterior given the row's data (``condition_latent=True``, posterior predictive) or from
        its own equations (``False``, prior predictive).
    """
    spec = md.spec
    s_total = next(iter(draws.values())).shape[0]
    skill = np.empty((s_total, md.n_rows))
    ratings = np.empty((s_total, len(md.y))) if spec.family == "cumulative_probit" else None
    if spec.family == "cumulative_probit":
        rows = _rows_matrix(md)
        counts = np.asarray(rows.sum(axis=0)).ravel()
    for sl in _chunks(s_total, chunk):
        d = {k: v[sl] for k, v in draws.items()}
        s = sl.stop - sl.start
        if spec.family == "gaussian":
            mu = fixed_part(d, md.terms) + group_part(d, md)
            skill[sl] = mu + d["sigma"][:, None] * rng.standard_normal(mu.shape)
        elif spec.family == "cumulative_probit":
            eta = (fixed_part(d, md.terms, intercept=False) + group_part(d, md))[:, md.rating_row]
            if "delta" in d:
                eta = eta + d["delta"][:, md.rating_domain]
            z = eta + rng.standard_normal(eta.shape)
            y = 1 + (z[:, :, None] > d["cutpoints"][:, None, :]).sum(axis=2)
            ratings[sl] = y
            skill[sl] = np.asarray(y @ rows) / counts[None, :]
        elif md.unit_index is not None:
            mu = _path_unit_mean(md, d)
            skill[sl] = mu + d["sigma"][:, None] * rng.standard_normal(mu.shape)
        else:
            mu, log_pk, log_pc, k_obs, c_obs = _path_pieces(spec, d, md.terms, md.mediator_terms,
                                                            md.exposure_terms)
            mu = mu + group_part(d, md)[:, :, None, None]
            if condition_latent:
                logw = _path_joint(md, d)
            else:
                ok = _mask(k_obs, c_obs, mu.shape[2], mu.shape[3])
                log_pc = np.where((c_obs >= 0)[None, :, None], 0.0, log_pc)
                logw = np.where(ok[None], log_pk + log_pc[..., None], -np.inf)
            w = np.exp(logw - special.logsumexp(logw, axis=(2, 3), keepdims=True))
            flat_w = w.reshape(s, md.n_rows, -1)
            u = rng.random((s, md.n_rows, 1))
            cell = (np.cumsum(flat_w, axis=-1) < u).sum(axis=-1)
            cell = np.minimum(cell, flat_w.shape[-1] - 1)
            m = np.take_along_axis(mu.reshape(s, md.n_rows, -1), cell[..., None], axis=-1)[..., 0]
            skill[sl] = m + d["sigma"][:, None] * rng.standard_normal(m.shape)
    out = {"skill": skill}
    if ratings is not None:
        out["ratings"] = ratings
    return out


def integrated_draws(md: ModelData, draws: dict, rng: np.random.Generator, *, prior: bool
                     ) -> tuple[dict[str, np.ndarray], dict[str, tuple]]:
    """Draws of what the sampler integrated out: marginal group effects (and, in the unit-level
    path model, each unit's mediator / exposure value). From the posterior conditional, or for
    ``prior=True`` from the prior (the group effects from Normal(0, sd)).

    Returns the draws (sample axis first) and each one's dims.
    """
    marginal = [g for g in md.groups if g.parametrisation == "marginal"]
    out: dict[str, np.ndarray] = {}
    dims: dict[str, tuple] = {f"r_{g.name}": (g.name,) for g in marginal}
    path_unit = md.unit_index is not None
    if path_unit:
        med = md.spec.mediator.outcome
        expo = md.spec.exposure.outcome if md.spec.exposure else None
        dims[f"{med}_unit"] = ("path_unit",)
        if expo:
            dims[f"{expo}_unit"] = ("path_unit",)
    if not marginal and not path_unit:
        return out, {}
    n = next(iter(draws.values())).shape[0]
    if prior:
        for g in marginal:
            out[f"r_{g.name}"] = draws[f"sd_{g.name}"][:, None] * rng.standard_normal((n, g.n))
        if path_unit:
            out.update(draw_path_unit_prior(md, draws, rng))
        return out, dims
    if path_unit:
        out = draw_path_unit(md, draws, rng)
    else:
        out = draw_marginal_effects(md, draws, rng)
    return out, dims


# --------------------------------------------------------------------------------------------
# held-out groups: the joint log predictive density of groups the fit has not seen
# --------------------------------------------------------------------------------------------
#: Points of the grid over an explicit new group effect (``heldout_loglik``), at least.
_GRID_MIN = 401


def heldout_loglik(md: ModelData, draws: dict, new: list, known: list,
                   chunk: int = 100) -> np.ndarray:
    """log p(the rows of ``md`` | theta) per draw, their new group effects integrated out.

    For grouped K-fold cross-validation (brms's ``kfold(group=, joint=TRUE)``): ``md`` holds
    held-out rows whose groups at the ``new`` levels the fit never saw (a new authority and
    every unit, worker below it), so their effects are integrated over their distribution
    ``Normal(0, sd_level)`` given each draw, jointly for all the rows (they share them).
    Gaussian model: exactly, by the nested Gaussian messages of the model's own likelihood.
    Unit-level path model: unit and worker effects exactly, as the model does, within each
    unit's possible discussion and clinician values; an effect of a level above the unit (the
    authority) by the trapezoid rule on a grid of at least 401 points over +-8 SD, fine
    enough for the integrand's width (error far below 1e-8 relative for a smooth integrand).
    Effects at the ``known`` levels (above the held-out one) are the fit's draws of them.

    Parameters
    ----------
    md : ModelData
        The held-out rows, coded for the fitted model's spec (its ``groups`` are replaced by
        ``new``).
    draws : dict
        Stacked posterior draws of the fit without these rows (``r_<level>`` for the known
        levels, with ``known``'s ids).
    new : list of GroupLevel
        The new levels of the held-out rows that the fit kept, outermost first as in
        ``ModelData.groups`` (``index``: row -> group; ``parent``: group -> the next level's
        group), each with the fit's ``parametrisation``.
    known : list of (str, numpy.ndarray)
        (level, index of each held-out row's group among the fit's ids of that level).

    Returns
    -------
    numpy.ndarray
        (S,) joint log predictive density of all the rows of ``md`` per draw.

    Examples
    --------
    Used by :func:`pyramid.kfold` (tests/test_kfold.py checks it against a dense multivariate
    normal and against enumerating the units' missing values):

    >>> from pyramid.kfold import kfold  # doctest: +SKIP
    """
    spec = md.spec
    if not (spec.family == "gaussian" or (spec.family == "path" and md.unit_index is not None)):
        raise InputError(
            f"held-out groups need the gaussian or the unit-level path model; model "
            f"{spec.name!r} is {spec.family}" + (" at row level" if spec.family == "path" else "")
            + " (its new group effects have no exact integral here)")
    md = replace(md, groups=list(new))
    s_total = next(iter(draws.values())).shape[0]
    out = np.empty(s_total)
    for sl in _chunks(s_total, chunk):
        d = {k: v[sl] for k, v in draws.items()}
        offset = np.zeros((sl.stop - sl.start, md.n_rows))
        for name, idx in known:
            offset = offset + d[f"r_{name}"][:, idx]
        out[sl] = (_heldout_gaussian(md, d, offset) if spec.family == "gaussian"
                   else _heldout_path(md, d, offset))
    return out


def _heldout_gaussian(md: ModelData, d: dict, offset: np.ndarray) -> np.ndarray:
    resid = md.y[None, :] - fixed_part(d, md.terms) - offset
    prec = 1.0 / d["sigma"][:, None] ** 2
    msg = (np.broadcast_to(prec, resid.shape), resid * prec, resid * resid * prec,
           np.broadcast_to(-0.5 * (LOG_2PI - np.log(prec)), resid.shape))
    levels = list(reversed(md.groups))  # innermost first: rows -> groups -> parents
    for j, g in enumerate(levels):
        index = g.index if j == 0 else levels[j - 1].parent
        msg = _integrate_np(_combine_np(msg, index, g.n), d[f"sd_{g.name}"])
    _, _, q, a = msg  # every top group's message at offset 0 (rows: independent)
    return (a - 0.5 * q).sum(axis=1)


def _heldout_path(md: ModelData, d: dict, offset: np.ndarray) -> np.ndarray:
    """Unit-level path model: exact within units; an explicit new level above the unit by a
    grid over its effect (it shifts every row of the held-out data alike)."""
    inner = {g.name for g in md.groups} & {"unit", "worker"}
    above = [g for g in md.groups if g.name not in ("unit", "worker")]
    if len(above) > 1 or (above and above[0].n > 1):
        raise InputError("held-out rows may span one new group above the unit "
                         "(one authority at a time)")
    marginal = {g.name for g in md.groups if g.parametrisation == "marginal"}
    if inner - marginal:
        raise InputError("held-out units and workers need the model's marginal "
                         "parametrisation of unit and worker effects")

    def units(shift: np.ndarray) -> np.ndarray:  # (S,) -> (S,) sum of the units' log-lik
        return _unit_loglik(md, d, offset + shift[:, None]).sum(axis=1)

    if not above:
        return units(np.zeros(offset.shape[0]))
    sd = d[f"sd_{above[0].name}"]
    prec = md.n_rows / d["sigma"] ** 2  # an upper bound on the integrand's precision in r
    width = 1.0 / np.sqrt(prec) / np.maximum(sd, 1e-300)  # in units of sd
    n = int(min(20001, max(_GRID_MIN, np.ceil(16.0 / (0.5 * float(width.min()))) + 1)))
    t = np.linspace(-8.0, 8.0, n)
    log_w = np.log(t[1] - t[0]) - 0.5 * t * t - 0.5 * LOG_2PI
    log_w[[0, -1]] -= np.log(2.0)
    vals = np.stack([units(sd * tj) for tj in t], axis=1)  # (S, n)
    return special.logsumexp(vals + log_w[None, :], axis=1)


def levels_of(frame: pd.DataFrame, names: Sequence[str],
              parametrisation: dict[str, str]) -> list:
    """Group levels of ``frame``'s rows for the given level names (outermost first), in the
    convention of ``ModelData.groups``: every named level kept, whatever the rows' counts
    (for held-out rows, whose levels are the fitted model's, not their own).

    Examples
    --------
    >>> df = pd.DataFrame({"unit": ["u1", "u1", "u2"], "worker": ["w1", "w2", "w3"]})
    >>> lv = levels_of(df, ["unit", "worker"], {"unit": "marginal", "worker": "marginal"})
    >>> [g.index.tolist() for g in lv], lv[0].parent, lv[1].parent.tolist()
    ([[0, 0, 1], [0, 1, 2]], None, [0, 0, 1])
    """
    from pyramid.models.coding import GroupLevel

    out = []
    for g in names:
        idx, ids = pd.factorize(frame[g].astype(str))
        out.append(GroupLevel(name=g, levels=np.asarray(ids, dtype=object),
                              index=idx.astype(np.int64), parent=None,
                              parametrisation=parametrisation.get(g, "non_centred")))
    for inner, outer in zip(out[1:], out[:-1], strict=False):
        inner.parent = np.zeros(inner.n, dtype=np.int64)
        inner.parent[inner.index] = outer.index
    return out
