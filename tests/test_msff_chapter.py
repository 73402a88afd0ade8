"""The MS-FF chapter's study logic on hand-made two-hand prediction records with known errors:
Table 1 under each GT S / GT H protocol, the joint-set and frame-set splits, Fig. 5's pooled
per-joint errors, the Fig. 6 selection rule, whether each run learned, the claim inputs and the
profiles."""
import numpy as np
import pytest

from handlib import claims as claims_module, learning, metrics, papers, report, study as studies, study3d
from handlib.papers.msff import study as chapter
from handlib.profiles import load_profile
from handlib.skeleton import NUM_JOINTS, TIP_JOINTS
from two_hand_records import ALIGNED, N, two_hand_record

#: Per-run error (mm) of every non-wrist joint (``two_hand_records``).
ERRORS = {"msff": 2.0, "internet": 4.0, "posenet": 6.0, "msff_no_ccm": 3.0,
          "msff_no_grm": 5.0, "msff_no_lom": 7.0}


def fake_predictions(name: str, seed: int) -> dict[str, np.ndarray]:
    # PoseNet has no hand-type head; InterNet calls every one-hand frame the other hand
    return two_hand_record(ERRORS[name], hand_type=name != "posenet",
                           wrong_hand=name == "internet")


def fake_study(profile: str) -> studies.Study:
    # settings as the notebook applies them: a dataset no group of the profile trains on is set
    # aside as not run (handlib.study.set_aside_untrained)
    cfg = studies.apply_parameters(load_profile("msff", profile))
    runs = studies.study_runs(cfg)
    return studies.Study(cfg, runs, {r.run_id: fake_predictions(r.name, r.seed) for r in runs})


@pytest.fixture(scope="module")
def gpu_study():
    """The chapter's logic on every table, claim and figure: the gpu profile trains the main
    comparison (three seeds) and the module ablations on both stand-ins, as the cpu profile
    does not."""
    return fake_study("gpu")


@pytest.fixture(scope="module")
def cpu_study():
    """The cpu profile's own plan: MS-FF and InterNet on RHD-like over two seeds, nothing else."""
    return fake_study("cpu")


def test_profiles_train_the_main_models_everywhere_and_the_ablations_on_interhand():
    # the cpu profile trains only the headline comparison (see the next test)
    for profile, count in (("smoke", 9), ("cpu", 4), ("gpu", 24), ("paper", 9)):
        runs = studies.study_runs(load_profile("msff", profile))
        assert len(runs) == count, profile
    for profile in ("smoke", "paper"):
        runs = studies.study_runs(load_profile("msff", profile))
        assert {r.dataset for r in runs if r.name == "msff_no_lom"} == {"InterHand2.6M"}
    gpu = studies.study_runs(load_profile("msff", "gpu"))
    assert {r.dataset for r in gpu if r.name == "msff_no_lom"} == {"RHD", "InterHand2.6M"}
    assert all(r.config["data"]["two_hands"] == (r.dataset == "InterHand2.6M") for r in gpu)


def test_the_cpu_profile_trains_msff_against_internet_on_rhd_over_two_seeds(cpu_study):
    runs = studies.study_runs(load_profile("msff", "cpu"))
    assert sorted((r.name, r.dataset, r.seed) for r in runs) == [
        ("internet", "RHD", 0), ("internet", "RHD", 1), ("msff", "RHD", 0), ("msff", "RHD", 1)]
    assert not any(r.config["data"]["two_hands"] for r in runs)
    # PoseNet keeps its Table 1 row, empty, naming the profile and command that train it
    assert cpu_study.group("1") == {"PoseNet(2017)": None, "InterNet(2020)": "internet",
                                    "MS-FF": "msff"}
    table = chapter.reproduced_table_1(cpu_study)
    assert np.isnan(table.loc["PoseNet(2017)", "EPE"])
    assert table.loc["MS-FF", "EPE"] == pytest.approx(2.0 * ALIGNED, rel=1e-5)
    labels = studies.run_labels(cpu_study, "1")
    assert labels["PoseNet(2017)"] == (
        "not trained on the cpu profile (the gpu profile trains it: `handlib train --chapter "
        "msff --profile gpu --run posenet --dataset RHD`)")
    assert labels["MS-FF"].startswith("msff, mean of seeds [0, 1], RHD-like")
    # InterHand2.6M is set aside as not trained, as a dataset absent from data_root is: its
    # claims say "not run" and name the profile, never falling back to RHD's runs
    assert list(cpu_study.cfg["study"]["datasets"]) == ["RHD"]
    assert cpu_study.cfg["study"]["untrained"] == ["InterHand2.6M"]
    assert cpu_study.dataset_for("InterHand2.6M") is None
    assert studies.absent_text(cpu_study) == (
        "not run: not trained on the cpu profile (InterHand2.6M)")
    at_the_wrist = np.zeros((2, NUM_JOINTS, 3))
    floor = {"RHD": study3d.mean_pose_record(fake_predictions("msff", 0), at_the_wrist)}
    table = report.verdict_table(papers.claims("msff"), chapter.claim_results(cpu_study, floor))
    for cid in ("channel_conversion_helps", "fingertips_harder_msff", "beats_baselines_interacting"):
        assert table.loc[cid, "verdict"] == "inconclusive"
        assert table.loc[cid, "reason"].startswith(report.NOT_RUN)
        assert table.loc[cid, "tested on"] == studies.absent_text(cpu_study)
    assert table.loc["beats_internet_rhd", "verdict"] == "holds"
    assert table.loc["beats_internet_rhd", "tested on"].endswith(", seeds [0, 1]")


