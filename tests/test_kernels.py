"""The fixed kernels (pyramid.models.kernels, .layout) against the PyMC models they replace.

For the shipped models, spec variants (every parametrisation of a group level, the row-level
path model, no domain effects) and prior sets using every distribution a prior set may name:
the same free variables in the same order with the same transforms (so one flat point means
the same parameters), the log-density equal up to a constant and the gradient equal to 1e-10,
the same names, dims, coordinates and ``coefs``, and the model's quantities (group effects,
SDs, thresholds at the reference levels, the path model's derived effects) equal to the
PyMC model's deterministics. No sampling.

(The log-densities are compared up to a constant at 1e-9 of their size: PyMC adds the
normalising constants of the priors in another order.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pyramid.data.simulate import simulate
from pyramid.specs import load_priors, load_spec, spec_from_text

pytensor = pytest.importorskip("pytensor")
pm = pytest.importorskip("pymc")

from pyramid.models.builder import build  # noqa: E402
from pyramid.models.coding import DataWarning, prepare  # noqa: E402
from pyramid.models.compiled import KernelModel  # noqa: E402
from pyramid.models.layout import build_layout  # noqa: E402

ALL_DISTS = """
name = "every_dist"
description = "every distribution a prior set may use, for the kernel tests"
[intercept]
dist = "StudentT"
nu = 4.1
mu = 2.51
sigma = 0.8
[b]
dist = "Cauchy"
alpha = 0.1
beta = 0.6
[b_mo]
dist = "Normal"
mu = 0.0
sigma = 0.3
[zeta]
dist = "Dirichlet"
a = 2.0
[sd]
dist = "HalfStudentT"
nu = 3.1
sigma = 0.51
[sd_worker]
dist = "Gamma"
alpha = 2.1
beta = 4.1
[sd_authority]
dist = "HalfCauchy"
beta = 0.3
[sigma]
dist = "LogNormal"
mu = -0.51
sigma = 0.4
[latent_b]
dist = "Normal"
mu = 0.1
sigma = 0.7
[latent_b_mo]
dist = "StudentT"
nu = 5.1
mu = 0.0
sigma = 0.4
[latent_sd]
dist = "Exponential"
lam = 2.1
[latent_sd_observation]
dist = "HalfNormal"
sigma = 0.3
[cutpoints]
dist = "StudentT"
nu = 6.1
mu = 0.0
sigma = 2.51
[domain]
dist = "Normal"
mu = 0.0
sigma = 0.4
[mediator_b]
dist = "Cauchy"
alpha = 0.0
beta = 1.1
[mediator_cutpoints]
dist = "Normal"
mu = 0.0
sigma = 1.2
[exposure_rate]
dist = "Beta"
alpha = 2.1
beta = 3.1
"""


@pytest.fixture(scope="module")
def data():
    return simulate((8, 3, 2, 2), seed=3, mix={"discussion_observed": 0.6}).data


@pytest.fixture(scope="module")
def every_dist(tmp_path_factory):
    path = tmp_path_factory.mktemp("priors") / "every_dist.toml"
    path.write_text(ALL_DISTS)
    return load_priors(path)


def _variant(model: str, old: str, new: str):
    text = load_spec(model).text
    assert old in text
    return spec_from_text(text.replace(old, new))


def _pyramid_row():
    return spec_from_text(
        load_spec("pyramid").text.replace('level = "unit"', 'level = "row"').replace(
            'parametrisation = { authority = "non_centred", unit = "marginal", worker = '
            '"marginal" }', 'parametrisation = { authority = "centred", unit = "non_centred", '
            'worker = "partial:0.5" }'))


SPECS = {
    "skill": lambda: load_spec("skill"),
    "domains": lambda: load_spec("domains"),
    "pyramid": lambda: load_spec("pyramid"),
    "skill non_centred": lambda: _variant("skill", 'parametrisation = "marginal"',
                                          'parametrisation = "non_centred"'),
    "skill mixed": lambda: _variant(
        "skill", 'parametrisation = "marginal"',
        'parametrisation = { authority = "centred", unit = "partial:0.3", worker = '
        '"non_centred" }'),
    "domains centred, no domain effects": lambda: spec_from_text(
        load_spec("domains").text.replace(
            'parametrisation = "non_centred"',
            'parametrisation = { authority = "centred", unit = "partial:0.5" }').replace(
            "domain_effects = true", "domain_effects = false")),
    "pyramid row": _pyramid_row,
}


def _point(model, layout, x):
    ip = model.initial_point()
    return {model.rvs_to_values[rv].name: x[b.x].reshape(ip[model.rvs_to_values[rv].name].shape)
            for rv, b in zip(model.free_RVs, layout.blocks, strict=True)}


def _both(spec, data, priors):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        md = prepare(spec, data)
    return build(md, priors), build_layout(md, priors)


def _same_structure(built, lay):
    """The same free variables in the same order and unconstrained sizes, the same names,
    dims, coordinates and coefs."""
    model = built.model
    assert [rv.name for rv in model.free_RVs] == [b.name for b in lay.blocks]
    ip = model.initial_point()
    assert [ip[model.rvs_to_values[rv].name].size for rv in model.free_RVs] == [
        b.x.stop - b.x.start for b in lay.blocks]
    assert lay.coefs == built.coefs
    assert lay.derived == built.derived
    assert lay.scale == built.scale
    for k, v in model.coords.items():
        assert [str(a) for a in lay.coords[k]] == [str(a) for a in v], k
    for k, v in model.named_vars_to_dims.items():
        if k in lay.dims:
            assert tuple(lay.dims[k]) == tuple(v), k


def _points(lay, n=3):
    rng = np.random.default_rng(1)
    return [lay.initial_point(seed) + rng.normal(0.0, 0.4, lay.n_dim) for seed in range(n)]


def _check_values(model, lay, km, points):
    """The log-density equals PyMC's up to a constant (at 1e-9 of its size)."""
    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        logp = model.compile_logp()
    offsets = [km.logp(x) - float(logp(_point(model, lay, x))) for x in points]
    size = max(1.0, abs(km.logp(points[0])))
    assert max(abs(o) for o in offsets) < 1e-9 * size
    assert max(offsets) - min(offsets) < 1e-10 * size


