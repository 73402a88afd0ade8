"""The floors (handlib.floors) on hand-made records and labels with known answers: a two-frame
one-hand record, a two-hand record with an absent hand, and unlabelled joints."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from handlib import floors
from handlib.skeleton import NUM_JOINTS, WRIST


def hand(x: float, z: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """A hand whose 2D joints span x in [x, x + 20] and y in [50, 60] px, and whose 3D joints,
    wrist at (x, 0, z) mm, reach 2 mm further along x per joint."""
    kp2d = np.stack([x + np.linspace(0, 20, NUM_JOINTS), 50 + np.linspace(0, 10, NUM_JOINTS)], -1)
    kp3d = np.zeros((NUM_JOINTS, 3))
    kp3d[:, 0] = x + 2.0 * np.arange(NUM_JOINTS)
    kp3d[:, 2] = z
    return kp2d, kp3d


def one_hand_record() -> dict:
    """Two frames, one hand each, every joint labelled, with a model's predictions."""
    (a2, a3), (b2, b3) = hand(0.0), hand(100.0, z=500.0)
    return {"index": np.arange(2), "kp2d": np.stack([a2, b2]), "kp3d": np.stack([a3, b3]),
            "labelled": np.ones((2, NUM_JOINTS), bool),
            "kp2d_pred": np.zeros((2, NUM_JOINTS, 2), np.float32),
            "kp3d_pred": np.zeros((2, NUM_JOINTS, 3), np.float32),
            "kp3d_rel_pred": np.ones((2, NUM_JOINTS, 3), np.float32)}


def two_hand_record() -> dict:
    """Two frames in the two-slot layout: both hands in frame 0, the left hand absent (NaN
    labels, nothing labelled) in frame 1."""
    (r2, r3), (l2, l3) = hand(0.0), hand(100.0)
    kp2d = np.stack([np.concatenate([r2, l2]), np.concatenate([r2, np.full_like(l2, np.nan)])])
    kp3d = np.stack([np.concatenate([r3, l3]), np.concatenate([r3, np.full_like(l3, np.nan)])])
    labelled = np.ones((2, 2 * NUM_JOINTS), bool)
    labelled[1, NUM_JOINTS:] = False
    return {"index": np.arange(2), "kp2d": kp2d, "kp3d": kp3d, "labelled": labelled,
            "hand_valid": np.array([[True, True], [True, False]]),
            "kp3d_pred": np.zeros((2, 2 * NUM_JOINTS, 3), np.float32),
            "rel_root_pred": np.zeros((2, 3), np.float32)}


# ----------------------------------------------------------------------------- the mean pose


def test_the_mean_pose_is_wrist_relative_and_averaged_over_frames():
    p = one_hand_record()
    pose = floors.mean_pose(p["kp3d"])
    assert pose.shape == (NUM_JOINTS, 3)
    # both hands reach 2 mm per joint along x from the wrist, whatever their position
    np.testing.assert_array_equal(pose[:, 0], 2.0 * np.arange(NUM_JOINTS))
    np.testing.assert_array_equal(pose[:, 1:], 0.0)
    assert floors.mean_pose(p["kp3d"].astype(np.float32)).dtype == np.float32  # labels' dtype


def test_unlabelled_joints_and_hands_without_a_wrist_do_not_count():
    kp3d = np.zeros((3, NUM_JOINTS, 3))
    kp3d[:, 5, 0] = [10.0, 20.0, 1000.0]
    kp3d[:, 7, 0] = 99.0
    counted = np.ones((3, NUM_JOINTS), bool)
    counted[1, 5] = False         # frame 1's joint 5 is unlabelled
    counted[2, WRIST] = False     # frame 2 has no wrist: the whole hand is left out
    counted[:, 7] = False         # joint 7 is never labelled
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        pose = floors.mean_pose(kp3d, counted)
    assert pose[5, 0] == 10.0
    assert np.isnan(pose[7]).all()
    assert floors.mean_pose_record({"kp3d": kp3d}, pose)["kp3d_rel_pred"][0, 7, 0] == 0.0


def test_two_hand_slots_are_averaged_apart_and_absent_hands_ignored():
    p = two_hand_record()
    counted = p["labelled"] & np.repeat(p["hand_valid"], NUM_JOINTS, axis=1)
    pose = floors.mean_pose(p["kp3d"], counted)
    assert pose.shape == (2 * NUM_JOINTS, 3) and np.isfinite(pose).all()
    np.testing.assert_array_equal(pose[NUM_JOINTS:, 0], 2.0 * np.arange(NUM_JOINTS))
    slotted = floors.mean_pose(p["kp3d"].reshape(2, 2, NUM_JOINTS, 3),
                               counted.reshape(2, 2, NUM_JOINTS))
    np.testing.assert_array_equal(slotted.reshape(-1, 3), pose)


