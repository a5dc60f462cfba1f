"""Issue 22, "the first hour": the path a newcomer walks (README, getting started, validate,
fit, compare, report, compare-project) shows one interval width, one default model and no
Python source lines.

The commands are read from ``docs/getting_started.rst`` (its ``.. pyramid-run::`` blocks, which
the docs build runs too), so the page and this test walk the same path. Here they run in one
process through :func:`pyramid.cli.main`, in a temporary folder, with fewer draws and only the
joint analysis of ``compare-project`` (the outputs' wording, widths and model do not depend
on them).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pyramid import defaults
from pyramid.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting_started.rst"
RUN = re.compile(r"^\.\. pyramid-run:: (.+)$", re.MULTILINE)
FEWER_DRAWS = ["--draws", "200", "--tune", "200"]

#: What Python's default warning display and tracebacks print: a source file and line.
PYTHON_LINES = re.compile(r"\.py:\d+|Traceback \(most recent call last\)|warnings\.warn\(|"
                          r"\b\w+Warning: ")
#: Any interval width printed: "95 %", "95%", "90 % intervals", "[95% equal-tailed interval]".
WIDTH = re.compile(r"\b(\d{2}(?:\.\d+)?) ?%(?= (?:equal-tailed |posterior |credible )?"
                   r"interval| intervals|\))")


def page_commands() -> list[list[str]]:
    return [shlex.split(m.group(1)) for m in RUN.finditer(PAGE.read_text(encoding="utf-8"))]


def test_the_page_walks_the_whole_path():
    names = [c[0] for c in page_commands()]
    assert names == ["simulate", "validate", "fit", "compare", "report", "compare-project"]
    text = PAGE.read_text(encoding="utf-8")
    assert "TODO" not in text and "not implemented" not in text


def test_readme_and_page_name_the_one_default_model():
    for path in (ROOT / "README.md", PAGE):
        text = path.read_text(encoding="utf-8")
        others = {m for m in re.findall(r"--model (\w+)", text)} - {defaults.DEFAULT_MODEL}
        assert not others, (path.name, others)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    """Each page command's stdout and stderr, run in order in one folder."""
    import contextlib
    import io
    import os

    folder = tmp_path_factory.mktemp("first_hour")
    here = Path.cwd()
    out: dict[str, str] = {}
    os.chdir(folder)
    try:
        for args in page_commands():
            if args[0] in ("fit", "compare-project"):
                args = [*args, *FEWER_DRAWS]
            if args[0] == "compare-project":  # one of its three analyses: a model less to
                args = [*args, "--analysis", "joint"]  # compile, the same wording
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(args)
            out[args[0]] = stdout.getvalue() + stderr.getvalue()
            assert code == 0, (args, out[args[0]])
    finally:
        os.chdir(here)
    return out


def test_one_interval_width(outputs):
    want = f"{defaults.DEFAULT_CI_PROB:.0%}".rstrip("%")
    for command, text in outputs.items():
        widths = set(WIDTH.findall(text))
        assert widths <= {want}, (command, widths)
    for command in ("fit", "compare", "compare-project"):
        assert want in set(WIDTH.findall(outputs[command])), command


def test_one_default_model(outputs):
    model = defaults.DEFAULT_MODEL
    assert f"model {model!r}" in outputs["compare"]
    assert f"model {model!r}: fixed effects" in outputs["fit"]
    assert f"model {model!r}" in outputs["compare-project"]
    for command, text in outputs.items():
        named = set(re.findall(r"model '(\w+)'", text))
        assert named <= {model}, (command, named)


def test_no_python_source_lines(outputs):
    for command, text in outputs.items():
        assert not PYTHON_LINES.search(text), (command, PYTHON_LINES.search(text).group(0))
        for line in text.splitlines():
            assert "see ." not in line and "attrs[" not in line, (command, line)
