"""Structural tests of the models: no sampling.

Every model builds, its log-density and gradient are finite at the initial point, its
coordinates carry the level names, and the hand-written pieces (the stable cumulative-probit
log-probability, the integrated-out Gaussian group effects, the unit-level mixture of the
path model) agree with brute-force references.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from pyramid.data.simulate import simulate
from pyramid.errors import InputError
from pyramid.specs import load_priors, load_spec, spec_from_text

pytensor = pytest.importorskip("pytensor")
pm = pytest.importorskip("pymc")
pt = pytensor.tensor

from pyramid.errors import DataWarning  # noqa: E402
from pyramid.models import generated  # noqa: E402
from pyramid.models.builder import build, gaussian_marginal_logp, ordinal_logp  # noqa: E402
from pyramid.models.coding import prepare  # noqa: E402
from pyramid.models.compiled import compile_model  # noqa: E402


def _sim(design=(6, 3, 2, 2), seed=5, **mix):
    mix.setdefault("discussion_observed", 0.6)
    return simulate(design, seed=seed, mix=mix)


def _prepare(spec, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return prepare(spec, data)


@pytest.fixture(scope="module")
def sim():
    return _sim()


@pytest.fixture(scope="module")
def reference():
    from pyramid.datasets import load_rsw2017

    return load_rsw2017()


@pytest.fixture(scope="module")
def compiled(sim, reference):
    """Each shipped model built and compiled once (PyTensor's numba cache makes the same
    graphs cheap again in tests/test_fit.py): skill and domains on the reference data, pyramid
    on simulated data with two observations per worker, so that every level is in it."""
    out = {}
    for name, data in (("skill", reference), ("domains", reference), ("pyramid", sim.data)):
        md = _prepare(load_spec(name), data)
        built = build(md, load_priors("default"))
        out[name] = (built, compile_model(built.model, initvals=built.initvals))
    return out


# --------------------------------------------------------------------------------------------
# every model: finite log-density and gradient, named coordinates
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["skill", "domains", "pyramid"])
def test_logp_and_gradient_finite_at_initial_point(compiled, name):
    built, cm = compiled[name]
    for seed in (0, 1, 2):
        x = cm.initial_point(seed)
        logp, grad = cm.logp_dlogp(x)
        assert np.isfinite(logp), name
        assert grad.shape == (cm.n_dim,)
        assert np.all(np.isfinite(grad)), name
    # the gradient is the gradient: central differences of the log-density (step 1e-6; the
    # truncation error of the difference is O(h^2), so agreement to 1e-5 is expected)
    x = cm.initial_point(7)
    _, grad = cm.logp_dlogp(x)
    h = 1e-6
    num = np.array([(cm.logp_dlogp(x + h * e)[0] - cm.logp_dlogp(x - h * e)[0]) / (2 * h)
                    for e in np.eye(cm.n_dim)])
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["skill", "domains", "pyramid"])
def test_coordinates_carry_level_names(compiled, name):
    built, _ = compiled[name]
    coords = built.model.coords
    assert list(coords["training"]) == ["other", "mla", "programme"]
    assert list(coords["discussion_step"]) == ["green_shoots", "systemic"]
    md = built.data
    for g in md.groups:
        assert list(coords[g.name]) == [str(v) for v in g.levels]
        assert isinstance(coords[g.name][0], str)  # the ids themselves, not integers
    dims = built.model.named_vars_to_dims
    assert dims["b_training"] == ("training",)
    # the one map from the simulator's truth to the posterior agrees with the built model
    from pyramid.models import TRUTH_NAMES

    truth = TRUTH_NAMES[name]
    pre = "latent:" if built.scale == "latent" else ""
    for coef, where in built.coefs.items():
        assert truth[pre + coef] == where, coef
    kept = {f"sd_{g.name}" for g in md.groups}
    for tname, (var, sel) in truth.items():
        if var.startswith("sd_") and var not in kept:
            continue
        assert var in built.model.named_vars, tname
        for dim, label in sel.items():
            assert label in list(coords[dim]), tname
    if name == "domains":
        assert list(coords["domain"]) == ["collaboration", "empathy", "purposefulness",
                                          "clarity", "child_focus"]
        assert list(coords["threshold"]) == ["1|2", "2|3", "3|4", "4|5"]
    if name == "pyramid":
        assert list(coords["discussion_threshold"]) == ["non_systemic|green_shoots",
                                                        "green_shoots|systemic"]
        assert list(coords["clinician_given"]) == ["csw=0", "csw=1"]
        assert set(built.derived) == {f"{k}_{x}" for k in ("direct", "indirect", "total")
                                      for x in ("clinician", "csw")}


def test_reference_data_models_build(reference):
    """The reconstruction of the report's data: rows and levels each model uses."""
    md = _prepare(load_spec("skill"), reference)
    assert md.n_rows == 22 and md.dropped == {"clinician": 50, "discussion": 50}
    assert [g.name for g in md.groups] == ["authority", "unit"]  # one row per worker
    md = _prepare(load_spec("domains"), reference)
    assert [g.name for g in md.groups] == ["authority", "unit", "worker"]
    assert len(md.y) == int(reference.loc[reference["discussion"].notna(),
                                          list(md.domains)].notna().sum().sum())
    md = _prepare(load_spec("pyramid"), reference)
    assert md.n_rows == 72 and md.dropped == {}
    assert (md.unit_mediator >= 0).sum() == reference.loc[
        reference["discussion"].notna(), "unit"].nunique()
    built = build(md, load_priors("default"))
    assert np.isfinite(built.model.compile_logp(mode="FAST_COMPILE")(built.model.initial_point(0)))


