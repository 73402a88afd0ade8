"""The "Adding a paper" page stays true: every file it names exists, it names every file of its
worked example (the RCSF package), and what it says a paper needs is what the toy paper of
``tests/test_paper_folder.py`` is made of: the files of its folder, and nothing inside
``handlib`` beyond them."""
import re
from pathlib import Path

from handlib import losses, models
from test_paper_folder import TOY_FILES

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "adding_a_paper.md"
PATH = re.compile(r"`((?:handlib|notebooks|tests|book)/[\w/.]+\.(?:py|yaml|ipynb|md))`")


def named_files() -> set[str]:
    return set(PATH.findall(PAGE.read_text()))


def section(heading: str) -> str:
    """The text of the page's section ``heading`` (up to the next heading of any level)."""
    text = PAGE.read_text()
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"\n#+ ", text[start:])
    return text[start: start + following.start()] if following else text[start:]


def test_every_file_the_page_names_exists():
    missing = sorted(p for p in named_files() if not (REPO / p).is_file())
    assert not missing, f"book/adding_a_paper.md names files that do not exist: {missing}"


def test_the_page_names_every_file_of_the_worked_example():
    package = REPO / "handlib" / "papers" / "rcsf"
    files = {str(p.relative_to(REPO)) for p in package.iterdir()
             if p.suffix in (".py", ".yaml")}
    unnamed = sorted(files - named_files())
    assert not unnamed, f"the RCSF package has files the page does not walk through: {unnamed}"


def test_the_folder_the_page_describes_is_the_toy_papers():
    """The page's list of a paper's own files is exactly what the toy paper writes, which the
    claims register, the scoreboard and the registries then find (test_paper_folder.py)."""
    listed = set(re.findall(r"`handlib/papers/<paper>/([\w.]+)`", section("### In its folder")))
    assert listed == set(TOY_FILES)


def test_what_remains_outside_the_folder_is_outside_handlib():
    outside = section("### Outside it")
    for needed in ("`notebooks/<nn>_<paper>.ipynb`", "`_toc.yml`", "`book/references.bib`",
                   "`book/intro.md`"):
        assert needed in outside, needed
    assert "handlib/" not in outside, "a paper needs no edit inside handlib outside its folder"
    for edit_free in ("configs/scoreboard.yaml", "configs/claims.yaml", "configs/occlusion.yaml"):
        assert edit_free not in PAGE.read_text(), f"the page still names {edit_free}"


def test_the_registrations_the_page_describes_are_where_it_says():
    text = PAGE.read_text()
    rcsf = models.REGISTRY["rcsf"]
    assert rcsf == {"build": "handlib.papers.rcsf.models:rcsf", "codecs": ["heatmap2d"],
                    "codec": "heatmap2d", "loss": "rcsf"}
    assert ('"rcsf": {"build": "handlib.papers.rcsf.models:rcsf", "codecs": ["heatmap2d"],'
            in text)
    assert '"codec": "heatmap2d", "loss": "rcsf"}' in text
    assert '"rcsf": "handlib.papers.rcsf.losses:rcsf"' in text
    assert losses.module_of("rcsf") == "handlib.papers.rcsf.losses"
