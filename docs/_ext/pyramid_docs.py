"""Sphinx extension for pyramid's documentation: pages that are generated so they cannot drift.

What it adds
------------
* The API reference index (``api/generated/index.rst``), written when the configuration is
  read, from pyramid's public API map ``pyramid._LAZY``. A new public name appears in the
  reference without editing any list here. Names registered in ``_LAZY`` whose module does not
  exist yet are listed on the page as "registered, not yet available" (an honest placeholder,
  not a warning), so the build stays green while a feature is being written; any *other*
  import failure is a Sphinx warning, which ``-W`` turns into a failed build.
* ``.. pyramid-cli-reference::``: one section per ``pyramid`` subcommand with its ``--help``
  text, produced by running the command at build time.
* ``.. pyramid-schema::``: the observation schema as a table, from
  :data:`pyramid.data.schema.COLUMNS` (the one place the columns are defined).
* ``.. pyramid-frame:: EXPRESSION``: evaluates a Python expression that returns a
  :class:`pandas.DataFrame` (with ``pyramid``, ``pyr``, ``pd`` and ``docs``, this module, in
  scope) at build time and shows it as a table; options ``:columns:`` (comma-separated) and ``:query:`` (a pandas query).
* ``.. pyramid-run:: ARGS``: runs ``pyramid ARGS`` at build time and shows the command and its
  output as a literal block. A non-zero exit is a warning (so ``-W`` fails the build). The
  commands of one page run in one scratch folder of the build (``_pyramid_run/<page>``,
  emptied when the page is read), in page order, so a page can walk a path: a file written by
  one command is read by the next. Arguments are split like a shell's (quotes group words).
* ``.. pyramid-file:: NAME``: writes its content to a file in that folder and shows it.

Both directives run the command line in a subprocess with ``TYPER_USE_RICH=0`` so the text is
plain (no box drawing) and wrapped at a fixed width, whatever terminal the build runs in.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

#: Width at which ``--help`` text and command output are wrapped on the pages.
CLI_WIDTH = 88

#: Section of the API reference for each module of pyramid, in page order. A module not listed
#: here goes to "Other" (so a new module still appears; add it here to give it a heading).
API_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Data", ("pyramid.data", "pyramid.datasets", "pyramid.study")),
    ("Defaults, model specs and prior sets", ("pyramid.defaults", "pyramid.specs")),
    ("Models and fitting", ("pyramid.models", "pyramid.fit", "pyramid.results",
                            "pyramid.diagnostics")),
    ("Comparisons and reanalysis", ("pyramid.compare", "pyramid.reanalysis")),
    ("Evaluator workflows", ("pyramid.planning", "pyramid.calibration", "pyramid.executor",
                             "pyramid.project")),
    ("Figures and reports", ("pyramid.plots", "pyramid.report")),
    ("Errors", ("pyramid.errors", "pyramid.checks")),
]
OTHER_SECTION = "Other"


# ---------------------------------------------------------------------------------------------
# The API reference
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiEntry:
    """One public name of pyramid, resolved."""

    name: str  # the public name, ``pyramid.<name>``
    target: str  # "module:attr" or "module" as in ``_LAZY``
    kind: str  # "module", "function", "class", "data" or "missing"
    documented_as: str  # what autosummary is given: a module's real name or ``pyramid.<name>``
    section: str
    reason: str = ""  # for "missing": why it could not be imported


def _section_of(module: str) -> str:
    for title, prefixes in API_SECTIONS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return title
    return OTHER_SECTION


def _is_missing_module(exc: ModuleNotFoundError, module: str) -> bool:
    """True when the module named in ``_LAZY`` (or one of its parents) does not exist at all,
    as opposed to an existing module failing on one of *its* imports."""
    missing = exc.name or ""
    return bool(missing) and (module == missing or module.startswith(missing + "."))


def public_api() -> list[ApiEntry]:
    """Resolve every name in ``pyramid._LAZY`` (sorted by section, then name)."""
    import pyramid

    entries = []
    for name, target in pyramid._LAZY.items():
        module, _, attr = target.partition(":")
        section = _section_of(module)
        try:
            obj = importlib.import_module(module)
            if attr:
                obj = getattr(obj, attr)
        except ModuleNotFoundError as exc:
            if not _is_missing_module(exc, module):
                raise
            entries.append(ApiEntry(name, target, "missing", "", section, f"no module {exc.name!r}"))
            continue
        except AttributeError:
            entries.append(ApiEntry(name, target, "missing", "", section, f"{module} has no {attr!r}"))
            continue
        if isinstance(obj, types.ModuleType):
            entries.append(ApiEntry(name, target, "module", obj.__name__, section))
        elif inspect.isclass(obj):
            entries.append(ApiEntry(name, target, "class", f"pyramid.{name}", section))
        elif callable(obj):
            entries.append(ApiEntry(name, target, "function", f"pyramid.{name}", section))
        else:
            entries.append(ApiEntry(name, target, "data", f"pyramid.{name}", section))
    order = {title: i for i, (title, _) in enumerate(API_SECTIONS)}
    return sorted(entries, key=lambda e: (order.get(e.section, len(order)), e.name))


def api_index_rst(entries: list[ApiEntry]) -> str:
    """The text of the API reference index page for these entries."""
    out = [
        ".. This file is generated by docs/_ext/pyramid_docs.py from pyramid._LAZY; do not edit.",
        "",
        ".. _api:",
        "",
        "API reference",
        "=============",
        "",
        "Everything below is reached from the top-level package (``import pyramid as pyr``).",
        "The list is built from pyramid's public API map (``pyramid._LAZY`` in",
        "``pyramid/__init__.py``), so a name registered there appears here without editing this",
        "page. Each function has its own page generated from its numpydoc docstring, with an",
        "example that the test suite runs (``pytest --doctest-modules``).",
        "",
    ]
    sections: dict[str, list[ApiEntry]] = {}
    for e in entries:
        sections.setdefault(e.section, []).append(e)
    for title, group in sections.items():
        out += [title, "-" * len(title), ""]
        names = [e for e in group if e.kind in ("function", "class", "data")]
        modules = [e for e in group if e.kind == "module"]
        missing = [e for e in group if e.kind == "missing"]
        if names:
            out += [".. autosummary::", "   :toctree: .", ""]
            out += [f"   {e.documented_as}" for e in names]
            out.append("")
        if modules:
            out += ["Modules:", "", ".. autosummary::", "   :toctree: .", "   :recursive:", ""]
            real = {e.documented_as for e in modules}
            # a submodule of a listed package is already documented (recursively) under it
            top = sorted(m for m in real if not any(m.startswith(p + ".") for p in real))
            out += [f"   {m}" for m in top]
            out.append("")
            aliases = [e for e in modules if e.documented_as != f"pyramid.{e.name}"]
            for e in aliases:
                out.append(f"* ``pyramid.{e.name}`` is :mod:`{e.documented_as}`.")
            if aliases:
                out.append("")
        if missing:
            out += [
                "Registered in the public API but not available yet (the feature is being",
                "written; its page appears here when its module lands):",
                "",
            ]
            out += [f"* ``pyramid.{e.name}`` (``{e.target}``)" for e in missing]
            out.append("")
    return "\n".join(out) + "\n"


def write_api_index(app: Sphinx, config) -> None:
    """``config-inited`` handler: (re)write ``api/generated/index.rst`` before Sphinx looks for
    source files, so autosummary finds its directives and generates one page per name."""
    path = Path(app.srcdir) / "api" / "generated" / "index.rst"
    # Start from an empty folder: a page left from an earlier build for a name that is no longer
    # public would otherwise be read again (and fail, or linger in the search index).
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        entries = public_api()
    except Exception as exc:  # an import error in pyramid itself: the build must say so
        logger.warning("pyramid_docs: could not import pyramid's public API: %r", exc)
        entries = []
    for e in entries:
        if e.kind == "missing":
            logger.info("pyramid_docs: pyramid.%s not available yet (%s)", e.name, e.reason)
    path.write_text(api_index_rst(entries), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
_HELP_SCRIPT = r"""
import contextlib, io, json, sys
import typer
from pyramid.cli import app, main
group = typer.main.get_command(app)
out = {}
for name in [None, *sorted(group.commands)]:
    argv = ([name] if name else []) + ["--help"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    hidden = bool(name and getattr(group.commands[name], "hidden", False))
    out[name or ""] = {"code": code, "text": buf.getvalue(), "hidden": hidden}
json.dump(out, sys.stdout)
"""


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TYPER_USE_RICH="0",
        COLUMNS=str(CLI_WIDTH),
        TERMINAL_WIDTH=str(CLI_WIDTH),
        MPLBACKEND="Agg",
        NO_COLOR="1",
        PYTHONIOENCODING="utf-8",
    )
    return env


def cli_help() -> dict[str, dict]:
    """``--help`` of ``pyramid`` and of every subcommand: ``{"": root, "tables": ...}``.

    Each value has ``code`` (exit code), ``text`` (the help) and ``hidden``.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _HELP_SCRIPT],
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"collecting the CLI help failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def run_cli(args: list[str], cwd: str | Path | None = None) -> tuple[int, str]:
    """Run ``pyramid ARGS`` in a subprocess (in ``cwd``); return (exit code, stdout + stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pyramid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=600,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def workdir(directive: SphinxDirective) -> Path:
    """The scratch folder of a page's commands, ``<build>/_pyramid_run/<page>``: emptied the
    first time the page uses it while it is read, so each build walks its steps afresh."""
    path = Path(directive.env.app.outdir).parent / "_pyramid_run" / directive.env.docname
    seen = directive.env.temp_data.setdefault("pyramid_workdirs", set())
    if directive.env.docname not in seen:
        seen.add(directive.env.docname)
        if path.exists():
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _literal(text: str, language: str = "text") -> nodes.literal_block:
    text = "\n".join(line.rstrip() for line in text.rstrip().splitlines())
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block


def cli_reference_rst(helps: dict[str, dict]) -> list[str]:
    """rST lines: a summary then one section per subcommand with its ``--help`` text."""
    lines = ["``pyramid --help``:", "", ".. code-block:: text", ""]
    lines += ["   " + ln.rstrip() for ln in helps[""]["text"].rstrip().splitlines()]
    lines.append("")
    for name in sorted(k for k in helps if k):
        if helps[name]["hidden"]:
            continue
        title = f"pyramid {name}"
        lines += [f".. _cli-{name}:", "", title, "-" * len(title), "", ".. code-block:: text", ""]
        lines += ["   " + ln.rstrip() for ln in helps[name]["text"].rstrip().splitlines()]
        lines.append("")
    return lines


class CliReference(SphinxDirective):
    """``.. pyramid-cli-reference::``: every subcommand's ``--help``, generated at build time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        try:
            helps = cli_help()
        except Exception as exc:
            logger.warning("pyramid-cli-reference: %s", exc, location=self.get_location())
            return []
        for name, h in helps.items():
            if h["code"] != 0:
                logger.warning(
                    "pyramid-cli-reference: 'pyramid %s --help' exited %s",
                    name, h["code"], location=self.get_location(),
                )
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(cli_reference_rst(helps)), container)
        return container.children


