"""Claims tested from their declarations: one evaluator for every chapter.

Each claim a chapter tests carries, in its paper's ``paper.yaml``, a ``test`` block saying how
it is tested: what is compared, on which of the paper's datasets, by which score, and the floor
it is judged against. This module turns that block into the inputs of
``handlib.report.claim_verdict`` (:func:`evaluate`); nothing here finds a claim by its id, its
sentence or a column label. ``handlib.papers.claims`` checks the fields when it loads them
(``handlib.papers.check_test``). Two kinds of comparison::

    test:                          # runs: models compared with each other
      compare: runs
      runs: {table: "3"}           # the runs behind Table 3's rows (study.tables), or
                                   # {groups: [main, modules]}: those study groups together
      dataset: RHD                 # the paper's dataset (Study.dataset_for)
      score: {name: pck, threshold: 0.02}
      floor: {rule: fixed, name: pck}

    test:                          # contrast: two scores of ONE run
      compare: contrast
      runs: {groups: [main]}
      run: InterNet(2020)          # the label of that run in ``runs``
      dataset: InterHand2.6M
      scores:                      # one score per label of the claim (subject, reference)
        occluded joints: {name: joint_set_error, joints: occluded, frames: all, measure: 3d}
        visible joints: {name: joint_set_error, joints: visible, frames: all, measure: 3d}

**Datasets.** ``dataset`` is the name the paper uses; the study's :meth:`Study.dataset_for`
gives the profile's dataset compared with it (a synthetic stand-in on the cheap profiles). When
it is absent from ``data_root`` the claim is not run: its inputs say which data was missing
(``handlib.study.absent_inputs``) and its verdict is "not run".

**Scores.** ``score`` (or each of ``scores``) names a *scorer* and gives its parameters, all of
them: a scorer is ``scorer(target, **params)`` returning ``(score, note)``, where ``score`` maps
a prediction record to a number and ``note`` is appended to the data column of the verdict
("fingertips, all frames"; a contrast's labels already name its two scores, so it shows no
note); it returns ``None`` when the claim has no such score under these parameters (the claim
is then left out). The scorers shared by several chapters are
:data:`SCORERS`; a chapter registers its own (a dict name -> scorer in its study module) only
for what is truly its own (RCSF's PCK at a threshold). A :class:`Target` tells a scorer what is
compared: the study, the claim, the profile's dataset and the runs by label.

**Re-tests.** :func:`evaluate`'s ``overrides`` replace score parameters in every claim that
declares them, e.g. ``{"threshold": 0.2}`` re-tests RCSF's claims at PCK@0.2 and ``{"measure":
"2d"}`` MS-FF's by the 2D error; the paper's values in the verdict stay those it printed.

**Floor and noise.** ``floor`` (optional) is the value every compared score must beat for the
comparison to count (``report.claim_verdict``): ``{rule: fixed, name: NAME}`` a number the
chapter registers (``FLOORS``), or ``{rule: record}`` the claim's score of the chapter's floor
record on that dataset (a prediction that ignores the input, such as the constant mean pose;
``{rule: record, score: {...}}`` scores it by another score). A contrast has no floor. The noise
is the study's rule for each kind (``handlib.study.claim_inputs`` for runs: the larger of the
seed spread and a paired bootstrap over the test set; ``handlib.study.contrast_inputs`` for a
contrast), so that it changes in one place for every chapter.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlib import papers, study3d
from handlib.study import Record, Study, absent_inputs, claim_inputs, contrast_inputs

Score = Callable[[Record], float]


@dataclass(frozen=True)
class Target:
    """What a scorer scores for: the ``study``, the ``claim``, the profile's ``dataset`` it is
    tested on and the compared runs, ``runs`` (label -> run name)."""

    study: Study
    claim: dict
    dataset: str
    runs: dict


#: ``scorer(target, **params) -> (score, note)``, or ``None`` where it has no score.
Scorer = Callable[..., "tuple[Score, str] | None"]


# ----------------------------------------------------------------------------- shared scorers


def joint_set_error(target: Target, joints: str, frames: str, measure: str) -> tuple[Score, str]:
    """The InterNet family's error over a joint set and a frame set (``study3d.scorer``): MPJPE
    (mm) with ``measure: 3d``, the normalised 2D error with ``2d``."""
    note = f", {joints}, {frames} frames" + (", 2D error" if measure == "2d" else "")
    return study3d.scorer(target.study, joints, frames, measure), note


def protocol_error(target: Target, gt_scale: bool, gt_hand: bool, measure: str
                   ) -> tuple[Score, str]:
    """The EPE (mm) of every compared record under the GT S / GT H protocol of the claim's
    subject run (``study3d.epe_under``); with ``measure: 2d`` the protocols do not apply and the
    score is the 2D error of all joints (the ground truth's hand slot)."""
    if measure == "2d":
        return study3d.scorer(target.study, measure="2d"), ", 2D error"
    subject = target.runs[target.claim["subject"]]
    yes_no = {True: "Y", False: "N"}
    return (study3d.epe_under(target.study, subject, gt_scale, gt_hand),
            f", GT S = {yes_no[gt_scale]}, GT H = {yes_no[gt_hand]}")


#: The scorers every chapter may name.
SCORERS: dict[str, Scorer] = {"joint_set_error": joint_set_error,
                              "protocol_error": protocol_error}


# ----------------------------------------------------------------------------- the evaluator


def compared_runs(study: Study, selection: dict) -> dict:
    """Label -> run name of a test's ``runs``: the runs behind a table's rows (``{table: N}``)
    or several study groups together (``{groups: [...]}``, later groups' labels win)."""
    if "table" in selection:
        return study.group(selection["table"])
    groups = study.cfg["study"]["groups"]
    return {label: name for group in selection["groups"] for label, name in
            groups[group]["runs"].items()}


class Evaluator:
    """The scores of one chapter's declarations: its scorers (the shared :data:`SCORERS` and its
    own) and fixed floors, and the re-test ``overrides`` of score parameters."""

    def __init__(self, scorers: dict[str, Scorer] | None = None,
                 floors: dict[str, float] | None = None, overrides: dict | None = None):
        clash = sorted(set(scorers or {}) & set(SCORERS))
        if clash:
            raise ValueError(f"the chapter's scorers {clash} would shadow shared ones of the same "
                             "name (handlib.claims.SCORERS): rename them")
        self.scorers = {**SCORERS, **(scorers or {})}
        self.floors = floors or {}
        self.overrides = overrides or {}

    def score(self, target: Target, spec: dict) -> tuple[Score, str] | None:
        """The ``(score, note)`` of a declared score ``{name, **params}``, its parameters
        overridden by the re-test's where it declares them; ``None`` when it has none."""
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
        if name not in self.scorers:
            raise ValueError(f"claim {target.claim['id']!r} names the scorer {name!r}; the "
                             f"scorers are {', '.join(self.scorers)}")
        params.update({k: v for k, v in self.overrides.items() if k in params})
        return self.scorers[name](target, **params)

    def floor(self, target: Target, spec: dict | None, score: Score,
              floor_records: dict[str, Record]) -> float | None:
        """The floor a test declares (see the module doc), or ``None``."""
        if spec is None:
            return None
        if spec["rule"] == "fixed":
            if spec["name"] not in self.floors:
                raise ValueError(f"claim {target.claim['id']!r} names the floor "
                                 f"{spec['name']!r}; the chapter's floors are "
                                 f"{', '.join(self.floors) or 'none'}")
            return self.floors[spec["name"]]
        if target.dataset not in floor_records:
            return None
        if "score" in spec:
            score = self.score(target, spec["score"])[0]
        return float(score(floor_records[target.dataset]))

    def inputs(self, study: Study, claim: dict, floor_records: dict[str, Record],
               note: str) -> dict | None:
        """``report.claim_verdict`` inputs of one declared claim (``None``: left out)."""
        test = claim["test"]
        runs = compared_runs(study, test["runs"])
        dataset = study.dataset_for(test["dataset"])
        if dataset is None:
            return absent_inputs(study, [claim["subject"], *papers.claim_references(claim)])
        target = Target(study, claim, dataset, runs)
        if test["compare"] == "contrast":
            scores = {label: self.score(target, spec) for label, spec in test["scores"].items()}
            if any(s is None for s in scores.values()):
                return None
            return contrast_inputs(study, claim, dataset, runs[test["run"]],
                                   {label: s[0] for label, s in scores.items()}, note=note)
        scored = self.score(target, test["score"])
        if scored is None:
            return None
        score, own_note = scored
        return claim_inputs(study, claim, dataset, score, group=runs, note=own_note + note,
                            floor=self.floor(target, test.get("floor"), score, floor_records))


def evaluate(study: Study, claims: list[dict], scorers: dict[str, Scorer] | None = None, *,
             floors: dict[str, float] | None = None,
             floor_records: dict[str, Record] | None = None, overrides: dict | None = None,
             note: str = "") -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs of every claim in ``claims`` (a paper's,
    ``handlib.papers.claims``) that declares a ``test``, in their order.

    ``scorers`` and ``floors`` are the chapter's own (name -> scorer, name -> number);
    ``floor_records`` (dataset -> record) the chapter's floor predictions for ``{rule: record}``
    floors (a claim on a dataset without one has no floor); ``overrides`` re-test every claim
    with those score parameters, and ``note`` (e.g. ", at PCK@0.2") then says so in each
    verdict's data column. A claim whose scorer has no score under the parameters gets no
    entry."""
    evaluator = Evaluator(scorers, floors, overrides)
    found: dict[str, dict] = {}
    for claim in claims:
        if "test" not in claim:
            continue
        inputs = evaluator.inputs(study, claim, floor_records or {}, note)
        if inputs is not None:
            found[claim["id"]] = inputs
    return found