# --------------------------------------------------------------------------------------------
# the hand-written pieces against references
# --------------------------------------------------------------------------------------------
def _ordinal_fn():
    y = pt.lvector("y")
    eta = pt.dvector("eta")
    cuts = pt.dvector("cuts")
    return pytensor.function([y, eta, cuts], ordinal_logp(y, eta, cuts), mode="FAST_COMPILE")


def test_ordinal_logp_matches_scipy_and_is_stable_in_tails():
    f = _ordinal_fn()
    cuts = np.array([-1.5, -0.2, 0.7, 2.0])
    y = np.repeat(np.arange(5), 3)
    eta = np.tile([-0.4, 0.3, 1.1], 5)
    ours = f(y, eta, cuts)
    # reference: log(ndtr(c_k - eta) - ndtr(c_{k-1} - eta)) with scipy.special.ndtr
    c = np.concatenate([[-np.inf], cuts, [np.inf]])
    ref = np.log(special.ndtr(c[y + 1] - eta) - special.ndtr(c[y] - eta))
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    assert np.allclose(np.exp(f(np.arange(5), np.full(5, 0.3), cuts)).sum(), 1.0, rtol=1e-12)
    # far tails: naive differences underflow to log(0) = -inf; ours stays finite and accurate.
    # reference: scipy.special.log_ndtr(-38.5) - the edge categories are one log-CDF
    assert f(np.array([4]), np.array([-40.0]), cuts)[0] == pytest.approx(
        special.log_ndtr(-40.0 - 2.0), rel=1e-10)
    assert f(np.array([0]), np.array([40.0]), cuts)[0] == pytest.approx(
        special.log_ndtr(-1.5 - 40.0), rel=1e-10)
    # interior category 30 SDs out: log(Phi(b) - Phi(a)) = log Phi(b) + log1p(-Phi(a)/Phi(b))
    eta = np.array([-30.0])
    ref = special.log_ndtr(0.7 + 30) if False else special.log_ndtr(-(-0.2 + 30.0)) + np.log1p(
        -np.exp(special.log_ndtr(-(0.7 + 30.0)) - special.log_ndtr(-(-0.2 + 30.0))))
    assert f(np.array([2]), eta, cuts)[0] == pytest.approx(ref, rel=1e-10)
    # and the gradient is finite in every tail
    yv, ev = pt.lvector("y"), pt.dvector("e")
    g = pytensor.function([yv, ev], pt.grad(ordinal_logp(yv, ev, pt.as_tensor(cuts)).sum(), ev),
                          mode="FAST_COMPILE")
    grads = g(np.arange(5).repeat(3), np.tile([-60.0, 0.0, 60.0], 5))
    assert np.all(np.isfinite(grads))


