"""The documentation's contract with the code.

* Every public function of pyramid has a numpydoc docstring with an Examples section (the
  examples themselves run through ``--doctest-modules``, configured in pyproject.toml); the
  lines marked ``# doctest: +SKIP`` because they fit a model run too, in a ``slow`` test.
* The generated pages (API index, CLI reference, schema table, build-time frames) are built
  from the code: these tests check the generators in ``docs/_ext/pyramid_docs.py``, which need
  Sphinx (the ``docs`` extra) and are skipped without it.
* The gallery scripts are valid sphinx-gallery scripts, in the documented order.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

import pyramid

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXAMPLES_HEADING = re.compile(r"^\s*Examples\n\s*-{8,}\n", re.MULTILINE)


def _resolve(target: str):
    """The object a ``_LAZY`` target names, or None when its module does not exist yet."""
    module, _, attr = target.partition(":")
    try:
        obj = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None  # registered ahead of its implementation: not this test's concern
        raise
    return getattr(obj, attr) if attr else obj


def _public_functions() -> dict[str, object]:
    """Every public function: top-level names in ``_LAZY`` and the ``__all__`` functions of the
    public modules (only those defined in that module, not re-exports)."""
    out: dict[str, object] = {}
    for name, target in pyramid._LAZY.items():
        obj = _resolve(target)
        if obj is None:
            continue
        if isinstance(obj, types.ModuleType):
            mods = [obj]
            # a package's public submodules (pyramid.data -> published, schema, ...)
            mods += [m for m in vars(obj).values() if isinstance(m, types.ModuleType)
                     and m.__name__.startswith(obj.__name__ + ".")
                     and m.__name__.rsplit(".", 1)[1] in getattr(obj, "__all__", ())]
            for mod in mods:
                for attr in getattr(mod, "__all__", ()):
                    fn = getattr(mod, attr, None)
                    if inspect.isfunction(fn) and fn.__module__ == mod.__name__:
                        out[f"{mod.__name__}.{attr}"] = fn
        elif inspect.isfunction(obj):
            out[f"pyramid.{name}"] = obj
    return out


def test_there_are_public_functions_to_check():
    # guards the test below against passing vacuously (e.g. if the discovery broke)
    names = _public_functions()
    assert "pyramid.data.published.table" in names
    assert "pyramid.data.published.check_totals" in names


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_public_function_has_numpydoc_examples(name):
    fn = _public_functions()[name]
    doc = inspect.getdoc(fn) or ""
    assert doc, f"{name} has no docstring"
    assert EXAMPLES_HEADING.search(doc), f"{name}: the docstring has no numpydoc 'Examples' section"
    examples = EXAMPLES_HEADING.split(doc, maxsplit=1)[1]
    assert ">>>" in examples, f"{name}: the Examples section has no '>>>' line to run"


def _examples(fn) -> list[doctest.Example]:
    """The doctest examples of a function's numpydoc Examples section."""
    doc = inspect.getdoc(fn) or ""
    parts = EXAMPLES_HEADING.split(doc, maxsplit=1)
    return doctest.DocTestParser().get_examples(parts[1]) if len(parts) == 2 else []


def test_some_public_examples_are_skipped_by_default():
    # guards the slow test below against passing vacuously: these fit a model, so the default
    # doctest run skips them and only the slow test runs them
    skipped = {name for name, fn in _public_functions().items()
               if any(ex.options.get(doctest.SKIP) for ex in _examples(fn))}
    assert {"pyramid.fit", "pyramid.compare", "pyramid.report"} <= skipped, skipped


@pytest.mark.slow
# the examples fit the reference data, whose one observation per worker the validator notes
# with a DataWarning: expected there, and a reader running them sees it too
@pytest.mark.filterwarnings("ignore:every worker has only one observation:UserWarning")
@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_public_examples_run_with_skip_removed(name, tmp_path, monkeypatch):
    """Every line of every public function's Examples runs, ``+SKIP`` lines included (in a
    temporary directory, with the module's globals, as ``--doctest-modules`` runs them)."""
    fn = _public_functions()[name]
    examples = _examples(fn)
    if not any(ex.options.get(doctest.SKIP) for ex in examples):
        pytest.skip("nothing skipped: the default doctest run executes these examples")
    for ex in examples:
        ex.options.pop(doctest.SKIP, None)
    test = doctest.DocTest(examples, dict(fn.__globals__), name, inspect.getsourcefile(fn),
                           None, inspect.getdoc(fn))
    # the stdlib's flags of pyproject's doctest_optionflags (NUMBER is pytest's own)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    monkeypatch.chdir(tmp_path)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.attempted == len(examples)
    assert result.failed == 0, "".join(out)


def test_doctests_are_collected_by_default():
    # the default `pytest` run executes the docstring examples of the package
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in cfg["addopts"]
    assert "pyramid" in cfg["testpaths"]


