"""Metrics chosen by name (``eval.metric``) on prediction records: small hand-made records whose
answers can be worked out by hand."""
import math

import numpy as np
import pytest

from handlib import metrics

J = 21


def small_2d_record() -> dict:
    """2 samples x 3 joints, box size 100 px. Errors (px): sample 0: 3, 5, 10; sample 1: 0, 4, 20.
    Sample 0's joint 2 is occluded, sample 1's joint 2 is outside the image."""
    kp2d = np.array([[[10.0, 10.0], [50.0, 50.0], [90.0, 90.0]],
                     [[20.0, 20.0], [60.0, 60.0], [80.0, 80.0]]])
    offsets = np.array([[[3.0, 0.0], [3.0, 4.0], [6.0, 8.0]],
                        [[0.0, 0.0], [0.0, 4.0], [12.0, 16.0]]])
    return {"index": np.array([7, 9]), "kp2d": kp2d, "kp2d_pred": kp2d + offsets,
            "norm_size": np.array([100.0, 100.0]), "labelled": np.ones((2, 3), bool),
            "in_frame": np.array([[True, True, True], [True, True, False]]),
            "visible": np.array([[True, True, False], [True, True, False]]),
            "visibility_kind": np.array([[0, 0, 1], [0, 0, 4]], np.int8)}


def one_hand_record(n=2, offset_mm=(0.0, 0.0, 0.0)) -> dict:
    rng = np.random.default_rng(0)
    kp2d = rng.uniform(10, 90, (n, J, 2))
    kp3d = rng.uniform(-50, 50, (n, J, 3)) + [0, 0, 500]
    ones = np.ones((n, J), bool)
    return {"index": np.arange(n), "kp2d": kp2d, "kp2d_pred": kp2d.copy(),
            "norm_size": np.full(n, 100.0), "labelled": ones, "in_frame": ones.copy(),
            "visible": ones.copy(), "kp3d": kp3d, "kp3d_pred": kp3d + offset_mm}


def frozen_pck_metrics(predictions, thresholds, joints="visible"):
    """``handlib.engine.pck_metrics`` as it stood at commit b8f07dc (before the registry), the
    evaluation every existing result was computed with."""
    masks = {"visible": "visible", "in_frame": "in_frame", "all": None}
    mask = None if masks[joints] is None else predictions[masks[joints]].astype(bool)
    pred, gt = predictions["kp2d_pred"], predictions["kp2d"]
    curve = metrics.pck_curve(pred, gt, thresholds, norm=predictions["norm_size"], mask=mask)
    out = {f"pck@{t:g}": float(value) for t, value in zip(thresholds, curve)}
    if len(thresholds) > 1:
        out["auc"] = metrics.auc(thresholds, curve)
    out["epe_px"] = float(metrics.epe(pred, gt, mask=mask))
    return out


# ----------------------------------------------------------------------------- joint rules


def test_joint_rules_select_the_joints_that_count():
    record = small_2d_record()
    record["labelled"][1, 0] = False
    assert metrics.joint_mask(record, "labelled").tolist() == [[True] * 3, [False, True, True]]
    assert metrics.joint_mask(record, "in_frame").tolist() == [[True] * 3, [False, True, False]]
    assert metrics.joint_mask(record, "visible").tolist() == [[True, True, False],
                                                             [False, True, False]]
    with pytest.raises(ValueError, match="eval.joints must be one of visible, in_frame, labelled"):
        metrics.joint_mask(record, "all")
    del record["in_frame"]
    with pytest.raises(ValueError, match="'in_frame'"):
        metrics.joint_mask(record, "in_frame")


def test_joint_mask_drops_absent_hands():
    record = two_hand_record()
    record["labelled"][:] = True  # even if labelled, an absent hand does not count
    mask = metrics.joint_mask(record, "labelled")
    assert mask[0, :J].all() and not mask[0, J:].any() and mask[1].all()


# ----------------------------------------------------------------------------- 2D