# reference: mpmath 1.4.1 at 1,200 digits, log(ncdf(c_k - eta) - ncdf(c_{k-1} - eta)) for
# cuts (-1.5, -0.5, 0.5, 1.5), e.g.
#   mp.mp.dps = 1200; mp.log(mp.ncdf(mp.mpf(-1.5) + 38) - mp.ncdf(-mp.inf))
_MP_ETAS = [-45.0, -40.0, -38.0, -8.0, 0.3]
_MP_LOGP = np.array([
    [-1.1623178525643026e-413, -950.81722724630421, -994.83993207317448, -1.0398621333106936e+3,
     -1.0858838527935035e+3],
    [-1.4081824631705175e-324, -745.69527029041108, -784.72087910431758, -824.74584924403802,
     -865.77021175579703],
    [-5.5447257130748446e-292, -670.6420000003137, -707.66898931750719, -745.69527029041108,
     -784.72087910431758],
    [-4.0160005839397591e-11, -23.938944355603474, -31.07618802808785, -39.197507141414293,
     -48.30601929896523],
    [-3.3261737963785936, -1.7376970594003618, -1.0012923728575734, -1.1852471608890293,
     -2.1622175060437394],
])


def test_ordinal_logp_exact_deep_inside_the_open_categories():
    """The audit's finding 1: with the open end replaced by a bound 40 units from the finite
    one, log P(first category) was -2.3e-4, -6.9e-2 and -8.37 at eta = -38, -40, -45
    (exact: about -1e-292 and below). Failed before the fix; now every category matches
    mpmath to 1e-12, mirrored for the last category, with finite gradients that match
    d/deta log Phi(c - eta) = -phi / Phi."""
    from pyramid.models.builder import ordinal_logp_all

    cuts = np.array([-1.5, -0.5, 0.5, 1.5])
    eta = pt.dvector("eta")
    lp_all = ordinal_logp_all(eta, pt.as_tensor(cuts))
    f_all = pytensor.function([eta], lp_all, mode="FAST_COMPILE")
    f_one = _ordinal_fn()
    e = np.array(_MP_ETAS)
    np.testing.assert_allclose(f_all(e), _MP_LOGP, rtol=1e-12, atol=1e-300)
    # the last category mirrors the first (eta -> -eta, categories reversed)
    np.testing.assert_allclose(f_all(-e), _MP_LOGP[:, ::-1], rtol=1e-12, atol=1e-300)
    for k in range(5):
        np.testing.assert_allclose(f_one(np.full(5, k), e, cuts), _MP_LOGP[:, k], rtol=1e-12,
                                   atol=1e-300)
        np.testing.assert_allclose(f_one(np.full(5, 4 - k), -e, cuts), _MP_LOGP[:, k],
                                   rtol=1e-12, atol=1e-300)
    # gradients: finite everywhere, equal to the analytic ones of the edge categories
    far = np.array([-1e3, -60.0, -45.0, -38.0, -8.0, 0.0, 8.0, 38.0, 45.0, 60.0, 1e3])
    grads = pytensor.function([eta], [pytensor.grad(lp_all[:, k].sum(), eta) for k in range(5)],
                              mode="FAST_COMPILE")(far)
    assert all(np.isfinite(g).all() for g in grads)
    # (rtol 1e-9: at eta = 1e3 scipy's reference subtracts two numbers near -5e5)
    z0, z4 = cuts[0] - far, far - cuts[-1]
    np.testing.assert_allclose(grads[0], -np.exp(stats.norm.logpdf(z0) - special.log_ndtr(z0)),
                               rtol=1e-9)
    np.testing.assert_allclose(grads[4], np.exp(stats.norm.logpdf(z4) - special.log_ndtr(z4)),
                               rtol=1e-9)
    yv, ev = pt.lvector("y"), pt.dvector("e")
    g1 = pytensor.function([yv, ev], pt.grad(ordinal_logp(yv, ev, pt.as_tensor(cuts)).sum(), ev),
                           mode="FAST_COMPILE")
    for k in range(5):
        np.testing.assert_allclose(g1(np.full(far.size, k), far), grads[k], rtol=1e-12, atol=1e-300)


