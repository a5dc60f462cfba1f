"""Writing files (pyramid.output): atomic, checked first, OS errors in words, safe CSV.

The full-disk and read-only cases run in a small tmpfs mounted in a private mount namespace
(``unshare -m``: the mount disappears with the process, nothing is left mounted); they are
skipped where the test cannot mount one (not root, no unshare).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from pyramid.errors import InputError, OutputError
from pyramid.output import (
    TEMP_PREFIX,
    atomic_path,
    check_output,
    output_error,
    spreadsheet_safe,
    write_text,
)


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "r.txt"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_good_file(tmp_path, exc):
    target = tmp_path / "r.txt"
    write_text(target, "good")
    with pytest.raises(type(exc)), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise exc
    assert target.read_text() == "good" and _leftovers(tmp_path) == []


def test_atomic_write_refuses_a_folder(tmp_path):
    (tmp_path / "d.txt").mkdir()
    with pytest.raises(InputError, match="is a folder"), atomic_path(tmp_path / "d.txt") as tmp:
        tmp.write_text("x")
    assert _leftovers(tmp_path) == []


def test_check_output(tmp_path):
    assert check_output(tmp_path / "a" / "b.nc", (".nc",)) == tmp_path / "a" / "b.nc"
    with pytest.raises(InputError, match=r"must end in \.nc, got"):
        check_output(tmp_path / "x.txt", (".nc",), "results file")
    (tmp_path / "dir.nc").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        check_output(tmp_path / "dir.nc", (".nc",))
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        check_output(tmp_path / "file" / "x.nc", (".nc",))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (0o555) folder")
def test_check_output_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            check_output(ro / "x.nc", (".nc",))
    finally:
        ro.chmod(0o755)


def test_output_error_words():
    for code, words in ((errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                        (errno.EACCES, "permission denied")):
        e = output_error(OSError(code, os.strerror(code)), "/x/r.html", "report")
        assert isinstance(e, OutputError) and words in str(e) and "'/x/r.html'" in str(e)


def test_spreadsheet_safe():
    df = pd.DataFrame({"=notes": ["=HYPERLINK(\"x\")", "+1+A1", "-2+3+cmd|' /C calc'!A0", "@a",
                                  "\tt", "ok", None, "+", "-", "-2", "+1.5e3", "="],
                       "n": [-1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]})
    out = spreadsheet_safe(df)
    assert list(out.columns) == ["'=notes", "n"]
    assert out["'=notes"].tolist()[:6] == ["'=HYPERLINK(\"x\")", "'+1+A1",
                                            "'-2+3+cmd|' /C calc'!A0", "'@a", "'\tt", "ok"]
    assert pd.isna(out["'=notes"].iloc[6])
    # a lone sign (a comparison's direction) or a number as text is no formula: left alone
    assert out["'=notes"].tolist()[7:] == ["+", "-", "-2", "+1.5e3", "'="]
    assert spreadsheet_safe(pd.DataFrame({"direction": ["+", "-"]}))["direction"].tolist() == [
        "+", "-"]
    assert out["n"].tolist() == df["n"].tolist()  # numbers are not text
    assert list(df.columns) == ["=notes", "n"]  # the input is not changed


# ---------------------------------------------------------------------------------------------
# a small full or read-only file system
# ---------------------------------------------------------------------------------------------
def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(),
                                 reason="cannot mount a tmpfs here (needs root and unshare)")


def run_on_small_fs(folder, script: str, *, size: str = "256k", full: bool = False,
                    readonly: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with ``folder`` a fresh tmpfs of ``size``, in a private mount
    namespace; ``full`` fills it first (to the last byte), ``readonly`` remounts it read-only.
    ``$D`` is the folder; what the script prints comes back."""
    folder.mkdir(parents=True, exist_ok=True)
    prep = [f'mount -t tmpfs -o size={size} tmpfs "$D"', 'echo good > "$D/good.txt"']
    if full:
        prep.append('(dd if=/dev/zero of="$D/.filler" bs=1k 2>/dev/null || true)')
    if readonly:
        prep.append('mount -o remount,ro "$D"')
    body = " && ".join(prep) + "\n" + script
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "D": str(folder)})


PY = sys.executable


@needs_mount
def test_full_disk_leaves_nothing_and_the_good_file(tmp_path):
    code = textwrap.dedent("""
        import os, sys
        from pyramid.output import write_bytes
        from pyramid.errors import OutputError
        d = os.environ["D"]
        try:
            write_bytes(os.path.join(d, "good.txt"), b"x" * 200_000, "report")
        except OutputError as e:
            print("ERR", e)
    """)
    r = run_on_small_fs(tmp_path / "fs", f"{PY} -c '{code}'; cat \"$D/good.txt\"; ls -a \"$D\"",
                        full=True)
    assert "ERR cannot write the report" in r.stdout and "the disk is full" in r.stdout, r
    assert "good\n" in r.stdout  # the file at the path is untouched
    assert TEMP_PREFIX not in r.stdout  # no temporary file left


