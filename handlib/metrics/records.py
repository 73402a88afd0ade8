"""The metric registry over prediction records: the second of ``handlib.metrics' two layers, built
on the plain functions of ``handlib.metrics.functions``.

A *prediction record* (``handlib.engine.predict``, one for every kind of model) is a dict of
numpy arrays, axis 0 indexing the N samples, J = 21 joints (42 for two hands: right 0-20, left
21-41; each 21-block's joint 0 is that hand's wrist, its root):

- always ``index`` (N,), ``kp2d``/``kp2d_pred`` (N, J, 2) original-image px, ``norm_size`` (N,)
  the PCK normaliser in px, ``labelled``/``in_frame``/``visible`` (N, J) bool,
  ``visibility_kind`` (N, J) int8 (0 visible, 1 self-, 2 object-occluded, 3 other hand, 4 out of
  frame, -1 unknown), optionally ``confidence`` (N, J);
- with 3D labels ``kp3d`` (N, J, 3) camera mm (NaN where unknown) and the predictions
  ``kp3d_pred`` (camera mm) and/or ``kp3d_rel_pred`` (mm relative to each hand's wrist);
- two hands: ``hand_valid`` (N, 2) (ground-truth presence, also the hand-type label),
  ``hand_type_pred`` (N, 2) probabilities, ``rel_root``/``rel_root_pred`` (N, 3) left minus right
  wrist position and ``root_depth``/``root_depth_pred`` (N,), mm.

Any key may be absent; a metric that needs one raises ``ValueError`` naming it and who provides
it (:data:`RECORD_PROVIDERS`). :data:`METRICS` maps a name (a run's ``eval.metric``: one name or a
list) to ``fn(record, spec) -> {key: float}``, ``spec`` being the run's ``eval`` section; each
reads its own options with defaults. :func:`evaluate_record` evaluates the named metrics (two
reporting the same key is an error). Every metric scores the joints :func:`joint_mask` selects
under ``spec["joints"]`` (default ``visible``; :data:`JOINT_RULES`), the one rule for
validation and test alike, and the 3D ones also drop joints without a 3D label.
:func:`record_rows` restricts a record to some samples (bootstraps, subsets).

=========  ==============================================  ====================================
metric     keys                                            ``spec`` keys read (default)
=========  ==============================================  ====================================
pck2d      ``pck@<t>`` per threshold, ``auc`` (> 1         ``thresholds`` ([0.05, ..., 0.3]),
           threshold), ``epe_px``                          ``joints``
epe2d      ``epe_px``                                      ``joints``
epe3d      ``epe_mm``, ``epe_mm_gt_scale`` (with           ``gt_scale`` (False), ``joints``
           ``gt_scale``), ``epe_mm_predicted_hand``
           (with ``hand_type_pred``)
mpjpe      ``mpjpe_mm``, ``mpjpe_single_mm``,              ``joints``
           ``mpjpe_interacting_mm``, ``mrrpe_mm`` (with
           ``rel_root_pred``), ``handedness_acc`` (with
           ``hand_type_pred``)
pck3d      ``pck3d@<t>mm`` per threshold,                  ``pck3d_mm`` ({start: 20, stop: 50,
           ``auc3d_<start>_<stop>``                        num: 31}), ``joints``
mean3d     ``mean_error_mm``                               ``joints``
success    ``success@<t>mm`` per threshold                 ``success_mm`` ([10, 20, ..., 80]),
                                                           ``joints``
angle3d    ``bone_angle_deg``                              ``joints``
=========  ==============================================  ====================================

The 3D metrics except ``mean3d`` and ``success`` are root-aligned (each hand to its own wrist;
``angle3d``'s bone directions do not depend on translation, it scores the joints ``epe3d`` does);
``mean3d`` and ``success`` compare ``kp3d_pred`` with ``kp3d`` in camera space, unaligned
(CrossInfoNet).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from handlib.metrics.functions import (
    auc,
    bone_angle_error,
    epe,
    epe_per_joint,
    joint_errors,
    mpjpe_by_hand_type,
    pck_curve,
    success_frames,
)
from handlib.skeleton import NUM_JOINTS as _HAND_JOINTS, WRIST as _WRIST

#
# The record and the registry are described in the module docstring ("Prediction records and
# the metric registry").

#: ``eval.joints`` rules: which joints of a record count.
JOINT_RULES: dict[str, str] = {
    "visible": "labelled, inside the image and visible",
    "in_frame": "labelled and inside the image (occluded joints too)",
    "labelled": "every labelled joint",
}
#: Reference bone for ground-truth scale: wrist -> middle MCP (Iqbal et al. 2018 normalise hand
#: scale by it; Zimmermann & Brox's code uses the middle finger's MCP -> PIP bone instead, their
#: paper the first bone of the index finger). One bone for every model of the book, so that "GT S"
#: means the same everywhere.
SCALE_BONE: tuple[int, int] = (_WRIST, 9)

#: Who provides each record key, for the error a metric raises when the key is absent.
RECORD_PROVIDERS: dict[str, str] = {
    "index": "every record (engine.predict)",
    "kp2d": "every dataset (2D labels)",
    "norm_size": "every dataset (the pipeline's bbox_size)",
    "labelled": "every dataset",
    "in_frame": "every dataset",
    "visible": "every dataset",
    "kp2d_pred": "the 2D-decoding codecs (heatmap2d, softargmax2d, heatmap3d, depth_crop)",
    "kp3d": "datasets with 3D labels",
    "kp3d_pred": "the absolute 3D codecs (heatmap3d with root depths, depth_crop)",
    "kp3d_rel_pred": "the 3D codecs (heatmap3d, bones3d, depth_crop)",
    "hand_valid": "two-hand datasets (InterHand2.6M-style records)",
    "hand_type_pred": "the two-hand codec heatmap3d (InterNet family)",
    "rel_root": "two-hand datasets with 3D labels",
    "rel_root_pred": "the two-hand codec heatmap3d (InterNet family)",
}


def _need(record: dict, key: str, provider: str | None = None) -> np.ndarray:
    """``record[key]`` as an array; if absent, a ``ValueError`` naming it and its provider."""
    if key not in record:
        provider = provider or RECORD_PROVIDERS.get(key, "no known codec or dataset")
        raise ValueError(f"this metric needs the record's {key!r}, which {provider} provide; "
                         f"the record has {', '.join(sorted(record)) or 'no key'}")
    return np.asarray(record[key])


def joint_mask(record: dict, rule: str) -> np.ndarray:
    """(N, J) bool: the joints of ``record`` that count under ``rule`` (:data:`JOINT_RULES`);
    a hand absent from a two-hand frame (``hand_valid``) never counts.

    ``visible``: labelled & in_frame & visible; ``in_frame``: labelled & in_frame;
    ``labelled``: labelled. The same rule serves validation and test.
    """
    if rule not in JOINT_RULES:
        raise ValueError(f"eval.joints must be one of {', '.join(JOINT_RULES)}, got {rule!r}")
    if "labelled" in record:
        mask = np.array(record["labelled"], bool)  # a copy: callers may narrow it
    else:
        mask = np.ones(_need(record, "kp2d").shape[:-1], bool)
    if rule in ("visible", "in_frame"):
        mask = mask & _need(record, "in_frame").astype(bool)
    if rule == "visible":
        mask = mask & _need(record, "visible").astype(bool)
    if "hand_valid" in record:
        hand_valid = np.asarray(record["hand_valid"], bool).reshape(len(mask), -1)
        if hand_valid.shape[1] * _HAND_JOINTS != mask.shape[1]:
            raise ValueError(f"hand_valid has {hand_valid.shape[1]} hands per sample but the "
                             f"record has {mask.shape[1]} joints ({_HAND_JOINTS} per hand)")
        mask = mask & np.repeat(hand_valid, _HAND_JOINTS, axis=1)
    return mask


def record_rows(record: dict, rows) -> dict:
    """The record restricted to the samples at positions ``rows`` (indices or a boolean mask):
    every array whose axis 0 has one entry per sample is indexed; other values are kept."""
    count = len(record["index"])
    return {key: (value[rows] if isinstance(value, np.ndarray) and value.ndim
                  and len(value) == count else value)
            for key, value in record.items()}


def _hands(values: np.ndarray) -> np.ndarray:
    """(N, J, D) -> (N, H, 21, D): one block of 21 joints per hand."""
    values = np.asarray(values, np.float64)
    if values.shape[1] % _HAND_JOINTS:
        raise ValueError(f"expected {_HAND_JOINTS} joints per hand, got {values.shape}")
    return values.reshape(len(values), -1, _HAND_JOINTS, values.shape[-1])


def mask_3d(record: dict, spec: dict) -> np.ndarray:
    """The joint mask without the joints whose 3D label is missing, as (N, J)."""
    mask = joint_mask(record, spec.get("joints", "visible"))
    finite = np.isfinite(_need(record, "kp3d").astype(np.float64)).all(axis=-1)
    return mask & finite


def aligned_3d(record: dict, spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root-aligned prediction and truth (N, H, 21, 3) and the scored joints (N, H, 21).

    The prediction is ``kp3d_rel_pred`` when present, else ``kp3d_pred``; either is translated
    so that its own wrist is at the origin (a no-op for an already wrist-relative output), as is
    the truth (InterNet+ eq. 5, InterHand2.6M). Aligning needs the ground-truth wrist's 3D label
    (not its visibility): a hand whose wrist has none is left out entirely.
    """
    gt = _hands(_need(record, "kp3d"))
    key = "kp3d_rel_pred" if "kp3d_rel_pred" in record else "kp3d_pred"
    if key not in record:
        raise ValueError("this metric needs the record's 'kp3d_rel_pred' or 'kp3d_pred', which "
                         f"{RECORD_PROVIDERS['kp3d_rel_pred']} provide; the record has "
                         f"{', '.join(sorted(record))}")
    pred = _hands(record[key])
    if pred.shape != gt.shape:
        raise ValueError(f"{key} has shape {np.shape(record[key])} but kp3d has "
                         f"{np.shape(record['kp3d'])}")
    mask = mask_3d(record, spec).reshape(gt.shape[:-1])
    mask = mask & np.isfinite(gt[:, :, _WRIST]).all(axis=-1)[..., None]
    return (pred - pred[:, :, _WRIST:_WRIST + 1], gt - gt[:, :, _WRIST:_WRIST + 1], mask)


