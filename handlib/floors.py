"""Floors: the predictions that ignore the input, every one the book scores.

An error has no fixed floor: 12 mm is good on one dataset and useless on another. So each
chapter also scores a prediction that never looks at the image or depth map, made only from the
training labels and from where the hand is (which every model is given, through its crop). A
model no better than that has learnt nothing about the hand it sees, and a claim whose compared
values all sit at or beyond it is inconclusive (``handlib.report``). This module computes them all
as plain numpy over prediction records (``handlib.metrics.records``: one hand ``(N, 21, D)`` or
two hand slots ``(N, 42, D)``, right 0-20, left 21-41) and training labels:

- :func:`mean_pose` (from arrays), :func:`training_mean_pose` (from canonical samples): the
  training split's mean wrist-relative pose, per hand slot;
- :func:`mean_pose_record`: every test hand predicted as that pose, the floor of the
  root-aligned 3D errors (MPJPE, EPE, 3D PCK);
- :func:`box_centres`, :func:`box_centre_record`: every joint at the centre of its hand's true
  box, the floor of the 2D errors;
- :func:`mean_offset`: the training split's mean offset of each joint from its crop centre;
  CrossInfoNet's *constant offset* adds it to each test hand's crop centre, found as that
  chapter's codec finds it (``handlib.papers.crossinfonet.study.constant_offset``), the floor of
  its unaligned camera-space error.

Which chapter scores which (the chapters only choose the floors and gather the training labels;
``handlib.study.first_records_floors`` picks the test record a floor replaces):

- ``handlib.study3d.floors`` (MS-FF, InterNet+): the constant mean pose; their 2D re-tests the
  box centre;
- ``handlib.papers.resunet.floor_record``: the constant mean pose and the box centre in one
  record;
- ``handlib.papers.crossinfonet.floors``: the constant offset;
- ``handlib.occlusion.floor_errors``: the box centre and the mean pose of the engine's ``val``
  hands, left hands mirrored (its rows are hands, not records).

**Where the chapters differ, each keeps its numbers.** The floors were written once per chapter
before this module, and these small differences are kept as arguments, so that every chapter's
floor is bit for bit what it was:

- *which joints count in the mean pose*: ResUnet's pose counts the labelled joints only; the
  InterNet family's (``training_mean_pose(..., joints="hand")``) every joint of a present hand,
  so an InterHand2.6M joint with ``joint_valid`` 0 counts with whatever its annotation holds (on
  every other dataset, synthetic included, the two agree: they label every joint of a hand);
- *the precision*: the mean pose is averaged in the labels' own dtype (float32 pipeline items
  for ResUnet, float64 for the others), and the box centre is stored as float64 (InterNet family,
  occlusion benchmark) or float32 (ResUnet, ``dtype``);
- *a hand without a labelled joint* (the absent hand of a two-hand frame) has its box centre at
  0.0, never NaN; ResUnet's own code left NaN there, on rows its data never has and that no
  metric would score (every joint rule needs a labelled joint);
- :func:`mean_pose_record` drops the model's other 3D predictions (``kp3d_pred``,
  ``rel_root_pred``), so that every metric scores the constant.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from handlib.data.two_hands import to_two_slots
from handlib.skeleton import NUM_JOINTS, WRIST

Record = dict[str, np.ndarray]

#: The joints :func:`training_mean_pose` counts: the labelled joints of a present hand, or every
#: joint of a present hand (the InterNet family's rule, see the module doc).
MEAN_POSE_JOINTS: tuple[str, ...] = ("labelled", "hand")


# ----------------------------------------------------------------------------- the mean pose


def _mean_from(points: np.ndarray, reference: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """The mean over samples (axis 0) of ``points - reference`` at the ``counted`` joints: the
    others, and NaN coordinates, are left out of each joint's mean (NaN where none counts)."""
    relative = np.where(counted[..., None], points, np.nan) - reference
    return np.nanmean(relative, axis=0)


