import numpy as np
import pytest

from handlib import skeleton as sk


def test_layout_is_wrist_then_fingers_base_to_tip():
    assert sk.NUM_JOINTS == 21
    assert sk.JOINT_NAMES[0] == "wrist"
    assert sk.JOINT_NAMES[1:5] == ("thumb_MCP", "thumb_PIP", "thumb_DIP", "thumb_TIP")
    assert sk.JOINT_NAMES[20] == "little_TIP"
    assert sk.finger_joints("index") == (5, 6, 7, 8)


def test_kinematic_tree():
    assert sk.PARENTS[0] == -1
    assert [sk.PARENTS[j] for j in sk.finger_joints("middle")] == [0, 9, 10, 11]
    assert len(sk.BONES) == 20
    assert all(p < c for p, c in sk.BONES)


def test_palm_and_finger_subsets_partition_the_joints():
    assert sk.PALM_JOINTS == (0, 1, 5, 9, 13, 17)
    assert sorted(sk.PALM_JOINTS + sk.FINGER_ONLY_JOINTS) == list(range(21))


def test_reorder_applies_a_source_table():
    source = np.arange(21 * 2, dtype=float).reshape(21, 2)
    table = list(range(20, -1, -1))
    out = sk.reorder(source, table)
    assert np.array_equal(out[0], source[20]) and np.array_equal(out[20], source[0])
    with pytest.raises(ValueError, match="21 entries"):
        sk.reorder(source, [0, 1, 2])


def test_bone_vectors_are_child_minus_parent():
    kp = np.zeros((21, 3))
    kp[1] = [1.0, 2.0, 3.0]
    bones = sk.bone_vectors(kp)
    assert bones.shape == (20, 3)
    assert np.allclose(bones[0], [1.0, 2.0, 3.0])
    assert np.allclose(bones[1], -kp[1])


def test_unknown_finger_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown finger"):
        sk.finger_joints("pinky")