@needs_mount
def test_read_only_folder(tmp_path):
    code = textwrap.dedent("""
        import os
        from pyramid.output import check_output, write_text
        from pyramid.errors import OutputError
        d = os.environ["D"]
        for f in (lambda: check_output(os.path.join(d, "r.html"), (".html",), "report"),
                  lambda: write_text(os.path.join(d, "r.html"), "x", "report")):
            try:
                f()
            except OutputError as e:
                print("ERR", e)
    """)
    r = run_on_small_fs(tmp_path / "fs", f"{PY} -c '{code}'; ls -a \"$D\"", readonly=True)
    assert r.stdout.count("ERR cannot write the report") == 2, r
    assert "read-only file system" in r.stdout
    assert "r.html" not in r.stdout.split("ERR")[-1].split("\n", 1)[1]


# ---------------------------------------------------------------------------------------------
# every command that writes, on a full disk and in a read-only folder
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A data file and a results file outside the small file system (one short fit)."""
    import warnings

    import pyramid as pyr

    d = tmp_path_factory.mktemp("inputs")
    data = pyr.simulate((3, 2, 3, 1), seed=8, mix={"discussion_observed": 1.0}).data
    data.to_csv(d / "data.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pyr.fit(data, model="skill", draws=100, tune=100, random_seed=1,
                      progressbar=False, verbose=False)
    res.save(d / "fit.nc")
    return d


def _commands(inputs) -> dict[str, str]:
    pyr = f"{PY} -m pyramid"
    return {
        "simulate": f'{pyr} simulate -A 2 -U 2 -W 3 -O 1 --seed 1 --out "$D/sim.csv"',
        "figure4": f'{pyr} figure4 --out "$D/figure4.png"',
        "report": f'{pyr} report "{inputs}/fit.nc" --out "$D/report.html"',
        "fit": (f'{pyr} fit "{inputs}/data.csv" --model skill --draws 100 --tune 100 '
                f'--seed 1 --no-progress --out "$D/fit.nc"'),
        "design": (f'{pyr} design -A 3 -U 2 -W 2 -O 1 --sims 2 --draws 50 --tune 50 '
                   f'--jobs 0 --no-progress --seed 1 --out "$D/design"'),
    }


def _check_nothing_partial(r, words):
    out = r.stdout
    assert "RC=2" in out, r
    assert words in out and "Traceback" not in out and "internal error" not in out, out
    listing = out.split("LS:", 1)[1].split()
    # what was there before (good.txt, the filler) and nothing else, not even a temporary file
    assert set(listing) <= {".", "..", "good.txt", ".filler", "design"}, listing
    assert "GOOD:good" in out


@needs_mount
@pytest.mark.parametrize("cmd", ["simulate", "figure4", "report", "fit", "design"])
def test_read_only_folder_exits_2_with_nothing_written(tmp_path, inputs, cmd):
    script = (f'{_commands(inputs)[cmd]} > /dev/null 2>"$D.err"; echo RC=$?; cat "$D.err"; '
              'echo GOOD:$(cat "$D/good.txt"); echo LS: $(ls -a "$D")')
    r = run_on_small_fs(tmp_path / "fs", script.replace('"$D.err"', f'"{tmp_path}/err"'),
                        readonly=True, timeout=600)
    _check_nothing_partial(r, "read-only file system")


@needs_mount
@pytest.mark.slow  # a fit and a design run, each in a fresh process
@pytest.mark.parametrize("cmd", ["simulate", "figure4", "report", "fit", "design"])
def test_full_disk_exits_2_with_nothing_written(tmp_path, inputs, cmd):
    script = (f'{_commands(inputs)[cmd]} > /dev/null 2>"{tmp_path}/err"; echo RC=$?; '
              f'cat "{tmp_path}/err"; echo GOOD:$(cat "$D/good.txt"); echo LS: $(ls -a "$D")')
    r = run_on_small_fs(tmp_path / "fs", script, full=True, timeout=900)
    _check_nothing_partial(r, "the disk is full")


def test_csv_outputs_are_spreadsheet_safe(tmp_path, capsys):
    from pyramid.cli import main
    from pyramid.data.readers import read, write

    path = tmp_path / "inj.csv"
    path.write_text("observation,worker,unit,authority,training,empathy,=notes,collaboration\n"
                    'o1,w1,u1,A,none,3,"=HYPERLINK(""http://x"")",4\n'
                    "o2,w2,u1,A,none,4,@SUM(1),3\n")
    assert main(["validate", str(path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "extra column,'=notes" in out
    assert "\n=" not in out and ",=" not in out and ",@" not in out
    # '=empathy' is not the empathy scores, silently renamed, nor a silently unused column
    # (issue 18): an error naming both
    from pyramid import validate
    from pyramid.errors import ValidationError

    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace(",empathy,", ",=empathy,", 1))
    with pytest.raises(ValidationError, match=r"column '=empathy'.* looks like 'empathy'"):
        validate(read(bad))
    v = validate(read(path))
    written = write(v, tmp_path / "out.csv").read_text()
    assert "'=notes" in written and "'=HYPERLINK" in written and "'@SUM(1)" in written
