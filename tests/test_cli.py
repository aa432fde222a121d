import pytest

from moscale import cli


def test_every_command_has_help():
    parser = cli.build_parser()
    for path in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*path, "--help"])
        assert exit_info.value.code == 0


def test_unknown_command_is_rejected():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2
