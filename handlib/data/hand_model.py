"""A 3D kinematic hand and a pose sampler for the synthetic hand engine.

The hand frame of a *right* hand has its origin at the wrist, ``x`` towards the thumb (radial),
``y`` along the middle finger (distal) and ``z`` out of the palm (palmar); the frame is right-handed.
A left hand is the mirror image (``x -> -x``) of a right hand with the same parameters.

Proportions (the reference right hand, 199 mm from the wrist keypoint to the middle fingertip)
follow the keypoint conventions of annotated datasets: bone ratios as in RHD's 3D labels (see
the data chapter for the comparison), a knuckle span of about 80 mm. Each generated hand scales them to
a hand length drawn from ``hand_length_mm`` (adults: about 160-210 mm) and varies every bone by a
few percent.

Degrees of freedom (20 finger angles plus wrist and palm cupping, ``ANGLE_NAMES``):

- index..little: MCP flexion and abduction, PIP flexion, DIP flexion (the finger stays planar
  after the MCP, as in most kinematic hand models);
- thumb: CMC with two degrees of freedom (flexion in the palm plane towards the index finger,
  palmar abduction out of the palm plane), MCP flexion, IP flexion, flexing towards the thumb pad,
  which faces the fingers (the thumb is pronated by ``THUMB_PRONATION_DEG``);
- wrist flexion / deviation (they only orient the forearm stub that the renderer draws) and palm
  cupping (moves the ring and little metacarpal heads palmar).

Every angle is limited to the range in ``ANGLE_LIMITS_DEG``. Poses come from families (open,
relaxed, fist, pinch, point, grasp, random within limits; ``POSE_FAMILIES``) so that
self-occlusion ranges from none (an open hand seen from the palm) to heavy (a fist seen from the
side).
"""
from __future__ import annotations

import numpy as np

from handlib.skeleton import FINGERS, NUM_JOINTS, finger_joints

#: Finger angles (degrees), then wrist angles, then palm cupping (0..1).
ANGLE_NAMES: tuple[str, ...] = (
    ("thumb_cmc_flex", "thumb_cmc_abd", "thumb_mcp_flex", "thumb_ip_flex")
    + tuple(
        f"{finger}_{dof}"
        for finger in FINGERS[1:]
        for dof in ("mcp_flex", "mcp_abd", "pip_flex", "dip_flex")
    )
    + ("wrist_flex", "wrist_dev", "cup")
)
_INDEX = {name: i for i, name in enumerate(ANGLE_NAMES)}

_FINGER_LIMITS = {"mcp_flex": (-25, 90), "mcp_abd": (-20, 20), "pip_flex": (-5, 110),
                  "dip_flex": (-5, 85)}
_THUMB_LIMITS = {"thumb_cmc_flex": (-20, 50), "thumb_cmc_abd": (-10, 70),
                 "thumb_mcp_flex": (-10, 60), "thumb_ip_flex": (-20, 85)}
#: (low, high) of every entry of a pose vector.
ANGLE_LIMITS_DEG: np.ndarray = np.array(
    [
        _THUMB_LIMITS[name] if name in _THUMB_LIMITS
        else _FINGER_LIMITS[name.split("_", 1)[1]] if name.split("_", 1)[0] in FINGERS
        else {"wrist_flex": (-60, 60), "wrist_dev": (-20, 30), "cup": (0, 1)}[name]
        for name in ANGLE_NAMES
    ],
    dtype=np.float64,
)

# ---- reference right hand (mm, hand frame) ---------------------------------------------------
# Lengths follow the annotation convention of real datasets (wrist keypoint at the wrist joint,
# TIP at the end of the fingertip): ratios to the wrist -> middle-MCP length as in RHD's 3D labels
# (the shared samples: proximal ~0.39, middle and distal ~0.30, thumb metacarpal ~0.45).
#: First joint of each finger: the thumb CMC, the MCP of the others.
BASE_MM = {"thumb": (24.0, 32.0, 6.0), "index": (25.0, 93.0, 0.0), "middle": (5.0, 100.0, 0.0),
           "ring": (-14.0, 94.0, 0.0), "little": (-31.0, 83.0, 0.0)}