def test_pck2d_and_epe2d_by_hand():
    record = small_2d_record()
    spec = {"metric": "pck2d", "thresholds": [0.04, 0.05, 0.1]}  # 4, 5, 10 px
    found = metrics.evaluate_record(record, spec)  # joints: visible (the default)
    # visible: joints 0 and 1 of both samples, errors 3, 5 | 0, 4 -> per joint (0: 3, 0; 1: 5, 4)
    assert found["pck@0.04"] == pytest.approx((1.0 + 0.5) / 2)
    assert found["pck@0.05"] == found["pck@0.1"] == 1.0
    assert found["auc"] == pytest.approx((0.75 + 1.0) / 2 * 0.01 / 0.06 + 0.05 / 0.06)
    assert found["epe_px"] == pytest.approx((1.5 + 4.5) / 2)
    assert set(found) == {"pck@0.04", "pck@0.05", "pck@0.1", "auc", "epe_px"}
    # in frame: sample 0's occluded joint 2 (10 px) counts too; joint 2 has one sample
    in_frame = metrics.evaluate_record(record, {**spec, "joints": "in_frame"})
    assert in_frame["pck@0.05"] == pytest.approx((1 + 1 + 0) / 3)
    assert in_frame["epe_px"] == pytest.approx((1.5 + 4.5 + 10) / 3)
    labelled = metrics.evaluate_record(record, {"metric": "epe2d", "joints": "labelled"})
    assert labelled == {"epe_px": pytest.approx((1.5 + 4.5 + 15) / 3)}
    one = metrics.evaluate_record(record, {"metric": "pck2d", "thresholds": [0.05]})
    assert set(one) == {"pck@0.05", "epe_px"}  # no AUC from one threshold


def test_pck2d_reproduces_the_former_engine_evaluation():
    rng = np.random.default_rng(3)
    n = 40
    kp2d = rng.uniform(0, 200, (n, J, 2))
    in_frame = rng.random((n, J)) > 0.1
    visible = in_frame & (rng.random((n, J)) > 0.3)  # as the pipeline: visible implies in frame
    record = {"index": np.arange(n), "kp2d": kp2d,
              "kp2d_pred": kp2d + rng.normal(0, 8, (n, J, 2)),
              "norm_size": rng.uniform(80, 160, n), "labelled": np.ones((n, J), bool),
              "in_frame": in_frame, "visible": visible}
    thresholds = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    for joints in ("visible", "in_frame"):
        found = metrics.evaluate_record(record, {"metric": "pck2d", "thresholds": thresholds,
                                                 "joints": joints})
        assert found == frozen_pck_metrics(record, thresholds, joints)  # identical, not close
    everything = metrics.evaluate_record(record, {"metric": "pck2d", "thresholds": thresholds,
                                                  "joints": "labelled"})
    assert everything == frozen_pck_metrics(record, thresholds, "all")


def test_empty_selections_give_nan():
    record = small_2d_record()
    record["visible"][:] = False
    found = metrics.evaluate_record(record, {"metric": "pck2d", "thresholds": [0.1, 0.2]})
    assert all(math.isnan(value) for value in found.values())


# ----------------------------------------------------------------------------- 3D, one hand


def test_epe3d_is_root_aligned_and_gt_scale_removes_a_pure_scaling():
    record = one_hand_record(offset_mm=(7.0, -3.0, 11.0))  # a translation: alignment removes it
    assert metrics.evaluate_record(record, {"metric": "epe3d"}) == {
        "epe_mm": pytest.approx(0.0, abs=1e-9)}
    relative = record["kp3d"] - record["kp3d"][:, :1]
    record["kp3d_rel_pred"] = 2.0 * relative  # preferred over kp3d_pred: twice the size
    found = metrics.evaluate_record(record, {"metric": "epe3d", "gt_scale": True})
    expected = np.linalg.norm(relative, axis=-1).mean(axis=0).mean()  # wrist error 0
    assert found["epe_mm"] == pytest.approx(expected)
    assert found["epe_mm_gt_scale"] == pytest.approx(0.0, abs=1e-9)


