"""A coded data set and a prior set as the tables of pyramid's fixed kernels (no PyMC, no numba).

:mod:`pyramid.models.builder` writes each model as a PyMC graph; this module writes the same
model as data for :mod:`pyramid.models.kernels`: the flat vector of free variables (in the PyMC
model's order, with PyMC's transforms, so the same point means the same parameters), each
element's prior, the equations' terms, the group levels and the family's arrays. It also gives
what the sampler needs around the kernels -- initial points, draws from the prior, and the
quantities computed from the free variables (group effects ``r = z * u``, SDs ``|u|``,
thresholds at the reference levels, the path model's direct, indirect and total effects) --
in numpy, vectorised over draws.

``tests/test_kernels.py`` checks, for the shipped models and spec variants, that the kernels'
log-density and gradient equal the PyMC model's (to 1e-10), and that names, dims, coordinates
and ``coefs`` equal :func:`pyramid.models.builder.build`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from pyramid.errors import InputError
from pyramid.models.coding import SIGNED_NONCENTRED, ModelData, Term, empirical_cuts, main_coords
from pyramid.models.names import coef_name, threshold_labels
from pyramid.specs import PriorDist, PriorSet

__all__ = ["Layout", "Block", "build_layout", "kernel_gap"]

from pyramid.models.kernel_codes import (  # noqa: F401  (codes used by name below)
    EQ_MAIN,
    EQ_MEDIATOR,
    EQ_SHIFT,
    G_CENTRED,
    G_NONCENTRED,
    G_PARTIAL,
    K_CAT,
    K_MO,
    K_NUM,
    OP_COMBINE,
    OP_INTEGRATE,
    P_BETA,
    P_CAUCHY,
    P_DIRICHLET,
    P_EXPONENTIAL,
    P_GAMMA,
    P_HALF_CAUCHY,
    P_HALF_NORMAL,
    P_HALF_STUDENT_T,
    P_LAPLACE,
    P_LOGNORMAL,
    P_NONE,
    P_NORMAL,
    P_STUDENT_T,
    P_ZSN,
    T_ID,
    T_LOG,
    T_LOGODDS,
    T_ORDERED,
    T_SIMPLEX,
    T_ZEROSUM,
)

_LOG_2PI = math.log(2 * math.pi)
_POSITIVE = {"HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma", "LogNormal"}
_CODES = {"Normal": P_NORMAL, "StudentT": P_STUDENT_T, "Cauchy": P_CAUCHY,
          "HalfNormal": P_HALF_NORMAL, "HalfStudentT": P_HALF_STUDENT_T,
          "HalfCauchy": P_HALF_CAUCHY, "Exponential": P_EXPONENTIAL, "Gamma": P_GAMMA,
          "LogNormal": P_LOGNORMAL, "Beta": P_BETA, "Laplace": P_LAPLACE}
#: the signed twin of a half-symmetric prior (:func:`pyramid.models.builder._sd_rv`)
_SIGNED = {"HalfNormal": "Normal", "HalfStudentT": "StudentT", "HalfCauchy": "Cauchy",
           "Exponential": "Laplace"}


def _element(dist: str, p: dict) -> tuple[int, float, float, float, float]:
    """(code, p0, p1, p2, constant) of one element's prior (see ``kernels._prior``)."""
    g = special.gammaln
    if dist == "Normal":
        return P_NORMAL, p["mu"], p["sigma"], 0.0, -math.log(p["sigma"]) - 0.5 * _LOG_2PI
    if dist == "StudentT":
        nu, s = p["nu"], p["sigma"]
        c = g((nu + 1) / 2) - g(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        return P_STUDENT_T, nu, p["mu"], s, float(c)
    if dist == "Cauchy":
        return P_CAUCHY, p["alpha"], p["beta"], 0.0, -math.log(math.pi) - math.log(p["beta"])
    if dist == "HalfNormal":
        return P_HALF_NORMAL, p["sigma"], 0.0, 0.0, 0.5 * math.log(2 / math.pi) - math.log(p["sigma"])
    if dist == "HalfStudentT":
        nu, s = p["nu"], p["sigma"]
        c = math.log(2) + g((nu + 1) / 2) - g(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        return P_HALF_STUDENT_T, nu, s, 0.0, float(c)
    if dist == "HalfCauchy":
        return (P_HALF_CAUCHY, p["beta"], 0.0, 0.0,
                math.log(2) - math.log(math.pi) - math.log(p["beta"]))
    if dist == "Exponential":
        return P_EXPONENTIAL, p["lam"], 0.0, 0.0, math.log(p["lam"])
    if dist == "Gamma":
        a, b = p["alpha"], p["beta"]
        return P_GAMMA, a, b, 0.0, float(a * math.log(b) - g(a))
    if dist == "LogNormal":
        return P_LOGNORMAL, p["mu"], p["sigma"], 0.0, -math.log(p["sigma"]) - 0.5 * _LOG_2PI
    if dist == "Beta":
        a, b = p["alpha"], p["beta"]
        return P_BETA, a, b, 0.0, float(-special.betaln(a, b))
    if dist == "Laplace":
        return P_LAPLACE, p["mu"], p["b"], 0.0, -math.log(2 * p["b"])
    raise InputError(f"internal: no kernel prior for {dist!r}")  # pragma: no cover


@dataclass
class Block:
    """One free variable of the model.

    ``name``, ``dims`` and ``shape`` as in the PyMC model (``shape`` of the constrained value);
    ``x`` / ``theta`` its slices of the flat unconstrained vector and of the constrained
    values; ``transform`` and ``prior`` the kernel codes; ``params`` (elements x 4) each
    element's prior parameters and constant; ``dist`` and ``dist_params`` the prior as given
    (for prior draws); ``init`` its constrained initial value; ``device`` True for sampling
    devices (signed SDs and standardised effects) that the results keep apart.
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    x: slice
    theta: slice
    transform: int
    prior: int
    params: np.ndarray
    dist: str
    dist_params: dict
    init: np.ndarray
    device: bool = False
    ref: str | None = None  # the SD a group level's effects depend on
    weight: float = 0.0  # partial-centring weight


@dataclass
class Level:
    """An explicitly sampled group level: its effects ``r_<name>`` from block ``values``."""

    name: str
    form: int
    values: str  # block name of z (or r, centred)
    scale: str  # block name of the SD or signed SD
    weight: float
    n: int
    index: np.ndarray  # each row's group


@dataclass
class Layout:
    """A model as the tables of :mod:`pyramid.models.kernels` and what surrounds them.

    Attributes
    ----------
    family : {"gauss", "probit"}
        The kernel.
    slots : dict
        Slot name -> array, in the kernel's order (``kernels.GAUSS_SLOTS`` / ``PROBIT_SLOTS``).
    blocks : list of Block
    n_dim, n_theta : int
        Lengths of the unconstrained vector and of the constrained values.
    coords, dims : dict
        Coordinates and each variable's dims, as the PyMC model's.
    coefs : dict
        Truth-style coefficient name -> (variable, {dim: coordinate}), as ``Built.coefs``.
    derived : list of str
        Names of the path model's derived effects.
    levels : list of Level
    """

    family: str
    slots: dict[str, np.ndarray]
    blocks: list[Block]
    n_dim: int
    n_theta: int
    coords: dict[str, list]
    dims: dict[str, tuple[str, ...]]
    coefs: dict[str, tuple[str, dict]]
    derived: list[str] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    signed: dict[str, str] = field(default_factory=dict)  # sd name -> its signed block
    md: ModelData | None = None
    _path: dict | None = None
    _probit: dict | None = None

    # ------------------------------------------------------------------ names
    @property
    def scale(self) -> str:
        """``skill`` (effects in skill points) or ``latent`` (the probit scale of a rating),
        as ``Built.scale``."""
        return "latent" if self.family == "probit" else "skill"

    @property
    def expanded_names(self) -> list[str]:
        """What the kernels' expansion returns: every block's constrained values."""
        return [b.name for b in self.blocks]

    @property
    def expanded_shapes(self) -> list[tuple[int, ...]]:
        return [b.shape for b in self.blocks]

    @property
    def n_expanded(self) -> int:
        return self.n_theta

    @property
    def devices(self) -> list[str]:
        """Sampling devices: signed SDs and standardised (non-centred or partially centred)
        effects, whose sign or scale is not a quantity of the model."""
        return [b.name for b in self.blocks if b.device]

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    # ------------------------------------------------------------------ points
    def initial_point(self, seed) -> np.ndarray:
        """A jittered initial point on the unconstrained scale: each variable's initial value
        (the prior's centre, or the model's initial value) transformed, plus uniform(-1, 1)
        noise, as PyMC's and nutpie's initialisation."""
        rng = np.random.default_rng(seed)
        x = np.empty(self.n_dim)
        for b in self.blocks:
            x[b.x] = _forward(b.transform, np.asarray(b.init, dtype=float).ravel())
        return x + rng.uniform(-1.0, 1.0, size=self.n_dim)

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained values (draws x n_theta) -> {block name: (draws, *shape)}."""
        s = theta.shape[0]
        return {b.name: theta[:, b.theta].reshape(s, *b.shape) for b in self.blocks}

    def prior_draws(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` draws of every free variable from its prior (dict of (n, *shape) arrays)."""
        out: dict[str, np.ndarray] = {}
        for b in self.blocks:
            size = (n, *b.shape)
            if b.ref is not None:  # a group level's effects given its SD (sd ** weight)
                sd = np.abs(out[b.ref]).reshape(n, *([1] * len(b.shape)))
                out[b.name] = rng.normal(0.0, 1.0, size=size) * sd ** b.weight
                continue
            out[b.name] = _draw(b, size, rng)
        return out

    def quantities(self, free: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's quantities from draws of its free variables (vectorised over draws):
        every free variable that is not a sampling device, the SDs of signed ones, the group
        effects of explicit levels, the thresholds at the reference levels (probit) and the
        derived effects (path)."""
        out = {k: v for k, v in free.items() if k not in self.devices}
        for sd, signed in self.signed.items():
            out[sd] = np.abs(free[signed])
        for lv in self.levels:
            z = free[lv.values]
            if lv.form == G_CENTRED:
                continue
            scale = free[lv.scale][:, None]
            out[f"r_{lv.name}"] = z * (scale if lv.form == G_NONCENTRED
                                       else scale ** (1.0 - lv.weight))
        if self._probit is not None:
            out["cutpoints"] = free["cutpoints_centred"] + self._mean_fixed(free)[:, None]
        if self._path is not None:
            out.update(_path_effects(self, free))
        if "loglik_total" in free:
            out["loglik_total"] = free["loglik_total"]
        return out

    def _mean_fixed(self, free: dict[str, np.ndarray]) -> np.ndarray:
        """The probit's average fixed part over the rows' shares of the ratings, per draw."""
        s = next(iter(free.values())).shape[0]
        total = np.zeros(s)
        for t, col, weights in self._probit["level_weights"]:
            if t.kind == "numeric":
                total += free[f"b_{col}"] * weights
            else:
                total += _per_level(free, t, "b_", col) @ weights
        return total


# ------------------------------------------------------------------------------------------
# transforms and draws in numpy
# ------------------------------------------------------------------------------------------
def _forward(tr: int, v: np.ndarray) -> np.ndarray:
    """Constrained -> unconstrained (PyMC's forward transforms), one variable."""
    if tr == T_ID:
        return v
    if tr == T_LOG:
        return np.log(v)
    if tr == T_LOGODDS:
        return np.log(v / (1 - v))
    if tr == T_ORDERED:
        return np.concatenate([v[:1], np.log(np.diff(v))])
    if tr == T_SIMPLEX:
        lv = np.log(v)
        return lv[:-1] - lv.mean()
    n = v.shape[0]  # zerosum
    norm = -v[-1] * math.sqrt(n) / (math.sqrt(n) + n)
    return v[:-1] + norm


def _draw(b: Block, size: tuple, rng: np.random.Generator) -> np.ndarray:
    p = b.dist_params
    d = b.dist
    if d == "Normal":
        v = rng.normal(p["mu"], p["sigma"], size=size)
    elif d == "StudentT":
        v = p["mu"] + p["sigma"] * rng.standard_t(p["nu"], size=size)
    elif d == "Cauchy":
        v = p["alpha"] + p["beta"] * rng.standard_cauchy(size=size)
    elif d == "HalfNormal":
        v = np.abs(rng.normal(0.0, p["sigma"], size=size))
    elif d == "HalfStudentT":
        v = np.abs(p["sigma"] * rng.standard_t(p["nu"], size=size))
    elif d == "HalfCauchy":
        v = np.abs(p["beta"] * rng.standard_cauchy(size=size))
    elif d == "Exponential":
        v = rng.exponential(1.0 / np.asarray(p["lam"]), size=size)
    elif d == "Gamma":
        v = rng.gamma(p["alpha"], 1.0 / np.asarray(p["beta"]), size=size)
    elif d == "LogNormal":
        v = rng.lognormal(p["mu"], p["sigma"], size=size)
    elif d == "Beta":
        v = rng.beta(p["alpha"], p["beta"], size=size)
    elif d == "Laplace":
        v = rng.laplace(p["mu"], p["b"], size=size)
    elif d == "Dirichlet":
        v = rng.dirichlet(np.asarray(p["a"], dtype=float), size=size[0])
    elif d == "ZeroSumNormal":
        v = rng.normal(0.0, p["sigma"], size=size)
        v = v - v.mean(axis=-1, keepdims=True)
    else:  # pragma: no cover
        raise InputError(f"internal: no prior draws for {d!r}")
    if b.transform == T_ORDERED:
        v = np.sort(v, axis=-1)
    return v


def _per_level(free: dict, t: Term, prefix: str, col: str) -> np.ndarray:
    """A categorical or monotonic term's effect per level, (draws, levels)."""
    b = free[f"{prefix}{col}"]
    s = b.shape[0]
    if t.kind == "categorical":
        return np.concatenate([np.zeros((s, 1)), b], axis=1)
    zeta = free[f"zeta_{col}" if prefix == "b_" else f"{prefix}zeta_{col}"]
    d = len(t.levels) - 1
    return (b * d)[:, None] * np.concatenate([np.zeros((s, 1)), np.cumsum(zeta, axis=1)], axis=1)


def _ordinal_probs(eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """P(y = k) of a cumulative probit: ``eta`` (S, ...), ``cuts`` (S, K-1) -> (S, ..., K),
    from log-CDF differences on the tail with the larger mass (as the model's)."""
    extra = eta.ndim - 1
    c = cuts.reshape(cuts.shape[0], *([1] * extra), cuts.shape[1])
    z = c - eta[..., None]
    big = np.full(z.shape[:-1] + (1,), np.inf)
    a = np.concatenate([-big, z], axis=-1)
    b = np.concatenate([z, big], axis=-1)
    flip = (a + b) > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        l_hi, l_lo = special.log_ndtr(hi), special.log_ndtr(lo)
        d = np.minimum(l_lo - l_hi, -1e-300)
        return np.exp(l_hi + np.where(d > -np.log(2), np.log(-np.expm1(d)), np.log1p(-np.exp(d))))


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.nx = 0
        self.nt = 0
        self.coefs: dict[str, tuple[str, dict]] = {}
        self.signed: dict[str, str] = {}
        self.levels: list[Level] = []
        self.trm: list[list[int]] = []
        self.cols: dict[int, list[np.ndarray]] = {EQ_MAIN: [], EQ_MEDIATOR: []}

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    # ---- free variables ----
    def add(self, name, shape, dist, params_list, *, dims=(), transform=None, init=None,
            x_len=None, device=False, prior=None, ref=None, weight=0.0, dist_params=None):
        n = math.prod(shape)
        x_len = n if x_len is None else x_len
        if transform is None:
            transform = (T_SIMPLEX if dist == "Dirichlet" else T_LOG if dist in _POSITIVE
                         else T_LOGODDS if dist == "Beta" else T_ID)
        if prior is None:
            rows = [_element(dist, p) for p in params_list]
            code = rows[0][0]
            params = np.array([r[1:] for r in rows], dtype=float).reshape(n, 4)
        else:
            code, params = prior
        b = Block(name=name, dims=tuple(dims), shape=tuple(shape),
                  x=slice(self.nx, self.nx + x_len), theta=slice(self.nt, self.nt + n),
                  transform=transform, prior=code, params=params, dist=dist,
                  dist_params=dist_params if dist_params is not None else
                  {k: np.array([p[k] for p in params_list]).reshape(shape) if shape else
                   params_list[0][k] for k in (params_list[0] if params_list else {})},
                  init=np.zeros(shape) if init is None else np.asarray(init, dtype=float),
                  device=device, ref=ref, weight=weight)
        if init is None:
            b.init = np.asarray(_centre(dist, params_list, shape), dtype=float)
        self.blocks.append(b)
        self.nx += x_len
        self.nt += n
        return b

    def rv(self, name, prior: PriorDist | list[PriorDist], dims=(), shape=None, **kw):
        if isinstance(prior, PriorDist):
            shape = () if shape is None else shape
            plist = [dict(prior.params)] * max(1, math.prod(shape))
            dist = prior.dist
        else:
            dists = {p.dist for p in prior}
            if len(dists) > 1:
                raise InputError(
                    f"the coefficients of {name} must share one prior distribution family; the "
                    f"prior set gives {', '.join(sorted(dists))} (check its [coef] entries)")
            (dist,) = dists
            plist = [dict(p.params) for p in prior]
            shape = (len(prior),)
        if dist == "Dirichlet":
            raise InputError("internal: use dirichlet")  # pragma: no cover
        return self.add(name, shape, dist, plist, dims=dims, **kw)

    def sd(self, name, prior: PriorDist, *, signed: bool) -> tuple[str, str]:
        """A group SD (see builder._sd_rv): returns (the SD's name, the scale's block name)."""
        if not signed or prior.dist not in _SIGNED:
            self.rv(name, prior)
            return name, name
        p = dict(prior.params)
        twin = _SIGNED[prior.dist]
        if prior.dist == "Exponential":
            tp = {"mu": 0.0, "b": 1.0 / p["lam"]}
        elif prior.dist == "HalfCauchy":
            tp = {"alpha": 0.0, "beta": p["beta"]}
        else:
            tp = {"mu": 0.0, **p}
        b = self.add(f"{name}_signed", (), twin, [tp], device=True)
        self.signed[name] = b.name
        return name, b.name

    def dirichlet(self, name, prior: PriorDist, n: int, dims: str):
        a = np.full(n, float(prior.params["a"]))
        c = -special.gammaln(a)
        c[0] += special.gammaln(a.sum())
        params = np.column_stack([a, np.zeros(n), np.zeros(n), c])
        return self.add(name, (n,), "Dirichlet", [], dims=(dims,), transform=T_SIMPLEX,
                        x_len=n - 1, prior=(P_DIRICHLET, params), init=a / a.sum(),
                        dist_params={"a": a})

    # ---- terms ----
    def effects(self, terms, priors: PriorSet, *, prefix, cls_b, cls_mo, coef_prefix=""):
        out = []
        for t in terms:
            name = f"{prefix}{t.column}"
            if t.kind == "categorical":
                names = [coef_name(coef_prefix + t.column, lv) for lv in t.coef_levels]
                b = self.rv(name, [priors.get(cls_b, coef=n) for n in names], dims=(t.column,))
                for n, lv in zip(names, t.coef_levels, strict=True):
                    self.coefs[n] = (name, {t.column: lv})
                out.append((t, b, None))
            elif t.kind == "mo":
                n = coef_prefix + t.column
                b = self.rv(name, priors.get(cls_mo, coef=n))
                d = len(t.levels) - 1
                zeta_name = f"zeta_{t.column}" if prefix == "b_" else f"{prefix}zeta_{t.column}"
                z = self.dirichlet(zeta_name, priors.get("zeta"), d, f"{t.column}_step")
                self.coefs[n] = (name, {})
                out.append((t, b, z))
            else:
                n = coef_prefix + t.column
                b = self.rv(name, priors.get(cls_b, coef=n))
                self.coefs[n] = (name, {})
                out.append((t, b, None))
        return out

    def term(self, eq: int, t: Term, b: Block, z: Block | None, values: np.ndarray | None = None):
        """A row of ``trm`` and the term's data column (``values``: the term's own)."""
        v = t.values if values is None else values
        kind = {"categorical": K_CAT, "mo": K_MO, "numeric": K_NUM}[t.kind]
        col = -1
        if eq != EQ_SHIFT:
            col = len(self.cols[eq])
            if kind == K_NUM:
                self.cols[eq].append(np.nan_to_num(np.asarray(v, dtype=float), nan=0.0))
            else:
                self.cols[eq].append(np.maximum(np.asarray(v), 0).astype(float))
        nlev = len(t.levels) if kind != K_NUM else 0
        self.trm.append([eq, kind, b.theta.start, nlev, z.theta.start if z is not None else -1, col])
        return len(self.trm) - 1

    # ---- explicit group levels (builder._level_effects) ----
    def level(self, g, priors: PriorSet, sd_cls: str):
        prior = priors.get(sd_cls, group=g.name)
        dims = (g.name,)
        n = g.n
        if g.parametrisation == "centred":
            sd = self.rv(f"sd_{g.name}", prior)
            self.add(f"r_{g.name}", (n,), "Normal", [], dims=dims, prior=(P_NONE, np.zeros((n, 4))),
                     ref=sd.name, weight=1.0, dist_params={})
            self.levels.append(Level(g.name, G_CENTRED, f"r_{g.name}", sd.name, 1.0, n, g.index))
        elif g.parametrisation.startswith("partial:"):
            w = float(g.parametrisation.split(":", 1)[1])
            sd = self.rv(f"sd_{g.name}", prior)
            self.add(f"z_{g.name}", (n,), "Normal", [], dims=dims, prior=(P_NONE, np.zeros((n, 4))),
                     ref=sd.name, weight=w, device=True, dist_params={})
            self.levels.append(Level(g.name, G_PARTIAL, f"z_{g.name}", sd.name, w, n, g.index))
        else:
            _, scale = self.sd(f"sd_{g.name}", prior, signed=SIGNED_NONCENTRED)
            self.add(f"z_{g.name}", (n,), "Normal", [], dims=dims, prior=(P_NONE, np.zeros((n, 4))),
                     device=True, dist_params={"mu": 0.0, "sigma": 1.0})
            self.levels.append(Level(g.name, G_NONCENTRED, f"z_{g.name}", scale, 0.0, n, g.index))

    # ---- tables ----
    def common(self, n_rows: int) -> dict[str, np.ndarray]:
        blk = np.array([[b.x.start, b.x.stop - b.x.start, b.theta.start,
                         b.theta.stop - b.theta.start, b.transform, b.prior]
                        for b in self.blocks], dtype=np.int64).reshape(-1, 6)
        pp = np.concatenate([b.params for b in self.blocks], axis=0).reshape(-1, 4)
        by_name = {b.name: b for b in self.blocks}
        glv, glvf, gidx, ro = [], [], [], 0
        for lv in self.levels:
            glv.append([lv.form, by_name[lv.values].theta.start, lv.n,
                        by_name[lv.scale].theta.start, ro])
            glvf.append(lv.weight)
            gidx.append(np.asarray(lv.index, dtype=np.int64))
            ro += lv.n
        return {
            "blk": blk,
            "pp": np.ascontiguousarray(pp, dtype=float),
            "glv": np.array(glv, dtype=np.int64).reshape(-1, 5),
            "glvf": np.array(glvf, dtype=float),
            "gidx": (np.stack(gidx) if gidx else np.zeros((0, n_rows), dtype=np.int64)),
            "trm": np.array(self.trm, dtype=np.int64).reshape(-1, 6),
            "X0": _matrix(self.cols[EQ_MAIN], n_rows),
        }


def _matrix(cols: list[np.ndarray], n: int) -> np.ndarray:
    return np.ascontiguousarray(np.stack(cols) if cols else np.zeros((0, n)), dtype=float)


def _centre(dist: str, plist: list[dict], shape) -> np.ndarray:
    """A variable's initial value: the centre of its prior (PyMC's support points)."""
    def one(p):
        if dist in ("Normal", "StudentT", "Laplace", "LogNormal"):
            return math.exp(p["mu"]) if dist == "LogNormal" else p["mu"]
        if dist == "Cauchy":
            return p["alpha"]
        if dist in ("HalfNormal", "HalfStudentT"):
            return p["sigma"]
        if dist == "HalfCauchy":
            return p["beta"]
        if dist == "Exponential":
            return 1.0 / p["lam"]
        if dist == "Gamma":
            return p["alpha"] / p["beta"]
        if dist == "Beta":
            return p["alpha"] / (p["alpha"] + p["beta"])
        return 0.0
    if not plist:
        return np.zeros(shape)
    vals = [one(p) for p in plist]
    return np.asarray(vals[0] if not shape else np.resize(vals, shape), dtype=float)



def kernel_gap(md: ModelData) -> str | None:
    """Why the kernels do not cover a coded model, or ``None`` when they do.

    The kernels take main effects (categorical, monotonic, numeric) and nested group
    intercepts. A formula's interaction terms and its other group terms (varying slopes,
    crossed groupings: ``md.blocks``) are built as a PyMC graph only
    (:mod:`pyramid.models.builder`), sampled through PyTensor
    (:class:`pyramid.models.sampling.GraphLayout`).
    """
    other = [t.column for t in md.terms if t.kind not in ("categorical", "mo", "numeric")]
    if other:
        return f"interaction terms ({', '.join(other)})"
    if md.blocks:
        return ("group terms other than nested intercepts ("
                + ", ".join(b.name for b in md.blocks) + ")")
    return None


def build_layout(md: ModelData, priors: PriorSet) -> Layout:
    """The kernel tables of a coded data set's model (what :func:`builder.build` builds).

    Parameters
    ----------
    md : ModelData
    priors : PriorSet

    Returns
    -------
    Layout
    """
    family = md.spec.family
    if family == "gaussian":
        return _gaussian(md, priors)
    if family == "cumulative_probit":
        return _probit(md, priors)
    if family == "path":
        return _path(md, priors)
    raise InputError(f"unknown family {family!r}")  # pragma: no cover - specs checks it


def _finish(bld: _Builder, family: str, slots: dict, coords: dict, md: ModelData,
            **kw) -> Layout:
    dims = {b.name: b.dims for b in bld.blocks if b.dims}
    for lv in bld.levels:
        dims[f"r_{lv.name}"] = (lv.name,)
    return Layout(family=family, slots=slots, blocks=bld.blocks, n_dim=bld.nx,
                  n_theta=bld.nt, coords=coords, dims=dims, coefs=bld.coefs,
                  levels=bld.levels, signed=bld.signed, md=md, **kw)


def _gauss_slots(bld, md, n_rows, *, gi, ops, chain, y, upat, med_obs, expo_obs, cell, cvals,
                 x1) -> dict:
    slots = bld.common(n_rows)
    slots.update({
        "X1": x1,
        "gi": np.asarray(gi, dtype=np.int64),
        "ops": np.asarray(ops, dtype=np.int64).reshape(-1, 4),
        "chain": np.asarray(chain, dtype=np.int64),
        "y": np.ascontiguousarray(y, dtype=float),
        "upat": np.asarray(upat, dtype=np.int64),
        "med_obs": np.asarray(med_obs, dtype=np.int64),
        "expo_obs": np.asarray(expo_obs, dtype=np.int64),
        "cell": np.asarray(cell, dtype=np.int64),
        "cvals": np.asarray(cvals, dtype=float),
    })
    return slots


def _gi(**kw) -> list[int]:
    order = ["intercept", "sigma", "mode", "C", "K", "med_term", "expo_slope", "m_expo",
             "mcuts", "rate", "npat"]
    return [int(kw.get(k, -1 if k not in ("mode", "C", "K", "npat") else 1)) for k in order]


def _gaussian(md: ModelData, priors: PriorSet) -> Layout:
    bld = _Builder()
    n = md.n_rows
    ic = bld.rv("intercept", priors.get("intercept", coef="intercept"))
    bld.coefs["intercept"] = ("intercept", {})
    for t, b, z in bld.effects(md.terms, priors, prefix="b_", cls_b="b", cls_mo="b_mo"):
        bld.term(EQ_MAIN, t, b, z)
    sig = bld.rv("sigma", priors.get("sigma"))
    ops, chain = [], []
    marginal = bool(md.groups) and md.groups[0].parametrisation == "marginal"
    if marginal:
        sds = {}
        for g in md.groups:
            _, scale = bld.sd(f"sd_{g.name}", priors.get("sd", group=g.name), signed=True)
            sds[g.name] = scale
        child = None
        m_in = n
        for g in reversed(md.groups):
            index = g.index if child is None else child.parent
            ops.append([OP_COMBINE, len(chain), m_in, g.n])
            chain.extend(np.asarray(index, dtype=np.int64).tolist())
            ops.append([OP_INTEGRATE, bld.block(sds[g.name]).theta.start, g.n, g.n])
            child, m_in = g, g.n
    else:
        for g in md.groups:
            bld.level(g, priors, "sd")
    n_units = md.groups[0].n if marginal else n
    slots = _gauss_slots(
        bld, md, n, gi=_gi(intercept=ic.theta.start, sigma=sig.theta.start, mode=0),
        ops=ops, chain=chain, y=md.y, upat=np.zeros(n_units), med_obs=-np.ones(n_units),
        expo_obs=-np.ones(n_units), cell=np.zeros(1), cvals=np.zeros(1), x1=np.zeros((0, 1)))
    return _finish(bld, "gauss", slots, main_coords(md), md)


def _probit(md: ModelData, priors: PriorSet) -> Layout:
    bld = _Builder()
    k = len(md.categories)
    coords = main_coords(md)
    coords["threshold"] = threshold_labels(list(md.categories))
    if md.spec.domain_effects:
        coords["domain"] = list(md.domains)
    init_cuts = empirical_cuts(md.y, k)
    terms = bld.effects(md.terms, priors, prefix="b_", cls_b="latent_b", cls_mo="latent_b_mo")
    for t, b, z in terms:
        bld.term(EQ_MAIN, t, b, z)
    for g in md.groups:
        bld.level(g, priors, "latent_sd")
    n_ratings = np.bincount(md.rating_row, minlength=md.n_rows)
    row_weight = n_ratings / n_ratings.sum()
    delta = None
    if md.spec.domain_effects:
        sigma = float(priors.get("domain").params["sigma"])
        nd = len(md.domains)
        c = -(0.5 * _LOG_2PI + math.log(sigma)) * (nd - 1) / nd
        params = np.tile([sigma, float(nd), 0.0, c], (nd, 1))
        delta = bld.add("delta", (nd,), "ZeroSumNormal", [], dims=("domain",),
                        transform=T_ZEROSUM, x_len=nd - 1, prior=(P_ZSN, params),
                        dist_params={"sigma": sigma})
    cp = priors.get("cutpoints")
    cuts = bld.rv("cutpoints_centred", cp, dims=("threshold",), shape=(k - 1,),
                  transform=T_ORDERED, init=init_cuts)
    for j, lab in enumerate(coords["threshold"]):
        bld.coefs[f"kappa[{j + 1}]"] = ("cutpoints", {"threshold": lab})
    slots = bld.common(md.n_rows)
    n_r = len(md.y)
    slots.update({
        "pi": np.array([cuts.theta.start, k - 1, delta.theta.start if delta else -1,
                        len(md.domains) if delta else 0], dtype=np.int64),
        "ry": np.asarray(md.y, dtype=np.int64),
        "rrow": np.asarray(md.rating_row, dtype=np.int64),
        "rdom": (np.asarray(md.rating_domain, dtype=np.int64) if delta
                 else np.zeros(n_r, dtype=np.int64)),
        "roww": np.ascontiguousarray(row_weight, dtype=float),
        "ones": np.ones(n_r),
    })
    level_weights = []
    for t, _, _ in terms:
        if t.kind == "numeric":
            level_weights.append((t, t.column, float(row_weight @ np.nan_to_num(t.values))))
        else:
            level_weights.append((t, t.column, np.bincount(np.maximum(t.values, 0),
                                                           weights=row_weight,
                                                           minlength=len(t.levels))))
    out = _finish(bld, "probit", slots, coords, md, _probit={"level_weights": level_weights})
    out.dims["cutpoints"] = ("threshold",)
    return out


def _path(md: ModelData, priors: PriorSet) -> Layout:
    """The path model, unit level (default) or row level (see builder._path_unit / _path_row)."""
    med, expo = md.mediator, md.exposure
    unit = md.unit_index is not None
    bld = _Builder()
    n = md.n_rows
    k_med = len(med.levels)
    coords = main_coords(md)
    coords[f"{med.column}_threshold"] = threshold_labels(list(med.levels))
    n_cells = 2 ** len(md.exposure_terms) if expo is not None else 0
    if expo is not None:
        coords[f"{expo.column}_given"] = [
            ",".join(f"{t.column}={(c >> j) & 1}" for j, t in enumerate(md.exposure_terms)) or "all"
            for c in range(n_cells)
        ]
    pat_index, pat_terms = md.path_patterns()
    n_pat = len(pat_terms[0].values) if pat_terms else 1
    c_vals = np.array([0.0, 1.0]) if expo is not None else np.zeros(1)

    ic = bld.rv("intercept", priors.get("intercept", coef="intercept"))
    bld.coefs["intercept"] = ("intercept", {})
    effects = bld.effects(md.terms, priors, prefix="b_", cls_b="b", cls_mo="b_mo")
    sig = bld.rv("sigma", priors.get("sigma"))
    marginal = {g.name: g for g in md.groups if g.parametrisation == "marginal"} if unit else {}
    explicit = [g for g in md.groups if g.name not in marginal]
    if not unit:  # builder._path_row samples the group effects before the mediator equation
        for g in explicit:
            bld.level(g, priors, "sd")
    med_term = expo_slope = None
    skill_terms = {}
    for t, b, z in effects:
        skill_terms[t.column] = (t, b, z)
        if t.column == med.column:
            med_term = bld.term(EQ_SHIFT, t, b, z)
        elif expo is not None and t.column == expo.column:
            expo_slope = b.theta.start
        else:
            bld.term(EQ_MAIN, t, b, z)
    m_effects = bld.effects(md.mediator_terms, priors, prefix=f"{med.column}_",
                            cls_b="mediator_b", cls_mo="mediator_b", coef_prefix=f"{med.column}_")
    pat_values = {t.column: t.values for t in pat_terms}
    m_expo = None
    for t, b, z in m_effects:
        if expo is not None and t.column == expo.column:
            m_expo = b.theta.start
        else:
            bld.term(EQ_MEDIATOR, t, b, z, values=pat_values[t.column])
    init_cuts = empirical_cuts(md.unit_mediator if unit else med.values, k_med)
    thr = f"{med.column}_threshold"
    mcp = priors.get("mediator_cutpoints")
    mcuts = bld.rv(f"{med.column}_cutpoints", mcp, dims=(thr,), shape=(k_med - 1,),
                   transform=T_ORDERED, init=init_cuts)
    for j, lab in enumerate(threshold_labels(list(med.levels))):
        bld.coefs[f"{med.column}_cutpoints[{j + 1}]"] = (f"{med.column}_cutpoints", {thr: lab})
    rate = None
    cell = np.zeros(n_pat, dtype=np.int64)
    if expo is not None:
        ep = priors.get("exposure_rate")
        rate = bld.rv(f"{expo.column}_rate", ep, dims=(f"{expo.column}_given",), shape=(n_cells,))
        for j, t in enumerate(md.exposure_terms):
            cell = cell + np.asarray(pat_values[t.column], dtype=np.int64) * (2 ** j)
    ops, chain = [], []
    if unit:
        for g in explicit:
            bld.level(g, priors, "sd")
        m_in = n
        to_unit = md.unit_index
        if "worker" in marginal:
            w = marginal["worker"]
            _, sw = bld.sd("sd_worker", priors.get("sd", group="worker"), signed=True)
            ops.append([OP_COMBINE, len(chain), n, w.n])
            chain.extend(np.asarray(w.index, dtype=np.int64).tolist())
            ops.append([OP_INTEGRATE, bld.block(sw).theta.start, w.n, w.n])
            worker_unit = np.zeros(w.n, dtype=np.int64)
            worker_unit[w.index] = md.unit_index
            to_unit, m_in = worker_unit, w.n
        n_units = len(md.unit_ids)
        ops.append([OP_COMBINE, len(chain), m_in, n_units])
        chain.extend(np.asarray(to_unit, dtype=np.int64).tolist())
        if "unit" in marginal:
            _, su = bld.sd("sd_unit", priors.get("sd", group="unit"), signed=True)
            ops.append([OP_INTEGRATE, bld.block(su).theta.start, n_units, n_units])
        upat = pat_index
        med_obs = md.unit_mediator
        expo_obs = md.unit_exposure if expo is not None else -np.ones(n_units)
        weights = np.bincount(pat_index[md.unit_index], minlength=n_pat) / n
    else:
        upat = pat_index
        med_obs = med.values.astype(np.int64)
        expo_obs = (np.where(expo.missing, -1, expo.values).astype(np.int64) if expo is not None
                    else -np.ones(n))
        weights = np.bincount(pat_index, minlength=n_pat) / len(pat_index)
    x1 = _matrix(bld.cols[EQ_MEDIATOR], n_pat)
    gi = _gi(intercept=ic.theta.start, sigma=sig.theta.start, mode=1, C=len(c_vals), K=k_med,
             med_term=med_term, expo_slope=-1 if expo_slope is None else expo_slope,
             m_expo=-1 if m_expo is None else m_expo, mcuts=mcuts.theta.start,
             rate=rate.theta.start if rate is not None else -1, npat=n_pat)
    slots = _gauss_slots(bld, md, n, gi=gi, ops=ops, chain=chain, y=md.y, upat=upat,
                         med_obs=med_obs, expo_obs=expo_obs, cell=cell, cvals=c_vals, x1=x1)
    path = {"pat_terms": pat_terms, "pat_values": pat_values, "weights": weights,
            "effects": skill_terms, "m_effects": m_effects, "cell": cell}
    out = _finish(bld, "gauss", slots, coords, md, _path=path)
    out.derived = _path_derived_names(md)
    return out


def _path_derived_names(md: ModelData) -> list[str]:
    names = []
    if md.exposure is not None:
        col = md.exposure.column
        names += [f"direct_{col}", f"indirect_{col}", f"total_{col}"]
    for t in md.mediator_terms:
        if md.exposure is not None and t.column == md.exposure.column:
            continue
        if t.kind != "numeric":
            continue
        vals = np.unique(t.values[~np.isnan(t.values)])
        if not np.isin(vals, [0.0, 1.0]).all():
            continue
        names += [f"direct_{t.column}", f"indirect_{t.column}", f"total_{t.column}"]
    return names


def _path_effects(lay: Layout, free: dict) -> dict[str, np.ndarray]:
    """Direct, indirect and total effects on skill, per draw (builder._path_effects)."""
    md = lay.md
    p = lay._path
    med, expo = md.mediator, md.exposure
    s = free["sigma"].shape[0]
    w = p["weights"]
    n_pat = len(w)
    skill = p["effects"]
    mt, mb, mz = skill[med.column]
    med_vec = _per_level(free, mt, "b_", med.column)  # (S, K)
    cuts = free[f"{med.column}_cutpoints"]
    prefix = f"{med.column}_"
    m_expo = None
    if expo is not None:
        m_expo = next((b for t, b, z in p["m_effects"] if t.column == expo.column), None)
    g = free[m_expo.name] if m_expo is not None else np.zeros(s)
    b_c = free[skill[expo.column][1].name] if expo is not None and expo.column in skill \
        else np.zeros(s)

    def m_base_with(col=None, value=None):
        out = np.zeros((s, n_pat))
        for t, b, _ in p["m_effects"]:
            if m_expo is not None and b is m_expo:
                continue
            x = (np.full(n_pat, value) if t.column == col else p["pat_values"][t.column])
            if t.kind == "numeric":
                out = out + free[b.name][:, None] * np.nan_to_num(np.asarray(x, dtype=float))
            else:
                pl = _per_level(free, t, prefix, t.column)
                out = out + pl[:, np.maximum(np.asarray(x), 0).astype(np.int64)]
        return out

    def expected_mediator(m_eta):
        return (_ordinal_probs(m_eta, cuts) * med_vec[:, None, :]).sum(axis=-1)

    out = {}
    if expo is not None:
        base = m_base_with()
        ind = ((expected_mediator(base + g[:, None]) - expected_mediator(base)) * w).sum(axis=1)
        col = expo.column
        out[f"direct_{col}"] = b_c
        out[f"indirect_{col}"] = ind
        out[f"total_{col}"] = b_c + ind
    rate = free[f"{expo.column}_rate"] if expo is not None else None
    for t, b, _ in p["m_effects"]:
        if (m_expo is not None and b is m_expo) or t.kind != "numeric":
            continue
        col = t.column
        vals = np.unique(t.values[~np.isnan(t.values)])
        if not np.isin(vals, [0.0, 1.0]).all():
            continue

        def expected(v, col=col):
            m_eta = m_base_with(col, v)
            if expo is not None:
                cell = np.zeros(n_pat, dtype=np.int64)
                for j, et in enumerate(md.exposure_terms):
                    x = (np.full(n_pat, v) if et.column == col else p["pat_values"][et.column])
                    cell = cell + np.asarray(x, dtype=np.int64) * (2 ** j)
                pc1 = rate[:, cell] if md.exposure_terms else rate[:, :1]
            else:
                pc1 = np.zeros((s, 1))
            e1 = (b_c[:, None] + expected_mediator(m_eta + g[:, None]))
            res = pc1 * e1 + (1 - pc1) * expected_mediator(m_eta)
            if col in skill:
                res = res + free[skill[col][1].name][:, None] * v
            return res

        total = ((expected(1.0) - expected(0.0)) * w).sum(axis=1)
        direct = free[skill[col][1].name] if col in skill else np.zeros(s)
        out[f"direct_{col}"] = direct
        out[f"indirect_{col}"] = total - direct
        out[f"total_{col}"] = total
    return out
