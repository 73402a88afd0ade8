"""The occlusion benchmark's splits and joins on hand-made frames and predictions with known
answers (handlib.occlusion), and the scoreboard's counts (handlib.scoreboard); its records made
run by run without the notebook, and its command, on the smoke profile's runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handlib import occlusion as oc
from handlib import report, scoreboard, study
from handlib.skeleton import NUM_JOINTS, WRIST

WORDS = ["visible"] * NUM_JOINTS


def hand_joints(offset: float) -> tuple[np.ndarray, np.ndarray]:
    """A hand whose 2D box is 20 px wide (x from offset to offset + 20) and whose 3D joints lie
    400 mm in front of the camera."""
    kp2d = np.zeros((NUM_JOINTS, 2))
    kp2d[:, 0] = offset + np.linspace(0, 20, NUM_JOINTS)
    kp2d[:, 1] = 50 + np.linspace(0, 10, NUM_JOINTS)
    kp3d = np.zeros((NUM_JOINTS, 3))
    kp3d[:, 0] = np.linspace(0, 80, NUM_JOINTS)
    kp3d[:, 1] = np.linspace(0, 40, NUM_JOINTS) ** 1.5
    kp3d[:, 2] = 400.0 + 10 * np.sin(np.arange(NUM_JOINTS))
    return kp2d, kp3d


def one_hand_sample(offset: float, side: str = "right", words=WORDS) -> dict:
    kp2d, kp3d = hand_joints(offset)
    return {"image": np.zeros((128, 128, 3), np.uint8), "kp2d": kp2d, "kp3d": kp3d,
            "visible": np.array([w == "visible" for w in words]), "side": side,
            "bbox": np.array([offset, 50, 20, 10], np.float32), "meta": {"occlusion": list(words)}}


def two_hand_sample(valid=(True, True)) -> dict:
    right, left = one_hand_sample(0.0), one_hand_sample(60.0, "left", ["self"] * NUM_JOINTS)
    return {"image": right["image"], "kp2d": np.stack([right["kp2d"], left["kp2d"]]),
            "kp3d": np.stack([right["kp3d"], left["kp3d"]]),
            "visible": np.stack([right["visible"], left["visible"]]),
            "bbox": np.stack([right["bbox"], left["bbox"]]), "side": np.array(["right", "left"]),
            "hand_valid": np.array(valid), "labelled": np.ones((2, NUM_JOINTS), bool),
            "meta": {"occlusion": [WORDS, ["self"] * NUM_JOINTS]}}


# ----------------------------------------------------------------------------- hand rows


def test_hand_rows_are_every_valid_hand_right_before_left():
    rows = oc.hand_rows([two_hand_sample(), two_hand_sample((False, True)), one_hand_sample(5.0)])
    assert rows.frame.tolist() == [0, 0, 1, 2]
    assert rows.side.tolist() == ["right", "left", "left", "right"]
    assert rows.box.tolist() == [20.0, 20.0, 20.0, 20.0]
    assert (rows.kind[0] == 0).all() and (rows.kind[1] == 1).all()  # visible; self-occluded
    assert np.allclose(rows.kp2d[1, 0], [60.0, 50.0])


def test_viewpoint_is_plus_one_when_the_palm_faces_the_camera():
    from handlib.data.hand_model import palm_normal, palm_to_camera

    kp3d = hand_joints(0.0)[1] + np.random.default_rng(0).normal(0, 5, (NUM_JOINTS, 3))
    normal = palm_normal(kp3d, "right")
    camera_at = kp3d.mean(axis=0) + 300 * normal  # the camera on the palm's side, on its normal
    moved = kp3d - camera_at
    assert palm_to_camera(moved, "right") == pytest.approx(1.0, abs=1e-6)
    assert palm_to_camera(moved, "left") == pytest.approx(-1.0, abs=1e-6)


def test_one_hand_views_show_the_whole_frame_labelled_with_one_hand():
    views = oc.OneHandViews([two_hand_sample(), two_hand_sample((True, False))])
    assert len(views) == 3
    left = views[1]
    assert left["side"] == "left" and left["kp2d"].shape == (NUM_JOINTS, 2)
    assert left["meta"]["occlusion"] == ["self"] * NUM_JOINTS
    assert "hand_valid" not in left and left["image"].shape == (128, 128, 3)


# ----------------------------------------------------------------------------- the join


def test_a_one_hand_record_joins_by_hand_row_and_a_two_slot_record_by_frame_and_side():
    frames = [two_hand_sample(), two_hand_sample((False, True))]
    rows = oc.hand_rows(frames)                    # rows: (0, right), (0, left), (1, left)
    shift = np.array([2.0, 0.0])
    # one-hand model: one item per hand row, in a shuffled order
    order = np.array([2, 0, 1])
    one = {"index": order, "kp2d": rows.kp2d[order], "kp2d_pred": rows.kp2d[order] + shift}
    joined = oc.align(one, rows, two_hand_frames=True)
    assert np.allclose(joined["kp2d"], rows.kp2d + shift)
    # two-slot model: one item per frame, right slot then left slot; frame 1's right is empty
    both = np.stack([np.concatenate([f["kp2d"][0], f["kp2d"][1]]) for f in frames])
    predicted = both.copy()
    predicted[:, NUM_JOINTS:] += 3 * shift           # the left slot is 6 px off
    two = {"index": np.array([0, 1]), "kp2d": both, "kp2d_pred": predicted}
    errors = oc.errors_of(oc.align(two, rows, two_hand_frames=True), rows)
    assert np.allclose(errors["err2d"], np.array([0.0, 0.3, 0.3])[:, None])  # 6 px / 20 px box


def test_a_join_whose_labels_differ_fails():
    rows = oc.hand_rows([one_hand_sample(0.0), one_hand_sample(30.0)])
    record = {"index": np.array([1, 0]), "kp2d": rows.kp2d, "kp2d_pred": rows.kp2d}
    with pytest.raises(ValueError, match="differ from the benchmark's hand rows"):
        oc.align(record, rows, two_hand_frames=False)
    with pytest.raises(ValueError, match="lacks dataset items"):
        oc.align({"index": np.array([0]), "kp2d": rows.kp2d[:1], "kp2d_pred": rows.kp2d[:1]},
                 rows, two_hand_frames=False)


def test_3d_errors_are_wrist_relative_and_leave_the_wrist_out():
    rows = oc.hand_rows([one_hand_sample(0.0)])
    shifted = rows.kp3d + np.array([100.0, 0, 0])    # a translation only: no error
    bent = shifted.copy()
    bent[0, 5] += np.array([0.0, 0.0, 12.0])          # joint 5 off by 12 mm
    record = {"index": np.array([0]), "kp2d": rows.kp2d, "kp2d_pred": rows.kp2d,
              "kp3d_pred": bent}
    errors = oc.errors_of(oc.align(record, rows, two_hand_frames=False), rows)
    assert np.isnan(errors["err3d"][0, WRIST])
    assert errors["err3d"][0, 5] == pytest.approx(12.0)
    assert np.nansum(errors["err3d"]) == pytest.approx(12.0)
    assert oc.measure(errors, "3d", oc.thresholds({"pck_thresholds": {
        "start": 0, "stop": 0.5, "num": 6}})) == pytest.approx(12.0 / 20)


def test_the_floor_mirrors_the_mean_pose_for_left_hands():
    rows = oc.hand_rows([one_hand_sample(0.0), one_hand_sample(0.0, "left")])
    pose = oc.mean_pose(rows)
    relative = rows.kp3d[0] - rows.kp3d[0, WRIST]
    # the right hand and the mirrored left hand average to x = 0 for these two identical hands
    assert np.allclose(pose[:, 0], 0.0) and np.allclose(pose[:, 1:], relative[:, 1:])
    floor = oc.floor_errors(rows, relative)
    assert np.allclose(floor["err3d"][0, 1:], 0.0)                      # exact on the right hand
    assert np.allclose(floor["err3d"][1, 1:], 2 * np.abs(relative[1:, 0]))  # mirrored on the left
    assert np.allclose(floor["err2d"].max(), np.hypot(10, 5) / 20)       # the box centre


# ----------------------------------------------------------------------------- measures


def errors_record(err2d: np.ndarray, kind: np.ndarray, err3d=None, view=None) -> dict:
    count = len(err2d)
    return {"index": np.arange(count), "err2d": err2d, "kind": kind,
            "err3d": np.full(err2d.shape, np.nan) if err3d is None else err3d,
            "view": np.zeros(count) if view is None else view}


GRID = np.array([0.0, 0.1, 0.2])


def test_auc_and_groups_by_kind_on_known_errors():
    err2d = np.full((2, NUM_JOINTS), 0.05)
    err2d[1] = 0.15                                   # the second hand's joints are further off
    kind = np.zeros((2, NUM_JOINTS), int)
    kind[1, :10] = 2                                  # ten object-occluded joints
    errors = errors_record(err2d, kind)
    masks = oc.groups(errors, "kind", {})
    assert list(masks) == ["all joints", *oc.KIND_LABELS]
    hidden = masks["object-occluded"]
    # PCK over (0, 0.1, 0.2) on the hidden joints: 0, 0, 1 -> AUC 0.25
    assert oc.measure(errors, "2d", GRID, hidden) == pytest.approx(0.25)
    # visible joints: 21 at 0.05 and 11 at 0.15 -> PCK 0, 21/32, 1
    visible = masks["visible"]
    expected = ((0 + 21 / 32) / 2 + (21 / 32 + 1) / 2) / 2
    assert oc.measure(errors, "2d", GRID, visible) == pytest.approx(expected)
    assert oc.joints_behind(errors, "2d", hidden) == 10
    assert np.isnan(oc.measure(errors, "2d", GRID, masks["other hand"]))


def test_fingers_views_and_occluded_fraction_split_the_hands():
    kind = np.zeros((4, NUM_JOINTS), int)
    kind[1, :3] = 1                                   # 3/21 hidden -> bin 0.1-0.25
    kind[2, :] = 2                                    # all hidden -> bin 0.75-1
    errors = errors_record(np.zeros((4, NUM_JOINTS)), kind,
                           view=np.array([-0.9, -0.2, 0.3, 0.9]))
    fingers = oc.groups(errors, "finger", {})
    assert fingers["wrist"][0].sum() == 1 and fingers["thumb"][0].sum() == 4
    views = oc.groups(errors, "view", {})
    assert [views[label][:, 0].tolist().index(True) for label in oc.VIEW_LABELS] == [0, 1, 2, 3]
    bins = oc.groups(errors, "occluded fraction",
                     {"occluded_fraction_bins": [0, 0.1, 0.25, 0.5, 0.75, 1.0]})
    assert bins["0-0.1"][:, 0].tolist() == [True, False, False, True]
    assert bins["0.1-0.25"][:, 0].tolist() == [False, True, False, False]
    assert bins["0.75-1"][:, 0].tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="unknown breakdown"):
        oc.groups(errors, "colour", {})


def test_the_bootstrap_interval_holds_the_value_and_is_the_same_for_the_same_rows():
    rng = np.random.default_rng(0)
    err3d = rng.uniform(0, 40, (30, NUM_JOINTS))
    errors = errors_record(np.zeros((30, NUM_JOINTS)), np.zeros((30, NUM_JOINTS), int), err3d)
    keep = np.ones(err3d.shape, bool)
    low, high = oc.interval(errors, "3d", GRID, keep, samples=100)
    assert low < oc.measure(errors, "3d", GRID) < high
    assert (low, high) == oc.interval(errors, "3d", GRID, keep, samples=100)
    assert np.isnan(oc.interval(errors, "3d", GRID, np.zeros_like(keep), samples=10)[0])


def tiny_benchmark(subject_error: float, reference_error: float) -> oc.Benchmark:
    """A benchmark of two MS-FF rows on 20 interacting hands whose joints are all occluded by
    the other hand, with known 3D errors, and a floor at 100 mm."""
    cfg = {"profile": "cpu", "pck_thresholds": {"start": 0, "stop": 0.5, "num": 6},
           "bootstrap_samples": 50, "chapters": {"msff": {"name": "MS-FF", "group": "main"}},
           "test_sets": {"interacting": {}},
           "claims": [{"id": "occluded", "paper": "msff", "text": "{subject} beats {reference}",
                       "table": None, "source": "Introduction", "better": "lower",
                       "subject": "MS-FF", "reference": ["InterNet(2020)"], "column": "3D",
                       "testable_on": "synthetic",
                       "measure": {"quantity": "3d", "kinds": ["other hand"],
                                   "test_set": "interacting"}}]}
    kind = np.full((20, NUM_JOINTS), 3)

    def record(error, seed):
        noise = np.random.default_rng(seed).normal(0, 1, (20, NUM_JOINTS))
        return errors_record(np.zeros((20, NUM_JOINTS)), kind, error + noise)

    rows = oc.Hands(*(np.zeros(20),) * 7)
    errors = {"interacting": {"MS-FF: MS-FF": record(subject_error, 1),
                              "MS-FF: InterNet(2020)": record(reference_error, 2),
                              oc.FLOOR: record(100.0, 3)}}
    chosen = [oc.Model("msff", "MS-FF", label, study.Run("InterHand2.6M", label, 0, label, {}))
              for label in ("MS-FF", "InterNet(2020)")]
    return oc.Benchmark(cfg, chosen, {"interacting": rows}, errors, {})


def test_a_claim_verdict_follows_the_known_difference_and_the_floor():
    def verdict(subject, reference):
        bench = tiny_benchmark(subject, reference)
        table = report.verdict_table(oc.claims(bench.cfg), oc.claim_results(bench))
        return table.loc["occluded", "verdict"], table.loc["occluded", "subject (reproduced)"]

    assert verdict(20.0, 30.0) == ("holds", pytest.approx(20.0, abs=0.5))
    assert verdict(30.0, 20.0)[0] == "does not hold"
    assert verdict(30.0, 30.0)[0] == "inconclusive"               # within the noise
    assert verdict(120.0, 130.0)[0] == "inconclusive"             # both beyond the floor


def test_a_claim_on_a_row_the_profile_drops_is_not_run_and_an_unknown_row_is_refused():
    """The cpu profile of MS-FF maps its PoseNet(2017) row to null: a claim naming it is not
    run (and says why); a label that is no row of the chapter's group is a typo, refused."""
    bench = tiny_benchmark(20.0, 30.0)
    bench.cfg["claims"][0]["reference"] = ["PoseNet(2017)"]
    table = report.verdict_table(oc.claims(bench.cfg), oc.claim_results(bench))
    assert table.loc["occluded", "verdict"] == "inconclusive"
    assert table.loc["occluded", "tested on"] == (
        "not run: PoseNet(2017) not trained on the cpu profile")
    bench.cfg["claims"][0]["reference"] = ["PoseNet(2071)"]
    with pytest.raises(ValueError, match="names \\['PoseNet\\(2071\\)'\\]"):
        oc.claim_results(bench)