def _pck2d(record: dict, spec: dict) -> dict[str, float]:
    """PCK at ``spec["thresholds"]`` of ``norm_size`` (``pck@<t>``), its AUC (with more than one
    threshold) and the mean 2D end-point error in pixels (``epe_px``); the numbers of the
    engine's former ``pck_metrics``."""
    thresholds = list(spec.get("thresholds", [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]))
    mask = joint_mask(record, spec.get("joints", "visible"))
    pred, gt = _need(record, "kp2d_pred"), _need(record, "kp2d")
    curve = pck_curve(pred, gt, thresholds, norm=_need(record, "norm_size"), mask=mask)
    out = {f"pck@{t:g}": float(value) for t, value in zip(thresholds, curve)}
    if len(thresholds) > 1:
        out["auc"] = auc(thresholds, curve)
    out["epe_px"] = float(epe(pred, gt, mask=mask))
    return out


def _epe2d(record: dict, spec: dict) -> dict[str, float]:
    """Mean 2D end-point error in original-image pixels (``epe_px``)."""
    mask = joint_mask(record, spec.get("joints", "visible"))
    return {"epe_px": float(epe(_need(record, "kp2d_pred"), _need(record, "kp2d"), mask=mask))}


def gt_scale_factor(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, H) factor that gives each predicted hand the truth's :data:`SCALE_BONE` length; NaN
    where either bone is missing or of zero length."""
    parent, child = SCALE_BONE
    with np.errstate(invalid="ignore"):
        length = lambda hands: np.linalg.norm(hands[:, :, child] - hands[:, :, parent], axis=-1)
        truth, predicted = length(gt), length(pred)
        ok = np.isfinite(truth) & np.isfinite(predicted) & (truth > 0) & (predicted > 0)
    return np.where(ok, truth / np.where(ok, predicted, 1.0), np.nan)


def predicted_hand_selection(pred: np.ndarray, mask: np.ndarray,
                             hand_type_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-slot predictions (N, 2, 21, D) re-paired for "GT H = N" scoring of one-hand frames.

    On a frame with one labelled hand, the ground-truth hand is compared with the slot the
    model's hand-type head rates more likely (``hand_type_pred`` (N, 2)), not with the slot of
    the ground-truth hand: a frame whose handedness is predicted wrong is scored with the other
    hand's prediction. Frames with two (or no) labelled hands keep their pairing. Returns the
    re-paired prediction and the unchanged ``mask``."""
    pred = np.asarray(pred, np.float64).copy()
    labelled = mask.any(axis=-1)
    one_hand = labelled.sum(axis=1) == 1
    chosen = np.argmax(np.asarray(hand_type_pred, np.float64), axis=1)
    truth_slot = np.argmax(labelled, axis=1)
    rows = np.flatnonzero(one_hand)
    pred[rows, truth_slot[rows]] = pred[rows, chosen[rows]]
    return pred, mask