def test_numpy_and_pytensor_ordinal_agree():
    f = _ordinal_fn()
    rng = np.random.default_rng(2)
    cuts = np.sort(rng.normal(0, 2, 4))
    y = rng.integers(0, 5, 200)
    eta = rng.normal(0, 8, 200)
    np.testing.assert_allclose(
        generated.ordinal_logp(y, eta[None, :], cuts[None, :])[0], f(y, eta, cuts), rtol=1e-9)


def test_ordinal_logp_all_equals_per_category():
    from pyramid.models.builder import ordinal_logp_all

    eta = pt.dvector("eta")
    cuts = pt.dvector("cuts")
    f = pytensor.function([eta, cuts], ordinal_logp_all(eta, cuts), mode="FAST_COMPILE")
    g = _ordinal_fn()
    e = np.array([-45.0, -3.0, 0.0, 0.4, 5.0, 45.0])
    c = np.array([-1.0, 0.5, 2.0])
    allk = f(e, c)
    assert allk.shape == (6, 4)
    for k in range(4):
        np.testing.assert_allclose(allk[:, k], g(np.full(6, k), e, c), rtol=1e-12)


_FAMILIES = '''
name = "families"
extends = "default"
[intercept]
dist = "Normal"
mu = 2.5
sigma = 0.75
[b]
dist = "StudentT"
nu = 3.0
mu = 0.25
sigma = 0.5
[b_mo]
dist = "Cauchy"
alpha = 0.0
beta = 0.25
[zeta]
dist = "Dirichlet"
a = 1.5
[sd]
dist = "HalfStudentT"
nu = 3.0
sigma = 0.5
[sd_authority]
dist = "HalfCauchy"
beta = 0.5
[sigma]
dist = "LogNormal"
mu = -0.5
sigma = 0.5
[latent_b]
dist = "Normal"
mu = 0.0
sigma = 0.75
[latent_b_mo]
dist = "StudentT"
nu = 4.0
mu = 0.0
sigma = 0.5
[latent_sd]
dist = "Exponential"
lam = 2.5
[cutpoints]
dist = "Normal"
mu = 0.0
sigma = 3.0
[domain]
dist = "Normal"
mu = 0.0
sigma = 0.5
[mediator_b]
dist = "StudentT"
nu = 5.0
mu = 0.0
sigma = 1.5
[mediator_cutpoints]
dist = "Normal"
mu = 0.0
sigma = 1.5
[exposure_rate]
dist = "Beta"
alpha = 1.5
beta = 2.5
'''


def _scipy_logpdf(prior, x, *, signed=False):
    """log-density of a prior set's distribution in scipy (the reference); ``signed``: the
    symmetric twin that builder._sd_rv samples for a half distribution."""
    p = prior.params
    d = prior.dist
    if signed:
        d = {"HalfNormal": "Normal", "HalfStudentT": "StudentT", "HalfCauchy": "Cauchy",
             "Exponential": "Laplace"}[d]
    if d == "Normal":
        return stats.norm.logpdf(x, p.get("mu", 0.0), p["sigma"])
    if d == "StudentT":
        return stats.t.logpdf(x, p["nu"], p.get("mu", 0.0), p["sigma"])
    if d == "Cauchy":
        return stats.cauchy.logpdf(x, p.get("alpha", 0.0), p["beta"])
    if d == "Laplace":
        return stats.laplace.logpdf(x, 0.0, 1.0 / p["lam"])
    if d == "LogNormal":
        return stats.lognorm.logpdf(x, p["sigma"], scale=np.exp(p["mu"]))
    if d == "Beta":
        return stats.beta.logpdf(x, p["alpha"], p["beta"])
    if d == "Dirichlet":
        return stats.dirichlet.logpdf(x, np.full(len(x), p["a"]))
    raise AssertionError(d)  # pragma: no cover


