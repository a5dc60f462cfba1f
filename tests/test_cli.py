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
