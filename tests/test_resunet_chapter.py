"""The ResUnet chapter's study logic on hand-made prediction records with known errors: the
scores under both protocols, the floors, the occlusion and viewpoint breakdowns, the example
rule and the claims' inputs, each tested as its ``test`` block in ``paper.yaml`` declares."""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pytest

from handlib import claims, learning, papers, report, study as studies
from handlib.papers.resunet import study as chapter
from handlib.profiles import load_profile, tiny_overrides
from handlib.skeleton import NUM_JOINTS, WRIST

FRAMES = 8
#: Per-run 3D offset (mm) of every non-wrist joint and 2D offset (crop px) of every joint.
ERRORS = {"resunet": (10.0, 2.0), "baseline": (20.0, 4.0), "argmax": (12.0, 3.0),
          "fixed_beta": (11.0, 2.5), "joints": (14.0, 2.0), "no_skips": (10.0, 5.0),
          "no_augmentation": (9.0, 2.0)}


def record(error_3d: float, error_2d: float, frames: int = FRAMES, seed: int = 0) -> dict:
    """Hands around (0, 0, 500) mm whose every non-wrist joint is off by ``error_3d`` mm along x
    (wrist-relative) and every joint by ``error_2d`` px along x, with an identity crop."""
    rng = np.random.default_rng(seed)
    kp3d = rng.normal(0.0, 40.0, (frames, NUM_JOINTS, 3)) + [0.0, 0.0, 500.0]
    rel = kp3d - kp3d[:, WRIST:WRIST + 1]
    shift = np.zeros_like(rel)
    shift[:, 1:, 0] = error_3d
    kp2d = rng.uniform(20, 100, (frames, NUM_JOINTS, 2))
    labelled = np.ones((frames, NUM_JOINTS), bool)
    return {"kp3d": kp3d.astype(np.float32), "kp3d_rel_pred": (rel + shift).astype(np.float32),
            "kp2d": kp2d.astype(np.float32),
            "kp2d_pred": (kp2d + [error_2d, 0.0]).astype(np.float32),
            "crop": np.repeat(np.eye(3)[None], frames, axis=0).astype(np.float32),
            "labelled": labelled, "in_frame": labelled, "visible": labelled,
            "visibility_kind": np.zeros((frames, NUM_JOINTS), np.int8),
            "mirrored": np.zeros(frames, bool), "index": np.arange(frames)}


@pytest.fixture(scope="module")
def gpu_study():
    """A fake study of the gpu profile: it trains every group on every stand-in it names (the cpu
    profile trains only the main comparison on GANerated-like), so every claim has its runs. Its
    three seeds share each run's hand-made error (other hands per seed)."""
    cfg = load_profile("resunet", "gpu")
    runs = studies.study_runs(cfg)
    return studies.Study(cfg, runs, {r.run_id: record(*ERRORS[r.name], seed=r.seed)
                                     for r in runs})


def test_2d_errors_are_in_pixels_of_the_crop():
    p = record(0.0, 3.0)
    assert chapter.epe_2d(p) == pytest.approx(3.0)
    zoomed = {**p, "crop": p["crop"] * np.array([2.0, 2.0, 1.0])[:, None]}  # crop = 2x the image
    assert chapter.epe_2d(zoomed) == pytest.approx(6.0)


def test_3d_errors_are_root_relative_and_skip_the_exact_wrist():
    p = record(10.0, 0.0)
    assert chapter.epe_3d(p) == pytest.approx(10.0)  # the wrist's 0 is not averaged in
    moved = {**p, "kp3d_rel_pred": p["kp3d_rel_pred"] + 500.0}  # a translation changes nothing
    assert chapter.epe_3d(moved) == pytest.approx(10.0)
    assert not chapter.scored_3d(p)[:, WRIST].any()