def test_against_the_floor_a_model_beats_it_only_beyond_the_noise():
    table = oc.against_floor(tiny_benchmark(20.0, 100.0))
    assert table.loc["MS-FF: MS-FF", ("3D MPJPE (mm)", "better than the floor by")] == \
        pytest.approx(80.0, abs=0.5)
    assert table.loc["MS-FF: MS-FF", ("3D MPJPE (mm)", "beats the floor")]
    assert not table.loc["MS-FF: InterNet(2020)", ("3D MPJPE (mm)", "beats the floor")]
    assert not table.loc["MS-FF: MS-FF", ("2D AUC", "beats the floor")]  # 2D equal to it
    assert "in 3D, **1 of 2** models beat the floor beyond the noise (MS-FF: MS-FF)" in \
        oc.floor_sentence(table)


# ----------------------------------------------------------------------------- scoreboard


def verdict_rows() -> pd.DataFrame:
    rows = [
        {"claim": "a", "verdict": "holds", "tested on": "RHD-like synthetic stand-in (...)",
         "testable on": "synthetic", "run": "rcsf/cpu (cpu)"},
        {"claim": "b", "verdict": "does not hold", "tested on": "NYU published predictions",
         "testable on": "real", "run": "metrics/cpu (cpu)"},
        {"claim": "c", "verdict": "does not hold", "tested on": "the paper's Table 2",
         "testable on": "paper table", "run": "paper"},
        {"claim": "d", "verdict": "inconclusive", "tested on": None, "testable on": "not here",
         "run": report.NOT_RUN},
        {"claim": "e", "verdict": "holds", "tested on": "STB test split (paper profile)",
         "testable on": "synthetic", "run": "rcsf/paper (paper)"},
        {"claim": "f", "verdict": "holds", "tested on": "CPU: Xeon (2 logical cores), batch 1",
         "testable on": "real", "run": "bench"},
    ]
    return pd.DataFrame(rows).set_index("claim")