def canonical_samples() -> list[dict]:
    """A right-hand one-hand sample; a two-hand sample whose left hand has joint 3 unlabelled
    with a wrong 3D label (as an InterHand2.6M joint with joint_valid 0); a two-hand sample
    with the right hand absent (and a wrong label there too)."""
    (r2, r3), (l2, l3) = hand(0.0), hand(50.0)
    l3[3] = [1000.0, 0.0, 0.0]
    labelled = np.ones((2, NUM_JOINTS), bool)
    labelled[1, 3] = False
    return [{"kp2d": r2, "kp3d": r3, "side": "right"},
            {"kp2d": np.stack([r2, l2]), "kp3d": np.stack([r3, l3]), "labelled": labelled,
             "hand_valid": np.array([True, True]), "side": np.array(["right", "left"])},
            {"kp2d": np.stack([r2, l2]), "kp3d": np.stack([r3 + 7777.0, hand(30.0)[1]]),
             "hand_valid": np.array([False, True]), "side": np.array(["right", "left"])}]


def test_the_training_mean_pose_of_canonical_samples_is_per_slot():
    pose = floors.training_mean_pose(canonical_samples())
    assert pose.shape == (2, NUM_JOINTS, 3) and pose.dtype == np.float64
    # the absent right hand of the third sample does not count
    np.testing.assert_array_equal(pose[0, :, 0], 2.0 * np.arange(NUM_JOINTS))
    np.testing.assert_array_equal(pose[1, :, 0], 2.0 * np.arange(NUM_JOINTS))
    # the InterNet family's rule counts every joint of a present hand, unlabelled ones too
    every_joint = floors.training_mean_pose(canonical_samples(), joints="hand")
    assert every_joint[1, 3, 0] == ((1000.0 - 50.0) + 6.0) / 2
    np.testing.assert_array_equal(every_joint[0], pose[0])
    with pytest.raises(ValueError, match="joints must be one of labelled, hand"):
        floors.training_mean_pose(canonical_samples(), joints="visible")


def test_the_constant_mean_pose_record_predicts_the_pose_and_the_hand_type():
    pose = floors.mean_pose(one_hand_record()["kp3d"])
    one = floors.mean_pose_record(one_hand_record(), pose)
    assert one["kp3d_rel_pred"].dtype == np.float32
    np.testing.assert_array_equal(one["kp3d_rel_pred"], np.stack([pose, pose]))
    assert "kp3d_pred" not in one and "hand_type_pred" not in one
    np.testing.assert_array_equal(one["kp3d"], one_hand_record()["kp3d"])  # the labels stay
    two = floors.mean_pose_record(two_hand_record(), np.zeros((2, NUM_JOINTS, 3)))
    assert two["kp3d_rel_pred"].shape == (2, 2 * NUM_JOINTS, 3)
    np.testing.assert_array_equal(two["hand_type_pred"], [[1, 1], [1, 0]])
    assert two["hand_type_pred"].dtype == np.float32
    assert "kp3d_pred" not in two and "rel_root_pred" not in two


# ----------------------------------------------------------------------------- the box centre


def test_every_joint_lies_at_the_centre_of_its_hands_box():
    p = one_hand_record()
    floor = floors.box_centre_record(p)
    assert floor["kp2d_pred"].dtype == np.float64 and floor["kp2d_pred"].shape == (2, 21, 2)
    np.testing.assert_array_equal(floor["kp2d_pred"][0], np.broadcast_to([10.0, 55.0], (21, 2)))
    np.testing.assert_array_equal(floor["kp2d_pred"][1], np.broadcast_to([110.0, 55.0], (21, 2)))
    assert floors.box_centre_record(p, np.float32)["kp2d_pred"].dtype == np.float32
    np.testing.assert_array_equal(floor["kp3d_rel_pred"], p["kp3d_rel_pred"])  # the rest stays


def test_the_box_counts_labelled_joints_only():
    p = one_hand_record()
    p["kp2d"][0, 20] = [500.0, 500.0]  # far off, and unlabelled
    p["labelled"][0, 20] = False
    centre = floors.box_centres(p["kp2d"], p["labelled"])[0, 0]
    np.testing.assert_allclose(centre, [(0.0 + 19.0) / 2, (50.0 + 59.5) / 2])


def test_an_absent_hand_is_centred_at_zero_without_warnings():
    p = two_hand_record()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        floor = floors.box_centre_record(p)
    np.testing.assert_array_equal(floor["kp2d_pred"][:, :NUM_JOINTS],
                                  np.broadcast_to([10.0, 55.0], (2, NUM_JOINTS, 2)))
    np.testing.assert_array_equal(floor["kp2d_pred"][0, NUM_JOINTS:],
                                  np.broadcast_to([110.0, 55.0], (NUM_JOINTS, 2)))
    np.testing.assert_array_equal(floor["kp2d_pred"][1, NUM_JOINTS:], 0.0)


# ----------------------------------------------------------------------------- the constant offset


def test_the_mean_offset_leaves_out_unlabelled_joints():
    p = one_hand_record()
    p["kp3d"][1, 20] = [9999.0, 0.0, 0.0]  # unlabelled: left out of the offset
    p["labelled"][1, 20] = False
    centres = np.array([[20.0, 0.0, 400.0], [119.0, 0.0, 500.0]])
    offset = floors.mean_offset(p["kp3d"], centres, p["labelled"])
    # joint j lies 2 (j - 10) mm from the centre in frame 0 and 2 (j - 9.5) mm in frame 1
    expected = 2.0 * (np.arange(NUM_JOINTS) - 10.0) + np.where(np.arange(NUM_JOINTS) < 20, 0.5, 0)
    np.testing.assert_allclose(offset[:, 0], expected)