@pytest.mark.parametrize("name", ["skill", "domains", "pyramid"])
def test_prior_log_densities_are_float64_and_match_scipy(sim, name):
    """The audit's finding 7: a prior parameter that float32 can hold (2.5, 0.75) became a
    float32 constant, and PyMC computed log(sigma) and the other normalising constants in
    float32 (log-densities off by about 1e-8). Failed before the fix; now every free
    variable's prior log-density matches scipy to 1e-12 with each family the prior sets allow."""
    from pyramid.specs import priors_from_text

    priors = priors_from_text(_FAMILIES, "<families>")
    md = _prepare(load_spec(name), sim.data)
    built = build(md, priors)
    model = built.model
    groups = {g.name for g in md.groups}
    checked = []
    for rv in model.free_RVs:
        v = rv.name
        value = np.asarray(pm.draw(rv, random_seed=3), dtype=float)
        if v == "delta":  # ZeroSumNormal: n - 1 degrees of freedom
            value = value - value.mean()
            s = priors.get("domain").params["sigma"]
            ref = (stats.norm.logpdf(value, 0.0, s).sum()
                   + 0.5 * np.log(2 * np.pi * s * s))
        elif v.startswith("z_"):
            ref = stats.norm.logpdf(value).sum()
        elif v.endswith("_signed") or v.startswith("sd_"):
            g = v.removeprefix("sd_").removesuffix("_signed")
            assert g in groups
            cls = "latent_sd" if built.scale == "latent" else "sd"
            ref = _scipy_logpdf(priors.get(cls, group=g), value,
                                signed=v.endswith("_signed")).sum()
        elif v.startswith("zeta_"):
            ref = _scipy_logpdf(priors.get("zeta"), value)
        else:
            cls = {"intercept": "intercept", "sigma": "sigma", "b_training": "b",
                   "b_clinician": "b", "b_discussion": "b_mo", "cutpoints_centred": "cutpoints",
                   "discussion_cutpoints": "mediator_cutpoints",
                   "discussion_clinician": "mediator_b", "discussion_csw": "mediator_b",
                   "clinician_rate": "exposure_rate"}[v]
            if built.scale == "latent" and cls in ("b", "b_mo"):
                cls = "latent_" + cls
            ref = _scipy_logpdf(priors.get(cls), value).sum()
        ours = float(pm.logp(rv, value).sum().eval())
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12), v
        checked.append(v)
    assert len(checked) >= 7, checked


@pytest.mark.parametrize("level", ["unit", "row"])
def test_path_pointwise_loglik_sums_to_the_models_loglik(sim, level):
    """The audit's finding 4: the unit-level path model's pointwise log-likelihood (LOO's
    input) left out the discussion and clinician equations and imputed a missing value from
    the same row's skill. Failed before the fix (72 row values whose sum was not the model's
    log-likelihood); now one value per unit, the joint density of what the unit observed, and
    their sum is the model's own loglik_total at the same (prior) draws, to 1e-12."""
    text = load_spec("pyramid").text
    if level == "row":
        text = text.replace('level = "unit"', 'level = "row"').replace(
            'unit = "marginal", worker = "marginal"', 'unit = "non_centred", worker = '
            '"non_centred"')
    spec = spec_from_text(text, "<pyramid>")
    md = _prepare(spec, sim.data)
    built = build(md, load_priors("default"))
    names = [v.name for v in built.model.free_RVs] + [v.name for v in built.model.deterministics]
    with built.model, warnings.catch_warnings():
        # forward draws of the parameters from their priors are what is wanted here
        warnings.filterwarnings("ignore", "The effect of Potentials", UserWarning)
        pp = pm.sample_prior_predictive(draws=20, var_names=names, random_seed=1)
    draws, _ = generated.stack_draws(pp["prior"].to_dataset())
    ll = generated.pointwise_loglik(md, draws)
    dim, ids = generated.pointwise_dim(md)
    assert ll.shape == (20, len(ids))
    assert dim == ("unit" if level == "unit" else "row")
    if level == "unit":
        assert len(ids) == len(md.unit_ids) < md.n_rows
    np.testing.assert_allclose(ll.sum(axis=1), draws["loglik_total"], rtol=1e-12)


