"""``bones3d``: root-relative 3D joints as 20 bone vectors on the kinematic tree (ResUnet, eq. 3;
its loss, eq. 4, is ½ Σ ‖β_pred − β_gt‖² over these vectors).

``B_i = J_i − J_parent(i)`` for the 20 bones of ``handlib.skeleton.BONES`` (parent → child,
from the wrist outwards); the joints come back by summing the bones along each joint's path
from the root (:func:`decode_bones`). ``encode`` gives ``bones`` (20, 3) in mm from the camera-
frame joints and ``bone_weight`` (both ends labelled; unlabelled ends' NaNs become 0 under a
zero weight); ``decode_crop`` reads the model's ``bones`` output and returns wrist-relative
joints (``kp3d_rel``), the root at 0 ("the local coordinates of all bones along the path are
summed", §II.A). The paper does not say which joint is the root: the wrist, as in
``handlib.skeleton``; bones are child − parent in ``skeleton.BONES`` order, in camera mm. The
tree is checked once (:func:`check_tree`): a cycle or a missing parent would make the sums
meaningless.
"""
from __future__ import annotations

import numpy as np
import torch

from handlib.codecs import Codec, output, to_numpy
from handlib.skeleton import BONES, NUM_JOINTS, WRIST, bone_vectors


def check_tree(bones, num_joints: int, root: int = WRIST) -> None:
    """Refuse a bone list that is not a tree rooted at ``root`` reached parent-first: every
    joint but the root must be the child of exactly one bone whose parent comes earlier."""
    reached = {root}
    children = [child for _, child in bones]
    for parent, child in bones:
        if parent not in reached:
            raise ValueError(f"joint tree: bone {parent}->{child} has a parent that is neither "
                             "the root nor the child of an earlier bone (missing parent, or a "
                             "cycle)")
        if child in reached:
            raise ValueError(f"joint tree: joint {child} is reached twice (a cycle)")
        reached.add(child)
    missing = sorted(set(range(num_joints)) - reached)
    if missing or len(children) != num_joints - 1:
        raise ValueError(f"joint tree: joints {missing} have no parent bone")


check_tree(BONES, NUM_JOINTS)


def encode_bones(kp3d):
    """ResUnet eq. 3: (..., 21, 3) joints -> (..., 20, 3) bone vectors (``skeleton.BONES``)."""
    if isinstance(kp3d, torch.Tensor):
        parents = [p for p, _ in BONES]
        children = [c for _, c in BONES]
        return kp3d[..., children, :] - kp3d[..., parents, :]
    return bone_vectors(kp3d)


def decode_bones(bones, root):
    """(..., 20, 3) bones and (..., 3) root position -> (..., 21, 3) joints, summing each joint's
    bones along its path from the root (numpy or torch)."""
    joints = [root] + [None] * (NUM_JOINTS - 1)
    for k, (parent, child) in enumerate(BONES):
        joints[child] = joints[parent] + bones[..., k, :]
    stack = torch.stack if isinstance(bones, torch.Tensor) else np.stack
    return stack(joints, -2)


class Bones3D(Codec):
    """Bone-vector targets and their sum back to root-relative joints (see the module doc)."""

    name = "bones3d"

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        if "kp3d" not in item:
            raise ValueError("bones3d needs 3D labels (kp3d); this data source has none")
        labelled = np.asarray(item["labelled"], bool)
        parents = [p for p, _ in BONES]
        children = [c for _, c in BONES]
        weight = labelled[parents] & labelled[children]
        return {"bones": np.nan_to_num(encode_bones(np.asarray(item["kp3d"], np.float32))
                                       ).astype(np.float32),
                "bone_weight": weight.astype(np.float32)}

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        bones = to_numpy(output(outputs, "bones", self.name)).astype(np.float32)
        root = np.zeros((*bones.shape[:-2], 3), np.float32)
        return {"kp3d_rel": decode_bones(bones, root).astype(np.float32)}
