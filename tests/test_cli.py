"""The command line as a whole: every subcommand has --help, errors map to exit codes."""

import pytest
import typer.main

from pyramid import cli


def _commands(group, prefix=()):
    """Every (sub)command path of the typer app, e.g. ('priors', 'check')."""
    for name, cmd in getattr(group, "commands", {}).items():
        path = (*prefix, name)
        yield path
        yield from _commands(cmd, path)


ALL = sorted(_commands(typer.main.get_command(cli.app)))


def test_expected_commands_registered():
    names = {p[0] for p in ALL}
    assert {"tables", "validate", "simulate", "reanalyse", "figure4"} <= names


@pytest.mark.parametrize("path", ALL, ids=["-".join(p) for p in ALL])
def test_every_subcommand_has_help(path, capsys):
    assert cli.main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out and " ".join(path) in out


def test_usage_error_exits_2(capsys):
    assert cli.main(["tables", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys):
    assert cli.main(["no-such-command"]) == 2


def test_input_error_exits_2_without_traceback(capsys):
    assert cli.main(["tables", "--table", "99"]) == 2
    err = capsys.readouterr().err
    assert "no published table '99'" in err and "Traceback" not in err


def test_internal_error_exits_1_with_one_line(monkeypatch, capsys):
    from pyramid.data import published

    def boom():
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(published, "table_ids", boom)
    monkeypatch.delenv("PYRAMID_DEBUG", raising=False)
    assert cli.main(["tables"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated bug" in err
    assert "Traceback" not in err
    monkeypatch.setenv("PYRAMID_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["tables"])


# --------------------------------------------------------------------------------------------
# issue 22: one set of defaults, plain warnings
# --------------------------------------------------------------------------------------------
def _option_default(path: tuple[str, ...], name: str):
    cmd = typer.main.get_command(cli.app)
    for part in path:
        cmd = cmd.commands[part]
    (param,) = [p for p in cmd.params if p.name == name]
    return param.default


def test_every_command_reads_its_defaults_from_one_place():
    """Issue 22: `fit` printed 90 % intervals and `compare` 95 %; `fit` fitted pyramid and
    `compare-project` skill. Every --ci-prob and --model default is pyramid.defaults'."""
    import inspect

    import pyramid as pyr
    from pyramid import defaults
    from pyramid.plots import figure4
    from pyramid.results import FitResult

    with_ci = [p for p in ALL if any(q.name == "ci_prob" for q in _params(p))]
    assert {p[0] for p in with_ci} >= {"fit", "compare", "report", "figure4", "compare-project",
                                        "reanalyse", "design"}
    for path in with_ci:
        assert _option_default(path, "ci_prob") == defaults.DEFAULT_CI_PROB, path
    for path in (("fit",), ("compare-project",), ("priors", "check")):
        assert _option_default(path, "model") == defaults.DEFAULT_MODEL, path
    for path in (("design",), ("calibrate",)):  # the documented exception (many fits)
        assert _option_default(path, "model") == defaults.PLANNING_MODEL, path
    # the API: None means the default, resolved by pyramid.defaults
    for fn in (pyr.compare, pyr.report, pyr.compare_project, pyr.design, pyr.reanalyse,
               figure4.plot_figure4, figure4.figure4_data, figure4.save_figure4,
               FitResult.coefs):
        assert inspect.signature(fn).parameters["ci_prob"].default is None, fn.__name__
    assert inspect.signature(pyr.compare_project).parameters["model"].default is None
    assert inspect.signature(pyr.fit).parameters["model"].default == defaults.DEFAULT_MODEL
    assert defaults.ci_prob() == 0.95 and defaults.model() == "pyramid"


def _params(path):
    cmd = typer.main.get_command(cli.app)
    for part in path:
        cmd = cmd.commands[part]
    return getattr(cmd, "params", [])


def test_warnings_are_plain_lines_once_each(tmp_path, capsys, monkeypatch):
    """Issue 22: DataWarnings printed as raw Python warnings with pyramid's source lines. The
    CLI prints every warning, whichever command raised it, as one plain line, once."""
    import warnings

    from pyramid.data import published

    table_ids = published.table_ids

    def noisy():
        warnings.warn("something worth knowing", UserWarning, stacklevel=1)
        warnings.warn("something worth knowing", UserWarning, stacklevel=1)
        return table_ids()[:1]

    monkeypatch.setattr(published, "table_ids", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # what a user's Python does
        assert cli.main(["tables"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: something worth knowing\n"
    # a DataWarning of validation (blank rows), as a user sees it on the command line
    path = tmp_path / "blank.csv"
    path.write_text("observation,worker,unit,authority,training,empathy\n"
                    "o1,w1,u1,A,none,3\n,,,,,\no2,w2,u1,A,mla,4\n")
    assert cli.main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 completely blank row(s) dropped (row 2)")
    assert ".py:" not in err and "DataWarning" not in err


def test_allow_silences_a_judgement(tmp_path, capsys):
    path = tmp_path / "ids.csv"
    path.write_text("observation,worker,unit,authority,training,empathy\n"
                    "o1,W1,u1,A,none,3\no2,w1,u1,A,none,4\no3,w2,u1,A,mla,2\n")
    assert cli.main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: worker ids that differ only in upper and lower case" in err
    assert "CLI: --allow case-ids" in err
    assert cli.main(["validate", str(path), "--allow", "case-ids"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "note: judgements allowed (not warned about): case-ids" in captured.out
    assert cli.main(["validate", str(path), "--allow", "cases"]) == 2
    assert "allow: unknown judgement(s) 'cases'" in capsys.readouterr().err
    for command in ("fit", "compare-project"):  # every command that reads a data file
        assert cli.main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--allow" in out and "--sheet" in out and "--encoding" in out