def test_the_scoreboard_counts_verdicts_and_the_data_behind_them():
    counts = scoreboard.verdict_counts(verdict_rows())
    assert (counts["holds"], counts["does not hold"], counts["inconclusive"]) == (3, 2, 1)
    assert [counts[kind] for kind in scoreboard.DATA_KINDS] == [1, 1, 1, 1, 1, 1]
    assert set(scoreboard.verdict_counts(None).values()) == {None}


def test_verdict_files_round_trip_and_feed_the_scoreboard(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path))
    table = verdict_rows().assign(difference=[0.5, np.nan, -1.0, np.nan, 0.1, 0.2])
    report.save_verdicts(table, "rcsf", "cpu")
    saved = report.load_verdicts("rcsf", "cpu")
    assert saved["profile"] == "cpu" and saved["verdicts"]["verdict"].tolist() == \
        table["verdict"].tolist()
    assert np.isnan(saved["verdicts"].loc["b", "difference"])
    assert report.load_verdicts("rcsf", "gpu") is None
    board = scoreboard.scoreboard("cpu")
    assert board.index[0] == '<a href="10_rcsf.html">RCSF</a>'  # the papers are rows
    rcsf, msff = board.iloc[0], board.iloc[1]
    assert (rcsf["holds"], rcsf["does not hold"]) == (3, 2)
    assert rcsf["verdicts from"].startswith('<a href="10_rcsf.html#verdicts-on-the-paper-s-claims"')
    assert msff["verdicts from"] == "not run"
    assert pd.isna(msff["holds"])
    assert rcsf["occlusion benchmark"] == "not run"
    assert rcsf["tables and figures"] == sum(rcsf[k] for k in ("regenerated", "partly",
                                                                "not regenerated"))


