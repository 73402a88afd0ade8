"""Statistics of canonical samples (synthetic or real) for the data chapter.

- ``occlusion_table``: fraction of joints per occlusion kind (``synthetic.OCCLUSION_KINDS``),
  per finger (the wrist counted with the palm), from each sample's ``meta["occlusion"]``;
- ``pose_angles``: the sampled joint angles of synthetic samples (``hand_model.ANGLE_NAMES``);
- ``viewpoints``: how each hand faces the camera: the cosine between its palm normal and the
  direction to the camera (+1 palm towards the camera, -1 back towards it) and the elevation of
  the finger direction (wrist -> middle MCP) out of the image plane;
- ``bone_ratios``: each bone's length divided by the wrist -> middle-MCP length, in 2D (image)
  or 3D, a scale-free description of hand proportions comparable across datasets;
- ``bbox_fraction``: the hand's box size (larger side) as a fraction of the image side;
- ``joint_box_px``: the larger side of the box around a hand's joints, in pixels, and
  ``labelled_hands``: every labelled hand of a sequence of samples, for comparing the synthetic
  presets with real files (``handlib.data.presets``, the data chapter, ``tests/test_presets.py``).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from handlib.data.hand_model import ANGLE_NAMES, palm_normal
from handlib.data.synthetic import OCCLUSION_KINDS
from handlib.skeleton import BONES, FINGERS, JOINT_FINGER, JOINT_NAMES, finger_joints


def _hands(sample: dict) -> Iterable[tuple[int, dict]]:
    """(hand index, one-hand view) for each valid hand of a one- or two-hand sample."""
    if np.ndim(sample["kp2d"]) == 2:
        yield 0, sample
        return
    for k in range(len(sample["kp2d"])):
        if sample.get("hand_valid", [True] * 2)[k]:
            view = {key: sample[key][k] for key in ("kp2d", "kp3d", "visible", "bbox", "side")
                    if key in sample}
            yield k, view


def occlusion_table(samples: Sequence[dict]) -> pd.DataFrame:
    """Rows: palm (wrist), thumb..little, all; columns: fraction of joints of each kind."""
    rows = []
    for sample in samples:
        kinds = sample["meta"]["occlusion"]
        per_hand = [kinds] if isinstance(kinds[0], str) else kinds
        for k, _ in _hands(sample):
            for joint, kind in enumerate(per_hand[k]):
                rows.append((JOINT_FINGER[joint], kind))
    frame = pd.DataFrame(rows, columns=["finger", "kind"])
    table = pd.crosstab(frame["finger"], frame["kind"], normalize="index")
    table.loc["all"] = frame["kind"].value_counts(normalize=True)
    table = table.reindex(index=["palm", *FINGERS, "all"], columns=list(OCCLUSION_KINDS))
    return table.fillna(0.0)


def pose_angles(samples: Sequence[dict]) -> pd.DataFrame:
    """One row per synthetic hand: its pose family and sampled angles (degrees; cup 0..1)."""
    rows = []
    for sample in samples:
        meta = sample["meta"]
        angles, families = meta["angles_deg"], meta["pose_family"]
        if isinstance(families, str):
            angles, families = [angles], [families]
        for family, values in zip(families, angles):
            if family is not None:  # None: the absent hand of a single-hand frame
                rows.append({"family": family, **dict(zip(ANGLE_NAMES, values))})
    return pd.DataFrame(rows)


def viewpoints(samples: Sequence[dict]) -> pd.DataFrame:
    """Palm-to-camera cosine and finger elevation (degrees) of every hand with 3D joints."""
    rows = []
    middle_mcp = finger_joints("middle")[0]
    for sample in samples:
        for _, hand in _hands(sample):
            kp3d = np.asarray(hand["kp3d"], np.float64)
            if not np.isfinite(kp3d).all():
                continue
            towards_camera = -kp3d.mean(axis=0) / np.linalg.norm(kp3d.mean(axis=0))
            forward = kp3d[middle_mcp] - kp3d[0]
            forward /= np.linalg.norm(forward)
            rows.append({"palm_to_camera_cos": float(palm_normal(kp3d, hand["side"]) @ towards_camera),
                         "finger_elevation_deg": float(np.degrees(np.arcsin(
                             np.clip(forward @ -towards_camera, -1, 1))))})
    return pd.DataFrame(rows)


def bone_ratios(keypoints: np.ndarray) -> pd.DataFrame:
    """(N, 21, D) joints (D = 2 or 3) -> (N, 20) bone length / wrist-to-middle-MCP length."""
    kp = np.asarray(keypoints, np.float64)
    lengths = np.stack([np.linalg.norm(kp[:, c] - kp[:, p], axis=-1) for p, c in BONES], 1)
    reference = np.linalg.norm(kp[:, finger_joints("middle")[0]] - kp[:, 0], axis=-1)
    names = [f"{JOINT_NAMES[p]}-{JOINT_NAMES[c]}" for p, c in BONES]
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(lengths / reference[:, None], columns=names)


def bbox_fraction(samples: Sequence[dict]) -> np.ndarray:
    """Larger side of each hand's box over the image's larger side."""
    values = []
    for sample in samples:
        image = sample["image"] if "image" in sample else sample["depth"]
        for _, hand in _hands(sample):
            values.append(float(np.max(hand["bbox"][2:])) / max(image.shape[:2]))
    return np.array(values)


def joint_box_px(kp2d: np.ndarray) -> np.ndarray:
    """(N, J, 2) joints -> (N,) larger side of each hand's joint box (pixels)."""
    kp = np.asarray(kp2d, np.float64)
    return (kp.max(axis=1) - kp.min(axis=1)).max(axis=1)


def labelled_hands(samples: Iterable[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Every valid hand of one- or two-hand samples: kp2d (N, 21, 2), kp3d (N, 21, 3)."""
    kp2d, kp3d = [], []
    for sample in samples:
        for _, hand in _hands(sample):
            kp2d.append(hand["kp2d"])
            kp3d.append(hand["kp3d"])
    return np.array(kp2d, np.float64), np.array(kp3d, np.float64)
