"""Hand-pose metrics as plain numpy functions: PCK, AUC, EPE, MPJPE, success frames, bone
directions and joint angles, visibility splits (the first of ``handlib.metrics``' two layers;
the prediction-record registry, ``handlib.metrics.records``, is built on them).

Every table of the book rests on these functions, so each follows the definition the papers
cite and the public code that produced the published numbers.

Array conventions (all functions)
---------------------------------
- ``pred``, ``gt``: ``(N, ..., J, D)``: axis 0 indexes samples (frames), the last axis holds the
  ``D`` coordinates (2: pixels, 3: millimetres), and every axis in between indexes joints. A
  single hand is ``(N, J, D)``; two hands are ``(N, 2, J, D)`` and count as ``2 J`` joints, as
  in the InterHand2.6M evaluation (42 joints).
- ``mask``: boolean, shape ``pred.shape[:-1]``; ``True`` marks a joint that is scored. ``None``
  scores every joint. Visibility, "in frame", "hand present" all enter through ``mask``.
- ``norm``: the PCK normaliser, a scalar or one value per sample (``(N,)``) or per hand
  (``(N, 2)``); distances are divided by it. It must be positive and finite wherever a joint is
  scored, else ``ValueError`` (mask such samples out explicitly).
- ``root``: a joint index. When given, both ``pred`` and ``gt`` are translated so that their
  root joint is at the origin before distances are measured (root alignment, InterNet+ eq. 5;
  InterHand2.6M aligns each hand to its own root). A hand whose root joint is masked out cannot
  be aligned: all its joints are then left out.

Reductions
----------
- Per-joint values reduce over the sample axis only: ``(N, ..., J)`` → ``(..., J)``.
- The scalar summary is the mean of the per-joint values over the joints that have at least one
  scored sample. This is how Zimmermann & Brox's ``EvalUtil.get_measures`` (the 3D PCK/AUC
  protocol ResUnet uses), InterHand2.6M's MPJPE and MMPose's PCK average; it equals the pooled
  mean over all scored (sample, joint) pairs whenever every joint has the same number of scored
  samples (e.g. no mask).
- Comparisons with a threshold are inclusive, ``error <= threshold``: RCSF eq. 4 writes ``≤``,
  as do Zimmermann & Brox's ``_get_pck`` and the awesome-hand-pose-estimation success-frame
  code. (MMPose uses ``<``; the two differ only on exact ties.)
- **Empty selections give NaN, never 0.** A joint with no scored sample has a NaN per-joint
  value; a summary over no scored joint (an all-False mask) is NaN; a success-frame curve over
  no scored frame is all NaN. ``split_by_visibility`` reports the counts next to the values so
  a NaN is explained.

PCK normalisation (RCSF eq. 4)
------------------------------
``PCK_σ^k = 1/|D| Σ_D [ ||p_k^pred − p_k^gt||_2 ≤ σ ]`` with σ "normalised with respect to
the size of the hand's bounding box". The paper does not define the size; we use the longer side
of the tight axis-aligned box around the ground-truth 2D keypoints, ``max(w, h)``
(:func:`bbox_size`), the convention of MMPose's hand PCK (``norm_item="bbox"`` takes the max of
the box's width and height). The threshold then reads "a fraction of the hand's extent", e.g.
PCK@0.02 of a 200 px hand is a 4 px radius.

Length: every functional metric of the book in one module, side by side, so that they share one
masking and one reduction convention (above) and a reader compares them in one place.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from handlib.skeleton import (BONES as _BONES, NUM_JOINTS as _HAND_JOINTS, PARENTS as _PARENTS,
                              bone_vectors as _bone_vectors)

REDUCTIONS: tuple[str, ...] = ("mean", "median")
FRAME_MODES: tuple[str, ...] = ("max", "mean")


# ----------------------------------------------------------------------------- distances


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred has shape {pred.shape} but gt has {gt.shape}; they must match")
    if pred.ndim < 3:
        raise ValueError(
            f"expected keypoints shaped (N, ..., J, D) with a leading sample axis, got "
            f"{pred.shape}; for a single frame use pred[None]"
        )
    return pred, gt


def _check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}; expected {shape} (keypoints without D)")
    return mask.astype(bool)


def root_align(kp: np.ndarray, root: int) -> np.ndarray:
    """``kp`` shifted so that each hand's joint ``root`` is at the origin (``kp − kp[root]``)."""
    kp = np.asarray(kp, dtype=np.float64)
    return kp - kp[..., root : root + 1, :]