def test_section_links_use_the_ids_sphinx_gives_headings():
    assert scoreboard.section_link("10_rcsf", "Tables 1 and 2: per-joint PCK") == \
        "10_rcsf.html#tables-1-and-2-per-joint-pck"
    assert scoreboard.section_link("13_resunet", None) is None


def test_the_scoreboard_runs_after_every_other_notebook():
    from tools.build_book import execution_order

    order = execution_order(["notebooks/scoreboard", "notebooks/00_claims",
                             "notebooks/20_occlusion"])
    assert order == ["notebooks/00_claims", "notebooks/20_occlusion", "notebooks/scoreboard"]


def test_the_sections_the_scoreboard_links_to_exist():
    cfg = scoreboard.load_config("smoke")
    for notebook in cfg["chapters"].values():
        assert scoreboard.VERDICT_SECTION in scoreboard.headings(notebook), notebook
    assert scoreboard.BENCHMARK_SECTION in scoreboard.headings(cfg["benchmark"])


def test_shown_names_the_joints_behind_every_value():
    columns = pd.MultiIndex.from_tuples([("visible", "value"), ("visible", "low"),
                                         ("visible", "high"), ("visible", "joints"),
                                         ("self", "value"), ("self", "low"), ("self", "high"),
                                         ("self", "joints")])
    frame = pd.DataFrame([[0.5, 0.4, 0.6, 30, 0.2, 0.1, 0.3, 12],
                          [0.7, 0.6, 0.8, 30, np.nan, np.nan, np.nan, 0]],
                         index=["a", "b"], columns=columns)
    table = oc.shown(frame)
    assert list(table.columns) == ["visible (n = 30)", "self"]
    assert table.loc["a", "visible (n = 30)"] == "0.5 [0.4, 0.6]"
    assert table.loc["a", "self"] == "0.2 [0.1, 0.3] (n = 12)"
    assert table.loc["b", "self"] == "–"


