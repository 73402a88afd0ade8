import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlib import cli
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


#: Packages the GPU machine lacks (it has torch, numpy, pandas, scipy, yaml, matplotlib, seaborn,
#: opencv and tqdm): the command line must start without them.
NOT_ON_THE_DEVICE = ("papermill", "torchinfo", "nbformat", "nbclient", "IPython", "ipykernel",
                     "jupyter", "jupyter_book", "myst_nb", "submitit")
#: ``python -m handlib`` with every import of a NOT_ON_THE_DEVICE package failing.
WITHOUT_THEM = f"""
import runpy, sys
class NotOnTheDevice:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {NOT_ON_THE_DEVICE!r}:
            raise ImportError(f"{{name}} is not installed on the GPU machine")
sys.meta_path.insert(0, NotOnTheDevice())
import handlib
print(handlib.__file__)
runpy.run_module("handlib", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("command", [["--help"], ["train", "--help"]])
def test_the_cli_runs_from_the_tree_without_the_notebook_packages(command):
    """As on the GPU machine: ``python3 -m handlib`` from a checkout (the tree on PYTHONPATH, not
    installed) with no papermill, torchinfo, Jupyter or submitit."""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THEM, *command], capture_output=True, text=True, cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    source, usage = done.stdout.split("\n", 1)
    assert Path(source) == repo / "handlib" / "__init__.py"
    assert usage.startswith("usage: handlib")


def test_the_module_table_without_torchinfo_says_what_to_install(monkeypatch):
    from torch import nn

    from handlib.bench import module_table

    monkeypatch.setitem(sys.modules, "torchinfo", None)  # as if not installed
    with pytest.raises(ImportError, match=r"needs torchinfo.*pip install -e \"\.\[book\]\""):
        module_table(nn.Linear(2, 2), 4)


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


def _parser_raising(error):
    """A parser whose one subcommand, ``boom``, raises ``error``."""
    import argparse

    parser = argparse.ArgumentParser(prog="handlib")
    subparsers = parser.add_subparsers(dest="command")
    boom = subparsers.add_parser("boom")

    def fail(args):
        raise error

    boom.set_defaults(func=fail)
    return parser


def test_a_plain_value_error_prints_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(ValueError("bad value 3")))
    assert main(["boom"]) == 2
    assert capsys.readouterr().err == "handlib boom: error: bad value 3\n"


def test_a_multi_line_error_keeps_its_lines_as_they_are(monkeypatch, capsys):
    message = "no copy at /x\nExpected layout:\n  a/b.txt\n    a/c/\nDownload it.\n\n"
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(cli.UserError(message)))
    assert main(["boom"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "handlib boom: error: no copy at /x", "Expected layout:", "  a/b.txt", "    a/c/", "Download it.",
    ]


def test_set_of_a_run_section_wins_over_a_family_setting():
    """InterNet+'s families set their own epochs: `--set train.epochs=3` must reach every run
    (merged last, through `every_run`), where merged into the shared sections it was ignored."""
    from handlib import study
    from handlib.profiles import load_profile
    from handlib.train_cli import _overrides, for_every_run

    asked = _overrides(["train.epochs=3", "study.seeds=[0]"])
    profile = load_profile("internet_plus", "cpu")
    cfg = study.apply_parameters(profile, overrides=for_every_run(asked))
    assert cfg["study"]["seeds"] == [0]
    for run in ("internet", "internet_plus", "internet_plus_adam_step"):
        assert study.run_config(cfg, "STB", run, 0)["train"]["epochs"] == 3
    merged_into_shared = study.apply_parameters(profile, overrides=asked)
    assert study.run_config(merged_into_shared, "STB", "internet", 0)["train"]["epochs"] != 3