def test_epe3d_on_known_offsets_and_a_hand_without_wrist_label():
    record = one_hand_record(n=2)
    record["kp3d_pred"] = record["kp3d"] + [100.0, 0.0, 0.0]  # absolute offset: aligned away
    record["kp3d_pred"][0, 1:] += [0.0, 3.0, 4.0]  # sample 0: 5 mm on every non-wrist joint
    record["kp3d_pred"][1, 1:] += [0.0, 0.0, 9.0]  # sample 1: 9 mm
    assert metrics.evaluate_record(record, {"metric": "epe3d"})["epe_mm"] == pytest.approx(
        (0 + 20 * 7) / 21)
    record["kp3d"][1, 0] = np.nan  # sample 1's wrist has no 3D label: its hand is left out
    assert metrics.evaluate_record(record, {"metric": "epe3d"})["epe_mm"] == pytest.approx(
        20 * 5 / 21)


def test_pck3d_at_known_distances():
    record = one_hand_record(n=2)
    record["kp3d_pred"] = record["kp3d"].copy()
    record["kp3d_pred"][:, 1:11, 0] += 25.0  # joints 1-10: 25 mm, 11-20: 45 mm, wrist 0
    record["kp3d_pred"][:, 11:, 1] += 45.0
    found = metrics.evaluate_record(record, {"metric": "pck3d",
                                             "pck3d_mm": {"start": 20, "stop": 50, "num": 4}})
    assert found == {"pck3d@20mm": pytest.approx(1 / 21), "pck3d@30mm": pytest.approx(11 / 21),
                     "pck3d@40mm": pytest.approx(11 / 21), "pck3d@50mm": 1.0,
                     "auc3d_20_50": pytest.approx((12 + 22 + 32) / 42 / 3)}
    default = metrics.evaluate_record(record, {"metric": "pck3d"})
    assert len(default) == 32 and "pck3d@25mm" in default and "auc3d_20_50" in default
    other = metrics.evaluate_record(record, {"metric": "pck3d",
                                             "pck3d_mm": {"start": 0, "stop": 50, "num": 51}})
    assert "auc3d_0_50" in other


def test_mean3d_and_success_frames_at_known_errors():
    record = one_hand_record(n=2)
    record["kp3d_pred"] = record["kp3d"].copy()
    record["kp3d_pred"][0, :, 0] += 5.0  # sample 0: every joint 5 mm, joint 3 15 mm
    record["kp3d_pred"][0, 3, 0] += 10.0
    record["kp3d_pred"][1, :, 2] += 35.0  # sample 1: every joint 35 mm (no alignment)
    found = metrics.evaluate_record(record, {"metric": ["mean3d", "success"],
                                             "success_mm": [10, 15, 30, 40]})
    assert found["mean_error_mm"] == pytest.approx((20 * 20 + 25) / 21)
    assert [found[f"success@{t}mm"] for t in (10, 15, 30, 40)] == [0.0, 0.5, 0.5, 1.0]
    default = metrics.evaluate_record(record, {"metric": "success"})
    assert list(default) == [f"success@{t}mm" for t in range(10, 90, 10)]
    record["visible"][1] = False  # sample 1 has no scored joint: left out of the frames
    found = metrics.evaluate_record(record, {"metric": "success", "success_mm": [10, 15]})
    assert found == {"success@10mm": 0.0, "success@15mm": 1.0}


# ----------------------------------------------------------------------------- two hands


def two_hand_record() -> dict:
    """Frame 0: only the right hand (single); frame 1: both hands (interacting). Every predicted
    non-wrist joint is 10 mm off in frame 0 and 20 mm off in frame 1 (wrists exact); the absent
    left hand of frame 0 has no label and a NaN prediction; frame 1's relative root is 6 mm
    off."""
    n = 2
    kp3d = np.zeros((n, 2 * J, 3))
    kp3d[..., 2] = 500
    kp3d[:, :, 0] = np.arange(2 * J)
    pred = kp3d + [100.0, 0.0, 0.0]  # a translation, aligned away
    pred[0, :, 1] += 10.0
    pred[1, :, 1] += 20.0
    pred[:, [0, J], 1] = kp3d[:, [0, J], 1]  # wrists exact
    kp3d[0, J:] = np.nan
    pred[0, J:] = np.nan
    hand_valid = np.array([[True, False], [True, True]])
    labelled = np.repeat(hand_valid, J, axis=1)
    return {"index": np.arange(n), "kp2d": np.zeros((n, 2 * J, 2)),
            "kp2d_pred": np.zeros((n, 2 * J, 2)), "norm_size": np.ones(n),
            "labelled": labelled, "in_frame": np.ones((n, 2 * J), bool),
            "visible": np.ones((n, 2 * J), bool), "hand_valid": hand_valid,
            "kp3d": kp3d, "kp3d_pred": pred,
            "rel_root": np.array([[np.nan] * 3, [21.0, 0.0, 0.0]]),
            "rel_root_pred": np.array([[0.0] * 3, [27.0, 0.0, 0.0]]),
            "hand_type_pred": np.array([[0.9, 0.2], [0.8, 0.3]])}