#: Segment lengths from the first joint to the tip (thumb: metacarpal, proximal, distal).
SEGMENTS_MM = {"thumb": (45.0, 35.0, 28.0), "index": (39.0, 27.0, 27.0),
               "middle": (40.0, 30.0, 29.0), "ring": (35.0, 29.0, 28.0),
               "little": (32.0, 20.0, 21.0)}
#: Rest direction in the palm plane, degrees from +y towards the thumb (+x).
SPLAY_DEG = {"thumb": 45.0, "index": 8.0, "middle": 0.0, "ring": -8.0, "little": -16.0}
#: How much each finger's MCP abduction follows a pose's "spread" (index away from the middle).
SPREAD_SIGN = {"index": 1.0, "middle": 0.0, "ring": -1.0, "little": -1.6}
#: Palmar offset (mm) of the metacarpal heads at full cupping.
CUP_MM = {"thumb": 0.0, "index": 0.0, "middle": 2.0, "ring": 6.0, "little": 12.0}
#: Radius (mm) of each finger's first segment; later segments taper by ``TAPER``.
RADIUS_MM = {"thumb": 11.0, "index": 9.0, "middle": 9.5, "ring": 8.8, "little": 7.8}
TAPER = (1.0, 0.88, 0.8, 0.72)
WRIST_RADIUS_MM = 18.0
#: Palm corners at the wrist (radial, ulnar), used for the palm volume.
WRIST_CORNERS_MM = ((20.0, 6.0, 0.0), (-22.0, 6.0, 0.0))
PALM_HALF_THICKNESS_MM = 9.0
THUMB_PRONATION_DEG = 50.0
REFERENCE_LENGTH_MM = float(BASE_MM["middle"][1] + sum(SEGMENTS_MM["middle"]))


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rotation_about(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rodrigues rotation matrix about a unit ``axis``."""
    x, y, z = unit(np.asarray(axis, dtype=np.float64))
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return c * np.eye(3) + s * cross + (1 - c) * np.outer([x, y, z], [x, y, z])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly over SO(3) (a normalised Gaussian quaternion)."""
    w, x, y, z = unit(rng.standard_normal(4))
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


# ---- shape -----------------------------------------------------------------------------------
def sample_shape(rng: np.random.Generator, hand_length_mm: tuple[float, float],
                 bone_variation: float = 0.04) -> dict:
    """Per-hand scale and per-bone variation: ``{"scale", "segments": {finger: (3,)},
    "hand_length_mm"}``; bone factors are ``1 + N(0, bone_variation)`` clipped to ±10 %."""
    length = rng.uniform(*hand_length_mm)
    scale = length / REFERENCE_LENGTH_MM
    factors = np.clip(1.0 + bone_variation * rng.standard_normal((len(FINGERS), 3)), 0.9, 1.1)
    segments = {f: scale * np.asarray(SEGMENTS_MM[f]) * factors[i] for i, f in enumerate(FINGERS)}
    return {"scale": scale, "segments": segments,
            "hand_length_mm": scale * BASE_MM["middle"][1] + float(segments["middle"].sum())}


# ---- poses -----------------------------------------------------------------------------------
# Each family: probability, then (mean, sd) in degrees for the finger and thumb joints. ``spread``
# is the index-middle abduction that the other fingers follow through SPREAD_SIGN; ``cup`` the
# palm cupping range. ``fingers`` overrides the finger joints of named fingers.
_OPEN = {"mcp_flex": (0, 8), "spread": (12, 6), "pip_flex": (5, 5), "dip_flex": (3, 4)}
_RELAXED = {"mcp_flex": (30, 12), "spread": (4, 4), "pip_flex": (35, 12), "dip_flex": (20, 10)}
_FIST = {"mcp_flex": (80, 8), "spread": (0, 3), "pip_flex": (100, 8), "dip_flex": (60, 12)}
_GRASP = {"mcp_flex": (45, 15), "spread": (6, 5), "pip_flex": (55, 15), "dip_flex": (35, 15)}
POSE_FAMILIES: dict[str, dict] = {
    "open": {"p": 0.15, "finger": _OPEN, "cup": (0.0, 0.3),
             "thumb": {"cmc_flex": (-10, 8), "cmc_abd": (10, 8), "mcp_flex": (5, 8),
                       "ip_flex": (5, 8)}},
    "relaxed": {"p": 0.2, "finger": _RELAXED, "cup": (0.2, 0.8),
                "thumb": {"cmc_flex": (10, 10), "cmc_abd": (30, 10), "mcp_flex": (15, 10),
                          "ip_flex": (15, 10)}},
    "fist": {"p": 0.15, "finger": _FIST, "cup": (0.5, 1.0),
             "thumb": {"cmc_flex": (40, 8), "cmc_abd": (30, 10), "mcp_flex": (45, 10),
                       "ip_flex": (50, 15)}},
    "pinch": {"p": 0.12, "finger": _RELAXED, "cup": (0.2, 0.8),
              # means chosen (by a grid search on the reference hand) so the tips meet
              "fingers": {"index": {"mcp_flex": (40, 8), "spread": (0, 4),
                                    "pip_flex": (55, 8), "dip_flex": (28, 8)}},
              "thumb": {"cmc_flex": (30, 6), "cmc_abd": (30, 8), "mcp_flex": (15, 8),
                        "ip_flex": (22, 8)}},
    "point": {"p": 0.12, "finger": _FIST, "cup": (0.3, 1.0),
              "fingers": {"index": _OPEN},
              "thumb": {"cmc_flex": (35, 8), "cmc_abd": (25, 10), "mcp_flex": (40, 10),
                        "ip_flex": (40, 15)}},
    "grasp": {"p": 0.14, "finger": _GRASP, "cup": (0.3, 1.0),
              "thumb": {"cmc_flex": (20, 10), "cmc_abd": (55, 10), "mcp_flex": (20, 10),
                        "ip_flex": (25, 10)}},
    "random": {"p": 0.12},
}
FAMILY_NAMES: tuple[str, ...] = tuple(POSE_FAMILIES)


def family_probabilities(weights: dict[str, float] | None = None) -> np.ndarray:
    """Family probabilities in ``FAMILY_NAMES`` order (``weights`` replaces the defaults)."""
    p = np.array([(weights or {}).get(f, POSE_FAMILIES[f]["p"]) for f in FAMILY_NAMES], float)
    if weights is not None:
        unknown = set(weights) - set(FAMILY_NAMES)
        if unknown:
            raise ValueError(f"unknown pose families {sorted(unknown)}; known: {FAMILY_NAMES}")
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"pose family weights must be >= 0 and not all 0, got {p.tolist()}")
    return p / p.sum()


