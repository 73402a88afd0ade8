"""The five papers, one package each, and their reported numbers transcribed as data.

Each paper has a package here (``rcsf``, ``msff``, ``internet_plus``, ``resunet``,
``crossinfonet``) that holds all of that paper in one place, in the manner of annotated paper
implementations: its models, its losses, its study (which runs, the tables, figures and claim
inputs of its chapter), its profiles (``profiles.yaml``: the runs under each profile) and its
transcription (``paper.yaml``). Shared pieces (backbones, layers, codecs, metrics, the engine and
the study machinery) live in the core of ``handlib``. The book's page "Adding a paper" walks
through the files a new paper needs.

A paper is its folder: the book finds the papers here (:data:`PAPERS`, every package with a
``paper.yaml``), and each folder says where the book places its paper, so adding one edits no
list elsewhere in ``handlib``:

- ``paper.yaml`` ``book`` (:func:`book`): the short name the paper goes by, its chapter's
  notebook (whose name sets the book's order), the headline tables the claims chapter leads
  with, and its entry in the occlusion benchmark (``handlib.occlusion``); ``citation_key`` is
  its entry in ``book/references.bib``;
- ``__init__.py`` ``MODELS`` and ``LOSSES``: the models and losses the paper adds to the
  registries (``handlib.models``, ``handlib.losses``, through :func:`registry`).

This module reads the transcriptions. ``paper.yaml`` holds the paper's bibliographic record,
its stated training settings (each with the section it comes from), every numeric table keyed by
its number in the paper, and the claims those tables support.

Table layout in YAML::

    "2":
      caption: ...             # as printed
      units: mm                # one string, or a mapping column -> unit
      index_name: Method       # or index_names: [Finger, Joint] with rows nested two levels deep
      columns: [ICVL, NYU]     # or lists [group, name] with column_names: [Dataset, Metric]
      rows: {DeepPrior: [10.4, 19.73]}
      notes: how garbled extraction was resolved, what the rows mean

Cells: a number; ``"-"`` where the paper prints a dash; ``null`` where the paper's cell is empty;
any other string is text (e.g. an "Input" column). Dashes and empty cells load as NaN.

Claims are data, never prose with numbers in it: ``{id, text, table, metric, better, subject,
reference, column, testable_on, why}`` plus ``within`` (outer row level) for tables with
two-level rows; ``text`` is a template over ``{subject}``, ``{reference}``, ``{column}`` and
``{within}``, and :func:`format_claim` appends the paper's values read from the table. ``reference`` may be a list of rows ("beats each of them"); ``testable_on`` is
``real`` (the real quantity is measured here: real data or published prediction files, or a
data-free measurement such as a parameter count), ``synthetic`` (only on the synthetic
stand-in here; on the real dataset with the ``paper`` profile when a user has it),
``paper_table`` (no data here: the verdict reads the paper's own printed table, a check of its
text against its numbers, which can fail) or ``not_here``. ``reference: null`` makes a claim about the subject's own value ("reaches 0.999").

A claim its chapter tests declares how in ``test``: what is compared (``compare: runs``, the
runs behind a table's rows or study groups; ``contrast``, two scores of one run; ``measured``,
values a chapter measures without prediction records), on which of the paper's ``datasets``, by
which score, against which floor and noise; :func:`claims` checks its fields (and the
``composites`` built from claims), ``handlib.claims`` (which documents them) evaluates it. A
``not_here`` claim has none.

A claim the paper makes without a printed number (about a figure whose values are not
transcribed, or in its prose with no evidence at all) has ``table: null`` and ``source`` (where
it is made: "Fig. 5", "Introduction, contribution 2"); its subject, references and column are
then the labels the chapter scores it by, and its paper values are NaN. For such claims
``better`` is the direction the claim asserts ("fingertips have a *higher* error" is ``better:
higher``).

``better: similar`` is a claim of equivalence ("can equivalently replace"): the subject's value
is within ``tolerance`` (a fraction of the reference's) of the reference's; its text may name
``{tolerance_percent}``. It says who set that tolerance (:func:`check_tolerance`):
``tolerance_from: {source: paper, why: ...}`` where the paper states it, ``{source: ours, why:
...}`` where the book chose it, which, chosen with the paper's own gap in view, can only confirm
it: such a claim's verdict is inconclusive (``handlib.report.claim_verdict``).

Length: this is the one reader of ``paper.yaml`` (the paper registry, tables, settings, claims
and the checks of their declarations), kept together so that the schema lives in one place.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

TESTABLE_ON: tuple[str, ...] = ("real", "synthetic", "paper_table", "not_here")
#: What a claim's ``test`` compares, and the rules of its ``floor`` (``handlib.claims``).
TEST_COMPARES: tuple[str, ...] = ("runs", "contrast", "measured")
NOISE_RULES: tuple[str, ...] = ("relative", "absolute", "measured")
FLOOR_RULES: tuple[str, ...] = ("fixed", "record")
DASHES = ("-", "—", "–")  # hyphen, em dash, en dash as printed
#: What a paper's ``book`` block must say (``occlusion``, its benchmark entry, is optional).
BOOK_KEYS: tuple[str, ...] = ("name", "notebook", "headline_tables")


@lru_cache(maxsize=None)
def _load_cached(paper: str) -> dict:
    text = (resources.files("handlib") / "papers" / paper / "paper.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _book_block(paper: str) -> dict:
    """The ``book`` block of ``paper``'s paper.yaml, checked to say :data:`BOOK_KEYS`."""
    block = _load_cached(paper).get("book") or {}
    missing = [key for key in BOOK_KEYS if key not in block]
    if missing:
        raise ValueError(f"handlib/papers/{paper}/paper.yaml: its `book` block lacks "
                         f"{', '.join(missing)} (it says where the book places the paper: "
                         f"{', '.join(BOOK_KEYS)}, and optionally its `occlusion` entry)")
    return block