@pytest.mark.parametrize("name", ["skill", "domains", "pyramid"])
def test_kernel_equals_pymc_shipped(name, data):
    """The shipped models with the default priors: structure and values against PyMC, the
    gradient against central differences of the kernel's own log-density (the slow test below
    compares it with PyMC's to 1e-10)."""
    built, lay = _both(SPECS[name](), data, load_priors("default"))
    _same_structure(built, lay)
    km = KernelModel(lay)
    points = _points(lay, 2)
    _check_values(built.model, lay, km, points)
    x = points[0]
    v, g = km.logp_dlogp(x)
    assert km.logp(x) == pytest.approx(v, rel=1e-14)
    h = 1e-5
    idx = np.unique(np.linspace(0, lay.n_dim - 1, 12).astype(int))
    for i in idx:
        e = np.zeros(lay.n_dim)
        e[i] = h
        fd = (km.logp(x + e) - km.logp(x - e)) / (2 * h)
        assert fd == pytest.approx(g[i], rel=1e-5, abs=1e-5 * max(1.0, np.abs(g).max()))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("prior_set", ["default", "every_dist"])
def test_kernel_equals_pymc(name, prior_set, data, every_dist):
    """Every spec variant and prior set: structure, values, and the gradient against PyMC's
    to 1e-10."""
    priors = every_dist if prior_set == "every_dist" else load_priors(prior_set)
    built, lay = _both(SPECS[name](), data, priors)
    _same_structure(built, lay)
    model = built.model
    km = KernelModel(lay)
    points = _points(lay)
    _check_values(model, lay, km, points)
    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        dlogp = model.compile_dlogp()
    for x in points:
        _, g = km.logp_dlogp(x)
        ref_g = np.asarray(dlogp(_point(model, lay, x)))
        np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-10 * max(1, np.abs(ref_g).max()))


