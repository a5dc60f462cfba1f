"""Sampler options at national scale: the spec's [sampling] adaptation and max_tree_depth,
fit(backend=...) and the JAX switch, partially centred group effects.

Structural tests only (no sampling beyond one tiny fit); the national benchmark itself is
``benchmarks/national.py``.
"""

from __future__ import annotations

import dataclasses
import sys

import pytest

from pyramid.data.simulate import simulate
from pyramid.errors import InputError


def test_spec_sampling_adaptation_is_read_and_checked():
    from pyramid.errors import InputError
    from pyramid.specs import load_spec, spec_from_text

    text = load_spec("skill").text
    assert spec_from_text(text).adaptation in (None, "diag", "low_rank")
    spec = spec_from_text(text.replace("[sampling]", '[sampling]\nadaptation = "low_rank"'))
    assert spec.adaptation == "low_rank"
    with pytest.raises(InputError, match="sampling.adaptation.*diag, low_rank, draw_diag.*'full'"):
        spec_from_text(text.replace("[sampling]", '[sampling]\nadaptation = "full"'))


def test_fit_rejects_unknown_backend_and_jax_with_pymc():
    import pyramid as pyr
    from pyramid.errors import InputError

    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    with pytest.raises(InputError, match="backend must be 'numba', 'pytensor' or 'jax', got 'cuda'"):
        pyr.fit(sim.data, model="skill", backend="cuda", verbose=False)
    with pytest.raises(InputError, match="backend 'jax' is nutpie's"):
        pyr.fit(sim.data, model="skill", backend="jax", sampler="pymc", verbose=False)


def test_jax_backend_says_how_to_install_when_jax_is_absent(monkeypatch):

    import pyramid as pyr
    from pyramid.errors import InputError

    monkeypatch.setitem(sys.modules, "jax", None)  # import jax now fails
    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    with pytest.raises(InputError, match=r"pip install 'rsw-pyramid\[jax\]'"):
        pyr.fit(sim.data, model="skill", backend="jax", draws=10, tune=10, progressbar=False,
                verbose=False)


@pytest.mark.slow  # two fits and a JAX compilation: about 2 minutes on 2 busy cores
def test_jax_backend_matches_numba_posterior():
    # skipped where JAX is not installed (it is an optional extra, never needed by default)
    pytest.importorskip("jax")
    import pyramid as pyr

    sim = pyr.simulate((6, 2, 2, 2), seed=3, mix={"discussion_observed": 1.0,
                                                 "p_missing_domain": 0.0})
    kw = {"model": "domains", "draws": 300, "tune": 300, "random_seed": 5, "progressbar": False,
          "verbose": False, "log_likelihood": False, "prior_draws": 20}
    jx = pyr.fit(sim.data, backend="jax", **kw)
    nb = pyr.fit(sim.data, **kw)
    assert jx.info["backend"] == "jax" and nb.info["backend"] == "numba"
    # nutpie 0.16's JAX path cannot store loglik_total (see pyramid.models.sampling.compile_jax)
    assert set(nb.posterior.data_vars) - {"loglik_total"} <= set(jx.posterior.data_vars)
    # the same posterior by two compilations: means agree within Monte Carlo error (600
    # draws each; 5 posterior SDs of the difference of two means with ESS >= 100 is ~0.7 SD)
    cj, cn = jx.coefs().set_index("name"), nb.coefs().set_index("name")
    diff = (cj["mean"] - cn["mean"]).abs() / cn["sd"]
    assert (diff < 0.7).all(), diff


def test_cli_fit_backend_option(tmp_path, capsys):
    import pyramid as pyr
    from pyramid import cli

    assert cli.main(["fit", "--help"]) == 0
    assert "--backend" in capsys.readouterr().out
    sim = pyr.simulate((6, 2, 2, 2), seed=1, mix={"discussion_observed": 1.0})
    path = tmp_path / "d.csv"
    sim.data.to_csv(path, index=False)
    code = cli.main(["fit", str(path), "-o", str(tmp_path / "r.nc"), "-m", "skill",
                     "--backend", "cuda", "--no-progress"])
    assert code == 2
    assert "backend must be 'numba', 'pytensor' or 'jax', got 'cuda'" in capsys.readouterr().err


