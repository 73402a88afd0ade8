"""handlib.metrics on hand-built arrays whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from handlib import metrics


def offsets_2d(offsets: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """gt at the origin, pred displaced by the given (dx, dy) per sample and joint."""
    pred = np.array(offsets, dtype=float)
    return pred, np.zeros_like(pred)


# 2 samples × 3 joints; distances: sample 0 = (5, 0, 1), sample 1 = (3, 10, 1)
PRED, GT = offsets_2d([[(3, 4), (0, 0), (1, 0)], [(3, 0), (6, 8), (0, 1)]])


def test_joint_errors_are_euclidean_distances():
    errors, mask = metrics.joint_errors(PRED, GT)
    np.testing.assert_allclose(errors, [[5, 0, 1], [3, 10, 1]])
    assert mask.all()


def test_joint_errors_divides_by_norm_per_sample():
    errors, _ = metrics.joint_errors(PRED, GT, norm=np.array([5.0, 10.0]))
    np.testing.assert_allclose(errors, [[1, 0, 0.2], [0.3, 1, 0.1]])


def test_zero_norm_on_a_scored_joint_is_an_error_but_allowed_when_masked():
    with pytest.raises(ValueError, match="norm must be positive"):
        metrics.joint_errors(PRED, GT, norm=np.array([5.0, 0.0]))
    mask = np.array([[True] * 3, [False] * 3])
    errors, _ = metrics.joint_errors(PRED, GT, norm=np.array([5.0, 0.0]), mask=mask)
    assert np.isnan(errors[1]).all()


def test_shape_and_nan_errors():
    with pytest.raises(ValueError, match="must match"):
        metrics.joint_errors(PRED, GT[:, :2])
    with pytest.raises(ValueError, match="leading sample axis"):
        metrics.joint_errors(PRED[0], GT[0])
    with pytest.raises(ValueError, match="mask has shape"):
        metrics.pck(PRED, GT, 1.0, mask=np.ones((2, 2), bool))
    bad = PRED.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.epe(bad, GT)
    mask = np.ones((2, 3), bool)
    mask[0, 1] = False
    assert metrics.epe(bad, GT, mask=mask) == pytest.approx(np.mean([(5 + 3) / 2, 10, 1]))


def test_pck_is_inclusive_at_the_threshold_rcsf_eq4():
    # joint 0 errors (5, 3): at threshold 5 both count (<=), at 4.999 only one
    np.testing.assert_allclose(metrics.pck_per_joint(PRED, GT, 5.0), [1.0, 0.5, 1.0])
    np.testing.assert_allclose(metrics.pck_per_joint(PRED, GT, 4.999), [0.5, 0.5, 1.0])
    assert metrics.pck(PRED, GT, 5.0) == pytest.approx(2.5 / 3)


def test_pck_with_bounding_box_normaliser():
    gt = np.array([[[0, 0], [100, 0], [0, 50]]], dtype=float)  # box 100 × 50: size 100
    pred = gt + np.array([[[1, 0], [0, 2], [3, 0]]])
    norm = metrics.bbox_size(gt)
    np.testing.assert_allclose(norm, [100.0])
    np.testing.assert_allclose(metrics.pck_per_joint(pred, gt, 0.02, norm=norm), [1, 1, 0])


def test_bbox_size_uses_only_selected_keypoints():
    kp = np.array([[[0, 0], [10, 5], [3, 20]]], dtype=float)
    assert metrics.bbox_size(kp)[0] == 20
    assert metrics.bbox_size(kp, mask=np.array([[True, True, False]]))[0] == 10
    assert np.isnan(metrics.bbox_size(kp, mask=np.zeros((1, 3), bool))[0])


def test_mean_pck_averages_per_joint_values_not_pooled_pairs():
    # joint 0 scored twice (hits 1 of 2), joint 1 scored once (hit): mean over joints = 0.75,
    # the pooled fraction would be 2/3
    pred, gt = offsets_2d([[(1, 0), (0, 0)], [(9, 0), (0, 0)]])
    mask = np.array([[True, True], [True, False]])
    assert metrics.pck(pred, gt, 2.0, mask=mask) == pytest.approx(0.75)


def test_empty_mask_gives_nan_not_zero():
    empty = np.zeros((2, 3), bool)
    assert np.isnan(metrics.pck(PRED, GT, 5.0, mask=empty))
    assert np.isnan(metrics.pck_per_joint(PRED, GT, 5.0, mask=empty)).all()
    assert np.isnan(metrics.pck_curve(PRED, GT, [1.0, 2.0], mask=empty)).all()
    assert np.isnan(metrics.epe(PRED, GT, mask=empty))
    assert np.isnan(metrics.epe(PRED, GT, mask=empty, reduce="median"))
    assert np.isnan(metrics.mpjpe(PRED, GT, mask=empty, root=None))
    errors, _ = metrics.joint_errors(PRED, GT)
    assert np.isnan(metrics.success_frames(errors, [10.0], mask=empty)).all()


def test_joint_without_samples_is_nan_and_skipped_in_the_mean():
    mask = np.array([[True, False, True], [True, False, True]])
    per_joint = metrics.epe_per_joint(PRED, GT, mask=mask)
    np.testing.assert_allclose(per_joint, [4.0, np.nan, 1.0])
    assert metrics.epe(PRED, GT, mask=mask) == pytest.approx(2.5)


def test_pck_curve_matches_pck_at_each_threshold():
    thresholds = [0.0, 1.0, 3.0, 5.0, 10.0]
    curve = metrics.pck_curve(PRED, GT, thresholds)
    expected = [metrics.pck(PRED, GT, t) for t in thresholds]
    np.testing.assert_allclose(curve, expected)
    np.testing.assert_allclose(curve, [1 / 6, 0.5, 2 / 3, 2.5 / 3, 1.0])


def test_auc_is_the_normalised_trapezoid_area():
    t = np.linspace(0, 1, 11)
    assert metrics.auc(t, t) == pytest.approx(0.5)
    assert metrics.auc([20, 50], [1.0, 1.0]) == pytest.approx(1.0)
    # 20-50 mm: 0.2 → 0.8 linearly between 20 and 35, then flat: (0.5·15 + 0.8·15) / 30
    assert metrics.auc([20, 35, 50], [0.2, 0.8, 0.8]) == pytest.approx((0.5 * 15 + 0.8 * 15) / 30)
    assert np.isnan(metrics.auc([0, 1], [0.5, np.nan]))
    with pytest.raises(ValueError, match="increasing"):
        metrics.auc([1, 0], [0.2, 0.3])


def test_epe_mean_and_median_2d_px():
    # joint errors: (5, 3), (0, 10), (1, 1) → means 4, 5, 1; medians equal the means for pairs
    assert metrics.epe(PRED, GT) == pytest.approx(10 / 3)
    pred, gt = offsets_2d([[(1, 0)], [(2, 0)], [(9, 0)]])
    assert metrics.epe(pred, gt) == pytest.approx(4.0)
    assert metrics.epe(pred, gt, reduce="median") == pytest.approx(2.0)
    with pytest.raises(ValueError, match="reduce"):
        metrics.epe(pred, gt, reduce="max")


def test_epe_root_alignment_internet_plus_eq5():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 21, 3)) * 50
    shifted = gt + np.array([10.0, -20.0, 30.0])  # a pure translation
    assert metrics.epe(shifted, gt, root=0) == pytest.approx(0.0, abs=1e-9)
    assert metrics.epe(shifted, gt) == pytest.approx(np.sqrt(10**2 + 20**2 + 30**2))
    # a 3 mm error on one non-root joint only, after alignment: 3 / 21 mm per frame
    pred = shifted.copy()
    pred[:, 5, 0] += 3.0
    assert metrics.epe(pred, gt, root=0) == pytest.approx(3.0 / 21)


def test_masked_root_removes_its_hand():
    gt = np.zeros((2, 3, 3))
    pred = gt + np.array([[[0, 0, 0], [4, 0, 0], [4, 0, 0]], [[0, 0, 0], [8, 0, 0], [8, 0, 0]]])
    mask = np.array([[True, True, True], [False, True, True]])  # frame 1 has no root
    assert metrics.epe(pred, gt, mask=mask, root=0) == pytest.approx((0 + 4 + 4) / 3)


def test_mpjpe_two_hands_interhand_protocol():
    # frame 0: single right hand (left invalid); frame 1: interacting hands
    gt = np.zeros((2, 2, 2, 3))  # N, hand, joint (root + 1), xyz
    pred = gt.copy()
    pred[0, 0, 1, 0] = 6.0  # right non-root joint, single frame
    pred[1, 0, 1, 0] = 2.0  # right non-root joint, interacting frame
    pred[1, 1, 1, 0] = 4.0  # left non-root joint, interacting frame
    mask = np.array([[[True, True], [False, False]], [[True, True], [True, True]]])
    interacting = np.array([False, True])
    result = metrics.mpjpe_by_hand_type(pred, gt, interacting, mask=mask, root=0)
    # per joint (4 joints: R root, R tip, L root, L tip):
    # single: R root 0, R tip 6 → (0 + 6) / 2 = 3 (left joints: no sample, skipped)
    # interacting: 0, 2, 0, 4 → 1.5
    # all: R root 0, R tip (6+2)/2 = 4, L root 0, L tip 4 → 2 (not the mean of 3 and 1.5)
    assert result == pytest.approx({"all": 2.0, "single": 3.0, "interacting": 1.5})
    assert metrics.mpjpe(pred, gt, mask=mask) == pytest.approx(2.0)


def test_mpjpe_aligns_each_hand_to_its_own_root():
    gt = np.zeros((1, 2, 3, 3))
    pred = gt.copy()
    pred[0, 0] += 100.0  # right hand shifted as a whole
    pred[0, 1] -= 50.0  # left hand shifted as a whole
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.0)
    assert metrics.mpjpe(pred, gt, root=None) == pytest.approx((100 + 50) * np.sqrt(3) / 2)


def test_3d_pck_curve_and_auc_20_50_mm():
    # per-joint errors in mm: 10, 25, 40, 60 → PCK(t) = fraction of joints within t
    gt = np.zeros((1, 4, 3))
    pred = np.array([[[10, 0, 0], [0, 25, 0], [0, 0, 40], [60, 0, 0]]], dtype=float)
    thresholds = np.arange(0, 51, 1.0)
    curve = metrics.pck_curve(pred, gt, thresholds)
    assert curve[thresholds == 10][0] == 0.25 and curve[thresholds == 9][0] == 0.0
    assert curve[thresholds == 50][0] == 0.75
    inside = thresholds >= 20
    # on 20..50: 0.25 on [20, 25), 0.5 on [25, 40), 0.75 on [40, 50]. The step function's area
    # is 0.25·5 + 0.5·15 + 0.75·10; the trapezoid rule on a 1 mm grid spreads each of the two
    # 0.25 jumps over the step before it (≤ counts at the threshold), adding 0.25 / 2 per jump
    expected = (0.25 * 5 + 0.5 * 15 + 0.75 * 10 + 0.125 * 2) / 30
    assert metrics.auc(thresholds[inside], curve[inside]) == pytest.approx(expected)


def test_success_frames_max_and_mean():
    errors = np.array([[1.0, 9.0], [4.0, 4.0], [20.0, 0.0]])  # max 9, 4, 20; mean 5, 4, 10
    np.testing.assert_allclose(metrics.success_frames(errors, [4, 9, 20]), [1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(metrics.success_frames(errors, [4, 5, 10], mode="mean"),
                               [1 / 3, 2 / 3, 1])
    mask = np.array([[True, False], [True, True], [False, False]])  # frame 2 left out
    np.testing.assert_allclose(metrics.success_frames(errors, [1, 4], mask=mask), [0.5, 1.0])
    with pytest.raises(ValueError, match="mode"):
        metrics.success_frames(errors, [1], mode="median")


def test_split_by_visibility_reports_values_and_counts():
    visible = np.array([[True, True, False], [True, True, True]])
    split = metrics.split_by_visibility(metrics.epe, PRED, GT, visible=visible)
    assert split["n_all"] == 6 and split["n_visible"] == 5 and split["n_occluded"] == 1
    assert split["all"] == pytest.approx(metrics.epe(PRED, GT))
    assert split["visible"] == pytest.approx(np.mean([4.0, 5.0, 1.0]))
    assert split["occluded"] == pytest.approx(1.0)
    all_visible = metrics.split_by_visibility(metrics.pck, PRED, GT, 5.0,
                                              visible=np.ones((2, 3), bool))
    assert all_visible["n_occluded"] == 0 and np.isnan(all_visible["occluded"])
    errors, _ = metrics.joint_errors(PRED, GT)
    frames = metrics.split_by_visibility(metrics.success_frames, errors, [5.0], visible=visible)
    np.testing.assert_allclose(frames["visible"], [0.5])  # frame maxima over visible: 5, 10


# ----------------------------------------------------------------------------- bone angles


def angle_hand(seed: int = 3) -> np.ndarray:
    """A (21, 3) mm hand with every bone of non-zero length and no two joints equal."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-60, 60, (21, 3)) + np.arange(21)[:, None] * [1.0, 2.0, 3.0] + [0, 0, 500]