@pytest.mark.parametrize("name", ["skill mixed", "pyramid row"])
def test_quantities_equal_pymc_deterministics(name, data):
    built, lay = _both(SPECS[name](), data, load_priors("default"))
    model = built.model
    km = KernelModel(lay)
    x = lay.initial_point(7)
    dets = [d for d in model.deterministics if d.name != "loglik_total"]
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    outs = model.replace_rvs_by_values(dets + list(model.free_RVs))
    f = pytensor.function(values, outs, mode="FAST_COMPILE", on_unused_input="ignore")
    point = _point(model, lay, x)
    ref = dict(zip([d.name for d in dets] + [rv.name for rv in model.free_RVs],
                   f(*[point[v.name] for v in values]), strict=True))
    free = {k: v[None] for k, v in km.expand(x).items()}
    got = lay.quantities(free)
    for k, v in got.items():
        np.testing.assert_allclose(v[0], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # every deterministic and free variable of PyMC's but the sampling devices is there
    assert set(ref) - set(got) == set(lay.devices)


def test_one_compilation_serves_every_data_set():
    """Two data sets of other sizes (rows, groups, patterns) use the same C callbacks: nothing
    is compiled for a data set."""
    from pyramid.models import kernels

    spec, priors = load_spec("pyramid"), load_priors("default")
    out = []
    for design in [(4, 2, 2, 1), (12, 5, 3, 2)]:
        sim = simulate(design, seed=2, mix={"discussion_observed": 0.5})
        _, lay = _both(spec, sim.data, priors)
        km = KernelModel(lay)
        out.append((km._logp_c.address, km.n_dim, km.logp_dlogp(lay.initial_point(0))[0]))
    assert out[0][0] == out[1][0] and out[0][1] != out[1][1]
    assert all(np.isfinite(o[2]) for o in out)
    assert set(kernels._COMPILED) <= {"_gauss_logp_c", "_probit_logp_c", "_expand_c"}


def test_prior_draws(data):
    """Prior draws have every block's shape and support; ordered thresholds are sorted."""
    _, lay = _both(load_spec("domains"), data, load_priors("default"))
    d = lay.prior_draws(50, np.random.default_rng(0))
    for b in lay.blocks:
        assert d[b.name].shape == (50, *b.shape), b.name
    assert (np.diff(d["cutpoints_centred"], axis=1) > 0).all()
    np.testing.assert_allclose(d["delta"].sum(axis=1), 0, atol=1e-12)
    q = lay.quantities(d)
    assert (q["sd_worker"] >= 0).all() and "z_worker" not in q and "r_worker" in q


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pyramid", "domains centred, no domain effects"])
def test_prior_draws_follow_the_pymc_priors(name, data, every_dist):
    """The prior draws of the kernel path (numpy) have the distributions of PyMC's: each
    element against ``pm.draw`` of the same variable (sorted for ordered ones), by a
    two-sample Kolmogorov-Smirnov test (what calibration's ranks rest on)."""
    from scipy import stats as st

    built, lay = _both(SPECS[name](), data, every_dist)
    model = built.model
    n = 4000
    ours = lay.quantities(lay.prior_draws(n, np.random.default_rng(5)))
    names = [v for v in ours if v in model.named_vars and v not in ("loglik_total",)]
    ref = pm.draw([model[v] for v in names], draws=n, random_seed=6, mode="FAST_COMPILE")
    pvals = []
    for v, r in zip(names, ref, strict=True):
        r = np.asarray(r, dtype=float).reshape(n, -1)
        if v == "cutpoints":
            continue  # PyMC's is computed from unsorted draws (see prior_draws_pymc)
        if v in ("cutpoints_centred", "discussion_cutpoints"):
            r = np.sort(r, axis=1)  # pm.draw ignores the ordered transform
        a = np.asarray(ours[v], dtype=float).reshape(n, -1)
        for k in range(min(a.shape[1], 3)):
            pvals.append((v, k, st.ks_2samp(a[:, k], r[:, k]).pvalue))
    # Bonferroni over the comparisons: no element's draws differ
    worst = min(pvals, key=lambda t: t[2])
    assert worst[2] > 0.001 / len(pvals), worst


def test_path_mediator_interval_exact_deep_inside_the_open_categories():
    """Audit finding 1 (issue 20) in the kernel that now samples the path model's discussion
    equation: log P of a category stays exact however far inside the first or last category
    the predictor lies (the old construction gave -2.3e-4, -6.9e-2, -8.37 for
    ``[-38, -40, -45]`` in the first category, exact about 0). Against scipy's log_ndtr,
    taking the tail where the interval lies; and the derivatives against finite differences."""
    from scipy.special import log_ndtr

    from pyramid.models import kernels

    def exact(lo, hi):
        if lo + hi > 0:
            lo, hi = -hi, -lo
        lb = log_ndtr(hi)
        return lb + np.log1p(-np.exp(log_ndtr(lo) - lb))

    cuts = np.array([-1.5, -0.5, 0.5, 1.5])
    for eta in (-45.0, -40.0, -38.0, -10.0, 0.3, 10.0, 38.0, 40.0, 45.0):
        for k in range(5):
            lo = cuts[k - 1] - eta if k > 0 else -np.inf
            hi = cuts[k] - eta if k < 4 else np.inf
            lp, _, _ = kernels._interval(k, eta, cuts)
            want = exact(lo, hi)
            assert lp == pytest.approx(want, rel=1e-12, abs=1e-300), (eta, k)
    for eta in (-38.0, -40.0, -45.0):
        assert -1e-200 < kernels._interval(0, eta, cuts)[0] <= 0.0  # log Phi(36.5) = -5.5e-292
    # d log P / d(lower bound) and d(upper bound) at an interior category, central differences
    lp, d_lo, d_hi = kernels._interval(2, 0.3, cuts)
    h = 1e-6
    up = exact(cuts[1] - 0.3, cuts[2] - 0.3 + h) - exact(cuts[1] - 0.3, cuts[2] - 0.3 - h)
    down = exact(cuts[1] - 0.3 + h, cuts[2] - 0.3) - exact(cuts[1] - 0.3 - h, cuts[2] - 0.3)
    assert d_hi == pytest.approx(up / (2 * h), rel=1e-6)
    assert d_lo == pytest.approx(down / (2 * h), rel=1e-6)
