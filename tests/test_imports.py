"""Deferred imports (pyramid.imports) and nutpie's trace without arviz (models.nutpie_trace).

Structural tier, with one small fitted fixture: a fit imports neither arviz nor dask, arviz
and dask still work when something does use them, and the trace pyramid converts equals
nutpie's own conversion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr


def _run(code: str, tmp_path) -> dict:
    """Run ``code`` in a fresh interpreter (in ``tmp_path``); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_fit_and_its_save_import_neither_arviz_nor_dask(tmp_path):
    out = _run("""
        import json, sys
        import pyramid as pyr
        sim = pyr.simulate((6, 2, 2, 2), seed=3, mix={"discussion_observed": 1.0})
        res = pyr.fit(sim.data, model="skill", draws=60, tune=60, chains=2, random_seed=1,
                      extend=False, progressbar=False)
        res.save("fit.nc")
        loaded = pyr.load("fit.nc")
        heavy = ("arviz_stats", "arviz_plots", "arviz_base", "matplotlib", "dask",
                 "dask.array", "distributed", "pymc")
        print(json.dumps({"imported": [m for m in heavy if m in sys.modules],
                          "sampler": res.info["sampler"],
                          "arviz_version": res.info["versions"]["arviz"],
                          "draws": int(loaded.idata["posterior"].sizes["draw"])}))
    """, tmp_path)
    assert out["imported"] == []
    assert out["sampler"] == "nutpie" and out["draws"] == 60
    assert out["arviz_version"][0].isdigit()  # read from its metadata, not by importing it


def test_arviz_behind_its_stand_in_works_when_used(tmp_path):
    out = _run("""
        import json, sys
        from pyramid.imports import is_deferred, lazy_module
        stand_in = lazy_module("arviz")
        import arviz
        before = is_deferred(arviz), "arviz_stats" in sys.modules
        import inspect
        inspect.getmodule(inspect)  # scans every module's __file__: must not load arviz
        scanned = "arviz_stats" in sys.modules
        import numpy as np
        dt = arviz.from_dict({"posterior": {"x": np.zeros((2, 10))}})
        from arviz_base import rcParams  # arviz's own imports see the real module
        print(json.dumps({"before": before, "scanned": scanned,
                          "after": [is_deferred(stand_in), sys.modules["arviz"] is not stand_in],
                          "draws": int(dt["posterior"].sizes["draw"]),
                          "same": sys.modules["arviz"].from_dict is arviz.from_dict}))
    """, tmp_path)
    assert out["before"] == [True, False]
    assert out["scanned"] is False
    assert out["after"] == [False, True]
    assert out["draws"] == 10 and out["same"]


def test_a_submodule_of_a_deferred_package_is_found_on_the_real_package(tmp_path):
    out = _run("""
        import json, sys
        from pyramid.imports import is_deferred, lazy_module
        was_imported = "email" in sys.modules
        stand_in = lazy_module("email")
        deferred = is_deferred(stand_in)
        import email.mime.text as text  # loads the package, then the submodule
        import email
        print(json.dumps({"was_imported": was_imported, "deferred": deferred,
                          "real": email is not stand_in, "on_real": email.mime.text is text,
                          "through_stand_in": stand_in.mime is email.mime}))
    """, tmp_path)
    if out["was_imported"]:
        pytest.skip("email was imported at start-up here")
    assert out == {"was_imported": False, "deferred": True, "real": True, "on_real": True,
                   "through_stand_in": True}


def test_dask_arrays_still_work_once_dask_is_imported(tmp_path):
    out = _run("""
        import json, sys
        import numpy as np, xarray as xr
        from pyramid.imports import defer_dask
        deferred = defer_dask()
        plain = xr.DataArray(np.ones(3))
        plain.to_dataset(name="x").to_netcdf("plain.nc", engine="h5netcdf")
        without = "dask" in sys.modules
        import dask.array as da
        lazy = xr.DataArray(da.ones(4, chunks=2))
        ds = xr.open_dataset("plain.nc", engine="h5netcdf", chunks={})
        lazy.to_dataset(name="y").to_netcdf("lazy.nc", engine="h5netcdf")
        print(json.dumps({"deferred": deferred, "without": without,
                          "chunks": [list(c) for c in lazy.chunks],
                          "opened_chunked": ds["x"].chunks is not None,
                          "sum": float(xr.open_dataset("lazy.nc")["y"].sum()),
                          "again": defer_dask()}))
    """, tmp_path)
    assert out["deferred"] is True and out["without"] is False
    assert out["chunks"] == [[2, 2]] and out["opened_chunked"]
    assert out["sum"] == 4.0 and out["again"] is False


def test_lazy_module_of_something_not_installed():
    from pyramid.imports import is_deferred, lazy_module

    assert lazy_module("surely_not_installed_anywhere") is None
    assert lazy_module("json") is sys.modules["json"] and not is_deferred(sys.modules["json"])


def test_e_bfmi_equals_arviz():
    import arviz as az

    from pyramid.diagnostics import e_bfmi

    energy = np.cumsum(np.random.default_rng(4).normal(size=(3, 400)), axis=1)
    ds = xr.Dataset({"energy": (("chain", "draw"), energy)})
    np.testing.assert_allclose(e_bfmi(ds), np.asarray(az.bfmi(ds["energy"])), rtol=1e-12)
    assert e_bfmi(xr.Dataset()) is None


@pytest.mark.parametrize("model", ["skill", "domains", "pyramid"])
def test_trace_conversion_equals_nutpies_own(model):
    nutpie = pytest.importorskip("nutpie")

    import pyramid as pyr
    from pyramid.models import sampling
    from pyramid.models.coding import prepare
    from pyramid.models.nutpie_trace import to_datatree

    sim = pyr.simulate((5, 2, 2, 2), seed=11, mix={"discussion_observed": 1.0})
    spec = pyr.load_spec(model)
    md = prepare(spec, pyr.validate(sim.data), warn=False)
    compiled = sampling.kernel_model(md, pyr.load_priors("default")).to_nutpie()
    kw = dict(draws=20, tune=30, chains=2, cores=1, seed=5, progress_bar=False,
              save_warmup=False)
    mine = to_datatree(nutpie.sample(compiled, return_raw_trace=True, **kw), compiled.coords)
    theirs = nutpie.sample(compiled, **kw)
    for group in ("posterior", "sample_stats"):
        xr.testing.assert_identical(mine[group].to_dataset().drop_attrs(),
                                    theirs[group].to_dataset().drop_attrs())