def _epe3d(record: dict, spec: dict) -> dict[str, float]:
    """Root-aligned 3D end-point error in mm (``epe_mm``; InterNet+ eq. 5), and with
    ``spec["gt_scale"]`` also ``epe_mm_gt_scale``: each predicted hand first rescaled (about its
    wrist) so that its :data:`SCALE_BONE` (wrist -> middle MCP, the bone Iqbal et al. normalise
    by; not Zimmermann & Brox's, whose code uses the middle finger's MCP -> PIP bone) has the
    ground truth's length; the "GT S" rows of InterNet+ Table 2
    and MS-FF Table 1. Hands without both bone ends (truth or prediction) are left out of it.

    Which predicted hand is scored on a one-hand frame of a two-slot record: ``epe_mm`` takes the
    ground truth's slot, as InterNet's released RHD evaluation does ("select right or left hand
    using groundtruth hand type", ``data/RHD/dataset.py``), although its Table 1 row reads GT H =
    N; with ``hand_type_pred`` in the record, ``epe_mm_predicted_hand`` takes the slot the model
    itself names (:func:`predicted_hand_selection`), the strict reading of GT H = N."""
    pred, gt, mask = aligned_3d(record, spec)
    out = {"epe_mm": float(epe(pred, gt, mask=mask))}
    if "hand_type_pred" in record and pred.shape[1] == 2:
        chosen, _ = predicted_hand_selection(pred, mask, record["hand_type_pred"])
        out["epe_mm_predicted_hand"] = float(epe(chosen, gt, mask=mask))
    if spec.get("gt_scale"):
        factor = gt_scale_factor(pred, gt)
        scaled = pred * np.nan_to_num(factor, nan=1.0)[..., None, None]
        scaled_mask = mask & np.isfinite(factor)[..., None]
        out["epe_mm_gt_scale"] = float(epe(scaled, gt, mask=scaled_mask))
    return out