def test_gaussian_marginal_logp_equals_dense_mvnormal():
    rng = np.random.default_rng(0)
    unit_auth = np.array([0, 0, 1, 1, 1, 2, 2])
    worker_unit = np.concatenate([np.arange(7), rng.integers(0, 7, 8)])
    row_worker = np.concatenate([np.arange(15), rng.integers(0, 15, 25)])
    resid = rng.normal(size=40)
    sigma, sds = 0.7, [0.3, 0.5, 0.2]  # worker, unit, authority
    r, s = pt.dvector(), pt.dscalar()
    s1, s2, s3 = pt.dscalars(3)
    ll = gaussian_marginal_logp(
        r, s, [(pt.as_tensor(row_worker), 15), (pt.as_tensor(worker_unit), 7),
               (pt.as_tensor(unit_auth), 3)], [s1, s2, s3])
    f = pytensor.function([r, s, s1, s2, s3], ll, mode="FAST_COMPILE")
    w = np.eye(15)[row_worker]
    u = np.eye(7)[worker_unit[row_worker]]
    a = np.eye(3)[unit_auth[worker_unit[row_worker]]]
    cov = sigma**2 * np.eye(40) + sds[0] ** 2 * w @ w.T + sds[1] ** 2 * u @ u.T + sds[2] ** 2 * a @ a.T
    # reference: scipy.stats.multivariate_normal(zeros, cov).logpdf(resid)
    ref = stats.multivariate_normal(np.zeros(40), cov).logpdf(resid)
    assert f(resid, sigma, *sds) == pytest.approx(ref, rel=1e-10)


def _point(cm, seed=3):
    x = cm.initial_point(seed)
    return x, cm.expand(x)


def _potential(built, cm, x):
    """The model's log-likelihood term at x (kept as the deterministic loglik_total)."""
    return float(cm.expand(x)["loglik_total"])


def test_explicit_models_numpy_loglik_matches_model(compiled):
    """The pointwise log-likelihood (numpy, for LOO) sums to the model's likelihood term."""
    built, cm = compiled["domains"]
    x, vals = _point(cm)
    draws = {k: np.asarray(v)[None] for k, v in vals.items()}
    assert built.data.groups[-1].name == "worker"
    ll = generated.pointwise_loglik(built.data, draws)
    assert ll.shape == (1, built.data.n_rows)
    assert ll.sum() == pytest.approx(_potential(built, cm, x), rel=1e-9)


def test_path_unit_mixture_matches_brute_force(compiled):
    """Unit-level path model: integrated unit/worker effects and mixture vs dense MvNormal."""
    built, cm = compiled["pyramid"]
    md = built.data
    x, v = _point(cm)
    d = {k: np.asarray(val)[None] for k, val in v.items()}
    log_pk, log_pc, shift = generated._unit_latent_logs(md, d)
    skip = ("discussion", "clinician")
    base = generated.fixed_part(d, md.terms, skip=skip)[0]
    auth = md.group("authority")
    base = base + d["r_authority"][0][auth.index]
    sig, s_u = float(v["sigma"]), float(v["sd_unit"])
    s_w = float(v["sd_worker"]) if md.group("worker") is not None else 0.0
    worker = md.group("worker")
    total = 0.0
    for u in range(len(md.unit_ids)):
        rows = np.flatnonzero(md.unit_index == u)
        n = len(rows)
        cov = sig**2 * np.eye(n) + s_u**2 * np.ones((n, n))
        if worker is not None:
            wi = worker.index[rows]
            cov += s_w**2 * (wi[:, None] == wi[None, :])
        terms = []
        for c in range(shift.shape[1]):
            for k in range(shift.shape[2]):
                if md.unit_mediator[u] >= 0 and md.unit_mediator[u] != k:
                    continue
                if md.unit_exposure[u] >= 0 and md.unit_exposure[u] != c:
                    continue
                mean = base[rows] + shift[0, c, k]
                terms.append(log_pk[0, u, c, k] + log_pc[0, u, c]
                             + stats.multivariate_normal(mean, cov).logpdf(md.y[rows]))
        total += special.logsumexp(terms)
    assert _potential(built, cm, x) == pytest.approx(total, rel=1e-9)