def mean_pose(kp3d: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
    """The mean wrist-relative pose of ``kp3d`` ((N, 21, 3), (N, 42, 3) or (N, 2, 21, 3), mm),
    shaped like one sample: each hand is moved so that its wrist is at the origin, then each
    joint of each hand slot is averaged over the samples.

    ``counted`` ((N, joints) bool, default all) says which joints count; a hand whose wrist does
    not count is left out entirely (it cannot be made wrist-relative), and NaN coordinates never
    count. A joint counted in no sample is NaN. The arithmetic is in ``kp3d``'s dtype.

    Predicting this pose for every test hand ignores the input; it is the floor of the
    root-aligned 3D errors (:func:`mean_pose_record`)."""
    points = np.asarray(kp3d)
    hands = points.reshape(len(points), -1, NUM_JOINTS, 3)
    counted = (np.ones(hands.shape[:-1], bool) if counted is None
               else np.asarray(counted, bool).reshape(hands.shape[:-1]))
    wrist = np.where(counted[:, :, WRIST:WRIST + 1, None], hands[:, :, WRIST:WRIST + 1], np.nan)
    return _mean_from(hands, wrist, counted).reshape(points.shape[1:])


def training_mean_pose(samples: Iterable[dict], joints: str = "labelled") -> np.ndarray:
    """(2, 21, 3) mm: :func:`mean_pose` of canonical samples (``handlib.data.formats``) in the
    two-slot layout (right, left; a one-hand sample fills its side's slot,
    ``handlib.data.two_hands.to_two_slots``), float64, each slot averaged over the samples in
    which that hand is present (``hand_valid``).

    ``joints`` (:data:`MEAN_POSE_JOINTS`): ``"labelled"`` counts a present hand's labelled joints
    only, ``"hand"`` every joint of a present hand (the InterNet family's rule, kept so that its
    numbers do not change; see the module doc)."""
    if joints not in MEAN_POSE_JOINTS:
        raise ValueError(f"joints must be one of {', '.join(MEAN_POSE_JOINTS)}, got {joints!r}")
    poses, counted = [], []
    for sample in samples:
        slots = to_two_slots(sample)
        poses.append(np.asarray(slots["kp3d"], np.float64).reshape(2, NUM_JOINTS, 3))
        present = np.repeat(np.asarray(slots["hand_valid"], bool)[:, None], NUM_JOINTS, axis=1)
        if joints == "labelled":
            labelled = slots.get("labelled", np.ones((2, NUM_JOINTS), bool))
            present &= np.asarray(labelled, bool).reshape(2, NUM_JOINTS)
        counted.append(present)
    return mean_pose(np.array(poses), np.array(counted))


def mean_pose_record(p: Record, pose: np.ndarray) -> Record:
    """The test record ``p`` with every hand predicted as the constant ``pose`` (wrist-relative,
    :func:`mean_pose`: (21, 3) for one-hand records, (2, 21, 3) or (42, 3) for two-hand ones):
    the *constant mean pose*, the floor of the root-aligned 3D errors.

    ``kp3d_rel_pred`` is the pose (float32, 0 where the pose is NaN: a joint never seen in
    training); the model's ``kp3d_pred`` and ``rel_root_pred`` are dropped, so that every metric
    scores the constant. A two-hand record (``hand_valid``) also gets the true hand type as
    ``hand_type_pred``, so that the protocols with and without ground-truth handedness score the
    same hands (``handlib.study3d``)."""
    constant = np.broadcast_to(np.asarray(pose).reshape(1, -1, 3), np.shape(p["kp3d"]))
    record = {key: value for key, value in p.items() if key not in ("kp3d_pred", "rel_root_pred")}
    record["kp3d_rel_pred"] = np.nan_to_num(constant).astype(np.float32)
    if "hand_valid" in p:
        record["hand_type_pred"] = np.asarray(p["hand_valid"], np.float32)
    return record


# ----------------------------------------------------------------------------- the box centre


def box_centres(kp2d: np.ndarray, labelled: np.ndarray | None = None) -> np.ndarray:
    """(N, joints, 2) float64: every joint of ``kp2d`` ((N, 21, 2) or (N, 42, 2) px) at the
    centre of its hand's box, the tight box of that hand's ``labelled`` joints (default all);
    0.0 for a hand with no labelled joint (an absent hand), never NaN.

    A model is given where the hand is (its crop is centred on this box) and nothing more about
    the pose: predicting the centre for every joint is the floor of the 2D errors."""
    points = np.asarray(kp2d, np.float64)
    hands = points.reshape(len(points), -1, NUM_JOINTS, 2)
    labelled = (np.ones(hands.shape[:-1], bool) if labelled is None
                else np.asarray(labelled, bool).reshape(hands.shape[:-1]))
    low = np.where(labelled[..., None], hands, np.inf).min(axis=2, keepdims=True)
    high = np.where(labelled[..., None], hands, -np.inf).max(axis=2, keepdims=True)
    with np.errstate(invalid="ignore"):  # a hand with no labelled joint: inf - inf
        centre = np.where(np.isfinite(low + high), (low + high) / 2, 0.0)
    return np.repeat(centre, NUM_JOINTS, axis=2).reshape(points.shape)


def box_centre_record(p: Record, dtype=np.float64) -> Record:
    """The test record ``p`` with ``kp2d_pred`` every joint at the centre of its hand's true box
    (:func:`box_centres` of the labelled joints), as ``dtype`` (float64 for the InterNet family,
    float32 for ResUnet's records): the floor of the 2D errors."""
    return {**p, "kp2d_pred": box_centres(p["kp2d"], p["labelled"]).astype(dtype, copy=False)}


# ----------------------------------------------------------------------------- the constant offset


def mean_offset(kp3d: np.ndarray, centres: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """(J, 3) mm: each joint's mean offset from its hand's centre (``kp3d`` (N, J, 3), ``centres``
    (N, 3), where each hand's crop is centred), over the samples in which it is ``labelled``
    (N, J); in the dtype of ``kp3d - centres``."""
    return _mean_from(np.asarray(kp3d), np.asarray(centres)[:, None],
                      np.asarray(labelled, bool))
