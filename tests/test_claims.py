"""The claim evaluator (``handlib.claims``) on a tiny hand-made study: each run's record holds one
known score per test sample, so every verdict is known in advance; and every testable claim of
every paper declares a test the evaluator can run."""
import importlib

import numpy as np
import pandas as pd
import pytest

from handlib import claims, papers, report
from handlib.study import Run, Study

N = 20
#: Run -> its score on every test sample (higher is better in these claims).
SCORES = {"good": 0.8, "bad": 0.4, "tied": 0.4}
#: Seed -> what it adds to every score: two seeds, so that model-against-model verdicts have a
#: seed spread (with one seed they are inconclusive).
SEEDS = {0: 0.0, 1: 0.002}


def record(value: float) -> dict:
    return {"index": np.arange(N), "value": np.full(N, value),
            "other": np.full(N, value / 2)}


def toy_study(absent: tuple[str, ...] = ()) -> Study:
    """Two datasets (``A`` and ``B``, real data) with the three runs on each; ``absent`` datasets
    are missing from ``data_root``, as ``handlib.study.apply_parameters`` leaves them."""
    datasets = {name: {"source": "stb"} for name in ("A", "B") if name not in absent}
    cfg = {"profile": "toy", "chapter": "toy", "data": {"source": "stb"}, "eval": {},
           "study": {"datasets": datasets, "seeds": list(SEEDS),
                     "absent": {name: f"{name}/ is not under data_root" for name in absent},
                     "groups": {"main": {"runs": {"Good": "good", "Bad": "bad"}},
                                "extra": {"runs": {"Tied": "tied"}}},
                     "tables": {"1": {"group": "main", "datasets": ["A"]}}}}
    runs = [Run(dataset, name, seed, f"{dataset}-{name}-{seed}", {}) for dataset in datasets
            for name in SCORES for seed in SEEDS]
    return Study(cfg, runs, {r.run_id: record(SCORES[r.name] + SEEDS[r.seed]) for r in runs})


def mean_of(target: claims.Target, key: str):
    """A toy chapter's scorer: the mean of one array of the record."""
    return (lambda p: float(p[key].mean())), f", {key}"


SCORERS = {"mean_of": mean_of}
FLOORS = {"high": 0.9}


def claim(cid: str, subject: str, reference, test: dict, better: str = "higher") -> dict:
    found = {"id": cid, "paper": "toy", "text": "{subject} beats {reference}", "table": None,
             "source": "a toy", "metric": "score", "better": better, "subject": subject,
             "reference": reference, "column": "score", "testable_on": "synthetic",
             "why": "a toy", "test": test}
    papers.check_test(found, ["A", "B"])
    return found


def runs_test(dataset: str = "A", **extra) -> dict:
    return {"compare": "runs", "runs": {"groups": ["main", "extra"]}, "dataset": dataset,
            "score": {"name": "mean_of", "key": "value"}, **extra}


TOY_CLAIMS = [
    claim("holds", "Good", "Bad", runs_test()),
    claim("does_not_hold", "Bad", "Good", runs_test("B")),
    claim("at_the_floor", "Good", "Bad", runs_test(floor={"rule": "fixed", "name": "high"})),
    claim("tie", "Bad", "Tied", runs_test()),
    claim("on_table_1", "Good", "Bad", {**runs_test(), "runs": {"table": "1"}}),
    claim("contrast", "value", "other",
          {"compare": "contrast", "runs": {"groups": ["main"]}, "run": "Good", "dataset": "A",
           "scores": {"value": {"name": "mean_of", "key": "value"},
                      "other": {"name": "mean_of", "key": "other"}}}),
]


def verdicts(study: Study, **options):
    # the contrast's floor: a prediction that ignores the input, both its scores (errors) above
    # the model's
    options.setdefault("floor_records", {"A": record(2.0)})
    found = claims.evaluate(study, TOY_CLAIMS, SCORERS, floors=FLOORS, **options)
    return found, report.verdict_table(TOY_CLAIMS, found)


def test_declared_claims_get_their_known_verdicts():
    found, table = verdicts(toy_study())
    assert list(found) == [c["id"] for c in TOY_CLAIMS]
    assert table.loc["holds", "verdict"] == "holds"                  # 0.8 against 0.4
    assert table.loc["does_not_hold", "verdict"] == "does not hold"  # on dataset B too
    assert table.loc["tie", "verdict"] == "inconclusive"
    assert table.loc["on_table_1", "verdict"] == "holds"             # the runs of Table 1
    assert table.loc["contrast", "verdict"] == "holds"               # 0.8 against 0.4, one run
    assert found["holds"]["reproduced"] == {"Good": [pytest.approx(0.8), pytest.approx(0.802)],
                                            "Bad": [pytest.approx(0.4), pytest.approx(0.402)]}
    # the scorer's note, then the seeds
    assert found["holds"]["tested_on"] == "A test split (toy profile), value, seeds [0, 1]"