def bone_index(child: int) -> int:
    from handlib.skeleton import BONES

    return [c for _, c in BONES].index(child)


def test_bone_angles_of_identical_poses_are_zero():
    gt = np.stack([angle_hand(1), angle_hand(2)])
    angles = metrics.bone_angle_errors(gt.copy(), gt)
    assert angles.shape == (2, 20)
    np.testing.assert_allclose(angles, 0.0, atol=1e-12)
    assert metrics.bone_angle_error(gt.copy(), gt) == pytest.approx(0.0, abs=1e-12)


def test_one_bone_rotated_90_degrees_and_one_reversed():
    from handlib.skeleton import PARENTS, finger_joints

    gt = angle_hand()
    pred = gt.copy()
    tip = finger_joints("ring")[3]  # a tip: rotating its bone moves no other bone
    bone = gt[tip] - gt[PARENTS[tip]]
    perpendicular = np.cross(bone, [0.3, -0.5, 1.0])
    pred[tip] = gt[PARENTS[tip]] + perpendicular / np.linalg.norm(perpendicular) * np.linalg.norm(bone)
    pip = finger_joints("index")[1]  # reverse MCP -> PIP; shift PIP's descendants with it
    shift = -2 * (gt[pip] - gt[PARENTS[pip]])
    pred[list(finger_joints("index")[1:])] += shift
    angles = metrics.bone_angle_errors(pred[None], gt[None])[0]
    assert angles[bone_index(tip)] == pytest.approx(90.0, abs=1e-9)
    assert angles[bone_index(pip)] == pytest.approx(180.0, abs=1e-9)
    others = np.delete(angles, [bone_index(tip), bone_index(pip)])
    np.testing.assert_allclose(others, 0.0, atol=1e-9)
    assert metrics.bone_angle_error(pred[None], gt[None]) == pytest.approx(270.0 / 20)


