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

    test:                          # measured: one value per label, measured by the chapter
      compare: measured
      measure: {name: bench_fps, column: "1"}   # a measurement the chapter registers
      noise: {rule: relative, value: 0.05}      # declared before any number was seen

**Measurements.** ``compare: measured`` is for what no prediction record holds: sizes and speeds
from the chapter's bench, validation histories, published predictions, a paper's own printed
table. A *measurement* is ``measurement(target, **params)`` returning ``handlib.report.
claim_verdict`` inputs without their margin (``reproduced``, ``tested_on``, ``run``, optionally
``profile``, ``unusable``, ``margin``), or ``None`` when it has nothing to measure on this
profile (the claim is left out). Its noise is declared (``noise``): ``{rule: relative, value:
V}`` V times the first reference's value (timings), ``{rule: absolute, value: V}`` V in the
claim's units (a count: 0; a printed table: half its last digit), ``{rule: measured}`` whatever
the measurement found (a bootstrap; without one the verdict's default margin). ``hardware:
paper`` marks a measurement set against the paper's own printed speed: it is inconclusive,
naming both machines (the paper's from its ``settings.hardware``), since no machine here is the
paper's; a speed of two models measured here, in the same interleaved repeats, is ``hardware:
ours`` (the default). The chapter's
objects a measurement reads (its bench, its published evaluations) reach it as
``Target.inputs``. ``dataset`` is optional for a measurement.

**Splits.** ``split: NAME`` (default ``test``) scores the compared runs' records on another
split that the chapter predicts (ResUnet's hand-object frames): the chapter passes the study
holding that split's records in ``splits``, or the reason it has none (the claim is then not
run, with that reason).

**Unusable.** ``unusable: {rule: no_learning, score: {...}}`` marks the verdict inconclusive
while any compared run (a contrast's one ``run``; or those of ``runs``, on ``dataset``, when
given) is not below the floor record by that score on the test split by more than its interval
(the paired bootstrap of its score against the floor's, and its seed spread): for what a floor cannot
bound directly (another split, a subset of joints, a seed spread, a training curve), a model that
learnt nothing has nothing to compare.

**Resolution.** A score can ask for more than the models' output resolves: PCK at a threshold
finer than one cell of the heat maps a model predicts. A chapter registers a *resolution check*
beside such a scorer (``resolutions``: scorer name -> ``resolution(target, **params)``, called
with the scorer's parameters after the re-test's overrides, on a :class:`Target` whose ``runs``
are the ones the claim compares) that returns the reason, starting "below resolution:", or
``None`` when the score is resolvable. A ``runs`` or ``contrast`` test with such a reason is
inconclusive with it: it replaces the no-learning rule's reason, and ``report.claim_verdict``
judges ``unusable`` before the floor, so an unresolvable threshold never gets a floor verdict.

**Composites.** A checklist item that is a conjunction of claims is declared under
``composites`` in ``paper.yaml`` and judged from their verdicts (:func:`composite_verdicts`).

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from handlib import papers, report, study3d
from handlib.study import (Record, Study, absent_inputs, claim_inputs, contrast_inputs,
                           seed_spread)

Score = Callable[[Record], float]


@dataclass(frozen=True)
class Target:
    """What a scorer scores for: the ``study``, the ``claim``, the profile's ``dataset`` it is
    tested on and the compared runs, ``runs`` (label -> run name); ``inputs`` the chapter's
    objects a measurement reads (``bench``, ``evaluations``, ...)."""

    study: Study
    claim: dict
    dataset: str | None
    runs: dict
    inputs: dict = field(default_factory=dict)


#: ``scorer(target, **params) -> (score, note)``, or ``None`` where it has no score.
Scorer = Callable[..., "tuple[Score, str] | None"]
#: ``measurement(target, **params) -> verdict inputs`` (no margin), or ``None``.
Measurement = Callable[..., "dict | None"]
#: ``resolution(target, **params) -> "below resolution: ..."``, or ``None`` where resolvable.
Resolution = Callable[..., "str | None"]


# ----------------------------------------------------------------------------- shared scorers


def joint_set_error(target: Target, joints: str, frames: str, measure: str) -> tuple[Score, str]:
    """The InterNet family's error over a joint set and a frame set (``study3d.scorer``): MPJPE
    (mm) with ``measure: 3d``, the normalised 2D error with ``2d``."""
    note = f", {joints}, {frames} frames" + (", 2D error" if measure == "2d" else "")
    return study3d.scorer(target.study, joints, frames, measure), note


def protocol_error(target: Target, gt_scale: bool, gt_hand: bool, measure: str
                   ) -> tuple[Score, str]:
    """The EPE (mm) of every compared record under the GT S / GT H protocol of the claim's
    subject run (``study3d.epe_under``; GT S = N back-projects with the true root depth, and its
    note says so); with ``measure: 2d`` the protocols do not apply and the
    score is the 2D error of all joints (the ground truth's hand slot)."""
    if measure == "2d":
        return study3d.scorer(target.study, measure="2d"), ", 2D error"
    subject = target.runs[target.claim["subject"]]
    return (study3d.epe_under(target.study, subject, gt_scale, gt_hand),
            f", GT S = {study3d.GT_SCALE_TEXT[gt_scale]}, GT H = {'Y' if gt_hand else 'N'}")


#: The scorers every chapter may name.
SCORERS: dict[str, Scorer] = {"joint_set_error": joint_set_error,
                              "protocol_error": protocol_error}


# ----------------------------------------------------------------------------- the evaluator


def compared_runs(study: Study, selection: dict | None) -> dict:
    """Label -> run name of a test's ``runs``: the runs behind a table's rows (``{table: N}``)
    or several study groups together (``{groups: [...]}``, later groups' labels win); none
    without a selection (a measurement)."""
    if selection is None:
        return {}
    if "table" in selection:
        return study.group(selection["table"])
    groups = study.cfg["study"]["groups"]
    return {label: name for group in selection["groups"] for label, name in
            groups[group]["runs"].items()}


def claim_runs(target: Target) -> dict:
    """Label -> run name of the runs a claim's verdict compares: a contrast's one ``run`` (its
    labels name scores), otherwise the claim's subject and references among ``target.runs``."""
    test = target.claim["test"]
    if test["compare"] == "contrast":
        return {test["run"]: target.runs[test["run"]]}
    return {label: target.runs[label] for label in
            [target.claim["subject"], *papers.claim_references(target.claim)]}


class Evaluator:
    """The scores of one chapter's declarations: its scorers, their resolution checks and its
    measurements (the shared :data:`SCORERS` and its own), fixed floors, floor records, the
    studies of its other splits, the objects its measurements read, and the re-test
    ``overrides`` of score parameters."""

    def __init__(self, scorers: dict[str, Scorer] | None = None,
                 floors: dict[str, float] | None = None, overrides: dict | None = None, *,
                 measurements: dict[str, Measurement] | None = None,
                 resolutions: dict[str, Resolution] | None = None,
                 floor_records: dict[str, Record] | None = None,
                 splits: dict[str, Study | str] | None = None, inputs: dict | None = None):
        clash = sorted(set(scorers or {}) & set(SCORERS))
        if clash:
            raise ValueError(f"the chapter's scorers {clash} would shadow shared ones of the same "
                             "name (handlib.claims.SCORERS): rename them")
        self.scorers = {**SCORERS, **(scorers or {})}
        unmatched = sorted(set(resolutions or {}) - set(self.scorers))
        if unmatched:
            raise ValueError(f"the resolution checks {unmatched} name no scorer; the scorers are "
                             f"{', '.join(self.scorers)}")
        self.resolutions = resolutions or {}
        self.measurements = measurements or {}
        self.floors = floors or {}
        self.floor_records = floor_records or {}
        self.splits = splits or {}
        self.inputs_of_chapter = inputs or {}
        self.overrides = overrides or {}

    def parameters(self, target: Target, spec: dict) -> tuple[str, dict]:
        """The scorer name and parameters of a declared score ``{name, **params}``, its
        parameters overridden by the re-test's where it declares them."""
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
        if name not in self.scorers:
            raise ValueError(f"claim {target.claim['id']!r} names the scorer {name!r}; the "
                             f"scorers are {', '.join(self.scorers)}")
        params.update({k: v for k, v in self.overrides.items() if k in params})
        return name, params

    def score(self, target: Target, spec: dict) -> tuple[Score, str] | None:
        """The ``(score, note)`` of a declared score (:meth:`parameters`); ``None`` when it has
        none."""
        name, params = self.parameters(target, spec)
        return self.scorers[name](target, **params)

    def below_resolution(self, target: Target, specs: list[dict]) -> str | None:
        """Why the models' output cannot resolve one of the declared scores ``specs`` (the
        first reason a registered resolution check gives, see the module doc), or ``None``.
        The checks see the runs the claim compares (:func:`claim_runs`)."""
        compared = Target(target.study, target.claim, target.dataset, claim_runs(target),
                          target.inputs)
        for spec in specs:
            name, params = self.parameters(target, spec)
            if name in self.resolutions:
                reason = self.resolutions[name](compared, **params)
                if reason is not None:
                    return reason
        return None

    def floor(self, target: Target, spec: dict | None, score: Score
              ) -> tuple[float | None, Callable[[Record], float] | None]:
        """The floor a test declares (see the module doc) and each compared record's interval
        against it: for a floor record, twice the paired-bootstrap standard error of the
        record's score minus the floor record's; for a fixed number, twice the bootstrap
        standard error of the record's score. ``(None, None)`` without a floor."""
        if spec is None:
            return None, None
        if spec["rule"] == "fixed":
            if spec["name"] not in self.floors:
                raise ValueError(f"claim {target.claim['id']!r} names the floor "
                                 f"{spec['name']!r}; the chapter's floors are "
                                 f"{', '.join(self.floors) or 'none'}")
            return self.floors[spec["name"]], lambda record: report.paired_bootstrap_margin(
                score, record, record, reference_score=lambda rows: 0.0)
        if target.dataset not in self.floor_records:
            return None, None
        floor_record = self.floor_records[target.dataset]
        floor_score = self.score(target, spec["score"])[0] if "score" in spec else score
        return float(floor_score(floor_record)), lambda record: report.paired_bootstrap_margin(
            score, record, floor_record, reference_score=floor_score)

    def unusable(self, target: Target, spec: dict | None) -> str | None:
        """Why the claim's values cannot decide it (``unusable: {rule: no_learning, ...}``,
        see the module doc), or ``None``."""
        if spec is None:
            return None
        study = target.study
        dataset = study.dataset_for(spec["dataset"]) if "dataset" in spec else target.dataset
        if dataset not in self.floor_records:
            return None
        runs = compared_runs(study, spec["runs"]) if "runs" in spec else claim_runs(target)
        score, _ = self.score(Target(study, target.claim, dataset, runs, target.inputs),
                              spec["score"])
        floor_record = self.floor_records[dataset]
        floor = float(score(floor_record))
        for label, name in runs.items():
            records = study.of(dataset, name)
            if not records:
                continue
            errors = [score(p) for p in records]
            interval = max(report.paired_bootstrap_margin(score, records[0], floor_record),
                           seed_spread(errors) or 0.0)
            if not floor - float(np.mean(errors)) > interval:
                return (f"{papers.label_text(label)} ({float(np.mean(errors)):.3g}) is not "
                        f"below its floor (a prediction that ignores the input: {floor:.3g}) "
                        f"on {dataset}'s test split by more than its interval "
                        f"({interval:.3g}): it has not learnt enough to compare")
        return None

    def _split_study(self, study: Study, split: str) -> Study | str:
        """The study whose records are on ``split`` (the test split's is ``study``), or the
        reason this profile has none."""
        if split == "test":
            return study
        return self.splits.get(split, f"no {split} split on the {study.profile} profile")

    def _retested(self, test: dict) -> bool:
        """Whether a re-test's ``overrides`` apply to the test: every overridden parameter is
        one of its score parameters (a claim scored otherwise is left out of the re-test)."""
        if not self.overrides:
            return True
        specs = [test["score"]] if "score" in test else list(test.get("scores", {}).values())
        return bool(specs) and all(key in spec for spec in specs for key in self.overrides)

    def measured(self, target: Target, test: dict) -> dict | None:
        """Verdict inputs of a ``compare: measured`` test (the module doc), or ``None``."""
        spec = test["measure"]
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
        if name not in self.measurements:
            raise ValueError(f"claim {target.claim['id']!r} names the measurement {name!r}; "
                             f"the chapter's measurements are "
                             f"{', '.join(self.measurements) or 'none'}")
        found = self.measurements[name](target, **params)
        if found is None:
            return None
        noise = test["noise"]
        if noise["rule"] == "relative" and found.get("reproduced"):
            reference = found["reproduced"][papers.claim_references(target.claim)[0]]
            found = {**found, "margin": noise["value"] * abs(float(reference))}
        elif noise["rule"] == "absolute":
            found = {**found, "margin": noise["value"]}
        if test.get("hardware") == "paper" and found.get("reproduced"):
            setting = papers.load(target.claim["paper"])["settings"]["hardware"]
            found = {**found, "unusable": found.get("unusable") or (
                f"measured on {found.get('tested_on') or 'this machine'}, the paper on "
                f"{setting['value']} (Section {setting['section']}): a speed on other hardware "
                "cannot confirm or refute the paper's")}
        return {"profile": target.study.profile, **found}

    def inputs(self, study: Study, claim: dict, note: str) -> dict | None:
        """``report.claim_verdict`` inputs of one declared claim (``None``: left out)."""
        test = claim["test"]
        if not self._retested(test):
            return None
        labels = [claim["subject"], *papers.claim_references(claim)]
        dataset = study.dataset_for(test["dataset"]) if "dataset" in test else None
        if "dataset" in test and dataset is None:
            return absent_inputs(study, labels)
        target = Target(study, claim, dataset, compared_runs(study, test.get("runs")),
                        self.inputs_of_chapter)
        if test["compare"] == "measured":
            found = self.measured(target, test)
            if found is not None and "unusable" in test:
                found["unusable"] = found.get("unusable") or self.unusable(target,
                                                                           test["unusable"])
            return found
        source = self._split_study(study, test.get("split", "test"))
        if isinstance(source, str):
            return {**absent_inputs(study, labels), "tested_on": source}
        split_note = f", {test['split']} split" if "split" in test else ""
        source_target = Target(source, claim, dataset, target.runs, target.inputs)
        if test["compare"] == "contrast":
            specs = list(test["scores"].values())
            scores = {label: self.score(source_target, spec)
                      for label, spec in test["scores"].items()}
            if any(s is None for s in scores.values()):
                return None
            found = contrast_inputs(source, claim, dataset, target.runs[test["run"]],
                                    {label: s[0] for label, s in scores.items()},
                                    floor_record=self.floor_records.get(dataset)
                                    if source is study else None, note=split_note + note)
            if found["floor"] is None and found["reproduced"][claim["subject"]]:
                found["unusable"] = (f"no floor prediction on {dataset}{split_note} to show "
                                     "the order is the model's own and not that of a "
                                     "prediction that ignores the input")
        else:
            specs = [test["score"]]
            scored = self.score(source_target, test["score"])
            if scored is None:
                return None
            score, own_note = scored
            floor, floor_interval = self.floor(target, test.get("floor"), score)
            groups = study.cfg["study"]["groups"]
            found = claim_inputs(source, claim, dataset, score, group=target.runs,
                                 note=own_note + split_note + note, floor=floor,
                                 floor_interval=floor_interval,
                                 spread_from=groups["main"]["runs"] if "main" in groups else None)
        below = self.below_resolution(source_target, specs)
        if below is not None:
            found["unusable"] = below
        elif "unusable" in test:
            found["unusable"] = self.unusable(target, test["unusable"])
        return found


def evaluate(study: Study, claims: list[dict], scorers: dict[str, Scorer] | None = None, *,
             floors: dict[str, float] | None = None,
             floor_records: dict[str, Record] | None = None, overrides: dict | None = None,
             measurements: dict[str, Measurement] | None = None,
             resolutions: dict[str, Resolution] | None = None,
             splits: dict[str, Study | str] | None = None, inputs: dict | None = None,
             note: str = "") -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs of every claim in ``claims`` (a paper's,
    ``handlib.papers.claims``) that declares a ``test``, in their order.

    ``scorers``, ``measurements`` and ``floors`` are the chapter's own (name -> scorer, name ->
    measurement, name -> number), ``resolutions`` the resolution checks of its scorers (scorer
    name -> check, see the module doc); ``floor_records`` (dataset -> record) the chapter's floor
    predictions for ``{rule: record}`` floors and ``unusable`` rules (a claim on a dataset
    without one has no floor); ``splits`` the studies of its other splits (or why it has none);
    ``inputs`` what its measurements read. ``overrides`` re-test every claim that declares those
    score parameters (the others are left out), and ``note`` (e.g. ", at PCK@0.2") then says so
    in each verdict's data column. A claim whose scorer or measurement has nothing under the
    parameters gets no entry."""
    evaluator = Evaluator(scorers, floors, overrides, measurements=measurements,
                          resolutions=resolutions, floor_records=floor_records, splits=splits,
                          inputs=inputs)
    found: dict[str, dict] = {}
    for claim in claims:
        if "test" not in claim:
            continue
        result = evaluator.inputs(study, claim, note)
        if result is not None:
            found[claim["id"]] = result
    return found


def composite_verdicts(paper: str, verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdicts of the checklist items ``paper.yaml`` declares under ``composites``, from
    the verdicts of the claims they combine (``verdicts``: ``report.verdict_table``'s frame):

    - ``all_of: [[claim, needed verdict], ...]``: *holds* when every part has the verdict it
      needs, *does not hold* when a part has the opposite one (holds <-> does not hold),
      *inconclusive* otherwise;
    - ``differs: [claim, claim]``: *holds* when the two decided verdicts differ (an effect whose
      sign depends on the dataset), *does not hold* when they agree, *inconclusive* while either
      is undecided."""
    opposite = {"holds": "does not hold", "does not hold": "holds"}
    decided = set(opposite)
    rows = {}
    for item in papers.load(paper).get("composites", []):
        if "all_of" in item:
            got = {cid: verdicts.loc[cid, "verdict"] for cid, _ in item["all_of"]}
            if all(got[cid] == need for cid, need in item["all_of"]):
                verdict = "holds"
            elif any(got[cid] == opposite.get(need) for cid, need in item["all_of"]):
                verdict = "does not hold"
            else:
                verdict = "inconclusive"
            parts = "; ".join(f"{cid}: {got[cid]} (needs {need})" for cid, need in item["all_of"])
        else:
            first, second = (verdicts.loc[cid, "verdict"] for cid in item["differs"])
            if not {first, second} <= decided:
                verdict = "inconclusive"
            else:
                verdict = "holds" if first != second else "does not hold"
            parts = f"{item['differs'][0]}: {first}; {item['differs'][1]}: {second}"
        rows[item["item"]] = {"verdict": verdict, "parts": parts}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["verdict", "parts"])
    frame.index.name = "checklist item"
    return frame