def test_a_claim_below_its_floor_is_inconclusive():
    found, table = verdicts(toy_study())
    assert found["at_the_floor"]["floor"] == 0.9
    assert table.loc["at_the_floor", "verdict"] == "inconclusive"
    assert "floor" in table.loc["at_the_floor", "reason"]


def test_a_claim_on_an_absent_dataset_is_not_run():
    found, table = verdicts(toy_study(absent=("B",)))
    assert found["does_not_hold"]["reproduced"] == {"Bad": [], "Good": []}
    assert table.loc["does_not_hold", "verdict"] == "inconclusive"
    assert table.loc["does_not_hold", "reason"].startswith(report.NOT_RUN)
    assert "absent from data_root" in table.loc["does_not_hold", "tested on"]
    assert table.loc["holds", "verdict"] == "holds"  # dataset A is still there


def test_a_record_floor_scores_the_floor_prediction_by_the_claims_score():
    at_record = claim("record_floor", "Good", "Bad", runs_test(floor={"rule": "record"}))
    by_other = claim("other_score", "Good", "Bad", runs_test(floor={
        "rule": "record", "score": {"name": "mean_of", "key": "other"}}))
    found = claims.evaluate(toy_study(), [at_record, by_other], SCORERS,
                            floor_records={"A": record(0.6)})
    assert found["record_floor"]["floor"] == pytest.approx(0.6)
    assert found["other_score"]["floor"] == pytest.approx(0.3)
    assert claims.evaluate(toy_study(), [at_record], SCORERS)["record_floor"]["floor"] is None


def test_overrides_retest_every_claim_that_declares_the_parameter():
    found = claims.evaluate(toy_study(), TOY_CLAIMS[:1], SCORERS, overrides={"key": "other"},
                            note=", re-tested")
    assert found["holds"]["reproduced"] == {"Good": [pytest.approx(0.4), pytest.approx(0.401)],
                                            "Bad": [pytest.approx(0.2), pytest.approx(0.201)]}
    assert ", other, re-tested" in found["holds"]["tested_on"]


def test_a_scorer_without_a_score_leaves_the_claim_out():
    def only_in_3d(target, measure):
        return None if measure == "2d" else ((lambda p: 1.0), "")

    toy = claim("three_d", "Good", "Bad", {**runs_test(), "score": {"name": "only_3d",
                                                                    "measure": "3d"}})
    assert "three_d" in claims.evaluate(toy_study(), [toy], {"only_3d": only_in_3d})
    assert claims.evaluate(toy_study(), [toy], {"only_3d": only_in_3d},
                           overrides={"measure": "2d"}) == {}


def test_unknown_names_and_shadowed_scorers_are_clear_errors():
    unknown = claim("unknown", "Good", "Bad", {**runs_test(), "score": {"name": "nope"}})
    with pytest.raises(ValueError, match="scorer 'nope'"):
        claims.evaluate(toy_study(), [unknown], SCORERS)
    with pytest.raises(ValueError, match="floor 'high'"):
        claims.evaluate(toy_study(), [TOY_CLAIMS[2]], SCORERS)
    with pytest.raises(ValueError, match="shadow"):
        claims.Evaluator({"joint_set_error": mean_of})


def measured_claim(cid: str, noise: dict, **measure) -> dict:
    return claim(cid, "Good", "Bad", {"compare": "measured",
                                      "measure": {"name": "sizes", **measure}, "noise": noise})


def sizes(target: claims.Target, scale: float = 1.0) -> dict | None:
    """A toy chapter's measurement: Good 10 and Bad 8 units (times ``scale``), or nothing
    when the chapter gave no ``bench``."""
    if "bench" not in target.inputs:
        return None
    return {"reproduced": {"Good": 10.0 * scale, "Bad": 8.0 * scale},
            "tested_on": "a toy bench", "run": "bench", "margin": 0.5}


@pytest.mark.parametrize("noise, margin", [({"rule": "relative", "value": 0.5}, 4.0),
                                           ({"rule": "absolute", "value": 0}, 0.0),
                                           ({"rule": "measured"}, 0.5)])