class PyramidRun(SphinxDirective):
    """``.. pyramid-run:: tables --table 14``: run the command at build time, show its output.

    Options: ``:head: N`` keeps the first N lines of output (the rest is summarised). The
    command runs in the page's scratch folder (:func:`workdir`), so that a walk-through can
    write a file in one step and read it in the next. Arguments are split like a shell's
    (quotes group words).
    """

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"head": directives.nonnegative_int}

    def run(self) -> list[nodes.Node]:
        import shlex

        args = shlex.split(self.arguments[0])
        code, output = run_cli(args, cwd=workdir(self))
        if code != 0:
            logger.warning(
                "pyramid-run: 'pyramid %s' exited %s:\n%s", " ".join(args), code, output,
                location=self.get_location(),
            )
        lines = output.rstrip().splitlines()
        head = self.options.get("head")
        if head is not None and len(lines) > head:
            lines = [*lines[:head], f"... ({len(lines) - head} more lines)"]
        text = "$ pyramid " + self.arguments[0] + "\n" + "\n".join(lines)
        return [_literal(text, "console")]


class PyramidFile(SphinxDirective):
    """``.. pyramid-file:: NAME``: write the directive's content to NAME in the page's scratch
    folder (:func:`workdir`) and show it, so the file a page shows is the file its next
    commands read."""

    required_arguments = 1
    has_content = True
    option_spec = {"language": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if "/" in name or "\\" in name:
            raise self.error(f"pyramid-file: {name!r} must be a plain file name")
        text = "\n".join(self.content) + "\n"
        (workdir(self) / name).write_text(text, encoding="utf-8")
        language = self.options.get("language") or ("toml" if name.endswith(".toml")
                                                     else "text")
        return [_literal(text, language)]


# ---------------------------------------------------------------------------------------------
# The observation schema
# ---------------------------------------------------------------------------------------------
_KIND_WORDS = {
    "id": "identifier (text)",
    "category": "category",
    "ordered": "ordered category",
    "binary": "0 or 1",
    "score": "whole number {lo}-{hi}",
    "float": "number",
}


def schema_rst() -> list[str]:
    """rST lines of a list-table describing every column of the observation schema."""
    from pyramid.data import schema

    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 16 10 22 52",
        "",
        "   * - column",
        "     - required",
        "     - values",
        "     - meaning",
    ]
    for col in schema.COLUMNS.values():
        kind = _KIND_WORDS.get(col.kind, col.kind).format(lo=schema.SCORE_MIN, hi=schema.SCORE_MAX)
        if col.levels:
            sep = " < " if col.kind == "ordered" else ", "
            kind = f"{kind}: " + sep.join(f"``{lv}``" for lv in col.levels)
        lines += [
            f"   * - ``{col.name}``",
            f"     - {'yes' if col.required else 'no'}",
            f"     - {kind}",
            f"     - {col.description}",
        ]
    return lines