def test_mpjpe_single_interacting_mrrpe_and_handedness():
    found = metrics.evaluate_record(two_hand_record(), {"metric": "mpjpe", "joints": "labelled"})
    # right non-wrist joints: 10 (frame 0) and 20 (frame 1) -> 15 each; left ones: 20 (frame 1)
    assert found["mpjpe_mm"] == pytest.approx((20 * 15 + 20 * 20) / 42)
    assert found["mpjpe_single_mm"] == pytest.approx(20 * 10 / 21)  # the right hand only
    assert found["mpjpe_interacting_mm"] == pytest.approx(40 * 20 / 42)
    assert found["mrrpe_mm"] == pytest.approx(6.0)  # interacting frame only
    assert found["handedness_acc"] == pytest.approx(3 / 4)  # frame 1's left hand missed
    # epe3d on the same record pools the hands the same way
    assert metrics.evaluate_record(two_hand_record(), {"metric": "epe3d"})["epe_mm"] == \
        pytest.approx(found["mpjpe_mm"])


def test_mpjpe_without_interacting_frames_or_optional_predictions():
    record = metrics.record_rows(two_hand_record(), [0])  # the single-hand frame only
    found = metrics.evaluate_record(record, {"metric": "mpjpe"})
    assert found["mpjpe_mm"] == pytest.approx(200 / 21)
    assert math.isnan(found["mpjpe_interacting_mm"]) and math.isnan(found["mrrpe_mm"])
    record = two_hand_record()
    del record["rel_root_pred"], record["hand_type_pred"]
    assert set(metrics.evaluate_record(record, {"metric": "mpjpe"})) == {
        "mpjpe_mm", "mpjpe_single_mm", "mpjpe_interacting_mm"}


# ----------------------------------------------------------------------------- record rows, errors


def test_record_rows_restricts_every_per_sample_array():
    record = one_hand_record(n=3)
    record["note"] = "kept"
    part = metrics.record_rows(record, np.array([2, 0]))
    assert part["index"].tolist() == [2, 0] and part["note"] == "kept"
    assert np.array_equal(part["kp3d"], record["kp3d"][[2, 0]])
    assert np.array_equal(part["visible"], record["visible"][[2, 0]])
    chosen = metrics.record_rows(record, np.array([False, True, False]))
    assert chosen["index"].tolist() == [1] and chosen["kp2d"].shape == (1, J, 2)
    record["kp3d_pred"][1] += 50.0  # a bootstrap of sample 1 twice sees only its error
    twice = metrics.record_rows(record, [1, 1])
    assert metrics.evaluate_record(twice, {"metric": "mean3d"})["mean_error_mm"] == \
        pytest.approx(50 * math.sqrt(3))