def _discover() -> tuple[str, ...]:
    """The paper packages: the folders here with a ``paper.yaml``, in the book's order (by the
    name of their chapter's notebook, ``10_rcsf`` before ``11_msff``)."""
    folder = resources.files("handlib") / "papers"
    found = [entry.name for entry in folder.iterdir() if (entry / "paper.yaml").is_file()]
    return tuple(sorted(found, key=lambda paper: _book_block(paper)["notebook"]))


#: The papers of the book, in its order: every package of ``handlib/papers/`` with a paper.yaml.
PAPERS: tuple[str, ...] = _discover()


def _check_paper(paper: str) -> None:
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; valid papers are {', '.join(PAPERS)}")


def book(paper: str) -> dict:
    """Where the book places ``paper`` (its paper.yaml ``book`` block, a copy): ``name`` (the
    short name it goes by), ``notebook`` (its chapter, ``notebooks/<notebook>.ipynb``),
    ``headline_tables`` (the tables its section of the claims chapter leads with) and, for a
    paper in the occlusion benchmark, ``occlusion`` (``handlib.occlusion``)."""
    _check_paper(paper)
    return copy.deepcopy(_book_block(paper))


def registry(core: dict[str, Any], attribute: str) -> dict[str, Any]:
    """A registry of the book: the ``core`` entries and every paper package's own, the dict
    named ``attribute`` in its ``__init__.py`` (``MODELS``, ``LOSSES``), in the book's order.

    Importing a paper package runs only its ``__init__.py``, which holds plain data, so the
    registry stays cheap to build. A name registered twice is refused, naming both places.
    """
    merged, owner = dict(core), dict.fromkeys(core, "the core registry")
    for paper in PAPERS:
        package = f"{__name__}.{paper}"
        for name, entry in getattr(importlib.import_module(package), attribute, {}).items():
            if name in merged:
                raise ValueError(f"{attribute}: {name!r} is registered twice, by {owner[name]} "
                                 f"and by {package}; give one of them another name")
            merged[name], owner[name] = entry, package
    return merged


def load(paper: str) -> dict:
    """The whole transcribed record of ``paper`` (a deep copy; safe to modify)."""
    _check_paper(paper)
    return copy.deepcopy(_load_cached(paper))


def table_ids(paper: str) -> list[str]:
    """The paper's table numbers, in the paper's order."""
    _check_paper(paper)
    return list(_load_cached(paper)["tables"])