def test_ground_truth_scale_undoes_a_wrong_hand_size():
    p = record(0.0, 0.0)
    rel = p["kp3d"] - p["kp3d"][:, WRIST:WRIST + 1]
    half = {**p, "kp3d_rel_pred": (0.5 * rel).astype(np.float32)}
    assert chapter.epe_3d(half) > 10.0
    assert chapter.epe_3d(half, gt_scale=True) == pytest.approx(0.0, abs=1e-3)
    assert chapter.auc_3d(half, gt_scale=True) == pytest.approx(1.0)


@pytest.mark.parametrize("error, expected", [(10.0, 1.0), (60.0, 0.0), (35.5, 14.5 / 30)])
def test_auc_over_20_to_50_mm(error, expected):
    assert chapter.auc_3d(record(error, 0.0)) == pytest.approx(expected)


def test_occlusion_table_splits_errors_by_visibility(gpu_study):
    p = record(10.0, 2.0)
    hidden = p["visibility_kind"].copy()
    hidden[:, 5:9] = chapter.OCCLUSION_KINDS["object-occluded"]
    p["visibility_kind"] = hidden
    p["kp3d_rel_pred"][:, 5:9, 0] += 20.0  # those joints are 30 mm off, the others 10
    run = next(r for r in gpu_study.runs if r.name == "resunet" and r.dataset == "GANerated")
    study = studies.Study(gpu_study.cfg, gpu_study.runs, {**gpu_study.predictions, run.run_id: p})
    table = chapter.table_occlusion(study, {run.run_id: p})
    assert table.loc[("test", "ResUnet"), ("object-occluded", "3D (mm)")] == pytest.approx(30.0)
    assert table.loc[("test", "ResUnet"), ("visible", "3D (mm)")] == pytest.approx(10.0)
    assert table.loc[("hard", "ResUnet"), ("share of joints", "object-occluded")] == (
        pytest.approx(4 / 21))
    assert np.isnan(table.loc[("test", "ResUnet"), ("self-occluded", "3D (mm)")])
    assert ("hard", "ResNet-34 regression") not in table.index  # no hard record for it


def test_a_mirrored_hand_faces_the_other_way():
    p = record(0.0, 0.0)
    flipped = {**p, "mirrored": np.ones(FRAMES, bool)}
    np.testing.assert_allclose(chapter.palm_to_camera(flipped), -chapter.palm_to_camera(p))


def test_floors_predict_the_mean_pose_and_the_box_centre():
    p = record(10.0, 2.0)
    pose = np.zeros((NUM_JOINTS, 3))
    floor = chapter.floor_record(p, pose)
    rel = p["kp3d"] - p["kp3d"][:, WRIST:WRIST + 1]
    assert chapter.epe_3d(floor) == pytest.approx(
        np.linalg.norm(rel[:, 1:], axis=-1).mean(), rel=1e-5)  # a collapsed hand
    centre = (p["kp2d"].min(axis=1) + p["kp2d"].max(axis=1)) / 2
    np.testing.assert_allclose(floor["kp2d_pred"][:, 3], centre, rtol=1e-5)


def test_a_run_learned_only_below_the_mean_pose_by_more_than_the_interval(gpu_study):
    """By the 3D error: ResUnet (10 mm on every joint) is clearly below a floor of 20 mm and
    learned; the baseline, whose predictions are the floor's own, is at it and did not."""
    records = {r.run_id: record(*ERRORS[r.name]) for r in gpu_study.runs}  # the same hands
    study = studies.Study(gpu_study.cfg, gpu_study.runs, records)
    floor = {d: record(*ERRORS["baseline"]) for d in study.cfg["study"]["datasets"]}
    table = chapter.learning_table(study, floor)
    resunet, baseline = table[table["name"] == "resunet"], table[table["name"] == "baseline"]
    assert resunet["margin below floor"].to_numpy() == pytest.approx(10.0, abs=1e-3)
    assert resunet["learned"].all()
    assert (baseline["margin below floor"] == 0.0).all() and not baseline["learned"].any()
    # every control errs less than the baseline too: only the baseline's runs did not learn
    assert learning.learned_summary(table) == (
        f"{len(table) - len(baseline)} of {len(table)} runs learned (not below their floor by "
        f"more than the interval: {', '.join(baseline.index)})")