def sample_pose(rng: np.random.Generator, family: str) -> np.ndarray:
    """A pose vector (``ANGLE_NAMES`` order) of ``family``, clipped to ``ANGLE_LIMITS_DEG``."""
    low, high = ANGLE_LIMITS_DEG[:, 0], ANGLE_LIMITS_DEG[:, 1]
    spec = POSE_FAMILIES[family]
    if family == "random":
        pose = rng.uniform(low, high)
    else:
        mean = np.zeros(len(ANGLE_NAMES))
        sd = np.zeros(len(ANGLE_NAMES))
        for dof, (m, s) in spec["thumb"].items():
            mean[_INDEX[f"thumb_{dof}"]], sd[_INDEX[f"thumb_{dof}"]] = m, s
        spread_mean, spread_sd = spec["finger"]["spread"]
        spread = spread_mean + spread_sd * rng.standard_normal()
        for k, finger in enumerate(FINGERS[1:]):
            joints = spec.get("fingers", {}).get(finger, spec["finger"])
            for dof in ("mcp_flex", "pip_flex", "dip_flex"):
                # fingers further from the thumb flex a little more in a relaxed hand
                mean[_INDEX[f"{finger}_{dof}"]] = joints[dof][0] + 3.0 * k * (joints is _RELAXED)
                sd[_INDEX[f"{finger}_{dof}"]] = joints[dof][1]
            local_spread = spread if finger not in spec.get("fingers", {}) else joints["spread"][0]
            mean[_INDEX[f"{finger}_mcp_abd"]] = SPREAD_SIGN[finger] * local_spread
            sd[_INDEX[f"{finger}_mcp_abd"]] = 3.0
        mean[_INDEX["wrist_flex"]], sd[_INDEX["wrist_flex"]] = 0.0, 25.0
        mean[_INDEX["wrist_dev"]], sd[_INDEX["wrist_dev"]] = 5.0, 10.0
        pose = mean + sd * rng.standard_normal(len(ANGLE_NAMES))
        pose[_INDEX["cup"]] = rng.uniform(*spec["cup"])
    return np.clip(pose, low, high)