def _cell(value: Any) -> Any:
    """A YAML cell as a DataFrame cell: dashes and empty cells become NaN."""
    if value is None or value in DASHES:
        return np.nan
    return value


def _flatten_rows(rows: dict, depth: int) -> tuple[list, list[list]]:
    """Row labels (tuples when ``depth`` > 1) and value lists of a possibly nested row mapping."""
    if depth == 1:
        return list(rows), list(rows.values())
    labels, values = [], []
    for outer, inner in rows.items():
        inner_labels, inner_values = _flatten_rows(inner, depth - 1)
        for label, row in zip(inner_labels, inner_values):
            labels.append((outer, *label) if isinstance(label, tuple) else (outer, label))
            values.append(row)
    return labels, values


def _frame(spec: dict) -> pd.DataFrame:
    index_names = spec.get("index_names") or [spec.get("index_name")]
    labels, values = _flatten_rows(spec["rows"], len(index_names))
    columns = spec["columns"]
    for label, row in zip(labels, values):
        if len(row) != len(columns):
            raise ValueError(f"row {label!r} has {len(row)} cells but there are {len(columns)} columns")
    if len(index_names) > 1:
        index = pd.MultiIndex.from_tuples(labels, names=index_names)
    else:
        index = pd.Index(labels, name=index_names[0])
    if columns and isinstance(columns[0], list):
        column_index = pd.MultiIndex.from_tuples([tuple(c) for c in columns],
                                                 names=spec.get("column_names"))
    else:
        column_index = pd.Index(columns, name=spec.get("column_name"))
    frame = pd.DataFrame([[_cell(v) for v in row] for row in values], index=index,
                         columns=column_index)
    for column in frame.columns:  # numeric columns as float, text columns stay text
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted.astype(float)
    return frame


def table(paper: str, table_id: str | int) -> pd.DataFrame:
    """Table ``table_id`` of ``paper`` as printed: rows and columns named as in the paper.

    Dashes and empty cells are NaN. ``attrs`` holds ``paper``, ``source`` ("Table N"),
    ``caption``, ``units``, ``metric``, ``better`` and ``notes`` where the paper states them.
    """
    _check_paper(paper)
    tables = _load_cached(paper)["tables"]
    key = str(table_id)
    if key not in tables:
        raise ValueError(f"{paper} has no table {key!r}; its tables are {', '.join(tables)}")
    spec = tables[key]
    frame = _frame(spec)
    frame.attrs = {
        "paper": paper,
        "source": spec.get("source", f"Table {key}"),
        **{k: spec[k] for k in ("caption", "units", "metric", "better", "notes") if k in spec},
    }
    return frame


def settings(paper: str, with_sources: bool = False) -> dict:
    """The paper's stated training settings: name -> value.

    With ``with_sources``, name -> ``{value, section[, note]}`` (where in the paper it is stated).
    """
    _check_paper(paper)
    stated = load(paper)["settings"]
    return stated if with_sources else {name: entry["value"] for name, entry in stated.items()}


def claims(paper: str) -> list[dict]:
    """The paper's claims (each with ``paper`` added), in the order the YAML lists them; a
    malformed ``test`` is a clear error (:func:`check_test`)."""
    _check_paper(paper)
    found = [{"paper": paper, **claim} for claim in load(paper).get("claims", [])]
    for claim in found:
        check_test(claim, _load_cached(paper).get("datasets", []))
        check_tolerance(claim)
    check_composites(paper, {c["id"] for c in found}, load(paper).get("composites", []))
    return found


def _score_problems(spec: Any, what: str) -> list[str]:
    return [] if isinstance(spec, dict) and isinstance(spec.get("name"), str) else [
        f"{what} must be {{name: SCORER, ...its parameters}}"]