class SchemaTable(SphinxDirective):
    """``.. pyramid-schema::``: the observation schema, generated from ``schema.COLUMNS``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(schema_rst()), self.content_offset, container)
        return container.children


# ---------------------------------------------------------------------------------------------
# A data frame computed at build time
# ---------------------------------------------------------------------------------------------
def _cell_text(value) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def frame_table(df) -> nodes.table:
    """A docutils table node with the frame's columns as header and its rows as body."""
    table = nodes.table(classes=["pyramid-frame"])
    group = nodes.tgroup(cols=len(df.columns))
    table += group
    for _ in df.columns:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for col in df.columns:
        row += nodes.entry("", nodes.paragraph(text=str(col)))
    head += row
    body = nodes.tbody()
    group += body
    for rec in df.itertuples(index=False):
        row = nodes.row()
        for value in rec:
            row += nodes.entry("", nodes.paragraph(text=_cell_text(value)))
        body += row
    return table


def prior_sets_frame():
    """Every shipped prior set side by side: one row per parameter class (then per coefficient
    override), one column per set, with what the class is. From :func:`pyramid.load_priors`."""
    import pandas as pd

    from pyramid import specs

    names = specs.available_priors()
    sets = {n: specs.load_priors(n) for n in names}
    rows = []
    for cls, (_, meaning) in specs.PRIOR_CLASSES.items():
        rows.append({"class": cls, **{n: str(sets[n].classes.get(cls, "")) for n in names},
                     "what it is": meaning})
    coefs = sorted({c for p in sets.values() for c in p.coef})
    for c in coefs:
        what = ("prior of this one coefficient on the domains model's probit scale (overrides "
                "latent_b / latent_b_mo)" if c.startswith(specs.LATENT_PREFIX) else
                "prior of this one coefficient in skill points (overrides its skill-scale class)")
        rows.append({"class": f"coef {c}", **{n: str(sets[n].coef.get(c, "")) for n in names},
                     "what it is": what})
    return pd.DataFrame(rows, columns=["class", *names, "what it is"])