def _broadcast_norm(norm: Any, shape: tuple[int, ...]) -> np.ndarray:
    norm = np.asarray(norm, dtype=np.float64)
    if norm.ndim > len(shape) - 1 or norm.shape != shape[: norm.ndim]:
        raise ValueError(
            f"norm has shape {norm.shape}; expected a scalar or one value per sample/hand, i.e. a "
            f"leading part of {shape[:-1]}"
        )
    return np.broadcast_to(norm.reshape(norm.shape + (1,) * (len(shape) - norm.ndim)), shape)


def joint_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    norm: Any = None,
    root: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance of every joint, ``(N, ..., J)``, and the mask of scored joints.

    Distances are in the units of the coordinates (px, mm), divided by ``norm`` when given, after
    root alignment when ``root`` is given. Unscored entries hold NaN.
    """
    pred, gt = _check_pair(pred, gt)
    mask = _check_mask(mask, pred.shape[:-1])
    if root is not None:
        mask = mask & mask[..., root : root + 1]
        pred, gt = root_align(pred, root), root_align(gt, root)
    errors = np.linalg.norm(pred - gt, axis=-1)
    if norm is not None:
        norm = _broadcast_norm(norm, errors.shape)
        bad = mask & ~(np.isfinite(norm) & (norm > 0))
        if bad.any():
            raise ValueError(
                f"norm must be positive and finite for every scored joint; {int(bad.sum())} scored "
                "joints have norm <= 0 or NaN (mask those samples out, e.g. hands with fewer than "
                "two labelled keypoints)"
            )
        errors = errors / np.where(mask, norm, 1.0)
    if (mask & ~np.isfinite(errors)).any():
        raise ValueError("pred or gt holds NaN/inf at a scored joint; mask it out or fix the input")
    return np.where(mask, errors, np.nan), mask


def bbox_size(kp2d: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """PCK normaliser: the longer side ``max(w, h)`` of the tight box around each hand's keypoints.

    ``kp2d`` is ``(..., J, 2)``, ``mask`` ``(..., J)`` selects the keypoints that span the box
    (e.g. the labelled ones). Returns ``(...)``; NaN for a hand with no selected keypoint, 0 for a
    hand with one (``joint_errors`` rejects both if such a hand is scored).
    """
    kp2d = np.asarray(kp2d, dtype=np.float64)
    if kp2d.shape[-1] != 2:
        raise ValueError(f"bbox_size needs 2D keypoints (..., J, 2), got {kp2d.shape}")
    mask = _check_mask(mask, kp2d.shape[:-1])[..., None]
    with np.errstate(invalid="ignore"):
        low = np.where(mask, kp2d, np.inf).min(axis=-2)
        high = np.where(mask, kp2d, -np.inf).max(axis=-2)
    extent = (high - low).max(axis=-1)
    return np.where(np.isfinite(extent), extent, np.nan)


# ----------------------------------------------------------------------------- reductions


def _per_joint_fraction(hits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fraction of scored samples that are hits, per joint (reduce axis 0); NaN with none."""
    counts = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (hits & mask).sum(axis=0) / counts, np.nan)


def _mean_over_joints(per_joint: np.ndarray, axis: tuple[int, ...] | None = None) -> Any:
    """Mean over the joints that have a value (NaN ones skipped); NaN when none has one."""
    values = np.asarray(per_joint, dtype=np.float64)
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return float(result) if np.ndim(result) == 0 else result


