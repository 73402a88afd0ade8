"""The intro page: it links to every chapter, and its re-run commands are right for every chapter.

A command is right when it names a notebook of the book, sets only parameters that notebook's
parameters cell has, picks a profile that exists, and the notebook's set-up cell (the one that
resolves the profile with those parameters) accepts it: each command's parameters are injected
as papermill injects them and the first two code cells are run here.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import matplotlib
import pytest
import yaml

from handlib.profiles import PROFILE_NAMES
from tools.build_book import toc_files

REPO = Path(__file__).resolve().parents[1]
INTRO = REPO / "book" / "intro.md"
TOC = toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
CHAPTERS = [entry for entry in TOC if (REPO / f"{entry}.ipynb").is_file()]


def commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", INTRO.read_text(), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("papermill ")]


def parameters(argv: list[str]) -> dict:
    """``-p name value`` pairs as papermill's command line reads them (numbers, booleans, None)."""
    values, args = {}, iter(argv)
    for arg in args:
        if arg in ("-p", "--parameters"):
            name, raw = next(args), next(args)
            try:
                values[name] = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                values[name] = raw
    return values


def code_cells(notebook: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
            if c["cell_type"] == "code"]


def test_intro_links_to_every_page_of_the_book():
    linked = {str((INTRO.parent / target).resolve().relative_to(REPO))
              for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", INTRO.read_text())}
    missing = [entry for entry in TOC if entry != "book/intro" and entry not in linked]
    assert not missing, f"book/intro.md does not link to {missing}"


def test_every_chapter_has_a_re_run_command():
    named = {argv[1].removesuffix(".ipynb") for argv in commands()}
    assert set(CHAPTERS) <= named, f"no re-run command for {sorted(set(CHAPTERS) - named)}"


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv[1:]))
def test_re_run_command_is_right(argv, monkeypatch, tmp_path):
    assert argv[0] == "papermill" and len(argv) >= 3, "papermill NOTEBOOK OUTPUT [-p NAME VALUE]..."
    notebook = REPO / argv[1]
    assert notebook.is_file() and argv[1].removesuffix(".ipynb") in CHAPTERS, argv[1]
    given = parameters(argv[3:])
    cells = code_cells(notebook)
    defaults: dict = {}
    exec(cells[0], defaults)
    unknown = set(given) - {k for k in defaults if not k.startswith("__")}
    assert not unknown, f"{argv[1]} has no parameter {sorted(unknown)}"
    assert given.get("profile", defaults["profile"]) in PROFILE_NAMES
    # The set-up cell resolves the profile with these parameters, as the notebook would.
    matplotlib.use("Agg")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    # A folder the command names stands for the reader's copy: it exists here, and holds the
    # sub-folders a chapter asks for, unless the command named one of those sub-folders itself.
    for name, value in given.items():
        if isinstance(value, str) and value.startswith("/"):
            given[name] = tmp_path / value.lstrip("/")
            given[name].mkdir(parents=True)
    for attempt in range(2):
        namespace = {**defaults, **{k: str(v) if isinstance(v, Path) else v for k, v in given.items()}}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cells[1], f"{argv[1]} set-up cell", "exec"), namespace)
            break
        except ValueError as error:
            lacks = re.search(r"data_root (\S+) lacks ((?:[\w.-]+/(?:, )?)+)", str(error))
            if attempt or not lacks:
                raise
            root = Path(lacks.group(1))
            folders = [f.strip().rstrip("/") for f in lacks.group(2).split(",")]
            assert root.name not in folders, (
                f"{argv[1]}: data_root names the dataset folder {root.name}/ itself; it must be "
                f"the folder that holds {', '.join(folders)}")
            for folder in folders:
                (root / folder).mkdir()