def test_examples_follow_the_stated_rule():
    p = record(0.0, 0.0, frames=11)
    p["kp3d_rel_pred"][:, 1:, 0] += np.arange(11)[:, None]  # frame i is i mm off
    p["visibility_kind"][7, :6] = chapter.OCCLUSION_KINDS["object-occluded"]
    p["visibility_kind"][2, :3] = chapter.OCCLUSION_KINDS["object-occluded"]
    picks = chapter.qualitative_frames(p, count=2)
    assert picks["by error"] == [1, 5, 9]
    assert picks["most occluded"] == [7, 2]


def test_model_claims_compare_resunet_with_its_controls(gpu_study):
    inputs = chapter.claim_results(gpu_study, hard={r.run_id: p for r, p in zip(
        gpu_study.runs, gpu_study.predictions.values())})
    verdicts = report.verdict_table(papers.claims("resunet"), inputs)
    assert verdicts.loc["beats_baseline_stb", "verdict"] == "holds"      # 10 < 20 mm
    assert verdicts.loc["bones_more_accurate", "verdict"] == "holds"     # 10 < 14 mm
    assert verdicts.loc["unet_skips_help", "verdict"] == "holds"         # 2 < 5 px
    assert verdicts.loc["lhr_most_reliable_2d", "reference (reproduced)"] == pytest.approx(2.5)
    assert verdicts.loc["augmentation_helps", "verdict"] == "does not hold"  # 10 > 9 mm
    assert "hard split" in verdicts.loc["augmentation_helps", "tested on"]
    # two seeds of bones and joints, each seed the same error: no spread to compare
    assert verdicts.loc["bones_more_stable", "subject (reproduced)"] == pytest.approx(0.0, abs=1e-4)
    # occluded against visible joints of one run: no object-occluded joint in these records
    assert verdicts.loc["occluded_close_to_visible", "verdict"] == "inconclusive"
    tested = {c["id"] for c in papers.claims("resunet") if c["testable_on"] != "not_here"}
    assert tested <= set(inputs)


def test_every_claim_is_tested_or_says_why_not():
    """Every claim the runs test declares a ``test`` naming the chapter's scores and
    measurements; the others say why not and declare none."""
    names = {**claims.SCORERS, **chapter.SCORERS}
    for claim in papers.claims("resunet"):
        assert claim["testable_on"] in ("synthetic", "not_here"), claim["id"]
        if claim["testable_on"] == "not_here":
            assert "test" not in claim, claim["id"]
            continue
        test = claim["test"]
        specs = ([test["score"]] if "score" in test else list(test.get("scores", {}).values()))
        specs += [test["unusable"]["score"]] if "unusable" in test else []
        assert all(spec["name"] in names for spec in specs), claim["id"]
        if test["compare"] == "measured":
            assert test["measure"]["name"] in chapter.MEASUREMENTS, claim["id"]