def test_clear_errors():
    record = one_hand_record()
    with pytest.raises(ValueError, match=r"unknown eval metric.*'accuracy'.*pck2d, epe2d"):
        metrics.evaluate_record(record, {"metric": ["pck2d", "accuracy"]})
    with pytest.raises(ValueError, match="names no metric"):
        metrics.evaluate_record(record, {"metric": []})
    with pytest.raises(ValueError, match=r"both report \['epe_px'\]"):
        metrics.evaluate_record(record, {"metric": ["pck2d", "epe2d"]})
    absolute = dict(record)
    del absolute["kp3d_pred"]
    with pytest.raises(ValueError, match="needs the record's 'kp3d_pred', which the absolute 3D"):
        metrics.evaluate_record(absolute, {"metric": "mean3d"})
    with pytest.raises(ValueError, match="'kp3d_rel_pred' or 'kp3d_pred'"):
        metrics.evaluate_record(absolute, {"metric": "epe3d"})
    no_3d = dict(record)
    del no_3d["kp3d"]
    with pytest.raises(ValueError, match="'kp3d', which datasets with 3D labels"):
        metrics.evaluate_record(no_3d, {"metric": "pck3d"})
    bones_only = dict(record)  # a bones3d model: root-relative 3D, no 2D prediction
    del bones_only["kp2d_pred"]
    with pytest.raises(ValueError, match="'kp2d_pred', which the 2D-decoding codecs"):
        metrics.evaluate_record(bones_only, {"metric": "pck2d"})
    two = two_hand_record()
    del two["hand_valid"]
    with pytest.raises(ValueError, match="'hand_valid'"):
        metrics.evaluate_record(two, {"metric": "mpjpe"})
    broken = one_hand_record()
    broken["kp3d_pred"][0, 4] = np.nan  # a NaN prediction at a scored joint is an error
    with pytest.raises(ValueError, match="NaN"):
        metrics.evaluate_record(broken, {"metric": "mean3d"})


# ---------------------------------------------------------------- two-slot records (InterNet family)
def _two_slot_record(n=2):
    rng = np.random.default_rng(0)
    kp3d = rng.normal(0, 40, (n, 42, 3))
    return {"kp3d": kp3d, "kp3d_pred": kp3d.copy(), "labelled": np.ones((n, 42), bool),
            "in_frame": np.ones((n, 42), bool), "visible": np.ones((n, 42), bool),
            "hand_valid": np.ones((n, 2), bool)}


def test_gt_h_n_scores_the_hand_the_model_names_on_one_hand_frames():
    record = _two_slot_record()
    record["labelled"][:, 21:] = False  # one labelled hand, the right one, in both frames
    record["hand_valid"][:, 1] = False
    # the left slot predicts the right hand 10 mm off (wrist aside)
    record["kp3d_pred"][:, 21:] = record["kp3d"][:, :21]
    record["kp3d_pred"][:, 22:, 0] += 10.0
    record["hand_type_pred"] = np.array([[0.2, 0.8], [0.9, 0.1]])  # frame 0: handedness wrong
    found = metrics.evaluate_record(record, {"metric": "epe3d", "joints": "labelled"})
    assert found["epe_mm"] == pytest.approx(0.0)  # the ground truth's slot: exact
    # frame 0 is scored with the left slot: 20 of its 21 joints 10 mm off; frame 1 exact
    assert found["epe_mm_predicted_hand"] == pytest.approx(10.0 * 20 / 21 / 2)


def test_per_joint_mpjpe_pools_left_and_right_on_interacting_frames():
    record = _two_slot_record(3)
    record["kp3d_pred"][0, 5, 0] += 4.0        # right joint 5, interacting frame 0
    record["kp3d_pred"][0, 21 + 5, 0] += 2.0   # left joint 5, same frame
    record["kp3d_pred"][2, 7, 0] += 9.0        # a single-hand frame: not in the interacting set
    record["hand_valid"][2, 1] = False
    record["labelled"][2, 21:] = False
    per_joint = metrics.mpjpe_per_joint_pooled_hands(record, {"joints": "labelled"})
    assert per_joint.shape == (21,)
    # joint 5 over 2 interacting frames x 2 hands: (4 + 2 + 0 + 0) / 4
    assert per_joint[5] == pytest.approx(1.5) and per_joint[7] == pytest.approx(0.0)
    single = metrics.mpjpe_per_joint_pooled_hands(record, {"joints": "labelled"}, "single")
    assert single[7] == pytest.approx(9.0)
    with pytest.raises(ValueError, match="frames must be"):
        metrics.mpjpe_per_joint_pooled_hands(record, {}, "both")