def check_test(claim: dict, datasets: list[str]) -> None:
    """Check a claim's ``test`` block (if any) against the fields of its kind (``handlib.claims``):
    ``runs`` as ``{table: N}`` or ``{groups: [...]}``, ``dataset`` one of the paper's
    ``datasets``; for ``compare: runs`` a ``score`` and optionally a ``floor``, for ``compare:
    contrast`` the ``run`` and one score per label of the claim in ``scores``, for ``compare:
    measured`` a ``measure`` and a ``noise`` rule (``runs`` and ``dataset`` optional, and
    ``hardware: paper`` for a speed set against the paper's own); an ``unusable`` rule with its
    score."""
    test = claim.get("test")
    if test is None:
        return
    problems = []
    if claim["testable_on"] == "not_here":
        problems.append("a claim marked not_here declares no test")
    measured = test.get("compare") == "measured"
    runs = test.get("runs")
    if not (isinstance(runs, dict) and len(runs) == 1 and ("table" in runs or "groups" in runs)
            or measured and runs is None):
        problems.append("runs must be {table: N} or {groups: [GROUP, ...]}")
    if test.get("dataset") not in datasets and not (measured and "dataset" not in test):
        problems.append(f"dataset {test.get('dataset')!r} is not one of the paper's datasets "
                        f"({', '.join(datasets)})")
    if test.get("compare") == "runs":
        problems += _score_problems(test.get("score"), "score")
        floor = test.get("floor")
        if floor is not None and not (isinstance(floor, dict) and floor.get("rule") in FLOOR_RULES
                                      and (floor["rule"] != "fixed" or "name" in floor)):
            problems.append(f"floor must be {{rule: fixed, name: NAME}} or {{rule: record}}, "
                            f"got {floor!r}")
        elif floor is not None and "score" in floor:
            problems += _score_problems(floor["score"], "floor.score")
    elif test.get("compare") == "contrast":
        labels = [claim["subject"], *claim_references(claim)]
        scores = test.get("scores") or {}
        if list(scores) != labels:
            problems.append(f"scores must give one score for each of {labels}, in that order")
        for label, spec in scores.items():
            problems += _score_problems(spec, f"scores[{label!r}]")
        if not isinstance(test.get("run"), str):
            problems.append("run must name the label of the one run compared")
        if "floor" in test:
            problems.append("a contrast has no floor")
    elif measured:
        problems += _score_problems(test.get("measure"), "measure")
        noise = test.get("noise")
        if not (isinstance(noise, dict) and noise.get("rule") in NOISE_RULES
                and (noise["rule"] == "measured" or isinstance(noise.get("value"), (int, float)))):
            problems.append(f"noise must be {{rule: relative|absolute, value: V}} or "
                            f"{{rule: measured}}, got {noise!r}")
        if "floor" in test or "split" in test:
            problems.append("a measurement has no floor and no split")
        if test.get("hardware", "ours") not in ("ours", "paper"):
            problems.append(f"hardware must be ours (both values measured here) or paper (ours "
                            f"against the paper's printed measurement), got {test['hardware']!r}")
    else:
        problems.append(f"compare {test.get('compare')!r} is not one of "
                        f"{', '.join(TEST_COMPARES)}")
    unusable = test.get("unusable")
    if unusable is not None:
        if not (isinstance(unusable, dict) and unusable.get("rule") == "no_learning"):
            problems.append(f"unusable must be {{rule: no_learning, score: {{...}}}}, "
                            f"got {unusable!r}")
        else:
            problems += _score_problems(unusable.get("score"), "unusable.score")
            if "dataset" in unusable and unusable["dataset"] not in datasets:
                problems.append(f"unusable.dataset {unusable['dataset']!r} is not one of the "
                                f"paper's datasets ({', '.join(datasets)})")
        if measured and "dataset" not in test and "dataset" not in unusable:
            problems.append("a measurement's unusable rule needs a dataset")
    if "split" in test and not isinstance(test["split"], str):
        problems.append("split must name a split")
    if problems:
        raise ValueError(f"{claim.get('paper', '')} claim {claim['id']!r}: test: "
                         + "; ".join(problems))


def check_composites(paper: str, claim_ids: set[str], composites: list[dict]) -> None:
    """Check ``paper.yaml``'s ``composites`` (``handlib.claims.composite_verdicts``): each an
    ``item`` with ``all_of: [[claim, verdict], ...]`` or ``differs: [claim, claim]`` naming the
    paper's claims."""
    for item in composites:
        parts = ([cid for cid, _ in item.get("all_of", [])] if "all_of" in item
                 else item.get("differs", []))
        if not isinstance(item.get("item"), str) or not parts:
            raise ValueError(f"{paper}: a composite needs `item` and `all_of` or `differs`, got "
                             f"{item!r}")
        unknown = [cid for cid in parts if cid not in claim_ids]
        if unknown:
            raise ValueError(f"{paper}: composite {item['item']!r} names {unknown}, which are not "
                             "claims of the paper")
        if "differs" in item and len(parts) != 2:
            raise ValueError(f"{paper}: composite {item['item']!r}: differs names two claims")