def test_marginal_draws_of_group_effects_are_exact():
    """With a tiny residual SD the drawn unit effects must reproduce the unit means."""
    spec = spec_from_text(load_spec("skill").text)
    data = _sim((4, 3, 1, 4), seed=2, discussion_observed=1.0).data
    md = _prepare(spec, data)
    assert [g.name for g in md.groups] == ["authority", "unit"]
    n = 2000
    d = {"intercept": np.full(n, 2.5), "b_training": np.zeros((n, 3)),
         "b_clinician": np.zeros(n), "b_discussion": np.zeros(n),
         "zeta_discussion": np.full((n, 2), 0.5), "sigma": np.full(n, 0.3),
         "sd_authority": np.full(n, 0.4), "sd_unit": np.full(n, 0.6)}
    r = generated.draw_marginal_effects(md, d, np.random.default_rng(1))
    # conjugate reference for the authority effect given the others integrated: mean and sd of
    # the exact posterior from the dense covariance (Gaussian conditioning)
    a = md.group("authority")
    u = md.group("unit")
    rows_a = np.eye(a.n)[a.index]
    rows_u = np.eye(u.n)[u.index]
    cov_y = 0.09 * np.eye(md.n_rows) + 0.36 * rows_u @ rows_u.T + 0.16 * rows_a @ rows_a.T
    cross = 0.16 * rows_a.T  # cov(r_a, y)
    resid = md.y - 2.5
    mean = cross @ np.linalg.solve(cov_y, resid)
    var = 0.16 * np.eye(a.n) - cross @ np.linalg.solve(cov_y, cross.T)
    draws = r["r_authority"]
    # Monte Carlo: 2000 independent draws, tolerance 4 standard errors
    se = np.sqrt(np.diag(var) / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * se + 1e-12)
    np.testing.assert_allclose(draws.std(axis=0), np.sqrt(np.diag(var)), rtol=0.1)


# --------------------------------------------------------------------------------------------
# data preparation
# --------------------------------------------------------------------------------------------
def test_rows_missing_a_predictor_are_left_out_with_a_warning():
    data = _sim((3, 2, 2, 1), seed=1, discussion_observed=0.5).data
    n_missing = int(data["discussion"].isna().sum())
    assert 0 < n_missing < len(data)
    with pytest.warns(DataWarning, match="discussion missing on"):
        md = prepare(load_spec("skill"), data)
    assert md.dropped["discussion"] == n_missing
    assert md.n_rows == len(data) - n_missing
    md = _prepare(load_spec("pyramid"), data)
    assert md.n_rows == len(data)


def test_aliased_levels_are_left_out():
    data = _sim((4, 2, 3, 1), seed=1, discussion_observed=1.0).data
    md = _prepare(load_spec("domains"), data)
    # one observation per worker: observation and worker effects are aliased
    assert [g.name for g in md.groups] == ["authority", "unit", "worker"]
    assert any("observation effects left out" in n for n in md.notes)
    md = _prepare(load_spec("domains"), _sim((4, 2, 2, 2), seed=1, discussion_observed=1.0).data)
    assert [g.name for g in md.groups] == ["authority", "unit", "worker", "observation"]


def test_response_may_be_int_float_or_nullable():
    data = _sim((3, 2, 2, 1), seed=4, discussion_observed=1.0).data
    spec = load_spec("domains")
    ref = _prepare(spec, data)
    for dtype in ("int64", "float64", "Int64"):
        d = data.copy()
        for col in spec.outcome_columns:
            d[col] = d[col].astype("float64").fillna(3).astype(dtype)
        md = _prepare(spec, d)
        assert md.y.dtype == np.int64 and md.y.min() >= 0 and md.y.max() <= 4
        assert len(md.y) >= len(ref.y)


def test_unit_level_path_needs_one_value_per_unit():
    data = _sim((3, 2, 2, 1), seed=4, discussion_observed=1.0).data
    d = data.copy()
    d.loc[0, "discussion"] = "systemic"
    d.loc[1, "discussion"] = "non_systemic"
    assert d.loc[0, "unit"] == d.loc[1, "unit"]
    with pytest.raises(InputError, match="differs between the rows of unit"):
        _prepare(load_spec("pyramid"), d)
    row_spec = spec_from_text(load_spec("pyramid").text.replace('level = "unit"', 'level = "row"')
                              .replace('parametrisation = { authority = "non_centred", unit = '
                                       '"marginal", worker = "marginal" }',
                                       'parametrisation = "non_centred"'))
    md = _prepare(row_spec, d)
    assert md.unit_index is None
    built = build(md, load_priors("default"))
    assert np.isfinite(built.model.compile_logp(mode="FAST_COMPILE")(built.model.initial_point(0)))