def _interacting_frames(record: dict, hands_shape: tuple[int, int]) -> np.ndarray:
    """(N,) whether each frame shows two valid hands (InterHand2.6M's interacting frames)."""
    if "hand_valid" in record:
        hand_valid = np.asarray(record["hand_valid"], bool).reshape(hands_shape)
    else:
        hand_valid = np.ones(hands_shape, bool)
    return hand_valid.all(axis=1) if hands_shape[1] > 1 else np.zeros(hands_shape[0], bool)


def _mpjpe(record: dict, spec: dict) -> dict[str, float]:
    """InterHand2.6M's protocol: per-hand root-aligned MPJPE over all, single-hand and
    interacting frames (``mpjpe_mm``, ``mpjpe_single_mm``, ``mpjpe_interacting_mm``; a frame is
    interacting when both hands are valid), the mean relative root position error
    ``||rel_root_pred - rel_root||`` over interacting frames with a ``rel_root`` label
    (``mrrpe_mm``, when ``rel_root_pred`` is in the record; NaN with no such frame) and the
    hand-type accuracy (``handedness_acc``: ``hand_type_pred > 0.5`` against ``hand_valid``,
    both entries of every frame, when ``hand_type_pred`` is in the record)."""
    pred, gt, mask = aligned_3d(record, spec)
    interacting = _interacting_frames(record, mask.shape[:2])
    split = mpjpe_by_hand_type(pred, gt, interacting, mask=mask, root=None)
    out = {"mpjpe_mm": split["all"], "mpjpe_single_mm": split["single"],
           "mpjpe_interacting_mm": split["interacting"]}
    if "rel_root_pred" in record:
        truth = _need(record, "rel_root").astype(np.float64).reshape(len(mask), 3)
        predicted = np.asarray(record["rel_root_pred"], np.float64).reshape(len(mask), 3)
        chosen = interacting & np.isfinite(truth).all(axis=-1)
        if not np.isfinite(predicted[chosen]).all():
            raise ValueError("rel_root_pred holds NaN/inf at an interacting frame")
        distance = np.linalg.norm(predicted[chosen] - truth[chosen], axis=-1)
        out["mrrpe_mm"] = float(distance.mean()) if chosen.any() else float("nan")
    if "hand_type_pred" in record:
        truth = _need(record, "hand_valid").astype(bool)
        predicted = np.asarray(record["hand_type_pred"], np.float64) > 0.5
        out["handedness_acc"] = float((predicted == truth).mean()) if truth.size else float("nan")
    return out