def test_bone_angles_ignore_translation_and_scale_of_the_prediction():
    gt = np.stack([angle_hand(4), angle_hand(5)])
    for pred in (gt + [120.0, -40.0, 300.0], gt * 2.5, (gt - gt[:, :1]) * 0.1):
        np.testing.assert_allclose(metrics.bone_angle_errors(pred, gt), 0.0, atol=1e-6)
        assert metrics.bone_angle_error(pred, gt) == pytest.approx(0.0, abs=1e-6)


def test_a_masked_joint_removes_its_two_bones_from_the_mean():
    from handlib.skeleton import PARENTS, finger_joints

    gt = angle_hand()
    pred = gt.copy()
    tip = finger_joints("little")[3]
    pred[tip] = 2 * gt[PARENTS[tip]] - gt[tip]  # the little tip bone reversed: 180 degrees
    pip = finger_joints("middle")[1]
    pred[pip] = np.nan  # the middle PIP unscored: it may hold anything
    mask = np.ones((1, 21), bool)
    mask[0, pip] = False
    angles = metrics.bone_angle_errors(pred[None], gt[None], mask=mask)[0]
    dip = finger_joints("middle")[2]
    assert np.isnan(angles[[bone_index(pip), bone_index(dip)]]).all()  # MCP->PIP and PIP->DIP
    assert np.isfinite(np.delete(angles, [bone_index(pip), bone_index(dip)])).all()
    assert metrics.bone_angle_error(pred[None], gt[None], mask=mask) == pytest.approx(180.0 / 18)
    with pytest.raises(ValueError, match="NaN"):
        metrics.bone_angle_errors(pred[None], gt[None])  # NaN at a scored joint


