"""Compile caches with a home folder that cannot be written (pyramid.caches).

PyTensor refuses to import when it cannot make its compile folder (``~/.pytensor``): with a
read-only home every fit failed, and every fit of a design run was recorded as failed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyramid.caches import _set_flag, fallback_folder, pytensor_base_compiledir

UNWRITABLE = "/proc/1"  # a folder nobody, root included, can make a folder in


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "NUMBA_CACHE_DIR")}
    env.update(extra)
    return env


def test_pytensor_imports_with_an_unwritable_home():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "try:\n    import pyramid\nexcept RuntimeWarning as w:\n    print('WARN', w)\n"
            "import pyramid, pytensor; print('DIR', pytensor.config.base_compiledir)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=_env(HOME=UNWRITABLE), cwd="/")
    assert r.returncode == 0, r.stderr
    assert "WARN PyTensor's compile cache '/proc/1/.pytensor' cannot be written" in r.stdout
    assert f"DIR {fallback_folder() / 'pytensor'}" in r.stdout


def test_a_writable_home_is_left_alone(tmp_path):
    code = "import pyramid, os; print('FLAGS', os.environ.get('PYTENSOR_FLAGS', ''))"
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                       text=True, timeout=300, env=_env(HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "FLAGS"


def test_the_fallback_folder_is_private(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    mine = fallback_folder()
    assert mine.parent == tmp_path and (mine.stat().st_mode & 0o777) == 0o700
    assert fallback_folder() == mine  # kept: compiled models are found again
    mine.chmod(0o777)  # as if another user had made it open to all: not used
    other = fallback_folder()
    assert other != mine and (other.stat().st_mode & 0o077) == 0


def test_flags():
    assert _set_flag("floatX=float64,base_compiledir=/a", "base_compiledir", "/b") == \
        "floatX=float64,base_compiledir=/b"
    assert isinstance(pytensor_base_compiledir(), os.PathLike)


@pytest.mark.slow  # a fit in a fresh process, compiling into an empty cache
def test_cli_fit_with_an_unwritable_home(tmp_path):
    import pyramid as pyr

    csv = tmp_path / "d.csv"
    pyr.simulate((3, 2, 3, 1), seed=8, mix={"discussion_observed": 1.0}).data.to_csv(
        csv, index=False)
    r = subprocess.run([sys.executable, "-m", "pyramid", "fit", str(csv), "--model", "skill",
                        "--draws", "100", "--tune", "100", "--no-progress", "--out",
                        str(tmp_path / "fit.nc")], capture_output=True, text=True,
                       timeout=1200, env=_env(HOME=UNWRITABLE))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fit.nc").is_file()