# ---- forward kinematics -----------------------------------------------------------------------
def forward_kinematics(shape: dict, pose: np.ndarray) -> dict:
    """Joint positions and the frame data the renderer needs, for a RIGHT hand in its hand frame.

    Returns ``{"joints": (21,3) mm, "forearm_dir": (3,), "palm_corners": (2,3),
    "thumb_web": (3,) (a point half-way along the thumb metacarpal)}``.
    """
    a = {name: np.deg2rad(pose[i]) for i, name in enumerate(ANGLE_NAMES)}
    cup = pose[_INDEX["cup"]]
    scale = shape["scale"]
    z = np.array([0.0, 0.0, 1.0])
    joints = np.zeros((NUM_JOINTS, 3))
    for finger in FINGERS:
        ids = finger_joints(finger)
        lengths = shape["segments"][finger]
        base = scale * (np.asarray(BASE_MM[finger]) + np.array([0.0, 0.0, CUP_MM[finger] * cup]))
        splay = np.deg2rad(SPLAY_DEG[finger])
        rest = np.array([np.sin(splay), np.cos(splay), 0.0])
        if finger == "thumb":
            # CMC: flexion in the palm plane (about +z, towards the index), then palmar abduction
            # (about forward x z, towards +z); the pad direction is carried along.
            pad = unit(np.cos(np.deg2rad(THUMB_PRONATION_DEG)) * np.cross(z, rest)
                        + np.sin(np.deg2rad(THUMB_PRONATION_DEG)) * z)
            flex = rotation_about(z, a["thumb_cmc_flex"])
            forward, pad = flex @ rest, flex @ pad
            abduct = rotation_about(np.cross(forward, z), a["thumb_cmc_abd"])
            forward, pad = abduct @ forward, abduct @ pad
            bends = (0.0, a["thumb_mcp_flex"], a["thumb_ip_flex"])
        else:
            abd = splay + a[f"{finger}_mcp_abd"]
            forward = np.array([np.sin(abd), np.cos(abd), 0.0])
            pad = z
            bends = (a[f"{finger}_mcp_flex"], a[f"{finger}_pip_flex"], a[f"{finger}_dip_flex"])
        joints[ids[0]] = base
        theta = 0.0
        for seg in range(3):
            theta += bends[seg]
            direction = np.cos(theta) * forward + np.sin(theta) * pad
            joints[ids[seg + 1]] = joints[ids[seg]] + lengths[seg] * direction
    forearm = rotation_about(np.array([1.0, 0, 0]), -a["wrist_flex"]) @ rotation_about(
        z, a["wrist_dev"]) @ np.array([0.0, -1.0, 0.0])
    thumb = finger_joints("thumb")
    return {
        "joints": joints,
        "forearm_dir": forearm,
        "palm_corners": scale * np.asarray(WRIST_CORNERS_MM),
        "thumb_web": 0.5 * (joints[thumb[0]] + joints[thumb[1]]),
    }


def segment_radii(shape: dict) -> dict[str, np.ndarray]:
    """Radius (mm) at each of a finger's four joints (base to tip)."""
    return {f: shape["scale"] * RADIUS_MM[f] * np.asarray(TAPER) for f in FINGERS}


def palm_to_camera(kp3d: np.ndarray, side: str) -> float:
    """The cosine between a hand's palm normal and the direction from the hand to the camera
    (+1 palm to the camera, -1 back to it), from its camera-frame joints (21, 3)."""
    centre = np.asarray(kp3d, np.float64).mean(axis=0)
    return float(palm_normal(kp3d, side) @ (-centre / np.linalg.norm(centre)))


def palm_normal(kp3d: np.ndarray, side: str) -> np.ndarray:
    """Unit palmar normal of a hand from its joints (any frame), for right or left hands."""
    kp = np.asarray(kp3d, dtype=np.float64)
    index_mcp, little_mcp = kp[..., finger_joints("index")[0], :], kp[..., finger_joints("little")[0], :]
    n = np.cross(index_mcp - kp[..., 0, :], little_mcp - kp[..., 0, :])
    return unit(n if side == "right" else -n)
