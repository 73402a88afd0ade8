"""The CrossInfoNet chapter's study logic on hand-made prediction records with known errors:
Table 1 has every row and column of the paper's, subset errors, the constant-offset floor and
Table 1's claims."""
from __future__ import annotations

import numpy as np
import pytest

from handlib import papers, report, study as studies
from handlib.papers.crossinfonet import study as chapter
from handlib.profiles import load_profile
from handlib.skeleton import FINGER_ONLY_JOINTS, NUM_JOINTS, PALM_JOINTS

#: Per-run error (mm) of every palm joint and of every finger joint (palm, finger).
ERRORS = {"base": (6.0, 10.0), "base_hm": (5.0, 9.0), "cross": (4.0, 8.0),
          "cross_hm": (3.0, 5.0), "single_branch": (7.0, 7.0), "palm_mask_only": (3.0, 6.0),
          "finger_mask_only": (4.0, 5.0)}
FRAMES = 6


def record(palm_mm: float, finger_mm: float) -> dict:
    """Frames of hands around (0, 0, 400) mm, each joint off along x by its subset's error."""
    rng = np.random.default_rng(0)
    kp3d = rng.normal(0.0, 40.0, (FRAMES, NUM_JOINTS, 3)) + [0.0, 0.0, 400.0]
    error = np.zeros(NUM_JOINTS)
    error[list(PALM_JOINTS)], error[list(FINGER_ONLY_JOINTS)] = palm_mm, finger_mm
    pred = kp3d + np.stack([error, np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)], axis=-1)
    labelled = np.ones((FRAMES, NUM_JOINTS), bool)
    return {"kp3d": kp3d.astype(np.float32), "kp3d_pred": pred.astype(np.float32),
            "labelled": labelled, "in_frame": labelled, "visible": labelled,
            "index": np.arange(FRAMES)}


@pytest.fixture(scope="module")
def cpu_study():
    cfg = load_profile("crossinfonet", "cpu")
    runs = studies.study_runs(cfg)
    return studies.Study(cfg, runs, {r.run_id: record(*ERRORS[r.name]) for r in runs})


def mean_of(name: str) -> float:
    palm, finger = ERRORS[name]
    return (len(PALM_JOINTS) * palm + len(FINGER_ONLY_JOINTS) * finger) / NUM_JOINTS


def test_table_1_has_the_papers_rows_and_columns_with_known_errors(cpu_study):
    table = chapter.table_1(cpu_study)
    paper = papers.table("crossinfonet", "1")
    assert list(table.index) == list(paper.index) and list(table.columns) == list(paper.columns)
    assert table.loc["Cross+HM", "NYU"] == pytest.approx(mean_of("cross_hm"))
    assert table.loc["Base", "ICVL"] == pytest.approx(mean_of("base"))


def test_subset_errors_split_palm_from_finger_joints(cpu_study):
    subsets = chapter.subsets(cpu_study)
    assert subsets == {"palm": list(PALM_JOINTS), "finger": list(FINGER_ONLY_JOINTS)}
    p = cpu_study.first("NYU", "palm_mask_only")
    assert chapter.subset_error(cpu_study, p, subsets["palm"]) == pytest.approx(3.0)
    assert chapter.subset_error(cpu_study, p, subsets["finger"]) == pytest.approx(6.0)


def test_constant_offset_predicts_centre_plus_offset():
    p = record(1.0, 1.0)
    offset = np.zeros((NUM_JOINTS, 3))
    offset[:, 0] = 5.0
    floor = chapter.constant_offset_record(p, offset)
    centre = p["kp3d"].mean(axis=1)
    np.testing.assert_allclose(floor["kp3d_pred"][:, 3], centre + [5.0, 0.0, 0.0], rtol=1e-5)
    np.testing.assert_array_equal(floor["kp3d"], p["kp3d"])  # the labels stay


def test_table_1_claims_compare_the_variants_against_the_floor(cpu_study):
    floor = {d: record(50.0, 50.0) for d in ("ICVL", "NYU")}
    inputs = chapter.claim_results(cpu_study, floor)
    table_1_claims = [c["id"] for c in papers.claims("crossinfonet") if c.get("table") == "1"]
    assert sorted(inputs) == sorted(table_1_claims)
    verdicts = report.verdict_table(papers.claims("crossinfonet"), inputs)
    assert verdicts.loc["hm_helps_base_nyu", "verdict"] == "holds"  # 8.10 < 9.10 mm
    assert verdicts.loc["cross_beats_base_icvl", "verdict"] == "holds"
    # every value above the floor: inconclusive, whatever the order
    high = {d: record(1.0, 1.0) for d in ("ICVL", "NYU")}
    verdicts = report.verdict_table(papers.claims("crossinfonet"),
                                    chapter.claim_results(cpu_study, high))
    assert (verdicts.loc[table_1_claims, "verdict"] == "inconclusive").all()


