"""Ctrl-C and kill during ``pyramid fit``: nothing that looks like a result is left.

A fit interrupted while compiling, as sampling starts, in the middle of sampling or while
saving exits 130 and writes nothing (stopped by SIGTERM: 143); killed while saving it leaves, at most, a temporary file
that every reader refuses; in every case a good results file already at the path is untouched.
Each run is a fresh process (tests/data/interrupt_fit.py sends the signal at its point), so
the test is in the slow tier.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pyramid.cli import main
from pyramid.errors import InputError
from pyramid.output import TEMP_PREFIX

pytest.importorskip("nutpie")

HELPER = Path(__file__).parent / "data" / "interrupt_fit.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import pyramid as pyr

    d = tmp_path_factory.mktemp("interrupt")
    csv = d / "data.csv"
    pyr.simulate((3, 2, 3, 1), seed=8, mix={"discussion_observed": 1.0}).data.to_csv(
        csv, index=False)
    good = d / "good.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the design's notes (3 authorities, one row a worker)
        code = main(["fit", str(csv), "--model", "skill", "--out", str(good), "--draws",
                     "100", "--tune", "100", "--seed", "1", "--no-progress"])
    assert code == 0
    return csv, good.read_bytes()


def _run(tmp_path, setup, point, sig, draws=100):
    csv, good = setup
    out = tmp_path / "s.nc"
    out.write_bytes(good)
    cmd = [sys.executable, str(HELPER), point, sig, "--", "fit", str(csv), "--model", "skill",
           "--out", str(out), "--draws", str(draws), "--tune", "100", "--seed", "2",
           "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc, out, good


@pytest.mark.slow
@pytest.mark.parametrize("point,draws", [("compile", 100), ("sampling", 100),
                                         ("mid-sampling", 200_000), ("saving", 100)])
def test_ctrl_c_leaves_no_result(tmp_path, setup, point, draws):
    proc, out, good = _run(tmp_path, setup, point, "INT", draws)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_bytes() == good  # the good file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nc"]  # nothing else


@pytest.mark.slow
@pytest.mark.parametrize("point,draws", [("mid-sampling", 200_000), ("saving", 100)])
def test_sigterm_leaves_no_result_and_no_temporary_file(tmp_path, setup, point, draws):
    # a batch system's or timeout's SIGTERM: the default action ended the process at once,
    # leaving the temporary file of a save behind; now exit 143 and everything cleaned up
    proc, out, good = _run(tmp_path, setup, point, "TERM", draws)
    assert proc.returncode == 143, proc.stderr
    assert "stopped (SIGTERM)" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nc"]


@pytest.mark.slow
def test_kill_while_saving_leaves_only_a_refused_temporary_file(tmp_path, setup):
    import pyramid as pyr

    proc, out, good = _run(tmp_path, setup, "saving", "KILL")
    assert proc.returncode == -9
    assert out.read_bytes() == good
    left = [p for p in tmp_path.iterdir() if p.name != "s.nc"]
    assert all(p.name.startswith(TEMP_PREFIX) for p in left)
    for p in left:  # half a file: every reader refuses it
        renamed = p.with_name("half.nc")
        p.rename(renamed)
        with pytest.raises(InputError, match="damaged, truncated"):
            pyr.load(renamed)
        assert main(["compare", str(renamed)]) == 2