def test_a_measured_claim_takes_its_declared_noise(noise, margin):
    toy = measured_claim("bigger", noise)
    found = claims.evaluate(toy_study(), [toy], measurements={"sizes": sizes},
                            inputs={"bench": {}})
    assert found["bigger"]["margin"] == pytest.approx(margin)  # relative: 0.5 x Bad's 8
    assert found["bigger"]["profile"] == "toy"
    verdict = report.verdict_table([toy], found).loc["bigger", "verdict"]
    assert verdict == ("inconclusive" if margin >= 2.0 else "holds")  # 10 against 8
    assert claims.evaluate(toy_study(), [toy], measurements={"sizes": sizes}) == {}  # no bench


def test_a_retest_leaves_out_claims_that_do_not_declare_the_parameter():
    toy = measured_claim("bigger", {"rule": "absolute", "value": 0})
    assert claims.evaluate(toy_study(), [toy, TOY_CLAIMS[0]], SCORERS, overrides={"key": "other"},
                           measurements={"sizes": sizes}, inputs={"bench": {}}).keys() == {"holds"}


def test_a_claim_on_another_split_reads_that_splits_records_or_says_why_not():
    on_hard = claim("hard", "Good", "Bad", runs_test(split="hard"))
    hard = toy_study()
    hard.predictions = {run_id: record(0.1 if "good" in run_id else 0.3)
                        for run_id in hard.predictions}
    found = claims.evaluate(toy_study(), [on_hard], SCORERS, splits={"hard": hard})
    assert found["hard"]["reproduced"] == {"Good": [pytest.approx(0.1)] * 2,
                                           "Bad": [pytest.approx(0.3)] * 2}
    assert ", hard split" in found["hard"]["tested_on"]
    missing = claims.evaluate(toy_study(), [on_hard], SCORERS,
                              splits={"hard": "no hand-object frames here"})
    assert missing["hard"]["tested_on"] == "no hand-object frames here"
    assert report.verdict_table([on_hard], missing).loc["hard", "reason"].startswith(
        report.NOT_RUN)
    assert "no hard split" in claims.evaluate(toy_study(), [on_hard], SCORERS)["hard"]["tested_on"]


def test_no_learning_makes_a_claim_unusable_until_every_compared_run_beats_the_floor():
    toy = claim("unusable", "Bad", "Good", runs_test(unusable={
        "rule": "no_learning", "score": {"name": "mean_of", "key": "value"}}), better="lower")
    # lower is better: the floor record scores 0.3, below both runs (0.8, 0.4): nothing learnt
    stuck = claims.evaluate(toy_study(), [toy], SCORERS, floor_records={"A": record(0.3)})
    assert "not learnt enough" in stuck["unusable"]["unusable"]
    assert report.verdict_table([toy], stuck).loc["unusable", "verdict"] == "inconclusive"
    # Bad's 0.4 is below the floor's 0.5, Good's 0.8 is not: the old rule (one run below the
    # floor is enough) let Bad "beat" a Good that learnt nothing
    one_learnt = claims.evaluate(toy_study(), [toy], SCORERS, floor_records={"A": record(0.5)})
    assert one_learnt["unusable"]["unusable"].startswith("Good (0.801) is not below its floor")
    learnt = claims.evaluate(toy_study(), [toy], SCORERS, floor_records={"A": record(0.9)})
    assert learnt["unusable"]["unusable"] is None
    assert report.verdict_table([toy], learnt).loc["unusable", "verdict"] == "holds"


def too_fine_for_the_toy(target: claims.Target, key: str) -> str | None:
    """A toy resolution check for ``mean_of``: the toy's output cannot resolve ``other``, and it
    names the runs it was given to check."""
    if key != "other":
        return None
    return f"below resolution: 'other' of {', '.join(sorted(target.runs.values()))}"