def test_paper_settings_are_the_defaults():
    settings = papers.settings("msff")
    paper = studies.run_config(load_profile("msff", "paper"), "RHD", "msff", 0)
    assert paper["optimizer"]["lr"] == settings["lr"]
    assert paper["train"]["batch_size"] == settings["batch_size"]
    assert paper["train"]["epochs"] == settings["epochs"]
    assert paper["scheduler"]["milestones"] == settings["lr_milestones"]
    assert paper["scheduler"]["gamma"] == settings["lr_gamma"]
    assert paper["data"]["input_size"] == settings["input_size"]
    # RHD's own split names reach the run; InterHand2.6M keeps train/val/test
    assert (paper["train"]["split"], paper["eval"]["split"], paper["eval"]["test_split"]) == (
        "rcsf_train", "rcsf_val", "rcsf_test")
    other = studies.run_config(load_profile("msff", "paper"), "InterHand2.6M", "msff", 0)
    assert other["eval"]["test_split"] == "test" and other["data"]["two_hands"]


def test_a_dataset_split_of_unknown_role_is_refused():
    cfg = load_profile("msff", "paper")
    cfg["study"]["datasets"]["RHD"]["splits"] = {"holdout": "x"}
    with pytest.raises(ValueError, match="splits"):
        studies.run_config(cfg, "RHD", "msff", 0)


def test_table1_scores_each_row_under_its_papers_protocol(gpu_study):
    table = chapter.reproduced_table_1(gpu_study)
    assert list(table.columns) == ["GT S", "EPE"]
    # what GT S = N uses of the ground truth: the true root depth, said in the row
    assert table.loc["MS-FF", "GT S"] == "N (true root depth)"
    assert table.loc["PoseNet(2017)", "GT S"] == "Y (true scale bone)"
    assert set(table.index) <= set(papers.table("msff", "1").index)
    assert table.loc["MS-FF", "EPE"] == pytest.approx(2.0 * ALIGNED, rel=1e-5)
    # GT H = N: InterNet's wrong handedness on the one-hand frames scores its empty slot
    assert table.loc["InterNet(2020)", "EPE"] > 3 * 4.0 * ALIGNED
    # PoseNet is scored with GT S and GT H, as its row; rescaling keeps a shifted hand close
    assert np.isfinite(table.loc["PoseNet(2017)", "EPE"])


def test_table1_says_the_scale_it_was_reproduced_at(cpu_study):
    caption = chapter.table_1(cpu_study).attrs["caption"]
    assert caption == (f"{papers.table('msff', '1').attrs['caption']} Reproduced on the "
                       f"{learning.scale_text(cpu_study)}.")
    assert "cpu profile: 64² input" in caption


def test_ground_truth_protocols_and_posenet_cells(gpu_study):
    rhd = gpu_study.dataset_for("RHD")
    table = chapter.table_ground_truth(gpu_study, rhd)
    gt_hand = "GT S N (true root depth), GT H Y (InterNet's released evaluation)"
    assert table.loc["InterNet(2020)", gt_hand] == pytest.approx(4.0 * ALIGNED, rel=1e-5)
    assert np.isnan(table.loc["PoseNet(2017)", "GT S N (true root depth), GT H N"])
    assert np.isnan(table.loc["PoseNet(2017)", gt_hand])
    assert np.isfinite(table.loc["PoseNet(2017)", "GT S Y, GT H Y"])