def mpjpe_per_joint_pooled_hands(record: dict, spec: dict,
                                 frames: str = "interacting") -> np.ndarray:
    """(21,) root-aligned MPJPE per joint with the left and right instances of a joint pooled
    (MS-FF Fig. 5: "We averaged the error of the left and right hand joints as the error of each
    joint point"; pooled, as InterNet's evaluation collects both hands' errors of a joint in one
    list), over the ``frames`` ``"interacting"`` (both hands valid), ``"single"`` or ``"all"``."""
    if frames not in ("interacting", "single", "all"):
        raise ValueError(f"frames must be 'interacting', 'single' or 'all', got {frames!r}")
    pred, gt, mask = aligned_3d(record, spec)
    interacting = _interacting_frames(record, mask.shape[:2])
    keep = {"interacting": interacting, "single": ~interacting,
            "all": np.ones(len(mask), bool)}[frames]
    return epe_per_joint(pred.reshape(-1, _HAND_JOINTS, 3), gt.reshape(-1, _HAND_JOINTS, 3),
                         mask=(mask & keep[:, None, None]).reshape(-1, _HAND_JOINTS))


def _pck3d_thresholds(spec: dict) -> tuple[np.ndarray, str]:
    grid = {"start": 20, "stop": 50, "num": 31, **spec.get("pck3d_mm", {})}
    thresholds = np.linspace(grid["start"], grid["stop"], int(grid["num"]))
    return thresholds, f"auc3d_{grid['start']:g}_{grid['stop']:g}"