# ---------------------------------------------------------------------------------------------
# The generators of docs/_ext/pyramid_docs.py
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ext():
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        yield importlib.import_module("pyramid_docs")
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def test_api_index_lists_every_registered_name(ext):
    entries = ext.public_api()
    assert {e.name for e in entries} == set(pyramid._LAZY)
    text = ext.api_index_rst(entries)
    for e in entries:
        if e.kind == "missing":
            assert f"``pyramid.{e.name}`` (``{e.target}``)" in text
        elif e.kind == "module":
            # listed itself, or documented recursively under a listed parent package
            parts = e.documented_as.split(".")
            parents = [".".join(parts[:i]) for i in range(2, len(parts) + 1)]
            assert any(f"   {p}\n" in text for p in parents), e.documented_as
        else:
            assert f"   {e.documented_as}\n" in text
    # published is a module re-exported under a short name: documented by its real name
    pub = next(e for e in entries if e.name == "published")
    assert (pub.kind, pub.documented_as) == ("module", "pyramid.data.published")
    assert "* ``pyramid.published`` is :mod:`pyramid.data.published`." in text
    # ... and listed once: under pyramid.data, which is documented recursively
    if any(e.documented_as == "pyramid.data" for e in entries):
        assert "   pyramid.data.published\n" not in text
    assert next(e for e in entries if e.name == "InputError").kind == "class"


def test_api_index_places_unknown_modules_under_other(ext):
    assert ext._section_of("pyramid.errors") == "Errors"
    assert ext._section_of("pyramid.data.published") == "Data"
    assert ext._section_of("pyramid.brand_new") == ext.OTHER_SECTION
    fake = ext.ApiEntry("zap", "pyramid.brand_new:zap", "function", "pyramid.zap", "Other")
    text = ext.api_index_rst([fake])
    assert "Other\n-----" in text and "   pyramid.zap\n" in text


def test_api_index_raises_on_a_broken_module(ext, monkeypatch):
    # a registered module that exists but fails on its own import must not be hidden as
    # "not available yet"
    monkeypatch.setitem(pyramid._LAZY, "broken", "pyramid._docs_test_broken:f")
    missing = ModuleNotFoundError("No module named 'not_a_dependency'", name="not_a_dependency")

    real = importlib.import_module

    def fake_import(name, *a, **k):
        if name == "pyramid._docs_test_broken":
            raise missing
        return real(name, *a, **k)

    monkeypatch.setattr(ext.importlib, "import_module", fake_import)
    with pytest.raises(ModuleNotFoundError, match="not_a_dependency"):
        ext.public_api()


def test_cli_reference_has_every_command(ext):
    import typer

    from pyramid.cli import app

    commands = set(typer.main.get_command(app).commands)
    helps = ext.cli_help()
    assert set(helps) == commands | {""}
    assert all(h["code"] == 0 for h in helps.values())
    text = "\n".join(ext.cli_reference_rst(helps))
    for name in commands:
        assert f"\npyramid {name}\n" in text
        assert f"Usage: pyramid {name}" in text
    assert "╭" not in text  # plain text, not rich's boxes


def test_pyramid_run_reports_exit_code(ext):
    code, out = ext.run_cli(["tables", "--table", "15"])
    assert code == 0 and "Table 15" in out
    code, out = ext.run_cli(["tables", "--table", "99"])
    assert code == 2 and "no published table '99'" in out


def test_schema_table_has_every_column(ext):
    from pyramid.data import schema

    text = "\n".join(ext.schema_rst())
    for name, col in schema.COLUMNS.items():
        assert f"``{name}``" in text
        for level in col.levels:
            assert f"``{level}``" in text
    assert "``none`` < ``other`` < ``mla`` < ``programme``" in text


def test_frame_table_renders_every_cell(ext):
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", None]})
    table = ext.frame_table(df)
    texts = [e.astext() for e in table.findall(lambda n: n.tagname == "entry")]
    assert texts == ["a", "b", "1", "x", "", ""]


# ---------------------------------------------------------------------------------------------
# The gallery
# ---------------------------------------------------------------------------------------------
GALLERY = sorted(EXAMPLES.glob("plot_*.py"))


def test_gallery_has_a_header_and_examples():
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()
    assert GALLERY, "no gallery examples in examples/"


@pytest.mark.parametrize("path", GALLERY, ids=[p.name for p in GALLERY])
def test_gallery_script_is_well_formed(path):
    assert re.fullmatch(r"plot_\d{2}_[a-z0-9_]+\.py", path.name), (
        f"{path.name}: gallery scripts are named plot_NN_topic.py (NN sets the order)"
    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc, f"{path.name}: needs a docstring with a title"
    lines = doc.strip().splitlines()
    assert len(lines) >= 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), (
        f"{path.name}: the docstring's first line is the title, underlined with '='"
    )


def test_models_page_frames_come_from_the_files(ext):
    from pyramid import specs

    priors = ext.prior_sets_frame()
    assert list(priors.columns) == ["class", *specs.available_priors(), "what it is"]
    assert set(specs.PRIOR_CLASSES) <= set(priors["class"])
    default_b = priors.loc[priors["class"] == "b", "default"].item()
    assert default_b == str(specs.load_priors("default").classes["b"])
    models = ext.specs_frame()
    assert list(models["model"]) == specs.available_specs()
    assert set(models["family"]) <= set(specs.FAMILIES)


def test_comparisons_page_frames_come_from_the_code(ext):
    from pyramid.compare import default_contrasts
    from pyramid.specs import load_spec

    frame = ext.default_contrasts_frame()
    assert list(frame.columns) == ["key", "contrast", "effect", "models"]
    keys = {c.key for c in default_contrasts(load_spec("pyramid"))[0]}
    assert keys == set(frame["key"])  # the path model has every default contrast
    row = frame.set_index("key").loc["clinician_total"]
    assert (row["effect"], row["models"]) == ("total", "pyramid")
    assert frame.set_index("key").loc["programme_vs_none", "models"] == "domains, pyramid, skill"