def test_joint_and_frame_sets(gpu_study):
    p = fake_predictions("msff", 0)
    tips = study3d.joint_set(p, "fingertips")
    assert tips.sum() == N * 2 * len(TIP_JOINTS)
    assert study3d.joint_set(p, "occluded by the other hand").sum() == 6 * 2 * 3 + 4
    assert study3d.frame_set(p, "interacting").tolist() == [True] * 6 + [False] * 6
    # the wrist is exact and every other joint is off by 2 mm
    assert study3d.mpjpe(gpu_study, p, "fingertips") == pytest.approx(2.0, rel=1e-5)
    assert study3d.mpjpe(gpu_study, p, "palm joints") == pytest.approx(2.0 * 5 / 6, rel=1e-5)
    with pytest.raises(ValueError, match="joint set"):
        study3d.joint_set(p, "knuckles")


def test_split_tables_have_every_model_and_the_joint_counts(gpu_study):
    interacting = gpu_study.dataset_for("InterHand2.6M")
    table = chapter.table_joint_sets(gpu_study, interacting, "interacting")
    assert list(table.columns) == list(study3d.JOINT_SETS)
    assert {"MS-FF", "InterNet(2020)", "PoseNet(2017)", "MS-FF without CCM",
            "MS-FF without GRM", "MS-FF without LOM", "joints scored"} == set(table.index)
    assert table.loc["joints scored", "all joints"] == 6 * 42
    assert table.loc["MS-FF without LOM", "occluded"] == pytest.approx(7.0, rel=1e-5)
    hand = chapter.table_interhand(gpu_study, interacting)
    assert hand.loc["MS-FF", "MPJPE interacting (mm)"] == pytest.approx(2.0 * ALIGNED, rel=1e-5)
    assert hand.loc["InterNet(2020)", "handedness accuracy"] == pytest.approx(0.5)
    assert np.isnan(hand.loc["PoseNet(2017)", "handedness accuracy"])


def test_fig5_pools_left_and_right_and_fig6_picks_the_most_hidden_frames(gpu_study):
    interacting = gpu_study.dataset_for("InterHand2.6M")
    values = chapter.per_joint_pooled(gpu_study, interacting)
    assert values.shape == (NUM_JOINTS, 6)
    assert values.loc["wrist", "MS-FF"] == pytest.approx(0.0, abs=1e-5)
    assert values.iloc[1:]["InterNet(2020)"].to_numpy() == pytest.approx(4.0, rel=1e-5)
    chosen = study3d.most_occluded_by_other_hand(fake_predictions("msff", 0), 2)
    assert chosen.tolist() == [0, 1]  # frame 0 hides the most; ties go to the earlier frame


def test_a_run_learned_below_the_constant_mean_pose_and_not_at_it():
    constant = study3d.mean_pose_record(fake_predictions("msff", 0), np.zeros((2, NUM_JOINTS, 3)))
    cfg = load_profile("msff", "gpu")  # PoseNet and both stand-ins (the cpu profile: neither)
    runs = studies.study_runs(cfg)
    # PoseNet predicts the constant itself; every other run errs 2-7 mm at each non-wrist joint,
    # far below the constant's (every joint at the wrist: tens of mm)
    study = studies.Study(cfg, runs, {r.run_id: constant if r.name == "posenet"
                                      else fake_predictions(r.name, r.seed) for r in runs})
    table = study3d.learning_table(study, {d: constant for d in cfg["study"]["datasets"]})
    assert table.loc["RHD-msff", "test score"] == pytest.approx(2.0 * ALIGNED, rel=1e-5)
    assert table.loc["RHD-msff", "learned"] and table.loc["RHD-msff", "margin below floor"] > 20
    assert table.loc["RHD-posenet", "margin below floor"] == 0
    assert not table.loc["RHD-posenet", "learned"]
    # PoseNet on both stand-ins over the gpu profile's three seeds: 6 of its 24 runs
    assert learning.learned_summary(table) == (
        "18 of 24 runs learned (not below their floor by more than the interval: RHD-posenet, "
        "RHD-posenet-seed1, RHD-posenet-seed2, InterHand2.6M-posenet, "
        "InterHand2.6M-posenet-seed1, InterHand2.6M-posenet-seed2)")


