"""``scoremap_lift``: the targets of Zimmermann & Brox's PoseNet + PosePrior ("Learning to
Estimate 3D Hand Pose from Single RGB Images", ICCV 2017, §3-4), the "PoseNet(2017)" baseline
of MS-FF (its Table 1 row reads GT S = Y, GT H = Y), for two hands in the two-slot layout (right
joints 0-20, left 21-41, ``hand_valid``; ``two_slot``: a one-hand sample fills its side's slot).

Facts below are from the authors' released code (github.com/lmb-freiburg/hand3d; the files are
named where they are used); the model is :mod:`handlib.papers.msff.posenet`.

**Score maps (§4.2).** Per joint, a Gaussian of peak 1 on the ``heatmap_size``² grid of the
input (``encode_heatmaps`` of ``heatmap2d``), weighted by ``target_weight`` = labelled, inside
the crop and hand present. The reference (``data/BinaryDbReader.py``,
``create_multiple_gaussian_map``) draws ``exp(-d² / σ²)`` with σ = 25 px on the 256² crop, a
Gaussian of standard deviation 25/√2 px; PoseNet predicts them at 1/8 of the input (32² at 256²),
so ``sigma`` defaults to 25 / (8 √2) ≈ 2.21 cells, the same width in input pixels.
*Choice:* the reference weights the loss by visibility (``keypoint_vis21``) and zeroes the maps
of invisible joints; we supervise every labelled joint inside the crop (its position is known),
as ``heatmap2d`` does.

**Normalised 3D (§3, eqs. 1-2).** Each hand's joints relative to its root, divided by the length
``s`` of one bone: ``kp3d_norm`` (42, 3). *Choices:* (1) the bone is
:data:`handlib.metrics.SCALE_BONE`, wrist → middle MCP, so that "GT S" means one thing in the
whole book (``epe3d``'s ``gt_scale`` rescales by the same bone). The paper says "the first bone
of the index finger"; the reference code divides by ``keypoint_xyz21_rel[12] -
keypoint_xyz21_rel[11]`` (``BinaryDbReader.py``, variable ``index_root_bone_length``), which in
RHD's joint order (its ``canonical_trafo`` calls joint 12 the "beginning of middle finger") is
the middle finger's MCP → PIP bone. Under the GT-S protocol the bone only fixes the unit of the
targets: decoding multiplies by the same bone's true length. (2) The root is the wrist (the
book's records are wrist-relative); the paper's root is a "palm" keypoint (r = 0), which the
reference places halfway between the wrist and the middle MCP (``use_wrist_coord=False``).

**Canonical frame and viewpoint (§4.3, Fig. 3).** Z&B's PosePrior predicts the normalised
pose in a canonical frame, ``kp3d_canonical`` (42, 3), and a rotation back to the camera's,
``viewpoint`` (2, 3, 3) per hand, with ``kp3d_norm = (kp3d_canonical ⊙ sign) @ viewpoint`` (row
vectors; ``sign`` = :data:`CANONICAL_SIGN`). The canonical frame (``utils/canonical_trafo.py``,
``canonical_trafo``) puts the root at the origin, the middle MCP (``ALIGN_NODE_ID``) on the
negative y axis and the little finger's MCP (``ROT_NODE_ID``) in the xy plane at x > 0; the
right hand's canonical z is then negated (``flip_right_hand``: both sides look like a left hand,
so one prior serves both). The reference builds that rotation from three Euler angles; we build
the same rotation (it is unique when the two reference joints are not collinear with the root)
as the orthonormal basis ``y = -middle MCP``, ``x`` = the little MCP orthogonalised to ``y``,
``z = x × y`` (:func:`canonical_frame`). Its target ``viewpoint`` is the inverse rotation (the
reference's ``rot_mat = tf.matrix_inverse(rot_mat)``). ``kp3d_norm`` itself is the target of
Z&B's "Direct" variant (the model's ``variant="direct"``).

Weights: ``kp3d_weight`` (42,) = the joint has a 3D label, its hand is present and its hand's
frame is defined (wrist, middle MCP and little MCP labelled, scale bone > 0);
``viewpoint_weight`` (2,) = that frame is defined. Without 3D labels all are 0 (the targets 0).

**Decoding (GT S = Y: Z&B's own protocol, ``eval3d.py``: ``coord3d_pred_v *=
keypoint_scale``).** ``kp2d`` and ``confidence`` from the final score maps (``decode_heatmaps``:
arg-max and log-parabola refinement); ``kp3d_rel`` = the predicted ``kp3d_norm`` times the
ground-truth scale-bone length of that hand, taken from the batch's ``kp3d`` (camera mm; the crop
changes K, not the 3D points, and the bone length is unchanged by a mirror). A hand whose true
scale bone is not labelled gets NaN. GT H = Y: the slot is the hand side, which the model takes
as its input (Z&B's ``hand_side``), so there is no hand-type output.
"""
from __future__ import annotations

import numpy as np

from handlib.codecs import Codec, check_two_hand_decode, output, to_numpy
from handlib.codecs.heatmap2d import decode_heatmaps, encode_heatmaps
from handlib.metrics import SCALE_BONE
from handlib.skeleton import NUM_JOINTS, WRIST, finger_joints

HANDS = 2
#: The canonical frame's reference joints (the reference's ``ALIGN_NODE_ID``, the middle MCP, on
#: the negative y axis; ``ROT_NODE_ID``, the little finger's MCP, in the xy plane at x > 0).
ALIGN_JOINT, ROTATION_JOINT = finger_joints("middle")[0], finger_joints("little")[0]
#: Per slot (right, left), the factor of the canonical coordinates: the right hand's z negated.
CANONICAL_SIGN = np.array([[1.0, 1.0, -1.0], [1.0, 1.0, 1.0]], np.float32)
#: σ = 25 px of ``exp(-d²/σ²)`` on a 256² crop, as a standard deviation in cells of a 1/8 grid.
ZB_SIGMA_CELLS = 25.0 / (8 * np.sqrt(2.0))