# ----------------------------------------------------------------------------- bad input


def test_a_corrupt_result_file_names_itself_and_the_fix(tmp_path, monkeypatch):
    from handlib import results

    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path))
    broken = tmp_path / "rcsf" / "cpu" / report.VERDICTS_FILE
    broken.parent.mkdir(parents=True)
    broken.write_text('{"verdicts": [')
    with pytest.raises(ValueError, match=r"verdicts.json is not valid JSON .*delete it"):
        report.load_verdicts("rcsf", "cpu")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / results.predictions_file("hard")).write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"hard_predictions.npz cannot be read .*delete it"):
        results.read_predictions(tmp_path / "run", "abc", "hard")


def test_an_unknown_measure_or_a_bad_claim_is_refused():
    bench = tiny_benchmark(20.0, 30.0)
    errors = bench.errors["interacting"]["MS-FF: MS-FF"]
    with pytest.raises(ValueError, match="unknown measure '4d'"):
        oc.measure(errors, "4d", GRID)
    claim = bench.cfg["claims"][0]
    for change, words in (({"measure": {**claim["measure"], "kinds": ["hidden"]}},
                           r"kinds \['hidden'\] are not among"),
                          ({"measure": {**claim["measure"], "test_set": "easy"}},
                           "test_set 'easy' is not one of interacting"),
                          ({"paper": "posenet"}, "paper 'posenet' is not one of")):
        with pytest.raises(ValueError, match=words):
            oc.claims({**bench.cfg, "claims": [{**claim, **change}]})
    bench.cfg["claims"] = [{**claim, "reference": ["HRNet-W48"]}]
    with pytest.raises(ValueError, match=r"names \['HRNet-W48'\], which are not benchmarked"):
        oc.claim_results(bench)


