import pytest

from moscale import cli


def test_every_command_lists_its_own_options(capsys):
    for path in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*path, "--help"])
        assert exit_info.value.code == 0
        help_text = capsys.readouterr().out
        assert "usage: moscale " + " ".join(path) in help_text
        assert help_text.count("--") >= 2, f"{path}: module options missing from --help"


def test_unknown_command_is_rejected():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2