def _label(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check_tolerance(claim: dict) -> None:
    """An equivalence claim (``better: similar``) has a ``tolerance`` and says who set it
    (``tolerance_from: {source: paper|ours, why: ...}``, see the module doc): a clear error
    otherwise."""
    if claim.get("better") != "similar":
        return
    source = claim.get("tolerance_from")
    if not (isinstance(claim.get("tolerance"), (int, float)) and isinstance(source, dict)
            and source.get("source") in ("paper", "ours") and isinstance(source.get("why"), str)):
        raise ValueError(f"{claim.get('paper', '')} claim {claim['id']!r}: an equivalence claim "
                         "(better: similar) needs a tolerance and tolerance_from: {source: "
                         "paper|ours, why: ...} saying who set it; got tolerance "
                         f"{claim.get('tolerance')!r}, tolerance_from {source!r}")


def claim(paper: str, claim_id: str) -> dict:
    """The claim ``claim_id`` of ``paper`` (a clear error naming the paper's claims otherwise)."""
    found = {c["id"]: c for c in claims(paper)}
    if claim_id not in found:
        raise ValueError(f"{paper} has no claim {claim_id!r}; its claims are {', '.join(found)}")
    return found[claim_id]


def claim_references(claim: dict) -> list:
    """The claim's reference labels as a list (empty for a claim about its subject alone)."""
    reference = claim.get("reference")
    if reference is None:
        return []
    return [_label(r) for r in reference] if isinstance(reference, list) else [_label(reference)]


def claim_labels(claim: dict) -> dict:
    """The table labels a claim names: ``subject``, ``references`` (list, empty for a claim about
    the subject's own value), ``column`` and ``within`` (None for single-level rows); YAML lists
    that name a two-level label become tuples."""
    within = claim.get("within")
    return {"subject": _label(claim["subject"]), "references": claim_references(claim),
            "column": _label(claim["column"]), "within": None if within is None else _label(within)}


def label_text(label: Any) -> str:
    """A row or column label as text (two-level labels joined by a space)."""
    return " ".join(map(str, label)) if isinstance(label, tuple) else str(label)


def claim_values(claim: dict, frame: pd.DataFrame | None = None) -> dict:
    """The paper's numbers behind ``claim``: subject value, and the strongest reference.

    ``frame`` defaults to the claim's table; with ``within`` the claim compares rows inside that
    outer row level (e.g. the "RHD" block of a table indexed by dataset and model). For a list of
    references the strongest is the best of them by ``claim["better"]`` (the one the subject has
    to beat). Returns ``{subject, subject_value, reference, reference_value}``.
    """
    if claim.get("table") is None:  # no printed number behind the claim
        return {"subject": _label(claim["subject"]), "subject_value": math.nan,
                "reference": next(iter(claim_references(claim)), None), "reference_value": math.nan}
    if frame is None:
        frame = table(claim["paper"], claim["table"])
    if claim.get("within") is not None:
        frame = frame.loc[_label(claim["within"])]
    column = frame[_label(claim["column"])]
    ref_values = {r: float(column.loc[r]) for r in claim_references(claim)}
    known = {r: v for r, v in ref_values.items() if not math.isnan(v)}
    pick = max if claim["better"] == "higher" else min
    reference = pick(known, key=known.get) if known else next(iter(ref_values), None)
    return {
        "subject": _label(claim["subject"]),
        "subject_value": float(column.loc[_label(claim["subject"])]),
        "reference": reference,
        "reference_value": ref_values.get(reference, math.nan),
    }


def claim_sentence(claim: dict) -> str:
    """The claim's text template filled with row, column and group names (no numbers)."""
    return claim["text"].format(
        subject=label_text(_label(claim["subject"])),
        reference=", ".join(label_text(r) for r in claim_references(claim)),
        column=label_text(_label(claim["column"])),
        within=label_text(_label(claim.get("within", ""))),
        tolerance_percent=f"{100 * claim.get('tolerance', 0):g}%",
    )


def format_claim(claim: dict, digits: int | None = None) -> str:
    """The claim's sentence with the paper's numbers, e.g. "A beats B at PCK@0.02: 0.66 vs 0.60".

    Numbers are printed as transcribed (``digits`` rounds them). For a list of references the
    sentence names all of them and the numbers compare with the strongest one, named in brackets.
    """
    if claim.get("table") is None:
        return f"{claim_sentence(claim)} ({claim_source(claim)}; no number printed)"
    values = claim_values(claim)

    def number(x: float) -> str:
        return f"{x:.{digits}f}" if digits is not None else f"{x:g}"

    if values["reference"] is None:  # a claim about the subject's own value
        return f"{claim_sentence(claim)}: {number(values['subject_value'])}"
    against = f" ({label_text(values['reference'])})" if isinstance(claim["reference"], list) else ""
    return (f"{claim_sentence(claim)}: {number(values['subject_value'])} vs "
            f"{number(values['reference_value'])}{against}")


def claim_source(claim: dict) -> str:
    """Where the paper makes the claim: "Table N", or its ``source`` for a claim without one."""
    if claim.get("table") is not None:
        return f"Table {claim['table']}"
    if not claim.get("source"):
        raise ValueError(f"claim {claim.get('id')!r} has no table: give it a `source` saying "
                         "where the paper makes it (e.g. \"Fig. 5\")")
    return claim["source"]


def claims_table(paper: str) -> pd.DataFrame:
    """One row per claim: id, the sentence with the paper's numbers, source table, testability."""
    rows = [
        {
            "claim": claim["id"],
            "paper says": format_claim(claim),
            "source": claim_source(claim),
            "testable on": claim["testable_on"].replace("_", " "),
            "why": claim["why"],
        }
        for claim in claims(paper)
    ]
    return pd.DataFrame(rows).set_index("claim")


# ----------------------------------------------------------------------------- command line


def _json_ready(frame: pd.DataFrame) -> dict:
    """A table as JSON-friendly data: index/columns labels and NaN as null."""
    def label(x: Any) -> Any:
        return list(x) if isinstance(x, tuple) else x

    return {
        **{k: v for k, v in frame.attrs.items()},
        "index_names": list(frame.index.names),
        "columns": [label(c) for c in frame.columns],
        "rows": [
            {"label": label(idx),
             "values": [None if isinstance(v, float) and math.isnan(v) else v for v in row]}
            for idx, row in zip(frame.index, frame.itertuples(index=False))
        ],
    }


def _run_papers(args: argparse.Namespace) -> int:
    names = [args.paper] if args.paper else list(PAPERS)
    for name in names:
        _check_paper(name)
    if args.json:
        payload = {
            name: {
                **{k: load(name)[k] for k in ("title", "authors", "venue", "year", "citation_key")},
                "settings": settings(name, with_sources=True),
                "tables": {t: _json_ready(table(name, t)) for t in table_ids(name)},
                "claims": claims(name),
            }
            for name in names
        }
        print(json.dumps(payload, indent=1, ensure_ascii=False))
        return 0
    with pd.option_context("display.width", 160, "display.max_columns", 40,
                           "display.max_rows", 200):
        for name in names:
            record = _load_cached(name)
            print(f"== {name}: {record['title']} ({record['venue']}, {record['year']})")
            for table_id in table_ids(name):
                frame = table(name, table_id)
                units = frame.attrs.get("units")
                print(f"\n-- Table {table_id}. {frame.attrs.get('caption', '')}")
                if isinstance(units, str):
                    print(f"   units: {units}")
                print(frame.to_string(na_rep="-"))
            print()
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """``handlib papers [--paper NAME] [--json]``: print the transcribed tables."""
    parser = subparsers.add_parser(
        "papers", help="print the papers' transcribed tables",
        description="Print every table transcribed from the five papers (the 'paper' values).",
    )
    parser.add_argument("--paper", metavar="NAME",
                        help=f"only this paper (one of: {', '.join(PAPERS)})")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.set_defaults(func=_run_papers)
