"""The book's scoreboard: for each paper, how much of it the book regenerates, how its claims
fare, on which data and which profile, with links to the chapter sections.

Every number is counted from files, like the rest of the book:

- the paper's tables and figures from its ``artefacts`` list in ``paper.yaml`` (each numbered
  table and figure, whether the chapter regenerates it fully, partly or not, and the heading of
  the chapter section that does; ``tests/test_artefacts.py`` checks each heading exists);
- the verdicts from the ``verdicts.json`` each chapter writes under the profile it ran
  (``handlib.report.save_verdicts``), and the occlusion benchmark's from its own;
- the data a verdict rests on from its row of the verdict table (:func:`data_of`): a synthetic
  stand-in, the authors' published predictions, a real dataset, a measurement that needs no
  data, or the paper's own printed tables.

The papers are found in their folders (``handlib.papers.PAPERS``), each paper.yaml's ``book``
block giving its short name and chapter: a new paper joins the scoreboard with no edit here.
A chapter not yet run on a profile has no verdict file: its row says so, and nothing is counted.
"""
from __future__ import annotations

import json
import re

import pandas as pd

from handlib import occlusion, papers, report
from handlib.paths import REPO_ROOT
from handlib.profiles import load_profile

CHAPTER = "scoreboard"
#: How much of a table or figure the chapter regenerates (paper.yaml ``artefacts``).
REGENERATED = ("yes", "partial", "no")
#: What a verdict rests on (:func:`data_of`), in the order the scoreboard counts them.
#: The heading of each chapter's verdict section, and of the benchmark's claims section.
VERDICT_SECTION = "Verdicts on the paper's claims"
BENCHMARK_SECTION = "Each paper's occlusion claim on this benchmark"
DATA_KINDS = ("synthetic stand-in", "real published predictions", "real dataset",
              "measured here (no data)", "the paper's own tables", "not tested here")


def load_config(profile: str) -> dict:
    """The scoreboard's settings under ``profile`` (``configs/scoreboard.yaml``) and its papers,
    found in their folders: ``chapters``, paper -> its chapter's notebook, in the book's order
    (``handlib.papers.PAPERS``, paper.yaml ``book``)."""
    cfg = load_profile(CHAPTER, profile)
    cfg["chapters"] = {paper: papers.book(paper)["notebook"] for paper in papers.PAPERS}
    return cfg


def section_link(notebook: str, heading: str | None) -> str | None:
    """The address of a chapter section on the built book: ``<notebook>.html#<id>``, with the
    id Sphinx gives the heading (docutils' ``make_id``)."""
    from docutils.nodes import make_id  # Sphinx's (the book extra), not handlib's own

    return None if heading is None else f"{notebook}.html#{make_id(heading)}"


def artefacts(paper: str) -> list[dict]:
    """The paper's tables and figures (``paper.yaml`` ``artefacts``), each checked."""
    found = papers.load(paper).get("artefacts")
    if not found:
        raise ValueError(f"{paper}'s paper.yaml lists no `artefacts`: list every numbered "
                         "table and figure with `regenerated` (yes, partial, no)")
    for entry in found:
        if entry.get("regenerated") not in REGENERATED:
            raise ValueError(f"{paper} artefact {entry.get('id')!r}: `regenerated` must be one "
                             f"of {', '.join(REGENERATED)}, got {entry.get('regenerated')!r}")
    return found


def headings(notebook: str) -> set[str]:
    """The text of every markdown heading of ``notebooks/<notebook>.ipynb``: the sections a
    link can name."""
    path = REPO_ROOT / "notebooks" / f"{notebook}.ipynb"
    if not path.is_file():
        raise ValueError(f"the scoreboard names notebook {notebook!r}, but {path} does not exist")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return {line.lstrip("#").strip() for cell in cells if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if re.match(r"#+ ", line)}


def artefact_table(paper: str, notebook: str) -> pd.DataFrame:
    """One row per table and figure of the paper: what it shows, whether the book regenerates
    it, the note and a link to the section (which must be a heading of ``notebook``)."""
    rows, sections = [], headings(notebook)
    for entry in artefacts(paper):
        if entry.get("section") is not None and entry["section"] not in sections:
            raise ValueError(f"{paper} artefact {entry['id']!r} names section "
                             f"{entry['section']!r}, which is no heading of "
                             f"notebooks/{notebook}.ipynb: correct `section` in its paper.yaml")
        link = section_link(notebook, entry.get("section"))
        rows.append({"artefact": entry["id"], "regenerated": entry["regenerated"],
                     "where": (f'<a href="{link}">{entry["section"]}</a>' if link else None),
                     "shows": entry["shows"], "note": entry.get("note")})
    return pd.DataFrame(rows).set_index("artefact")


