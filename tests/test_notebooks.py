"""Notebook conventions: stored without outputs, a tagged parameters cell on the cheapest profile,
profiles resolved from handlib, and every notebook listed in the book's table of contents."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from handlib.profiles import PROFILE_NAMES

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
REQUIRED_PARAMETERS = {"profile": "smoke", "data_root": None, "seed": 0, "device": "auto"}


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def toc_entries() -> set[str]:
    from tools.build_book import toc_files

    return set(toc_files(yaml.safe_load((REPO / "_toc.yml").read_text())))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    dirty = [
        i
        for i, cell in enumerate(code_cells(path))
        if cell.get("outputs") or cell.get("execution_count") is not None
    ]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_tagged_parameters_on_the_cheapest_profile(path):
    cells = code_cells(path)
    assert cells, f"{path.name} has no code cell"
    first = cells[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: the first code cell must carry the tag 'parameters'"
    )
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source(first)).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    for name, default in REQUIRED_PARAMETERS.items():
        assert name in values, f"{path.name}: parameters cell lacks {name!r}"
        assert values[name] == default, f"{path.name}: default {name}={values[name]!r}, want {default!r}"
    assert values["profile"] == PROFILE_NAMES[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_profile_is_resolved_by_handlib_in_the_next_cell(path):
    cells = code_cells(path)
    resolves = ("load_profile(", "load_config(")  # a chapter's load_config wraps load_profile
    assert len(cells) > 1 and any(call in source(cells[1]) for call in resolves), (
        f"{path.name}: the cell after the parameters must resolve the profile with "
        "load_profile() (or the chapter's load_config())"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_table_of_contents(path):
    assert f"notebooks/{path.stem}" in toc_entries(), f"{path.name} is missing from _toc.yml"


def test_every_toc_entry_exists():
    for entry in toc_entries():
        assert (REPO / f"{entry}.md").is_file() or (REPO / f"{entry}.ipynb").is_file(), entry