def test_every_claim_gets_a_verdict_and_the_mean_pose_is_the_floor(gpu_study):
    at_the_wrist = np.zeros((2, NUM_JOINTS, 3))  # a constant: every joint at the wrist
    floor = {d: study3d.mean_pose_record(fake_predictions("msff", 0), at_the_wrist)
             for d in gpu_study.cfg["study"]["datasets"]}
    found = chapter.claim_results(gpu_study, floor)
    claims = papers.claims("msff")
    testable = {c["id"] for c in claims if c["testable_on"] != "not_here"}
    assert set(found) == testable
    verdicts = report.verdict_table(claims, found)["verdict"]
    assert verdicts["beats_baselines_interacting"] == "holds"      # 2 < 4 < 6 mm
    assert verdicts["channel_conversion_helps"] == "holds"         # 2 < 3 mm
    assert verdicts["every_joint_beats_internet"] == "holds"
    assert verdicts["beats_internet_rhd"] == "holds"               # InterNet's wrong hand
    # the same error on every non-wrist joint: fingertips 2 mm, palm joints 5/6 of it (the
    # wrist is exact after alignment), once per seed of MS-FF (three on the gpu profile)
    fingertips = found["fingertips_harder_msff"]["reproduced"]
    assert fingertips["fingertips"] == [pytest.approx(2.0)] * 3
    assert fingertips["palm joints"] == [pytest.approx(2.0 * 5 / 6)] * 3
    assert verdicts["best_without_ground_truth"] == "inconclusive"  # not testable here
    floors = chapter.contrast_floors(gpu_study, floor)
    assert floors.loc["fingertips_harder_msff", "same order without a model"]


def test_a_model_worse_than_the_constant_is_inconclusive(gpu_study):
    record = fake_predictions("msff", 0)
    hands = np.nan_to_num(record["kp3d"]).reshape(N, 2, NUM_JOINTS, 3)
    floor = study3d.mean_pose_record(record, np.zeros((2, NUM_JOINTS, 3)))
    floor["kp3d_rel_pred"] = (hands - hands[:, :, :1]).reshape(N, 42, 3)  # a perfect constant
    found = chapter.claim_results(gpu_study, {d: floor for d in gpu_study.cfg["study"]["datasets"]})
    verdict = report.verdict_table(papers.claims("msff"), found).loc["channel_conversion_helps"]
    assert verdict["verdict"] == "inconclusive" and "floor" in verdict["reason"]


def test_table_less_claims_print_where_the_paper_makes_them():
    claim = next(c for c in papers.claims("msff") if c["id"] == "channel_conversion_helps")
    assert papers.format_claim(claim).endswith("(Introduction, contribution 2; Method B; "
                                               "no number printed)")
    assert np.isnan(papers.claim_values(claim)["subject_value"])
    assert all(c.get("source") for c in papers.claims("msff") if c.get("table") is None)


def test_a_two_hand_model_given_a_one_hand_codec_is_a_clear_error():
    import torch

    from handlib import codecs, models

    model = models.build("msff", width=8, layers=[1, 1, 1, 1], channels=16, depth_bins=4,
                         root_bins=4, hidden=8).eval()
    with torch.no_grad():
        outputs = model(torch.zeros(1, 3, 64, 64))
    one_hand = codecs.build({"name": "heatmap2d", "input_size": 64, "heatmap_size": 16})
    with pytest.raises(ValueError, match="pair the model with the codec"):
        one_hand.decode_crop(outputs, {"kp2d": torch.zeros(1, 21, 2)})


def test_a_claim_without_table_or_source_and_a_wrong_data_root_are_clear_errors(tmp_path):
    claim = {**next(c for c in papers.claims("msff") if c.get("table") is None), "source": None}
    with pytest.raises(ValueError, match="source"):
        papers.format_claim(claim)
    with pytest.raises(ValueError, match="RHD_published_v2/, InterHand2.6M/"):  # neither there
        studies.apply_parameters(load_profile("msff", "paper"), data_root=tmp_path)
    (tmp_path / "RHD_published_v2").mkdir()  # InterHand2.6M missing: left out, and named
    cfg = studies.apply_parameters(load_profile("msff", "paper"), data_root=tmp_path)
    assert list(cfg["study"]["datasets"]) == ["RHD"]
    assert "InterHand2.6M/ is not under data_root" in studies.missing_names(cfg)["InterHand2.6M"]
    with pytest.raises(ValueError, match="data_root"):
        studies.apply_parameters(load_profile("msff", "paper"))


