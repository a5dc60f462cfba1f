"""Results files that are crafted, damaged or cut short, and names a file must keep.

One small fit (the reference data with extra columns named ``date/time``, ``row`` and
``=notes``, 2 x 100 draws: enough to write a file, not to estimate anything) is saved once;
each test edits a copy with xarray and checks that :func:`pyramid.load` refuses it with an
InputError naming what is wrong, and that the CLI commands that read results files exit 2
without a traceback.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import warnings

import numpy as np
import pytest
import xarray as xr

from pyramid.cli import main
from pyramid.errors import InputError, OutputError

pytest.importorskip("nutpie")

from pyramid.fit import fit  # noqa: E402
from pyramid.results import MAX_ATTRIBUTE_BYTES, TRAILER_BYTES, load  # noqa: E402

ODD = {"date/time": "2017-03-01 10:00", "row": 7.0, "=notes": "=1+1"}


@pytest.fixture(scope="module")
def odd_fit():
    from pyramid.datasets import load_rsw2017

    data = load_rsw2017()
    for k, v in ODD.items():
        data[k] = v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fit(data, model="skill", draws=100, tune=100, random_seed=4, progressbar=False,
                   verbose=False)


@pytest.fixture(scope="module")
def good(odd_fit, tmp_path_factory):
    return odd_fit.save(tmp_path_factory.mktemp("results") / "good.nc")


def test_any_column_name_survives_the_file(odd_fit, good):
    # 'date/time' is no netCDF name and 'row' is the rows' dimension: both used to crash
    # the save after sampling; the names now come back as they were
    back = load(good)
    assert set(ODD) <= set(back.data.columns)
    assert back.data["date/time"].iloc[0] == ODD["date/time"]
    assert back.data["=notes"].iloc[0] == "=1+1"
    assert list(back.data.columns) == list(odd_fit.data.columns)


def _craft(good, tmp_path, edit, name="crafted.nc"):
    dt = xr.open_datatree(good, engine="h5netcdf").load()
    dt.close()
    groups = {k: dt[k].to_dataset() for k in dt.children}
    attrs = dict(dt.attrs)
    edit(groups, attrs)
    out = xr.DataTree.from_dict(groups)
    out.attrs = attrs
    path = tmp_path / name
    out.to_netcdf(path, engine="h5netcdf")
    return path


def _nan_coef(g, a):
    g["posterior"]["intercept"][0, 3] = np.nan


CRAFTED = {
    "notes as a string": (lambda g, a: a.update(notes="a string iterated per character"),
                          "attribute 'notes' should be list of text"),
    "a 2 MB attribute": (lambda g, a: a.update(spec_text="x" * 2_000_000),
                         f"more than any pyramid writes \\({MAX_ATTRIBUTE_BYTES:,}\\)"),
    "coefs naming a missing variable": (
        lambda g, a: a.update(coefs=json.dumps({"intercept": ["nothing", {}]})),
        "names the variable 'nothing'"),
    "coefs naming a missing level": (
        lambda g, a: a.update(coefs=json.dumps({"x": ["b_training", {"training": "zz"}]})),
        r"names b_training\[training=zz\]"),
    "coefs damaged": (lambda g, a: a.update(coefs=json.dumps({"x": 3})),
                      "damaged entry 'x'"),
    "fewer draws than the fit asked for": (lambda g, a: a.update(draws=20000),
                                           "an incomplete run"),
    "NaN draws": (_nan_coef, "not all finite"),
    "no posterior": (lambda g, a: g.pop("posterior"), "lacks the group"),
    "a text posterior": (lambda g, a: g["posterior"].__setitem__(
        "intercept", g["posterior"]["intercept"].astype(str)), "is not numeric"),
    "sample stats of other chains": (lambda g, a: g.__setitem__(
        "sample_stats", g["sample_stats"].isel(chain=[0])), "group 'sample_stats' has 1"),
    "rows that do not match": (lambda g, a: g.__setitem__(
        "log_likelihood", g["log_likelihood"].isel(row=slice(0, 5))), "log_likelihood has 5"),
    "columns that are not there": (lambda g, a: g["constant_data"].attrs.update(
        variables=json.dumps(["nope"] * len(json.loads(g["constant_data"].attrs["columns"])))),
        "does not hold the columns it lists"),
    "diagnostics not a list": (lambda g, a: a.update(diagnostics='{"a": 1}'),
                               "attribute 'diagnostics' should be list of objects"),
    "another format": (lambda g, a: a.update(pyramid_result="9"), "results format '9'"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_files_are_refused(good, tmp_path, case):
    edit, message = CRAFTED[case]
    path = _craft(good, tmp_path, edit)
    with pytest.raises(InputError, match=message):
        load(path)


@pytest.mark.parametrize("case", ["notes as a string", "a 2 MB attribute", "NaN draws",
                                  "coefs naming a missing level"])
def test_crafted_files_exit_2_in_every_reader(good, tmp_path, capsys, case):
    path = _craft(good, tmp_path, CRAFTED[case][0])
    for cmd in (["compare", str(path)], ["report", str(path), "--out", str(tmp_path / "r.html")],
                ["figure4", "--result", str(path), "--out", str(tmp_path / "f.png")],
                ["loo", str(path)]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert "Traceback" not in err and "internal error" not in err, err
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "f.png").exists()


def test_a_file_cut_short_is_refused_quietly(good, tmp_path, capfd):
    raw = good.read_bytes()
    for n in (100, len(raw) // 3, len(raw) - 100):
        cut = tmp_path / f"cut{n}.nc"
        cut.write_bytes(raw[:n])
        assert main(["compare", str(cut)]) == 2
        err = capfd.readouterr().err
        assert "damaged, truncated" in err and "Traceback" not in err and "HDF5" not in err


def _damaged(raw: bytes, seed: int) -> bytes:
    """Damage that keeps the length: a zeroed block or a few changed bytes (disk or copy
    errors; some of these made libhdf5 loop without end, or print a stray traceback)."""
    rng = np.random.default_rng(seed)
    b = bytearray(raw)
    if seed % 2:
        i = int(rng.integers(len(b) - 100))
        j = min(len(b) - 100, i + int(rng.integers(1, 4000)))
        b[i:j] = bytes(j - i)
    else:
        for i in rng.integers(len(b) - 100, size=int(rng.integers(1, 20))):
            b[int(i)] = (b[int(i)] + 1) % 256
    return bytes(b)


def test_the_file_ends_in_a_checksum_that_other_readers_ignore(good):
    raw = good.read_bytes()
    assert re.fullmatch(rb"\nPYRAMID-SHA256 [0-9a-f]{64}\n", raw[-TRAILER_BYTES:])
    assert hashlib.sha256(raw[:-TRAILER_BYTES]).hexdigest().encode() in raw[-TRAILER_BYTES:]
    dt = xr.open_datatree(good, engine="h5netcdf")  # a plain netCDF reader still reads it
    assert "posterior" in dt.children
    dt.close()


@pytest.mark.parametrize("seed", range(12))
def test_a_damaged_file_is_refused_by_its_checksum(good, tmp_path, capfd, seed):
    path = tmp_path / "damaged.nc"
    path.write_bytes(_damaged(good.read_bytes(), seed))
    assert main(["compare", str(path)]) == 2
    err = capfd.readouterr().err
    assert "no longer match the checksum" in err and "Traceback" not in err, err


def test_a_file_without_the_checksum_is_read_as_before(good, tmp_path, capfd):
    # files of earlier versions have none; one cut short is refused by libhdf5, quietly
    raw = good.read_bytes()[:-TRAILER_BYTES]
    old = tmp_path / "old.nc"
    old.write_bytes(raw)
    assert load(old).data.shape == load(good).data.shape
    for n in (6437, 10_000, len(raw) // 2):
        cut = tmp_path / f"cut{n}.nc"
        cut.write_bytes(raw[:n])
        assert main(["compare", str(cut)]) == 2
        err = capfd.readouterr().err
        assert "damaged, truncated" in err and "Traceback" not in err, err


def test_a_half_opened_file_prints_no_stray_traceback(good, tmp_path, monkeypatch, capfd):
    # h5netcdf's File.__del__ raised on some damaged files ("Exception ignored in ...
    # File.close ... AttributeError: '_writable'"), printed with a traceback when collected
    class HalfOpened:
        def __del__(self):
            raise AttributeError("'File' object has no attribute '_writable'")

    def damaged(path, engine):
        half = HalfOpened()  # noqa: F841 (kept alive by the traceback, as h5netcdf's is)
        raise OSError("Unable to synchronously open file")

    path = tmp_path / "old.nc"
    path.write_bytes(good.read_bytes()[:-TRAILER_BYTES])
    monkeypatch.setattr(xr, "open_datatree", damaged)
    with pytest.raises(InputError, match="damaged, truncated"):
        load(path)
    import gc

    gc.collect()
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err


def test_save_is_atomic(odd_fit, good, tmp_path, monkeypatch):
    import pyramid.results as results

    target = tmp_path / "fit.nc"
    target.write_bytes(good.read_bytes())
    before = target.read_bytes()

    def fail(dt, tmp, path):
        tmp.write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "_write_tree", fail)
    with pytest.raises(OutputError, match="the disk is full"):
        odd_fit.save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]
    monkeypatch.undo()

    def interrupted(dt, tmp, path):
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "_write_tree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        odd_fit.save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]


def test_save_checks_room_before_libhdf5_writes(odd_fit, tmp_path, monkeypatch):
    # h5netcdf crashed in libhdf5 (exit 139) on a full disk: the size is checked first
    import shutil

    import pyramid.results as results

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 10))
    with pytest.raises(OutputError, match="the disk is full .*MB needed"):
        odd_fit.save(tmp_path / "fit.nc")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(results, "IN_MEMORY_BYTES", 0)  # the large-file path
    monkeypatch.undo()
    monkeypatch.setattr(results, "IN_MEMORY_BYTES", 0)
    path = odd_fit.save(tmp_path / "big.nc")
    assert load(path).data.shape == odd_fit.data.shape
    assert path.read_bytes()[-TRAILER_BYTES:].startswith(b"\nPYRAMID-SHA256 ")  # checksum too


@pytest.mark.parametrize("out", ["x.txt", "folder", "missing/x.nc"])
def test_fit_checks_the_output_before_sampling(tmp_path, capsys, monkeypatch, out):
    import sys

    import pyramid.fit  # noqa: F401

    fit_module = sys.modules["pyramid.fit"]
    (tmp_path / "folder").mkdir()
    (tmp_path / "missing").write_text("a file where a folder should be")
    csv = tmp_path / "d.csv"
    csv.write_text("observation,worker,unit,authority,training,empathy\no1,w1,u1,A,none,3\n")

    def no_sampling(*a, **k):
        raise AssertionError("sampled before checking the output")

    monkeypatch.setattr(fit_module, "fit", no_sampling)
    assert main(["fit", str(csv), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_versions_agree_with_the_installed_metadata():
    # versions() reads an imported module's __version__ (issue 17: metadata look-ups scan
    # every sys.path entry, the current folder too); each must be what the metadata say
    from importlib import metadata

    import pyramid
    from pyramid.results import _VERSIONED, _installed_version, versions

    got = versions()
    assert pyramid.__version__ == metadata.version("rsw-pyramid")
    for pkg, version in got.items():
        if pkg != "python":
            assert version == metadata.version(pkg), pkg
            # the look-up for a package not imported (pymc, pytensor in a kernel fit)
            assert _installed_version(pkg, _VERSIONED[pkg]) == version, pkg
    assert _installed_version("no-such-package", "no_such_module") == "not installed"
