import subprocess
import sys

from handlib.cli import COMMAND_MODULES, build_parser, main


def test_help_lists_every_registered_subcommand(capsys):
    parser = build_parser()
    help_text = parser.format_help()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert len(subparsers.choices) >= len(COMMAND_MODULES)
    for name in subparsers.choices:
        assert name in help_text


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run(
        [sys.executable, "-m", "handlib", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "papers" in result.stdout


def test_unknown_subcommand_fails():
    result = subprocess.run(
        [sys.executable, "-m", "handlib", "no-such-command"], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


def test_user_errors_print_one_line_and_exit_2(capsys):
    assert main(["papers", "--paper", "no-such-paper"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("handlib papers: error:")
