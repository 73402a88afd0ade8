"""The two-hand layout of a canonical sample: right hand in slot 0, left hand in slot 1.

Two-hand models (InterNet's codec, ``codec.two_slot``) read every sample in this layout, and the
synthetic engine writes a two-hand dataset's single-hand frames in it, as InterHand2.6M's are.
"""
from __future__ import annotations

import numpy as np

from handlib.skeleton import NUM_JOINTS


def to_two_slots(sample: dict) -> dict:
    """A sample in the two-hand layout (right hand first, then left; ``hand_valid`` (2,)): a
    one-hand sample fills the slot of its ``side``; the other slot is unlabelled."""
    if np.ndim(sample["kp2d"]) == 3:
        return sample
    side = sample.get("side")
    if side not in ("right", "left"):
        raise ValueError(f"a two-hand codec needs each hand's side; this sample's side is "
                         f"{side!r}")
    slot = 0 if side == "right" else 1
    out = dict(sample)
    for key, fill in (("kp2d", 0.0), ("kp3d", np.nan), ("visible", False)):
        if key in sample:
            value = np.asarray(sample[key])
            both = np.full((2, *value.shape), fill, dtype=value.dtype)
            both[slot] = value
            out[key] = both
    labelled = np.asarray(sample.get("labelled", np.ones(NUM_JOINTS, bool)), bool)
    out["labelled"] = np.stack([labelled if k == slot else np.zeros_like(labelled)
                                for k in range(2)])
    out["hand_valid"] = np.array([slot == 0, slot == 1])
    if "bbox" in sample:
        out["bbox"] = np.stack([np.asarray(sample["bbox"], np.float32) if k == slot
                                else np.zeros(4, np.float32) for k in range(2)])
    occlusion = sample.get("meta", {}).get("occlusion")
    if occlusion is not None:
        blank = ["unannotated"] * NUM_JOINTS
        out["meta"] = {**sample["meta"],
                       "occlusion": [list(occlusion) if k == slot else blank for k in range(2)]}
    return out