def test_the_2d_retest_scores_every_claim_in_2d_but_those_at_every_joint(gpu_study):
    at_the_wrist = np.zeros((2, NUM_JOINTS, 3))
    floor = {d: study3d.mean_pose_record(fake_predictions("msff", 0), at_the_wrist)
             for d in gpu_study.cfg["study"]["datasets"]}
    found = chapter.claim_results(gpu_study, floor, measure="2d")
    testable = {c["id"] for c in papers.claims("msff") if c["testable_on"] != "not_here"}
    assert set(found) == testable - {"every_joint_beats_internet", "every_joint_beats_posenet"}
    # the main comparison's seeds close the description (three on the gpu profile)
    assert found["beats_internet_rhd"]["tested_on"].endswith(", 2D error, seeds [0, 1, 2]")
    assert found["channel_conversion_helps"]["tested_on"].endswith(
        ", all joints, all frames, 2D error")
    in_3d = chapter.claim_results(gpu_study, floor)
    assert in_3d["beats_internet_rhd"]["tested_on"].endswith(
        ", GT S = N (true root depth), GT H = N, seeds [0, 1, 2]")
    assert ", interacting frames, at the " in in_3d["every_joint_beats_internet"]["tested_on"]
    assert found["channel_conversion_helps"]["floor"] != in_3d["channel_conversion_helps"]["floor"]


def test_claims_on_a_dataset_absent_from_data_root_are_not_run(tmp_path):
    (tmp_path / "RHD_published_v2").mkdir()  # InterHand2.6M missing
    cfg = studies.apply_parameters(load_profile("msff", "paper"), data_root=tmp_path)
    runs = studies.study_runs(cfg)
    study = studies.Study(cfg, runs, {r.run_id: fake_predictions(r.name, r.seed) for r in runs})
    found = chapter.claim_results(study)
    table = report.verdict_table(papers.claims("msff"), found)
    for cid in ("channel_conversion_helps", "fingertips_harder_msff"):  # runs and a contrast
        assert table.loc[cid, "reason"].startswith(report.NOT_RUN)
        assert "absent from data_root" in table.loc[cid, "tested on"]
    # RHD is there: its claim is scored (the paper profile trains one seed: nothing to judge a
    # model-against-model difference by, so it stays inconclusive)
    assert table.loc["beats_internet_rhd", "reason"].startswith("one seed")


def noisy(record: dict, seed: int, sd_mm: float = 5.0) -> dict:
    """``record`` with every predicted joint moved by N(0, sd_mm) noise of its own ``seed``."""
    rng = np.random.default_rng(seed)
    pred = record["kp3d_rel_pred"] + rng.normal(0, sd_mm, record["kp3d_rel_pred"].shape)
    return {**record, "kp3d_rel_pred": pred.astype(np.float32)}


def test_every_joint_of_two_equal_models_is_not_a_loss():
    """Two models with the same error distribution: picking the worst of 20 joints on the test
    predictions and testing it alone (the old rule) calls it a loss; judged over all joints at
    once it is inconclusive."""
    study = fake_study("cpu")
    claim = papers.claim("msff", "every_joint_beats_internet")
    runs = {"MS-FF": "msff", "InterNet(2020)": "internet"}
    dataset = study.dataset_for("RHD")
    base = two_hand_record(3.0)
    predictions = {r.run_id: noisy(base, {"msff": 1, "internet": 2}[r.name] * 100 + r.seed + 28)
                   for r in study.runs}
    equal = studies.Study(study.cfg, study.runs, predictions)
    found = chapter.every_joint(claims_module.Target(equal, claim, dataset, runs))
    # the old rule: the worst joint's gap beyond twice its own bootstrap standard error
    subject, reference = (equal.first(dataset, runs[label]) for label in runs)
    gaps = chapter.joint_gaps(equal, subject, reference)
    worst = int(np.nanargmax(gaps))
    score = lambda p: float(metrics.mpjpe_per_joint_pooled_hands(p, equal.cfg["eval"])[worst])
    assert gaps[worst] > report.paired_bootstrap_margin(score, subject, reference)
    verdict = report.claim_verdict(claim, **found)
    assert verdict["verdict"] == "inconclusive", verdict["reason"]