def test_each_claim_is_tested_as_its_paper_yaml_declares(gpu_study, monkeypatch):
    """The verdict inputs follow the claims' ``test`` blocks: declaring another score, data,
    split, floor or noise changes what is compared, and an undeclared claim is not tested."""
    test_split = {r.run_id: p for r, p in zip(gpu_study.runs, gpu_study.predictions.values())}
    hard = {r.run_id: record(30.0, 6.0, seed=r.seed) for r in gpu_study.runs}  # 30 mm everywhere
    floor = {d: record(100.0, 50.0) for d in ("GANerated", "SynthHands", "STB")}
    found = chapter.claim_results(gpu_study, floor, hard)
    edited = copy.deepcopy(papers.claims("resunet"))
    tests = {c["id"]: c["test"] for c in edited if "test" in c}
    tests["unet_skips_help"]["score"] = {"name": "epe_3d", "joints": "all", "view": "all"}
    tests["beats_baseline_stb"]["dataset"] = "GANerated"
    del tests["augmentation_helps"]["split"]
    del tests["bones_more_accurate"]["floor"]
    tests["bones_more_stable"]["noise"]["value"] = 0.5
    del next(c for c in edited if c["id"] == "angles_beat_baseline")["test"]
    monkeypatch.setattr(papers, "claims", lambda paper: edited)
    changed = chapter.claim_results(gpu_study, floor, hard)
    # the skips' claim on the 2D error (2 against 5 px); declared on the 3D error, 10 and 10 mm
    assert found["unet_skips_help"]["reproduced"] == {
        "ResUnet": [pytest.approx(2.0)], "No skips": [pytest.approx(5.0)]}
    assert changed["unet_skips_help"]["reproduced"] == {
        "ResUnet": [pytest.approx(10.0)], "No skips": [pytest.approx(10.0)]}
    assert changed["unet_skips_help"]["floor"] == pytest.approx(100.0)  # the 3D floor's score
    assert found["beats_baseline_stb"]["tested_on"].startswith("STB-like")
    assert changed["beats_baseline_stb"]["tested_on"].startswith("GANerated-like")
    # augmentation on the hard split's frames (30 mm each); declared on the test split, 10 and 9
    assert found["augmentation_helps"]["reproduced"]["No augmentation"] == [pytest.approx(30.0)]
    assert changed["augmentation_helps"]["reproduced"]["No augmentation"] == [pytest.approx(9.0)]
    assert "hard split" not in changed["augmentation_helps"]["tested_on"]
    assert found["bones_more_accurate"]["floor"] == pytest.approx(100.0)
    assert changed["bones_more_accurate"]["floor"] is None
    assert (found["bones_more_stable"]["margin"], changed["bones_more_stable"]["margin"]) == (
        0.0, 0.5)
    assert "angles_beat_baseline" in found and "angles_beat_baseline" not in changed
    # the hard split's records are read only where a claim declares that split
    assert chapter.claim_results(gpu_study, floor, test_split)["augmentation_helps"][
        "reproduced"]["No augmentation"] == [pytest.approx(9.0)]


def test_a_contrast_is_unusable_while_its_one_run_learnt_nothing(gpu_study):
    """Occluded against visible joints compares two scores of ResUnet alone: it is unusable
    while ResUnet (10 mm) is not below the floor (9.5 mm). So is a comparison of ResUnet with a
    model that is below it (no augmentation, 9 mm): every compared model must be below its
    floor (issue 29's floor rule)."""
    hard = dict(zip([r.run_id for r in gpu_study.runs], gpu_study.predictions.values()))
    floor = {d: record(9.5, 0.5) for d in ("GANerated", "SynthHands", "STB")}
    found = chapter.claim_results(gpu_study, floor, hard)
    assert "ResUnet (10) is not below its floor" in found["occluded_close_to_visible"]["unusable"]
    assert "ResUnet (10) is not below its floor" in found["augmentation_helps"]["unusable"]


def test_the_cpu_profile_trains_claim_1_on_ganerated_and_sets_the_rest_aside():
    """The cpu plan: claim 1, ResUnet against the ResNet-34 regression baseline, on the
    GANerated-like stand-in over two seeds and nothing else; SynthHands-like and STB-like are set
    aside, so their claims say "not run" instead of borrowing GANerated-like's runs."""
    cfg = studies.apply_parameters(load_profile("resunet", "cpu"))
    runs = studies.study_runs(cfg)
    assert sorted((r.dataset, r.name, r.seed) for r in runs) == [
        ("GANerated", name, seed) for name in ("baseline", "resunet") for seed in (0, 1)]
    assert list(cfg["study"]["datasets"]) == ["GANerated"]
    assert set(studies.missing_names(cfg)) == {"SynthHands", "STB"}
    study = studies.Study(cfg, runs, {r.run_id: record(*ERRORS[r.name], seed=r.seed)
                                      for r in runs})
    assert study.dataset_for("GANerated") == "GANerated"
    assert study.dataset_for("SynthHands") is None and study.dataset_for("STB") is None
    not_run = "not run: not trained on the cpu profile (SynthHands, STB)"
    assert studies.absent_text(study) == not_run
    floor = {d: record(100.0, 50.0) for d in cfg["study"]["datasets"]}
    verdicts = report.verdict_table(papers.claims("resunet"), chapter.claim_results(
        study, floor, hard=dict(zip([r.run_id for r in runs], study.predictions.values()))))
    assert verdicts.loc["beats_baseline_ganerated", "verdict"] == "holds"    # 10 < 20 mm
    assert verdicts.loc["beats_baseline_ganerated", "tested on"].endswith("seeds [0, 1]")
    for claim in ("beats_baseline_synthhands", "beats_baseline_stb"):
        assert verdicts.loc[claim, "verdict"] == "inconclusive", claim
        assert verdicts.loc[claim, "reason"].startswith("not run"), claim
        assert verdicts.loc[claim, "tested on"] == not_run, claim
    # the controls are the gpu profile's: their claims are not run either
    assert verdicts.loc["unet_skips_help", "reason"].startswith("not run")