def scale_bone_length(hands: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints -> (...,) length of :data:`SCALE_BONE` (NaN where an end is NaN)."""
    parent, child = SCALE_BONE
    return np.linalg.norm(hands[..., child, :] - hands[..., parent, :], axis=-1)


def canonical_frame(hands: np.ndarray) -> np.ndarray:
    """(..., 21, 3) wrist-relative joints -> (..., 3, 3) rotation R whose columns are the
    canonical axes, so ``hands @ R`` has the middle MCP on the negative y axis and the little
    MCP in the xy plane at x > 0 (Z&B's ``canonical_trafo``). Degenerate hands give non-finite
    entries; mask them out."""
    with np.errstate(invalid="ignore", divide="ignore"):
        y = -hands[..., ALIGN_JOINT, :]
        y = y / np.linalg.norm(y, axis=-1, keepdims=True)
        side = hands[..., ROTATION_JOINT, :]
        x = side - np.sum(side * y, axis=-1, keepdims=True) * y
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
        return np.stack([x, y, np.cross(x, y)], axis=-1)


class ScoremapLift(Codec):
    """Z&B's score maps and scale-normalised canonical 3D with viewpoint (see the module doc)."""

    name = "scoremap_lift"
    two_slot = True
    needs_gt_scale = True  # kp3d_rel takes each hand's scale from the ground truth (GT S = Y)

    def __init__(self, input_size: int, heatmap_size: int = 32, sigma: float = ZB_SIGMA_CELLS):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"scoremap_lift: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        if sigma <= 0:
            raise ValueError(f"scoremap_lift: sigma must be > 0 heat-map cells, got {sigma}")
        self.input_size, self.heatmap_size, self.sigma = input_size, heatmap_size, float(sigma)

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        kp2d = np.asarray(item["kp2d"], np.float32)
        if kp2d.shape[0] != HANDS * NUM_JOINTS or "hand_valid" not in item:
            raise ValueError("scoremap_lift is a two-hand codec: it needs items in the two-hand "
                             f"layout (42 joints and hand_valid), got {kp2d.shape[0]} joints")
        present = np.repeat(np.asarray(item["hand_valid"], bool), NUM_JOINTS)
        labelled = np.asarray(item["labelled"], bool) & present
        weight = labelled & np.asarray(item["in_frame"], bool)
        out = {"heatmaps": encode_heatmaps(kp2d, weight, self.input_size, self.heatmap_size,
                                           self.sigma),
               "target_weight": weight.astype(np.float32)}
        normalised = np.zeros((HANDS, NUM_JOINTS, 3), np.float32)
        canonical = np.zeros((HANDS, NUM_JOINTS, 3), np.float32)
        viewpoint = np.zeros((HANDS, 3, 3), np.float32)
        joint_weight = np.zeros((HANDS, NUM_JOINTS), bool)
        frame_ok = np.zeros(HANDS, bool)
        if "kp3d" in item:
            hands = np.asarray(item["kp3d"], np.float64).reshape(HANDS, NUM_JOINTS, 3)
            labelled = labelled.reshape(HANDS, NUM_JOINTS) & np.isfinite(hands).all(axis=-1)
            scale = scale_bone_length(hands)
            with np.errstate(invalid="ignore", divide="ignore"):  # zero bones: masked below
                relative = (hands - hands[:, WRIST:WRIST + 1]) / scale[:, None, None]
            rotation = canonical_frame(relative)
            references = labelled[:, [WRIST, ALIGN_JOINT, ROTATION_JOINT]].all(axis=1)
            frame_ok = (references & np.isfinite(scale) & (scale > 0)
                        & np.isfinite(rotation).all(axis=(1, 2)))
            joint_weight = labelled & frame_ok[:, None]
            keep = joint_weight[..., None]
            normalised = np.where(keep, relative, 0.0).astype(np.float32)
            canonical = np.where(keep, (relative @ rotation) * CANONICAL_SIGN[:, None], 0.0)
            viewpoint = np.where(frame_ok[:, None, None], np.swapaxes(rotation, 1, 2), 0.0)
        out.update(kp3d_norm=normalised.reshape(-1, 3),
                   kp3d_canonical=canonical.astype(np.float32).reshape(-1, 3),
                   viewpoint=viewpoint.astype(np.float32),
                   kp3d_weight=joint_weight.reshape(-1).astype(np.float32),
                   viewpoint_weight=frame_ok.astype(np.float32))
        return out

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        maps = output(outputs, "heatmaps", self.name)
        check_two_hand_decode(self.name, maps, 4, "(B, 42, h, w) score maps", batch)
        normalised = to_numpy(output(outputs, "kp3d_norm", self.name))
        kp2d, confidence = decode_heatmaps(maps, self.input_size)
        found = {"kp2d": kp2d, "confidence": confidence}
        if "kp3d" in batch:
            truth = to_numpy(batch["kp3d"]).astype(np.float64).reshape(-1, HANDS, NUM_JOINTS, 3)
            scale = scale_bone_length(truth)  # GT S: the true scale of each hand
            hands = normalised.reshape(-1, HANDS, NUM_JOINTS, 3) * scale[..., None, None]
            found["kp3d_rel"] = hands.reshape(-1, HANDS * NUM_JOINTS, 3).astype(np.float32)
        return found