def test_an_artefact_naming_a_missing_section_is_refused(monkeypatch):
    listed = [{"id": "Table 1", "shows": "x", "regenerated": "yes", "section": "No such part"}]
    monkeypatch.setattr(scoreboard, "artefacts", lambda paper: listed)
    with pytest.raises(ValueError, match="'No such part', which is no heading of "
                                         "notebooks/10_rcsf.ipynb"):
        scoreboard.artefact_table("rcsf", "10_rcsf")
    with pytest.raises(ValueError, match="notebooks/99_none.ipynb does not exist"):
        scoreboard.headings("99_none")


def test_the_gpu_estimate_counts_one_item_per_hand_or_per_frame():
    def model(codec):
        run = study.Run("X", "x", 0, "x", {"data": {"codec": codec}})
        return oc.Model("rcsf", "RCSF", "x", run)

    cfg = {"frames": 10, "test_sets": {"test": {"two_hands": False},
                                       "interacting": {"two_hands": True}}}
    one_hand = model({"name": "heatmap2d", "heatmap_size": 16})
    two_slot = model({"name": "heatmap3d", "heatmap_size": 16, "depth_bins": 16})
    estimate = oc.prediction_estimate(cfg, [one_hand, two_slot])
    assert estimate["items"] == (10 + 20) + (10 + 10)
    assert estimate["minutes at the assumed rate"] == pytest.approx(
        50 / oc.ASSUMED_GPU_ITEMS_PER_S / 60)


def test_a_chapter_is_benchmarked_on_the_stand_in_its_profile_trains():
    """RCSF's benchmarked stand-in is RHD-like; its cpu profile trains the main group on STB-like
    only, so the benchmark takes those runs (and says so) rather than asking for runs that do not
    exist; a profile that trains the group nowhere is a clear error."""
    from handlib import study
    from handlib.profiles import load_profile

    gpu = study.apply_parameters(load_profile("rcsf", "gpu"))
    cpu = study.apply_parameters(load_profile("rcsf", "cpu"))
    assert oc.benchmarked_dataset(gpu, "main", "RHD") == "RHD"
    assert oc.benchmarked_dataset(cpu, "main", "RHD") == "STB"
    cpu["study"]["groups"]["main"]["datasets"] = []
    with pytest.raises(ValueError, match="trains its group 'main' on no dataset"):
        oc.benchmarked_dataset(cpu, "main", "RHD")


# ----------------------------------------------------------------------------- without the notebook


def test_predict_run_writes_every_record_so_that_the_checkpoints_can_go(capsys):
    """A run queue calls predict_run right after each benchmarked run (here the smoke profile's,
    trained on first use), then deletes the run's checkpoint: the benchmark then skips no
    model, and the command prints every model's row."""
    from handlib import cli, engine, results

    cfg = oc.load_config("smoke")
    chosen = oc.models(cfg)
    pairs = oc.benchmarked("smoke")
    assert pairs == [(m.chapter, m.run.run_id) for m in chosen] and len(set(pairs)) == len(pairs)
    for chapter, run_id in pairs:
        assert oc.predict_run("smoke", chapter, run_id) == len(cfg["test_sets"])
    assert oc.predict_run("smoke", *pairs[0]) == 0                      # all there already
    assert oc.missing_records("smoke", *pairs[0]) == []
    for model in chosen:
        engine.checkpoint_path(engine.config_hash(engine.resolve_config(
            model.run.config))).unlink(missing_ok=True)
    bench = oc.run_benchmark(cfg, chosen)
    assert bench.skipped == {} and bench.keys() == [m.key for m in chosen]
    assert cli.main(["occlusion", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert all(key in out for key in bench.keys()) and "skipped" not in out
    # a lost record of a run whose checkpoint is gone cannot be remade: a clear error
    chapter, run_id = pairs[0]
    (oc._folder(cfg, chosen[0]) / results.predictions_file("hard")).unlink()
    assert oc.missing_records("smoke", chapter, run_id) == ["hard"]
    with pytest.raises(ValueError, match="has finished results but no checkpoint"):
        oc.predict_run("smoke", chapter, run_id)
    with pytest.raises(ValueError, match="benchmarks no run 'nope' of chapter 'rcsf'"):
        oc.predict_run("smoke", "rcsf", "nope")
