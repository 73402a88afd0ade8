"""Hand-pose metrics in two layers, one module each:

- ``handlib.metrics.functions``: plain numpy functions over keypoint arrays and masks (PCK, AUC,
  EPE, MPJPE, success frames, bone directions, joint angles, visibility splits), each tested on
  hand-made arrays with known answers;
- ``handlib.metrics.records``: the metric registry over *prediction records* (``METRICS``, the
  joint rules, ``evaluate_record``), thin functions that pick a record's arrays and masks and
  call the first layer.

Both are importable from here, e.g. ``metrics.pck`` and ``metrics.evaluate_record``.
"""
from handlib.metrics.functions import (
    FRAME_MODES,
    JOINT_ANGLES,
    REDUCTIONS,
    auc,
    bbox_size,
    bone_angle_error,
    bone_angle_errors,
    epe,
    epe_per_joint,
    joint_angle_error,
    joint_angle_errors,
    joint_errors,
    mpjpe,
    mpjpe_by_hand_type,
    pck,
    pck_curve,
    pck_per_joint,
    root_align,
    split_by_visibility,
    success_frames,
)
from handlib.metrics.records import (
    JOINT_RULES,
    METRICS,
    RECORD_PROVIDERS,
    SCALE_BONE,
    aligned_3d,
    check_metric_names,
    evaluate_record,
    gt_scale_factor,
    joint_mask,
    mask_3d,
    mpjpe_per_joint_pooled_hands,
    predicted_hand_selection,
    record_rows,
)

__all__ = ["FRAME_MODES", "JOINT_ANGLES", "JOINT_RULES", "METRICS", "RECORD_PROVIDERS", "REDUCTIONS", "SCALE_BONE", "aligned_3d", "auc", "bbox_size", "bone_angle_error", "bone_angle_errors", "check_metric_names", "epe", "epe_per_joint", "evaluate_record", "gt_scale_factor", "joint_angle_error", "joint_angle_errors", "joint_errors", "joint_mask", "mask_3d", "mpjpe", "mpjpe_by_hand_type", "mpjpe_per_joint_pooled_hands", "pck", "pck_curve", "pck_per_joint", "predicted_hand_selection", "record_rows", "root_align", "split_by_visibility", "success_frames"]