def _pck3d(record: dict, spec: dict) -> dict[str, float]:
    """Root-aligned 3D PCK at the thresholds ``spec["pck3d_mm"]`` (``start``, ``stop``, ``num``
    for ``np.linspace``, mm; default 20-50 mm in 1 mm steps) as ``pck3d@<t>mm``, and the area
    under that curve normalised by its range as ``auc3d_<start>_<stop>`` (``auc3d_20_50`` on the
    default grid: Zimmermann & Brox's "AUC 20-50 mm", ResUnet Fig. 5), when ``num`` > 1."""
    thresholds, auc_name = _pck3d_thresholds(spec)
    pred, gt, mask = aligned_3d(record, spec)
    curve = pck_curve(pred, gt, thresholds, mask=mask)
    out = {f"pck3d@{t:g}mm": float(v) for t, v in zip(thresholds, curve)}
    if len(thresholds) > 1:
        out[auc_name] = auc(thresholds, curve)
    return out


def _absolute_3d(record: dict, spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``kp3d_pred``, ``kp3d`` (N, J, 3) camera mm, unaligned, and the scored joints (N, J)."""
    pred = _need(record, "kp3d_pred").astype(np.float64)
    gt = _need(record, "kp3d").astype(np.float64)
    return pred, gt, mask_3d(record, spec)


def _mean3d(record: dict, spec: dict) -> dict[str, float]:
    """CrossInfoNet's mean 3D joint error in camera space, without alignment
    (``mean_error_mm``; mean over joints of each joint's mean, the module's reduction)."""
    pred, gt, mask = _absolute_3d(record, spec)
    return {"mean_error_mm": float(epe(pred, gt, mask=mask))}


def _success(record: dict, spec: dict) -> dict[str, float]:
    """Fraction of frames whose worst scored joint error (camera mm, no alignment) is within
    each threshold of ``spec["success_mm"]`` (default 10-80 mm in 10 mm steps):
    ``success@<t>mm`` (CrossInfoNet Fig. 7); frames with no scored joint are left out."""
    thresholds = list(spec.get("success_mm", [10, 20, 30, 40, 50, 60, 70, 80]))
    pred, gt, mask = _absolute_3d(record, spec)
    errors, mask = joint_errors(pred, gt, mask=mask)
    curve = success_frames(np.where(mask, errors, 0.0), thresholds, mask=mask)
    return {f"success@{t:g}mm": float(v) for t, v in zip(thresholds, curve)}


def _angle3d(record: dict, spec: dict) -> dict[str, float]:
    """Mean angle in degrees between predicted and true bones (``bone_angle_deg``;
    :func:`bone_angle_error`), from ``kp3d_rel_pred`` (else ``kp3d_pred``) and ``kp3d``, each hand
    on its own, over the joints :func:`aligned_3d` scores (the ``epe3d`` joints): a bone counts
    where both its ends do. Translation-free, so the alignment changes nothing but the mask."""
    pred, gt, mask = aligned_3d(record, spec)
    return {"bone_angle_deg": bone_angle_error(pred, gt, mask=mask)}


METRICS: dict[str, Callable[[dict, dict], dict[str, float]]] = {
    "pck2d": _pck2d,
    "epe2d": _epe2d,
    "epe3d": _epe3d,
    "mpjpe": _mpjpe,
    "pck3d": _pck3d,
    "mean3d": _mean3d,
    "success": _success,
    "angle3d": _angle3d,
}


def check_metric_names(names) -> list[str]:
    """``eval.metric`` as a list of names, each in :data:`METRICS` (else a clear error)."""
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError(f"eval.metric names no metric; choose from {', '.join(METRICS)}")
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown eval metric(s) {unknown}; choose from {', '.join(METRICS)}")
    return names


def evaluate_record(record: dict, spec: dict) -> dict[str, float]:
    """Every metric ``spec["metric"]`` names, on ``record``, in one dict (a value named by two
    metrics is an error)."""
    if "metric" not in spec:
        raise ValueError(f"the eval spec has no 'metric'; choose from {', '.join(METRICS)}")
    found: dict[str, float] = {}
    for name in check_metric_names(spec["metric"]):
        values = METRICS[name](record, spec)
        twice = sorted(set(found) & set(values))
        if twice:
            raise ValueError(f"metrics {spec['metric']} both report {twice}; list only one")
        found.update(values)
    return found