def data_of(row: pd.Series) -> str:
    """What a verdict rests on (:data:`DATA_KINDS`), from its row of the verdict table: a
    synthetic stand-in, the authors' published prediction files, a real dataset (the ``paper``
    profile), a measurement that needs no data (a parameter count, a speed on this machine), the
    paper's own printed tables (a check of its text against its numbers), or nothing (not run,
    or not testable here)."""
    tested_on = str(row.get("tested on") or "")
    if row["run"] == report.NOT_RUN or not tested_on:
        return "not tested here"
    if row["testable on"] == "paper table":
        return "the paper's own tables"
    if "synthetic" in tested_on:
        return "synthetic stand-in"
    if "published predictions" in tested_on:
        return "real published predictions"
    if "(paper profile" in tested_on:
        return "real dataset"
    return "measured here (no data)"


def verdict_counts(verdicts: pd.DataFrame | None) -> dict[str, int | None]:
    """Counts of each verdict and of each kind of data behind them (None without verdicts)."""
    if verdicts is None:
        return {**{v: None for v in report.VERDICTS}, **{d: None for d in DATA_KINDS}}
    kinds = verdicts.apply(data_of, axis=1)
    return {**{v: int((verdicts["verdict"] == v).sum()) for v in report.VERDICTS},
            **{d: int((kinds == d).sum()) for d in DATA_KINDS}}


#: The scoreboard's two tables, a paper per row, each narrow enough for a laptop's window: how
#: its claims fare and how much of it is regenerated; what the verdicts rest on and where from.
SUMMARY_COLUMNS = ("claims", *report.VERDICTS, "occlusion benchmark", "tables and figures",
                   "regenerated", "partly")
EVIDENCE_COLUMNS = (*DATA_KINDS, "verdicts from")


def scoreboard(profile: str) -> pd.DataFrame:
    """One row per paper (its short name, linked to its chapter), in the book's order: its
    claims and how many hold, do not hold and are inconclusive on ``profile``, its tables and
    figures regenerated (fully, ``partly``, not), what data the verdicts rest on, where they
    come from, and the verdict of its occlusion claim on the book's benchmark."""
    cfg = load_config(profile)
    bench = report.load_verdicts(occlusion.EXPERIMENT, profile)
    bench_claims = {c["paper"]: c["id"] for c in occlusion.claims(occlusion.load_config(profile))}
    rows = []
    for paper, notebook in cfg["chapters"].items():
        listed = artefacts(paper)
        saved = report.load_verdicts(paper, profile)
        verdicts = saved["verdicts"] if saved else None
        regenerated = {level: sum(e["regenerated"] == level for e in listed)
                       for level in REGENERATED}
        claim_id = bench_claims.get(paper)
        rows.append({
            "paper": f'<a href="{notebook}.html">{papers.book(paper)["name"]}</a>',
            "claims": len(papers.claims(paper)),
            **verdict_counts(verdicts),
            "tables and figures": len(listed),
            "regenerated": regenerated["yes"], "partly": regenerated["partial"],
            "not regenerated": regenerated["no"],
            "verdicts from": (f'<a href="{section_link(notebook, VERDICT_SECTION)}">{profile}, '
                              f"commit {str(saved['git']['commit'])[:7]}</a>"
                              if saved else "not run"),
            "occlusion benchmark": (
                f'<a href="{section_link(cfg["benchmark"], BENCHMARK_SECTION)}">'
                f'{bench["verdicts"].loc[claim_id, "verdict"]}</a>'
                if bench and claim_id in bench["verdicts"].index else "not run"),
        })
    return pd.DataFrame(rows).set_index("paper")


def shown(board: pd.DataFrame, columns) -> "pd.io.formats.style.Styler":
    """``columns`` of the :func:`scoreboard` as the book shows them: ``report.styled``, in a
    table whose headers wrap and whose cells take no more room than their text (the book's CSS,
    ``table.scoreboard``), so that every paper's row fits a 1280 px window."""
    return report.styled(board[list(columns)]).set_table_attributes('class="scoreboard"')
