"""How each chapter notebook tells the book to show its cells (the conventions are in
book/conventions.md): every code cell says whether the reader sees its code, the parameters cell
is collapsed, and every figure cell gives its figure a name and a caption.

A notebook in PENDING has not been brought to these conventions yet; its tests are expected to
fail (strict: once it follows them, remove it from PENDING).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# How a code cell is shown: Jupyter Book's tags, and `show-input` for code meant to be read.
DISPLAY_TAGS = {"hide-input", "hide-output", "hide-cell", "remove-input", "remove-output",
                "remove-cell", "show-input"}
PENDING: dict[str, str] = {}
MIN_CAPTION_WORDS = 12


def _cases():
    return [pytest.param(p, id=p.name, marks=pytest.mark.xfail(reason=PENDING[p.name], strict=True))
            if p.name in PENDING else pytest.param(p, id=p.name) for p in NOTEBOOKS]


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def display_tags(cell: dict) -> list[str]:
    return [t for t in cell.get("metadata", {}).get("tags", []) if t in DISPLAY_TAGS]


@pytest.mark.parametrize("path", _cases())
def test_every_code_cell_says_how_it_is_shown(path):
    undecided = [f"cell {i}: {source(c).splitlines()[0] if source(c) else ''!r} tags {display_tags(c)}"
                 for i, c in enumerate(code_cells(path)) if len(display_tags(c)) != 1]
    assert not undecided, (f"{path.name}: each code cell needs exactly one of "
                           f"{sorted(DISPLAY_TAGS)}:\n" + "\n".join(undecided))


@pytest.mark.parametrize("path", _cases())
def test_the_chapter_opens_on_prose_and_results(path):
    cells = code_cells(path)
    assert display_tags(cells[0]) == ["hide-cell"], f"{path.name}: tag the parameters cell hide-cell"
    assert display_tags(cells[1]) in (["hide-input"], ["hide-cell"], ["remove-input"]), (
        f"{path.name}: the set-up cell (imports, load_profile) shows its code; tag it hide-input")


@pytest.mark.parametrize("path", _cases())
def test_figure_cells_name_and_caption_their_figure(path):
    names = []
    for i, cell in enumerate(code_cells(path)):
        text = source(cell)
        spec = cell.get("metadata", {}).get("mystnb", {}).get("figure")
        draws = re.search(r"plt\.(subplots|figure|show)\(|\bfigure_\w+\(|comparison_grid\(|"
                          r"plot_pck_curves\(|\boverview\(\"", text)
        if draws and not text.lstrip().startswith("def "):
            assert spec, f"{path.name} cell {i} draws a figure but has no mystnb.figure metadata"
        if spec:
            assert re.fullmatch(r"fig-[a-z0-9]+(-[a-z0-9]+)+", spec.get("name", "")), (
                f"{path.name} cell {i}: figure name {spec.get('name')!r} is not fig-<chapter>-<what>")
            words = len(spec.get("caption", "").split())
            assert words >= MIN_CAPTION_WORDS, (
                f"{path.name} cell {i}: a {words}-word caption; say what it shows and on which data")
            names.append(spec["name"])
    assert len(names) == len(set(names)), f"{path.name}: figure names repeat: {names}"


def test_figure_names_are_unique_across_the_book():
    names = [c["metadata"]["mystnb"]["figure"]["name"] for p in NOTEBOOKS for c in code_cells(p)
             if c.get("metadata", {}).get("mystnb", {}).get("figure")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