def test_row_level_path_loglik_matches_numpy():
    """Row-level path model: the numpy joint (for LOO) sums to the model's likelihood term."""
    data = _sim((3, 2, 2, 1), seed=4, discussion_observed=0.5).data
    row_spec = spec_from_text(load_spec("pyramid").text.replace('level = "unit"', 'level = "row"')
                              .replace('parametrisation = { authority = "non_centred", unit = '
                                       '"marginal", worker = "marginal" }',
                                       'parametrisation = "non_centred"'))
    md = _prepare(row_spec, data)
    built = build(md, load_priors("default"))
    m = built.model
    point = m.initial_point(4)
    outs = m.unobserved_value_vars
    fn = m.compile_fn(outs, inputs=m.value_vars, mode="FAST_COMPILE", point_fn=True)
    vals = dict(zip([v.name for v in outs], fn(point), strict=True))
    d = {k: np.asarray(v, dtype=float)[None] for k, v in vals.items()}
    ll = generated.pointwise_loglik(md, d)
    assert ll.sum() == pytest.approx(float(vals["loglik_total"]), rel=1e-9)


def test_missing_columns_and_bad_levels_are_input_errors(sim):
    with pytest.raises(InputError, match="no column"):
        prepare(load_spec("skill"), sim.data.drop(columns=["training"]))
    bad = sim.data.copy()
    bad["training"] = bad["training"].astype(object)
    bad.loc[0, "training"] = "phd"
    with pytest.raises(InputError, match="unknown level"):
        _prepare(load_spec("skill"), bad)
    with pytest.raises(InputError, match="DataFrame"):
        prepare(load_spec("skill"), [1, 2, 3])


def test_with_data_swaps_without_recompiling(compiled, sim):
    built, cm = compiled["skill"]
    x = cm.initial_point(0)
    lp = cm.logp_dlogp(x)[0]
    swapped = cm.with_data(y=np.asarray(cm.data["y"]) + 1.0)
    assert swapped.logp_dlogp(x)[0] != lp
    assert cm.logp_dlogp(x)[0] == lp  # the original is unchanged
    with pytest.raises(InputError, match="unknown data container"):
        cm.with_data(nonsense=np.zeros(3))
    # the compiled code has no run-time shape checks: rows are swapped together or not at all
    with pytest.raises(InputError, match="replaced together"):
        cm.with_data(y=np.asarray(cm.data["y"])[:-1])


def test_expected_skill_formulas():
    spec = load_spec("domains")
    d = {"b_training": np.array([[0.0, 0.0, 1.0]]), "b_clinician": np.array([0.0]),
         "b_discussion": np.array([0.0]), "zeta_discussion": np.array([[0.5, 0.5]]),
         "cutpoints": np.array([[-1.5, -0.5, 0.5, 1.5]]), "delta": np.zeros((1, 5)),
         "sd_observation": np.array([0.0])}
    new = pd.DataFrame({"training": ["none", "programme"], "clinician": [0, 0],
                        "discussion": ["systemic", "systemic"]})
    e = generated.expected_skill(spec, d, new, groups=["observation"], domains=[])
    # symmetric thresholds around 0: expected rating 3 at eta = 0 (E = 1 + sum_k Phi(-c_k))
    assert e[0, 0] == pytest.approx(3.0, abs=1e-12)
    assert e[0, 1] == pytest.approx(1 + special.ndtr(1.0 - np.array([-1.5, -0.5, 0.5, 1.5])).sum(),
                                    rel=1e-12)
    with pytest.raises(InputError, match="needs a column 'clinician'"):
        generated.expected_skill(spec, d, new.drop(columns=["clinician"]), groups=[], domains=[])