def test_a_registered_resolution_check_makes_a_claim_inconclusive_below_resolution():
    resolutions = {"mean_of": too_fine_for_the_toy}
    at_value = claims.evaluate(toy_study(), TOY_CLAIMS, SCORERS, floors=FLOORS,
                               resolutions=resolutions)
    table = report.verdict_table(TOY_CLAIMS, at_value)
    # the check returns None for ``value``: every verdict is the one it has without a check
    assert "unusable" not in at_value["holds"]
    assert table.loc["holds", "verdict"] == "holds"
    assert "not above its floor (0.9)" in table.loc["at_the_floor", "reason"]
    # a contrast whose one score is ``other`` is below resolution; it compares one run, Good
    assert table.loc["contrast", "verdict"] == "inconclusive"
    assert table.loc["contrast", "reason"] == "below resolution: 'other' of good"
    # re-tested at ``other``: the check sees the override, and the two runs the claim compares
    # (Good and Bad of the groups main + extra, not Tied); a floor verdict is never given
    at_other = claims.evaluate(toy_study(), TOY_CLAIMS[:3], SCORERS, floors=FLOORS,
                               resolutions=resolutions, overrides={"key": "other"})
    table = report.verdict_table(TOY_CLAIMS[:3], at_other)
    for cid in ("holds", "does_not_hold", "at_the_floor"):
        assert table.loc[cid, "verdict"] == "inconclusive", cid
        assert table.loc[cid, "reason"] == "below resolution: 'other' of bad, good", cid
    without_check = claims.evaluate(toy_study(), TOY_CLAIMS[:1], SCORERS,
                                    overrides={"key": "other"})
    assert report.verdict_table(TOY_CLAIMS[:1], without_check).loc["holds", "verdict"] == "holds"


def test_below_resolution_wins_over_no_learning_and_names_a_known_scorer():
    toy = claim("unusable", "Bad", "Good", runs_test(unusable={
        "rule": "no_learning", "score": {"name": "mean_of", "key": "value"}}), better="lower")
    # at ``other`` the floor record scores 0.15, below Bad's 0.2 and Good's 0.4: nothing learnt
    options = {"floor_records": {"A": record(0.3)}, "overrides": {"key": "other"}}
    assert "not learnt enough" in claims.evaluate(toy_study(), [toy], SCORERS,
                                                  **options)["unusable"]["unusable"]
    stuck = claims.evaluate(toy_study(), [toy], SCORERS,
                            resolutions={"mean_of": too_fine_for_the_toy}, **options)
    assert stuck["unusable"]["unusable"] == "below resolution: 'other' of bad, good"
    with pytest.raises(ValueError, match=r"resolution checks \['nope'\] name no scorer"):
        claims.evaluate(toy_study(), [toy], SCORERS, resolutions={"nope": too_fine_for_the_toy})


def test_composites_are_judged_from_the_verdicts_of_their_parts(monkeypatch):
    verdicts_of = pd.DataFrame({"verdict": ["holds", "does not hold", "inconclusive"]},
                               index=["a", "b", "c"])
    composites = [{"item": "all hold", "all_of": [["a", "holds"], ["b", "does not hold"]]},
                  {"item": "one against", "all_of": [["a", "does not hold"], ["c", "holds"]]},
                  {"item": "undecided", "all_of": [["a", "holds"], ["c", "holds"]]},
                  {"item": "signs differ", "differs": ["a", "b"]},
                  {"item": "same sign", "differs": ["a", "a"]},
                  {"item": "one undecided", "differs": ["a", "c"]}]
    monkeypatch.setattr(papers, "load", lambda paper: {"composites": composites})
    table = claims.composite_verdicts("toy", verdicts_of)
    assert table["verdict"].to_dict() == {
        "all hold": "holds", "one against": "does not hold", "undecided": "inconclusive",
        "signs differ": "holds", "same sign": "does not hold", "one undecided": "inconclusive"}
    with pytest.raises(ValueError, match="not claims of the paper"):
        papers.check_composites("toy", {"a"}, [{"item": "x", "differs": ["a", "zz"]}])


@pytest.mark.parametrize("test, message", [
    ({"compare": "rank"}, "compare 'rank'"),
    ({**runs_test(), "runs": {"table": "1", "groups": ["main"]}}, "runs must be"),
    (runs_test("C"), "dataset 'C'"),
    ({**runs_test(), "score": "mean"}, "score must be"),
    (runs_test(floor={"rule": "fixed"}), "floor must be"),
    ({"compare": "contrast", "runs": {"groups": ["main"]}, "run": "Good", "dataset": "A",
      "scores": {"Good": {"name": "mean_of"}}}, "one score for each"),
    ({"compare": "measured", "measure": {"name": "sizes"}, "noise": {"rule": "relative"}},
     "noise must be"),
    ({"compare": "measured", "measure": {"name": "sizes"}, "noise": {"rule": "measured"},
      "split": "hard"}, "no floor and no split"),
    (runs_test(unusable={"rule": "always"}), "unusable must be"),
])
def test_a_malformed_test_is_a_clear_error(test, message):
    with pytest.raises(ValueError, match=message):
        claim("bad", "Good", "Bad", test)