@pytest.mark.parametrize("dataset", ["icvl", "nyu", "msra"])
def test_fig4_subsets_partition_each_benchmarks_joints(dataset):
    from handlib import depth_eval

    partition = chapter.fig4_partition(dataset)
    joints = depth_eval.benchmark(dataset).num_joints
    assert sorted(partition["palm"] + partition["finger"]) == list(range(joints))
    assert chapter.FIG4_SUBSETS[dataset]["source"]


def test_fig4_subsets_are_the_authors_on_nyu_and_the_canonical_palm_on_msra():
    from handlib.data.formats.msra import CANONICAL_FROM_MSRA

    assert chapter.fig4_partition("nyu")["finger"] == [0, 2, 4, 6, 8]  # the five tips
    assert sorted(CANONICAL_FROM_MSRA[j] for j in PALM_JOINTS) == chapter.FIG4_SUBSETS["msra"]["palm"]


def test_fig4_draws_every_benchmark_with_boxed_subsets():
    import matplotlib.pyplot as plt

    from handlib import depth_eval

    rng = np.random.default_rng(0)
    poses = {d: rng.uniform(0, 100, (depth_eval.benchmark(d).num_joints, 2))
             for d in ("icvl", "nyu", "msra")}
    fig = chapter.figure_subsets(poses)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["ICVL", "NYU", "MSRA"]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["palm (9)", "finger (5)"]
    plt.close(fig)


def test_table_2_adds_our_run_to_the_recomputed_published_rows(cpu_study):
    import pandas as pd

    comparison = pd.DataFrame([
        {"dataset": "ICVL", "paper row": "CrossInfoNet", "recomputed (mm)": 6.73},
        {"dataset": "NYU", "paper row": "CrossInfoNet", "recomputed (mm)": 10.08},
        {"dataset": "NYU", "paper row": "V2V", "recomputed (mm)": 8.42},
        {"dataset": "NYU", "paper row": None, "recomputed (mm)": 99.0},  # unmapped file
    ])
    table = chapter.table_2(cpu_study, comparison)
    assert list(table.index) == ["CrossInfoNet", "V2V", chapter.OURS]
    assert table.loc["V2V", "NYU"] == 8.42 and np.isnan(table.loc["V2V", "ICVL"])
    assert table.loc[chapter.OURS, "NYU"] == pytest.approx(mean_of("cross_hm"))
    assert "NYU-like" in table.attrs["ours_tested_on"]


def test_table_3_puts_the_measured_speeds_beside_the_papers():
    speeds = [{"mode": "eager", "batch": b, "infer_img_s": v} for b, v in ((1, 40.0), (64, 900.0))]
    bench = {"device_name": "a test device", "settings": {"input_size": 96},
             "models": [{"label": "CrossInfoNet", "speed": speeds}]}
    table = chapter.table_3(bench)
    assert list(table.index) == list(papers.table("crossinfonet", "3").index)
    assert table.loc["CrossInfoNet", "paper (fps)"] == 124.5
    assert table.loc["CrossInfoNet", "measured, batch 64 (fps)"] == 900.0
    assert np.isnan(table.loc["V2V", "measured, batch 1 (fps)"])
    assert table.attrs["device"] == "a test device"


def test_training_offset_is_taken_from_the_centre_of_the_training_hands():
    cfg = load_profile("crossinfonet", "smoke")
    smoke = studies.Study(cfg, studies.study_runs(cfg), {})
    offset = chapter.training_offset(smoke, "NYU")
    assert offset.shape == (NUM_JOINTS, 3) and np.isfinite(offset).all()
    # offsets from the mean of all (labelled) joints sum to zero over the joints
    np.testing.assert_allclose(offset.sum(axis=0), 0.0, atol=1e-3)
    # and the fingertips lie farther from the centre than the palm joints, on average
    tips = np.linalg.norm(offset[[4, 8, 12, 16, 20]], axis=-1).mean()
    assert tips > np.linalg.norm(offset[list(PALM_JOINTS)], axis=-1).mean()


def test_bad_input_names_what_is_wrong(cpu_study):
    with pytest.raises(ValueError, match="trains nothing on 'MSRA'"):
        chapter.training_offset(cpu_study, "MSRA")
    with pytest.raises(ValueError, match="unknown depth benchmark 'hands2017'"):
        chapter.fig4_partition("hands2017")
    with pytest.raises(ValueError, match="no model labelled 'CrossInfoNet'"):
        chapter.table_3({"device_name": "d", "settings": {"input_size": 96},
                         "models": [{"label": "Base", "speed": []}]})
