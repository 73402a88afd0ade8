"""Each paper's ``artefacts`` list in its paper.yaml: every numbered table and figure of the paper,
whether the chapter regenerates it, and the chapter heading under which it does."""
from __future__ import annotations

import re
from functools import lru_cache

import pytest

from handlib import papers, scoreboard

NOTEBOOKS = scoreboard.load_config("smoke")["chapters"]
REGENERATED = set(scoreboard.REGENERATED)
ID_PATTERN = re.compile(r"(Table|Figure) \d+")


@lru_cache(maxsize=None)
def headings(paper: str) -> frozenset[str]:
    """The headings of ``paper``'s chapter notebook."""
    return frozenset(scoreboard.headings(NOTEBOOKS[paper]))


def artefacts(paper: str) -> list[dict]:
    listed = papers.load(paper).get("artefacts")
    assert isinstance(listed, list) and listed, f"{paper}: paper.yaml has no artefacts list"
    return listed


def test_every_paper_has_a_notebook():
    assert set(NOTEBOOKS) == set(papers.PAPERS)


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_artefact_entries_are_well_formed(paper):
    listed = artefacts(paper)
    ids = [entry.get("id") for entry in listed]
    assert len(ids) == len(set(ids)), f"{paper}: duplicate artefact ids {ids}"
    for entry in listed:
        name = f"{paper} {entry.get('id')!r}"
        assert isinstance(entry, dict), name
        assert isinstance(entry.get("id"), str) and ID_PATTERN.fullmatch(entry["id"]), (
            f"{name}: id must read 'Table N' or 'Figure N'")
        assert isinstance(entry.get("shows"), str) and entry["shows"].strip(), (
            f"{name}: says nothing about what it shows")
        assert entry.get("regenerated") in REGENERATED, (
            f"{name}: regenerated must be one of {sorted(REGENERATED)}")
        if entry["regenerated"] in ("partial", "no"):
            assert isinstance(entry.get("note"), str) and entry["note"].strip(), (
                f"{name}: a {entry['regenerated']!r} artefact needs a note")
        assert "section" in entry, f"{name}: no section key (null when not regenerated)"
        if entry["regenerated"] == "no":
            assert entry["section"] is None, f"{name}: not regenerated, yet has a section"
        else:
            assert isinstance(entry["section"], str) and entry["section"], (
                f"{name}: regenerated, yet has no section")


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_artefact_sections_are_chapter_headings(paper):
    found = headings(paper)
    for entry in artefacts(paper):
        if entry.get("section") is not None:
            assert entry["section"] in found, (
                f"{paper} {entry['id']!r}: no heading {entry['section']!r} in "
                f"notebooks/{NOTEBOOKS[paper]}.ipynb")


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_every_transcribed_table_is_an_artefact(paper):
    ids = {entry["id"] for entry in artefacts(paper)}
    for table_id in papers.load(paper)["tables"]:
        if str(table_id).isdigit():
            assert f"Table {table_id}" in ids, f"{paper}: Table {table_id} is not in artefacts"


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_artefacts_are_in_order(paper):
    """Tables first, then figures, each by number."""
    order = [(entry["id"].split()[0] != "Table", int(entry["id"].split()[1]))
             for entry in artefacts(paper)]
    assert order == sorted(order), f"{paper}: artefacts are not tables then figures by number"