def test_bone_angle_mean_and_empty_and_zero_length_bones():
    gt = np.stack([angle_hand(6), angle_hand(7)])
    pred = gt.copy()
    pred[0, 8] = pred[0, 7]  # sample 0: index DIP -> TIP of zero length in the prediction
    angles = metrics.bone_angle_errors(pred, gt)
    assert np.isnan(angles[0, bone_index(8)]) and np.isfinite(angles[1]).all()
    assert metrics.bone_angle_error(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(metrics.bone_angle_error(pred, gt, mask=np.zeros((2, 21), bool)))
    with pytest.raises(ValueError, match="21, 3"):
        metrics.bone_angle_errors(gt[:, :20], gt[:, :20])


def test_angle3d_metric_on_a_record():
    gt = np.stack([angle_hand(8), angle_hand(9)])
    pred = gt + [0.0, 0.0, 40.0]
    tip = 20
    pred[1, tip] = 2 * pred[1, 19] - pred[1, tip]  # sample 1: little tip bone reversed
    ones = np.ones((2, 21), bool)
    visible = ones.copy()
    visible[0, 19] = False  # sample 0's little DIP not visible: its two bones are not scored
    record = {"index": np.arange(2), "kp2d": np.zeros((2, 21, 2)), "labelled": ones,
              "in_frame": ones.copy(), "visible": visible, "kp3d": gt,
              "kp3d_rel_pred": pred - pred[:, :1]}
    found = metrics.evaluate_record(record, {"metric": "angle3d"})
    assert set(found) == {"bone_angle_deg"}
    # the reversed bone (DIP -> TIP) is scored in sample 1 only: its mean is 180; 19 bones are 0
    assert found["bone_angle_deg"] == pytest.approx(180.0 / 20)
    # every joint scored: that bone's mean over the two samples is (0 + 180) / 2
    assert metrics.evaluate_record(record, {"metric": "angle3d", "joints": "labelled"})[
        "bone_angle_deg"] == pytest.approx(90.0 / 20)
    del record["kp3d_rel_pred"]
    record["kp3d_pred"] = pred  # absolute prediction: the same angles
    assert metrics.evaluate_record(record, {"metric": "angle3d"})["bone_angle_deg"] == \
        pytest.approx(180.0 / 20)
    assert "angle3d" in metrics.METRICS


def straight_hand() -> np.ndarray:
    """A (21, 3) mm right hand with every finger straight along +y from its MCP, the MCPs fanned
    along x at y = 40: every joint angle is 0 but the MCPs' (wrist -> MCP against MCP -> PIP)."""
    from handlib.skeleton import FINGERS, finger_joints

    hand = np.zeros((21, 3))
    for f, finger in enumerate(FINGERS):
        for k, joint in enumerate(finger_joints(finger)):
            hand[joint] = [20.0 * (f - 2), 40.0 + 25.0 * k, 0.0]
    return hand


def test_joint_angles_are_the_angles_between_adjacent_bones():
    from handlib.skeleton import finger_joints

    assert len(metrics.JOINT_ANGLES) == 15  # MCP, PIP and DIP of the five fingers
    assert {joint for _, joint, _ in metrics.JOINT_ANGLES} == {
        j for f in ("thumb", "index", "middle", "ring", "little") for j in finger_joints(f)[:3]}
    gt = straight_hand()
    pred = gt.copy()
    mcp, pip, dip, tip = finger_joints("index")
    pred[dip] = pred[pip] + [0.0, 0.0, 25.0]  # the index bent 90 degrees at its PIP
    pred[tip] = pred[dip] + [0.0, 0.0, 25.0]
    errors = metrics.joint_angle_errors(pred[None], gt[None])[0]
    at = {joint: errors[i] for i, (_, joint, _) in enumerate(metrics.JOINT_ANGLES)}
    assert at[pip] == pytest.approx(90.0)
    np.testing.assert_allclose([v for j, v in at.items() if j != pip], 0.0, atol=1e-9)
    assert metrics.joint_angle_error(pred[None], gt[None]) == pytest.approx(90.0 / 15)
    # the bone directions see the two bones beyond the PIP turned, 90 degrees each
    assert metrics.bone_angle_error(pred[None], gt[None]) == pytest.approx(180.0 / 20)


def test_a_rigidly_rotated_hand_has_no_joint_angle_error_but_a_direction_error():
    gt = np.stack([angle_hand(11), angle_hand(12)])
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # 30 degrees about z
    pred = 1.5 * (gt - gt[:, :1]) @ rotation.T + [10.0, -20.0, 400.0]
    np.testing.assert_allclose(metrics.joint_angle_errors(pred, gt), 0.0, atol=1e-9)
    assert metrics.joint_angle_error(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.bone_angle_error(pred, gt) > 5.0  # every bone turned (the z part does not)


def test_joint_angles_skip_unscored_joints_and_zero_length_bones():
    gt = np.stack([straight_hand(), straight_hand()])
    pred = gt.copy()
    pred[0, 7] = np.nan  # sample 0: the index DIP unscored (it may hold anything)
    mask = np.ones((2, 21), bool)
    mask[0, 7] = False
    pred[1, 12] = pred[1, 11]  # sample 1: the middle DIP -> TIP of zero length
    errors = metrics.joint_angle_errors(pred, gt, mask=mask)
    joints = [joint for _, joint, _ in metrics.JOINT_ANGLES]
    assert np.isnan(errors[0, [joints.index(6), joints.index(7)]]).all()  # PIP and DIP angles
    assert np.isnan(errors[1, joints.index(11)])
    assert np.isfinite(np.delete(errors[1], joints.index(11))).all()
    assert metrics.joint_angle_error(pred, gt, mask=mask) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(metrics.joint_angle_error(pred, gt, mask=np.zeros((2, 21), bool)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.joint_angle_errors(pred, gt)  # NaN at a scored joint
    with pytest.raises(ValueError, match="21, 3"):
        metrics.joint_angle_errors(gt[:, :20], gt[:, :20])