def specs_frame():
    """Every shipped model spec: name, family, outcome, terms, groups. From
    :func:`pyramid.load_spec`."""
    import pandas as pd

    from pyramid import specs

    rows = []
    for name in specs.available_specs():
        sp = specs.load_spec(name)
        rows.append({
            "model": sp.name,
            "family": sp.family,
            "outcome": sp.outcome,
            "terms": ", ".join(sp.terms),
            "groups": ", ".join(sp.groups),
        })
    return pd.DataFrame(rows)


def default_contrasts_frame():
    """The default contrasts of every shipped model: key, what it compares, its kind, and the
    models that have it. From :func:`pyramid.compare.default_contrasts`."""
    import pandas as pd

    from pyramid import specs
    from pyramid.compare import default_contrasts

    rows: dict[str, dict] = {}
    for name in specs.available_specs():
        for c in default_contrasts(specs.load_spec(name))[0]:
            row = rows.setdefault(c.key, {"key": c.key, "contrast": c.label,
                                          "effect": c.effect, "models": []})
            row["models"].append(name)
    return pd.DataFrame([{**r, "models": ", ".join(r["models"])} for r in rows.values()])


def compare_columns_frame():
    """The columns of :func:`pyramid.compare`'s table with what each holds, from
    :data:`pyramid.compare.COLUMNS_DOC`."""
    import pandas as pd

    from pyramid.compare import COLUMNS_DOC

    return pd.DataFrame(list(COLUMNS_DOC.items()), columns=["column", "what it holds"])


