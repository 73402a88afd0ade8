"""The one canonical 21-joint hand layout that every loader, model and metric in handlib uses.

Order: the wrist, then the five fingers (thumb, index, middle, ring, little), each from its base
to its tip. Per finger the four joints are named MCP, PIP, DIP, TIP, as in the per-joint tables of
RCSF (Tables 1-2), which use those four names for the thumb too. Anatomically the thumb's four
points are CMC, MCP, IP and TIP; ``ANATOMICAL_NAMES`` gives those for figures that want them.

Every dataset loader converts its own order to this one through a table that names its source
(see ``handlib.data.formats``); ``reorder`` applies such a table.

Palm and finger subsets follow CrossInfoNet (Fig. 4): the palm branch sees the wrist and the five
finger bases (MCP joints), the finger branch sees the remaining 15 joints.
"""
from __future__ import annotations

import numpy as np

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
FINGER_JOINTS: tuple[str, ...] = ("MCP", "PIP", "DIP", "TIP")

#: Joint names, index = canonical joint id.
JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}" for finger in FINGERS for joint in FINGER_JOINTS
)
NUM_JOINTS: int = len(JOINT_NAMES)  # 21

#: Anatomical names (thumb: CMC, MCP, IP, TIP).
ANATOMICAL_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}"
    for finger in FINGERS
    for joint in (("CMC", "MCP", "IP", "TIP") if finger == "thumb" else FINGER_JOINTS)
)

WRIST: int = 0


def finger_joints(finger: str) -> tuple[int, int, int, int]:
    """Canonical indices of a finger's four joints, base to tip."""
    if finger not in FINGERS:
        raise ValueError(f"unknown finger {finger!r}; expected one of {FINGERS}")
    start = 1 + 4 * FINGERS.index(finger)
    return (start, start + 1, start + 2, start + 3)


#: Parent of each joint in the kinematic tree (the wrist is the root, parent -1).
PARENTS: tuple[int, ...] = (-1,) + tuple(
    WRIST if j == 0 else 1 + 4 * f + j - 1 for f in range(len(FINGERS)) for j in range(4)
)

#: The 20 bones as (parent, child) pairs, in child order.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[c], c) for c in range(1, NUM_JOINTS))

#: Finger of each joint (the wrist belongs to the palm).
JOINT_FINGER: tuple[str, ...] = ("palm",) + tuple(f for f in FINGERS for _ in range(4))

#: CrossInfoNet Fig. 4: palm joints (wrist + the five MCPs) and finger joints (the other 15).
PALM_JOINTS: tuple[int, ...] = (WRIST,) + tuple(finger_joints(f)[0] for f in FINGERS)
FINGER_ONLY_JOINTS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in PALM_JOINTS)
TIP_JOINTS: tuple[int, ...] = tuple(finger_joints(f)[3] for f in FINGERS)

#: One colour per finger (RGB in 0..1) for drawing; the palm/wrist is grey.
FINGER_COLOURS: dict[str, tuple[float, float, float]] = {
    "palm": (0.45, 0.45, 0.45),
    "thumb": (0.89, 0.10, 0.11),
    "index": (1.00, 0.50, 0.00),
    "middle": (0.20, 0.63, 0.17),
    "ring": (0.12, 0.47, 0.71),
    "little": (0.42, 0.24, 0.60),
}


def joint_colour(joint: int) -> tuple[float, float, float]:
    """Drawing colour of a joint (its finger's colour)."""
    return FINGER_COLOURS[JOINT_FINGER[joint]]


def bone_colour(bone: tuple[int, int]) -> tuple[float, float, float]:
    """Drawing colour of a bone (the colour of its child joint's finger)."""
    return joint_colour(bone[1])


def reorder(joints: np.ndarray, source_to_canonical: "list[int] | tuple[int, ...]") -> np.ndarray:
    """Reorder a (..., J_src, D) array into canonical order.

    ``source_to_canonical[i]`` is the source index of canonical joint ``i``, so the result is
    ``joints[..., source_to_canonical, :]``. The table must have 21 entries.
    """
    table = np.asarray(source_to_canonical, dtype=np.int64)
    if table.shape != (NUM_JOINTS,):
        raise ValueError(f"a joint-order table needs {NUM_JOINTS} entries, got {table.shape}")
    return np.asarray(joints)[..., table, :]


def bone_vectors(kp3d: np.ndarray) -> np.ndarray:
    """(..., 21, D) joints → (..., 20, D) bone vectors child − parent, in ``BONES`` order."""
    kp = np.asarray(kp3d)
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return kp[..., children, :] - kp[..., parents, :]
