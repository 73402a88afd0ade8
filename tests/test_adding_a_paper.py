"""The "Adding a paper" page stays true: every file it names exists, and it names every file of
its worked example, the RCSF package."""
import re
from pathlib import Path

from handlib import losses, models

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "adding_a_paper.md"
PATH = re.compile(r"`((?:handlib|notebooks|tests|book)/[\w/.]+\.(?:py|yaml|ipynb|md))`")


def named_files() -> set[str]:
    return set(PATH.findall(PAGE.read_text()))


def test_every_file_the_page_names_exists():
    missing = sorted(p for p in named_files() if not (REPO / p).is_file())
    assert not missing, f"book/adding_a_paper.md names files that do not exist: {missing}"


def test_the_page_names_every_file_of_the_worked_example():
    package = REPO / "handlib" / "papers" / "rcsf"
    files = {str(p.relative_to(REPO)) for p in package.iterdir()
             if p.suffix in (".py", ".yaml")}
    unnamed = sorted(files - named_files())
    assert not unnamed, f"the RCSF package has files the page does not walk through: {unnamed}"


def test_the_registrations_the_page_describes_are_where_it_says():
    text = PAGE.read_text()
    assert '"rcsf": "handlib.papers.rcsf.models:rcsf"' in text
    assert models.REGISTRY["rcsf"] == "handlib.papers.rcsf.models:rcsf"
    assert losses.module_of("rcsf") == "handlib.papers.rcsf.losses"