# ----------------------------------------------------------------------------- PCK and AUC


def pck_per_joint(
    pred: np.ndarray,
    gt: np.ndarray,
    threshold: float,
    norm: Any = None,
    mask: np.ndarray | None = None,
    root: int | None = None,
) -> np.ndarray:
    """PCK of each joint (RCSF eq. 4): the fraction of scored samples with error ≤ ``threshold``.

    ``threshold`` is in the units of ``error / norm``: a fraction of the bounding-box size with
    ``norm=bbox_size(gt)``, pixels or millimetres with ``norm=None``. Returns ``(..., J)``, NaN
    for a joint with no scored sample.
    """
    errors, mask = joint_errors(pred, gt, mask=mask, norm=norm, root=root)
    with np.errstate(invalid="ignore"):
        hits = errors <= threshold
    return _per_joint_fraction(hits, mask)


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    threshold: float,
    norm: Any = None,
    mask: np.ndarray | None = None,
    root: int | None = None,
) -> float:
    """Mean PCK: mean of :func:`pck_per_joint` over joints with a scored sample (NaN if none)."""
    return _mean_over_joints(pck_per_joint(pred, gt, threshold, norm=norm, mask=mask, root=root))


def pck_curve(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: Sequence[float],
    norm: Any = None,
    mask: np.ndarray | None = None,
    root: int | None = None,
) -> np.ndarray:
    """Mean PCK at each threshold, ``(T,)``; the curve of Zimmermann & Brox's 3D PCK (0–50 mm).

    Computed as the mean over joints of each joint's PCK curve (their ``get_measures``).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D sequence, got {thresholds.shape}")
    errors, mask = joint_errors(pred, gt, mask=mask, norm=norm, root=root)
    with np.errstate(invalid="ignore"):
        per_joint = np.stack([_per_joint_fraction(errors <= t, mask) for t in thresholds])
    return _mean_over_joints(per_joint, axis=tuple(range(1, per_joint.ndim)))


def auc(thresholds: Sequence[float], values: Sequence[float]) -> float:
    """Normalised area under a curve: ``∫ values d(threshold) / (t_max − t_min)``, trapezoidal.

    The value lies in [0, 1] for a PCK curve; "AUC 20–50 mm" is ``auc`` over thresholds from 20
    to 50 mm (Zimmermann & Brox; ResUnet Fig. 5). NaN if any value is NaN.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"thresholds {t.shape} and values {v.shape} must be 1-D of equal length")
    if t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError("auc needs at least two strictly increasing thresholds")
    if np.isnan(v).any():
        return float("nan")
    area = np.sum((v[1:] + v[:-1]) * np.diff(t)) / 2.0
    return float(area / (t[-1] - t[0]))


# ----------------------------------------------------------------------------- EPE and MPJPE