def compare_example():
    """``pyramid.compare`` on the reference data (the ``pyramid`` model, 2 chains x 300 draws,
    seed 2017, as the gallery's Figure 4 example), shown as :func:`pyramid.compare.compact`
    with each contrast's key."""
    import warnings

    import pyramid as pyr
    from pyramid.compare import compact

    with warnings.catch_warnings():
        # the validator notes that every worker has one observation (the report's design)
        warnings.simplefilter("ignore", pyr.DataWarning)
        result = pyr.fit(pyr.datasets.load_rsw2017(), draws=300, tune=300, random_seed=2017,
                         progressbar=False, verbose=False)
    table = pyr.compare(result)
    out = compact(table)
    out.insert(1, "key", table["key"].to_numpy())
    return out


class PyramidFrame(SphinxDirective):
    """``.. pyramid-frame:: pyramid.data.published.table(14)``: a frame computed at build time."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"columns": directives.unchanged, "query": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        import pandas as pd

        import pyramid

        expr = self.arguments[0]
        try:
            scope = {"pyramid": pyramid, "pyr": pyramid, "pd": pd, "docs": sys.modules[__name__]}
            df = eval(expr, scope)
            if not isinstance(df, pd.DataFrame):
                raise TypeError(f"expected a pandas.DataFrame, got {type(df).__name__}")
            if "query" in self.options:
                df = df.query(self.options["query"])
            if "columns" in self.options:
                df = df[[c.strip() for c in self.options["columns"].split(",")]]
        except Exception as exc:
            logger.warning("pyramid-frame: %s: %r", expr, exc, location=self.get_location())
            return []
        return [frame_table(df)]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", write_api_index)
    app.add_directive("pyramid-cli-reference", CliReference)
    app.add_directive("pyramid-run", PyramidRun)
    app.add_directive("pyramid-file", PyramidFile)
    app.add_directive("pyramid-schema", SchemaTable)
    app.add_directive("pyramid-frame", PyramidFrame)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