def test_partial_centring_weights_in_a_spec(tmp_path):
    """A centring weight between 0 and 1 per level: 0 and 1 are the named forms, anything
    else 'partial:W'; out-of-range or malformed weights name the key."""
    import re

    from pyramid.specs import load_spec

    text = load_spec("domains").text

    def spec_with(value):
        path = tmp_path / "d.toml"
        path.write_text(re.sub(r"^parametrisation = .*$", f"parametrisation = {value}", text,
                               count=1, flags=re.M))
        return load_spec(path)

    par = spec_with('{ authority = 0.5, unit = "partial:0.25", worker = 1, observation = 0 }')
    assert par.parametrisation == {"authority": "partial:0.5", "unit": "partial:0.25",
                                   "worker": "centred", "observation": "non_centred"}
    assert set(spec_with("0.7").parametrisation.values()) == {"partial:0.7"}
    for bad, says in [("{ worker = 1.5 }", "between 0 (non-centred) and 1"),
                      ('{ worker = "partial:x" }', "needs a number"),
                      ("-0.1", "between 0")]:
        with pytest.raises(InputError, match=re.escape(says)):
            spec_with(bad)


def test_partially_centred_effects_have_the_level_sd():
    """r = sd**(1-w) * z with z ~ Normal(0, sd**w): r ~ Normal(0, sd) whatever w (prior
    draws of the built model, 4,000 of them)."""
    import pymc as pm

    from pyramid.models.builder import build
    from pyramid.models.coding import prepare
    from pyramid.specs import load_priors, load_spec

    sim = simulate((3, 2, 2, 2), seed=4, mix={"discussion_observed": 1.0})
    spec = load_spec("domains")
    spec = dataclasses.replace(spec, parametrisation=dict.fromkeys(spec.groups, "partial:0.3"))
    built = build(prepare(spec, sim.data, warn=False), load_priors("default"))
    with built.model:
        draws = pm.draw([built.model["r_worker"][0], built.model["sd_worker"]], draws=4000,
                        random_seed=1)
    ratio = draws[0] / draws[1]
    assert abs(ratio.mean()) < 0.06 and abs(ratio.std() - 1.0) < 0.05


def test_max_tree_depth_from_spec_and_fit():
    """[sampling] max_tree_depth and fit(max_tree_depth=...) cap NUTS trajectories at
    2**depth steps; bad values name the key or argument."""
    from pyramid.fit import fit
    from pyramid.specs import load_spec, spec_from_text

    text = load_spec("domains").text
    assert spec_from_text(text).max_tree_depth is None
    spec = spec_from_text(text.replace("[sampling]", "[sampling]\nmax_tree_depth = 5"))
    assert spec.max_tree_depth == 5
    for bad in ("0", "21", '"deep"'):
        with pytest.raises(InputError, match="sampling.max_tree_depth"):
            spec_from_text(text.replace("[sampling]", f"[sampling]\nmax_tree_depth = {bad}"))
    sim = simulate((6, 2, 2, 2), seed=4, mix={"discussion_observed": 1.0})
    for bad in (0, 2.5, True):
        with pytest.raises(InputError, match="max_tree_depth must be a whole number"):
            fit(sim.data, model="domains", max_tree_depth=bad)
    res = fit(sim.data, model="domains", draws=60, tune=60, progressbar=False, verbose=False,
              random_seed=3, max_tree_depth=2, log_likelihood=False)
    assert int(res.idata["sample_stats"]["depth"].max()) <= 2
    assert res.info["max_tree_depth"] == 2