def test_a_wrong_data_root_names_the_dataset_folders(tmp_path):
    with pytest.raises(ValueError, match="lacks GANeratedHands_Release/, SynthHands_Release/, "
                                         "STB/"):
        studies.apply_parameters(load_profile("resunet", "paper"), data_root=tmp_path)


def test_models_at_the_floor_decide_no_claim(gpu_study):
    hard = dict(zip([r.run_id for r in gpu_study.runs], gpu_study.predictions.values()))
    good_floor = {d: record(1.0, 0.5) for d in ("GANerated", "SynthHands", "STB")}
    verdicts = report.verdict_table(papers.claims("resunet"),
                                    chapter.claim_results(gpu_study, good_floor, hard))
    assert (verdicts["verdict"] == "inconclusive").all()
    reasons = verdicts.loc[["augmentation_helps", "bones_more_stable"], "reason"]
    assert reasons.str.contains("not below its floor").all()
    assert "not below its floor" in verdicts.loc["beats_baseline_stb", "reason"]


def rotated(p: dict, degrees: float) -> dict:
    """``p`` with every predicted hand the true one turned rigidly by ``degrees`` about the
    camera's y axis (wrist-relative): the right pose, facing another way."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    rel = p["kp3d"] - p["kp3d"][:, WRIST:WRIST + 1]
    return {**p, "kp3d_rel_pred": (rel @ turn.T).astype(np.float32)}


def test_the_joint_angle_claim_scores_angles_between_bones_not_bone_directions(gpu_study):
    """§V's joint angles: ResUnet predicting each true hand turned by 40 degrees has every joint
    angle right (0) but every bone's direction wrong; the baseline, 20 mm off along x at every
    non-wrist joint, bends its joints. The claim compares the joint angles, and the tables show
    both angles under their own names."""
    p = record(0.0, 0.0)
    turned = rotated(p, 40.0)
    assert chapter.joint_angle_error(turned) == pytest.approx(0.0, abs=1e-3)
    assert chapter.bone_direction_error(turned) > 10.0
    predictions = {r.run_id: (turned if r.name == "resunet" else record(20.0, 0.0))
                   for r in gpu_study.runs}
    study = studies.Study(gpu_study.cfg, gpu_study.runs, predictions)
    found = chapter.claim_results(study, hard=predictions)["angles_beat_baseline"]
    assert found["reproduced"]["ResUnet"][0] == pytest.approx(0.0, abs=1e-3)
    assert found["reproduced"]["ResNet-34 regression"][0] > 1.0
    scores = chapter.score_columns(turned, study.cfg)
    assert scores["joint angle (deg)"] == pytest.approx(0.0, abs=1e-3)
    assert scores["bone direction, camera frame (deg)"] == pytest.approx(
        chapter.bone_direction_error(turned))


@pytest.mark.parametrize("profile, side", [("cpu", 64), ("gpu", 128)])
def test_2d_errors_are_labelled_with_the_profiles_crop(profile, side):
    cfg = studies.apply_parameters(load_profile("resunet", profile))
    assert chapter.crop_pixels(cfg) == f"px of the {side}² crop"
    assert chapter.score_names(cfg)[0] == f"2D EPE (px of the {side}² crop)"
    runs = studies.study_runs(cfg)
    study = studies.Study(cfg, runs, {r.run_id: record(*ERRORS[r.name], seed=r.seed)
                                      for r in runs})
    table = chapter.table_scores(study, "main", {})
    assert f"2D EPE (px of the {side}² crop)" in table.columns


def test_every_number_names_the_oracle_crop(gpu_study):
    """The crops are cut at the true hand box, an oracle: the verdicts' data column (model
    comparisons, one run's contrast, the seed spread), the captions' data label, the in-text
    table's column and the figures' titles say so (the shared ``Study.tested_on``)."""
    oracle = studies.RGB_CROP_ORACLE
    hard = dict(zip([r.run_id for r in gpu_study.runs], gpu_study.predictions.values()))
    found = chapter.claim_results(gpu_study, hard=hard)
    for claim in ("beats_baseline_ganerated", "augmentation_helps", "occluded_close_to_visible",
                  "bones_more_stable", "angles_beat_baseline"):
        assert oracle in found[claim]["tested_on"], claim
    assert oracle in chapter.data_label(gpu_study, "STB")
    assert any(oracle in column for column in chapter.table_in_text(gpu_study))
    figure = chapter.figure_pck(gpu_study, {})
    assert oracle in figure._suptitle.get_text()
    plt.close(figure)


def test_an_empty_table_names_the_profile_that_trains_it():
    """A group this profile trains nowhere names the other profile that does, from the
    profiles (not a fixed one): the cpu profile's controls are the gpu profile's; a gpu profile
    without them names no profile, never itself."""
    cfg = studies.apply_parameters(load_profile("resunet", "cpu"))
    cpu = studies.Study(cfg, studies.study_runs(cfg), {})
    assert chapter.table_scores(cpu, "controls", {}).index[0][1] == (
        "not trained on the cpu profile (the gpu profile trains it: `handlib train --chapter "
        "resunet --profile gpu --all`)")
    cfg = studies.apply_parameters(load_profile("resunet", "gpu"))
    cfg["study"]["groups"]["controls"]["datasets"] = []
    gpu = studies.Study(cfg, studies.study_runs(cfg), {})
    assert chapter.table_scores(gpu, "controls", {}).index[0][1] == (
        "not trained on the gpu profile (no profile trains it)")


def test_the_training_recipe_is_read_from_the_profile():
    assert chapter.training_text(load_profile("resunet", "cpu")) == (
        "Adam at learning rate 0.001, batches of 32, 30 epochs, the learning rate × 0.1 every 24 "
        "epochs; augmentation: in-plane rotation up to ±30°, scale 0.9-1.1, shift up to 5 % of "
        "the crop, colour jitter of ±20 % in brightness, contrast and saturation")
    assert chapter.training_text(load_profile("resunet", "smoke")).endswith(
        "1 epoch, the learning rate × 0.1 every 20 epochs; no augmentation")


def test_the_loss_terms_at_the_start_of_training():
    """The nominal 1 : 1 loss, measured on the first training batch of ResUnet (smoke profile
    at toy size): both soft-argmaxes start at the crop centre, so the first block's term is its
    weight (0.5) times the final maps' term; the bone term is far larger than both."""
    cfg = studies.apply_parameters(load_profile("resunet", "smoke"),
                                   overrides=tiny_overrides("resunet"))
    study = studies.Study(cfg, studies.study_runs(cfg), {})
    terms = chapter.loss_terms_at_start(study)
    assert set(terms) == {"kp2d", "kp2d_block1", "bones", "loss"}
    assert terms["kp2d_block1"] == pytest.approx(0.5 * terms["kp2d"], rel=0.02)
    assert terms["loss"] == pytest.approx(terms["kp2d"] + terms["kp2d_block1"] + terms["bones"])
    assert terms["bones"] > 10 * (terms["kp2d"] + terms["kp2d_block1"])
    assert chapter.loss_terms_at_start(study) == terms  # the run's seed: the same batch and model