def test_a_claim_marked_not_here_declares_no_test():
    with pytest.raises(ValueError, match="not_here"):
        papers.check_test({**TOY_CLAIMS[0], "testable_on": "not_here"}, ["A", "B"])


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_every_testable_claim_of_every_paper_declares_a_known_test(paper):
    chapter = importlib.import_module(f"handlib.papers.{paper}.study")
    names = {**claims.SCORERS, **getattr(chapter, "SCORERS", {})}
    measurements = getattr(chapter, "MEASUREMENTS", {})
    for found in papers.claims(paper):
        if found["testable_on"] == "not_here":
            assert "test" not in found
            continue
        test = found["test"]  # every claim the book can test says how
        if test["compare"] == "measured":
            assert test["measure"]["name"] in measurements, found["id"]
            specs = []
        else:
            specs = ([test["score"]] if test["compare"] == "runs"
                     else list(test["scores"].values()))
        specs += [test["floor"]["score"]] if "score" in test.get("floor", {}) else []
        specs += [test["unusable"]["score"]] if "unusable" in test else []
        assert all(spec["name"] in names for spec in specs), found["id"]
        if test.get("floor", {}).get("rule") == "fixed":
            assert test["floor"]["name"] in getattr(chapter, "FLOORS", {}), found["id"]


def one_seed_study(extra_seeds_of_main: bool) -> Study:
    """The toy study on seed 0 only, and optionally a second seed of the main group's Good."""
    study = toy_study()
    keep = [r for r in study.runs if r.seed == 0 or (extra_seeds_of_main and r.name == "good")]
    return Study(study.cfg, keep, {r.run_id: study.predictions[r.run_id] for r in keep})


def test_a_model_against_model_verdict_needs_a_seed_spread():
    """One seed each used to decide "Good beats Bad" on the test-set noise alone."""
    lone = claims.evaluate(one_seed_study(False), TOY_CLAIMS[:1], SCORERS)
    verdict = report.verdict_table(TOY_CLAIMS[:1], lone).loc["holds"]
    assert verdict["verdict"] == "inconclusive" and verdict["reason"].startswith("one seed")


def test_a_group_on_fewer_seeds_borrows_the_main_groups_spread():
    """Bad against Tied, one seed each: the main group's seed spread (Good has two seeds) is
    their seed noise."""
    tie = next(c for c in TOY_CLAIMS if c["id"] == "tie")
    found = claims.evaluate(one_seed_study(True), [tie], SCORERS)["tie"]
    assert found["reproduced"] == {"Bad": [pytest.approx(0.4)], "Tied": [pytest.approx(0.4)]}
    assert found["seeds_std"] == pytest.approx(0.002 / np.sqrt(2))
    assert found["tested_on"].endswith("seed spread of the main group's runs")


def test_a_contrast_at_its_floor_decides_nothing():
    """The floor shows the contrast's order (value 2.0 above other 1.0): a model whose two scores
    are the floor's own would "hold" the claim without having learnt anything."""
    found, table = verdicts(toy_study(), floor_records={"A": record(0.8)})
    assert found["contrast"]["floor"] == {"value": pytest.approx(0.8), "other": pytest.approx(0.4)}
    assert table.loc["contrast", "verdict"] == "inconclusive"
    assert "floor" in table.loc["contrast", "reason"]
    learnt, table = verdicts(toy_study())
    assert table.loc["contrast", "verdict"] == "holds"
    assert "floor's own difference: +1" in table.loc["contrast", "reason"]
    without, table = verdicts(toy_study(), floor_records={})
    assert table.loc["contrast", "verdict"] == "inconclusive"
    assert table.loc["contrast", "reason"].startswith("no floor prediction")


def test_a_speed_against_the_papers_own_machine_is_inconclusive():
    """Our timing against the paper's printed one on other hardware used to decide a claim
    whenever the measurement ran on a GPU."""
    def timing(target):
        return {"reproduced": {"Good": 130.0}, "tested_on": "a toy GPU, batch 1", "margin": 1.0}

    test = {"compare": "measured", "measure": {"name": "timing"}, "noise": {"rule": "measured"},
            "hardware": "paper"}
    speed = {**claim("speed", "Good", None, test), "paper": "crossinfonet"}
    found = claims.evaluate(toy_study(), [speed], measurements={"timing": timing})["speed"]
    assert found["unusable"].startswith("measured on a toy GPU, batch 1, the paper on one "
                                        "NVIDIA RTX 2080 Ti")
    ours = {**speed, "test": {**test, "hardware": "ours"}}
    assert "unusable" not in claims.evaluate(toy_study(), [ours],
                                             measurements={"timing": timing})["speed"]
    with pytest.raises(ValueError, match="hardware must be ours"):
        claim("speed", "Good", None, {**test, "hardware": "H100"})