def epe_per_joint(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    root: int | None = None,
    reduce: str = "mean",
) -> np.ndarray:
    """End-point error of each joint: mean (or median) distance over its scored samples.

    Units are those of the coordinates: px for 2D, mm for 3D. NaN for a joint with no sample.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    errors, mask = joint_errors(pred, gt, mask=mask, root=root)
    counts = mask.sum(axis=0)
    if reduce == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, np.where(mask, errors, 0.0).sum(axis=0) / counts, np.nan)
    with warnings.catch_warnings():  # joints without a sample: NaN, by the module's rule
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(errors, axis=0)


def epe(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    root: int | None = None,
    reduce: str = "mean",
) -> float:
    """Mean (or median) end-point error, InterNet+ eq. 5 with ``root`` given.

    ``EPE = 1/N Σ_k ||H'_pred,k − H_gt,k||_2`` after translating the prediction so that its root
    joint coincides with the ground truth's (``root=0``, the wrist, for STB/RHD). Without a mask
    this is the mean over all joints and frames. ``reduce="median"`` gives the "median EPE" of
    Zimmermann & Brox: the mean over joints of each joint's median error.
    """
    return _mean_over_joints(epe_per_joint(pred, gt, mask=mask, root=root, reduce=reduce))


def mpjpe(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    root: int | None = 0,
) -> float:
    """Mean per-joint position error, InterHand2.6M protocol.

    Each hand is aligned to its own root joint (``root``; the wrist in the canonical layout,
    ``None`` for absolute error), each joint's error is averaged over its valid samples, and the
    result is the mean over joints (42 for two hands shaped ``(N, 2, 21, 3)``).
    """
    return epe(pred, gt, mask=mask, root=root, reduce="mean")


def mpjpe_by_hand_type(
    pred: np.ndarray,
    gt: np.ndarray,
    interacting: np.ndarray,
    mask: np.ndarray | None = None,
    root: int | None = 0,
) -> dict[str, float]:
    """MPJPE for all, single-hand and interacting-hand frames (InterHand2.6M's three numbers).

    ``interacting`` is ``(N,)`` bool: whether frame n shows two interacting hands. The "all"
    value pools both kinds of frames per joint before averaging over joints, as InterHand2.6M does
    (it is not the mean of the other two).
    """
    pred, gt = _check_pair(pred, gt)
    interacting = np.asarray(interacting, dtype=bool)
    if interacting.shape != pred.shape[:1]:
        raise ValueError(f"interacting must have shape ({pred.shape[0]},), got {interacting.shape}")
    mask = _check_mask(mask, pred.shape[:-1])
    frame_axes = (slice(None),) + (None,) * (mask.ndim - 1)
    selector = interacting[frame_axes]
    return {
        "all": mpjpe(pred, gt, mask=mask, root=root),
        "single": mpjpe(pred, gt, mask=mask & ~selector, root=root),
        "interacting": mpjpe(pred, gt, mask=mask & selector, root=root),
    }


# ----------------------------------------------------------------------------- bone angles


#: The joint angles of the 21-joint tree (:data:`handlib.skeleton.PARENTS`): ``(parent, joint,
#: child)`` for every joint with a parent bone and a child bone (each finger's MCP, PIP and DIP;
#: the wrist has no parent bone and a tip no child), in joint order.
JOINT_ANGLES: tuple[tuple[int, int, int], ...] = tuple(
    (parent, joint, child) for parent, joint in _BONES for child in range(_HAND_JOINTS)
    if _PARENTS[child] == joint
)


def _check_hands_3d(pred3d: np.ndarray, gt3d: np.ndarray,
                    mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pred, gt, mask)`` of two ``(N, ..., 21, 3)`` hands, refused with the reason when their
    shapes differ or are not 21 joints in 3D, or a scored joint holds NaN/inf."""
    pred, gt = _check_pair(pred3d, gt3d)
    if pred.shape[-2:] != (_HAND_JOINTS, 3):
        raise ValueError(f"bone angles need 3D hands shaped (N, ..., {_HAND_JOINTS}, 3), got "
                         f"{pred.shape}")
    mask = _check_mask(mask, pred.shape[:-1])
    if (mask[..., None] & ~(np.isfinite(pred) & np.isfinite(gt))).any():
        raise ValueError("pred or gt holds NaN/inf at a scored joint; mask it out or fix the input")
    return pred, gt, mask


def _angles(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The angle in degrees between the vectors ``a`` and ``b`` (``(..., 3)``), as
    ``atan2(|a x b|, a . b)`` (``arccos`` of the cosine without its loss of precision near 0 and
    180 degrees), and whether both vectors are non-zero (where the angle is defined)."""
    nonzero = (np.linalg.norm(a, axis=-1) > 0) & (np.linalg.norm(b, axis=-1) > 0)
    angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(axis=-1)))
    return angle, nonzero


def _mean_per_column(values: np.ndarray) -> float:
    """The module's summary reduction of ``(N, ...)`` per-sample values (NaN: unscored): each
    entry's mean over the samples (axis 0) where it is scored, then the mean over the entries
    with any; NaN when none is scored."""
    valid = ~np.isnan(values)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_column = np.where(counts > 0, np.where(valid, values, 0.0).sum(axis=0) / counts, np.nan)
    return float(_mean_over_joints(per_column))


def bone_angle_errors(
    pred3d: np.ndarray,
    gt3d: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Angle in degrees between each predicted bone and the true one, ``(N, ..., 20)``.

    For every bone of :data:`handlib.skeleton.BONES` (parent -> child, in that order) the angle
    between the vectors ``child - parent`` of ``pred3d`` and ``gt3d`` (``(N, ..., 21, 3)``):
    ``arccos`` of the cosine clipped to [-1, 1], computed as ``atan2(|a x b|, a . b)`` (the same
    angle, without ``arccos``'s loss of precision near 0 and 180 degrees). This is each bone's
    *direction* error in the camera frame: it includes the hand's global rotation (a hand
    predicted in the right pose but turned has a direction error on every bone), so it is not
    the error of the joint angles, the angles between adjacent bones (:func:`joint_angle_errors`).
    It does not depend on a translation or a positive scale of either pose, so absolute
    and root-relative predictions give the same values. NaN where either end of the bone is
    unscored (``mask`` ``(N, ..., 21)`` bool, ``None``: all scored) or the bone has zero length in
    either pose; a scored joint holding NaN/inf is a ``ValueError``, as in :func:`joint_errors`.
    """
    pred, gt, mask = _check_hands_3d(pred3d, gt3d, mask)
    parents = [p for p, _ in _BONES]
    children = [c for _, c in _BONES]
    scored = mask[..., parents] & mask[..., children]
    with np.errstate(invalid="ignore"):  # unscored joints may hold NaN/inf: zeroed here
        a = np.where(scored[..., None], _bone_vectors(pred), 0.0)
        b = np.where(scored[..., None], _bone_vectors(gt), 0.0)
    angle, nonzero = _angles(a, b)
    return np.where(scored & nonzero, angle, np.nan)


def bone_angle_error(
    pred3d: np.ndarray,
    gt3d: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """Mean bone-angle (direction) error in degrees (:func:`bone_angle_errors`), reduced as the
    module's other summaries: each bone's mean over the samples where it is scored, then the mean
    over the bones with any (equal to the mean over all scored (sample, bone) pairs when every
    bone has the same number of them). NaN when no bone is scored."""
    return _mean_per_column(bone_angle_errors(pred3d, gt3d, mask=mask))


def joint_angle_errors(
    pred3d: np.ndarray,
    gt3d: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Error in degrees of each joint angle, ``(N, ..., 15)``: ``|θ_pred − θ_gt|``.

    A joint angle θ is the angle between the two bones that meet at a joint (:data:`JOINT_ANGLES`,
    the parent bone ``joint - parent`` and the child bone ``child - joint``; 0 for a straight
    finger), the joint angles of ResUnet's conclusion ("we can accurately forecast the joint
    angles", §V), which the paper never measures. Unlike the bone directions
    (:func:`bone_angle_errors`) it is the pose's own: a rotation, a translation or a positive
    scale of a whole hand changes none of its joint angles. NaN where any of the three joints
    is unscored (``mask`` ``(N, ..., 21)`` bool, ``None``: all scored) or either bone has zero
    length in either pose; a scored joint holding NaN/inf is a ``ValueError``, as in
    :func:`joint_errors`.
    """
    pred, gt, mask = _check_hands_3d(pred3d, gt3d, mask)
    parents, joints, children = (list(column) for column in zip(*JOINT_ANGLES))
    scored = mask[..., parents] & mask[..., joints] & mask[..., children]

    def angles(hand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore"):  # unscored joints may hold NaN/inf: zeroed here
            hand = np.where(mask[..., None], hand, 0.0)
        return _angles(hand[..., joints, :] - hand[..., parents, :],
                       hand[..., children, :] - hand[..., joints, :])

    theta_pred, pred_defined = angles(pred)
    theta_gt, gt_defined = angles(gt)
    return np.where(scored & pred_defined & gt_defined, np.abs(theta_pred - theta_gt), np.nan)


def joint_angle_error(
    pred3d: np.ndarray,
    gt3d: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """Mean joint-angle error in degrees (:func:`joint_angle_errors`), reduced as
    :func:`bone_angle_error`: each joint angle's mean over the samples where it is scored, then
    the mean over the joint angles with any. NaN when none is scored."""
    return _mean_per_column(joint_angle_errors(pred3d, gt3d, mask=mask))


# ----------------------------------------------------------------------------- success frames


def success_frames(
    errors: np.ndarray,
    thresholds: Sequence[float],
    mode: str = "max",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Fraction of frames whose worst (``mode="max"``) or mean joint error is ≤ each threshold.

    The depth benchmarks' "percentage of success frames" (Taylor et al. 2012; CrossInfoNet
    Sec. 4.1, Fig. 7): ``errors`` is ``(N, ..., J)`` per-joint distances (e.g. from
    :func:`joint_errors`, in mm). A frame's error is taken over its scored joints; frames with no
    scored joint are left out. Returns ``(T,)`` fractions in [0, 1]; all NaN if no frame is left.
    """
    if mode not in FRAME_MODES:
        raise ValueError(f"mode must be one of {FRAME_MODES}, got {mode!r}")
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim < 2:
        raise ValueError(f"errors must be (N, ..., J) per-joint distances, got {errors.shape}")
    mask = _check_mask(mask, errors.shape)
    flat_errors = errors.reshape(len(errors), -1)
    flat_mask = mask.reshape(len(mask), -1)
    if (flat_mask & ~np.isfinite(flat_errors)).any():
        raise ValueError("errors hold NaN/inf at a scored joint; mask it out or fix the input")
    scored_frames = flat_mask.any(axis=1)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if not scored_frames.any():
        return np.full(thresholds.shape, np.nan)
    flat_errors, flat_mask = flat_errors[scored_frames], flat_mask[scored_frames]
    if mode == "max":
        frame_error = np.where(flat_mask, flat_errors, -np.inf).max(axis=1)
    else:
        frame_error = np.where(flat_mask, flat_errors, 0.0).sum(axis=1) / flat_mask.sum(axis=1)
    return (frame_error[None, :] <= thresholds[:, None]).mean(axis=1)


# ----------------------------------------------------------------------------- visibility


def split_by_visibility(
    metric: Callable[..., Any],
    *args: Any,
    visible: np.ndarray,
    mask: np.ndarray | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Evaluate ``metric`` on all, visible and occluded joints.

    ``metric`` is any function of this module taking ``mask=`` (``pck``, ``pck_curve``, ``epe``,
    ``mpjpe``, ``success_frames``, the per-joint variants ...); ``*args``/``**kwargs`` are passed
    through. ``visible`` has the mask's shape. Returns ``{"all", "visible", "occluded"}`` values
    and ``{"n_all", "n_visible", "n_occluded"}``, the number of scored joints behind each (a
    NaN value next to ``n_occluded == 0`` means "no occluded joint to score", not a failure).
    """
    visible = np.asarray(visible, dtype=bool)
    base = np.ones(visible.shape, dtype=bool) if mask is None else _check_mask(mask, visible.shape)
    subsets = {"all": base, "visible": base & visible, "occluded": base & ~visible}
    result: dict[str, Any] = {}
    for name, subset in subsets.items():
        result[name] = metric(*args, mask=subset, **kwargs)
        result[f"n_{name}"] = int(subset.sum())
    return result
