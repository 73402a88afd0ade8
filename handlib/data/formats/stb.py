"""Stereo Hand Pose Tracking Benchmark (STB, Zhang et al., ICIP 2017).

Native format (the dataset's ``readme.txt``):

- 12 sequences ``B1Counting``, ``B1Random``, ..., ``B6Random`` of 1,500 frames of one left hand,
  filmed by an Intel RealSense F200 (``SK``: ``SK_color_<i>.png``, ``SK_depth_<i>.png``) and a
  Point Grey Bumblebee2 stereo pair (``BB``: ``BB_left_<i>.png``, ``BB_right_<i>.png``), 640x480;
- ``labels/<seq>_SK.mat`` and ``labels/<seq>_BB.mat``: variable ``handPara`` of shape
  (3, 21, 1500), joint positions in mm. The SK labels are in the F200 *depth* camera's frame and
  go to its colour camera through the extrinsics below; the BB labels are in the left camera's
  frame, the right camera sits ``BB_BASELINE_MM`` along +x.
- Joint order: palm centre, then little, ring, middle, index, thumb, each MCP → tip
  (:data:`STB_TO_CANONICAL`).

The palm centre is replaced by a wrist estimate, as RCSF does "following [13]" (Cai et al.,
ECCV 2018): wrist = ring MCP + 2 (palm − ring MCP), the conversion in the STB loader of Ge et al.'s
hand-graph-cnn (CVPR 2019; Ge co-authored [13]). Pass ``palm_to_wrist=False`` to keep the palm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    SampleSequence,
    bbox_from_keypoints,
    cached_arrays,
    check_split,
    intrinsics,
    project,
    read_image,
    require_files,
)
from handlib.skeleton import finger_joints, reorder

#: STB order → canonical. Source: STB readme / the joint names used by public STB loaders
#: (Yang's bihand ``STB_joints``: palm, pinky_01..04, ring, mid, index, thumb with _01 = MCP;
#: the same order, named little_mcp..thumb_tip, in a Chainer hand-pose project's STB loader).
STB_TO_CANONICAL: tuple[int, ...] = (
    0,  # palm centre (moved to the wrist below)
    17, 18, 19, 20,  # thumb MCP..TIP
    13, 14, 15, 16,  # index
    9, 10, 11, 12,  # middle
    5, 6, 7, 8,  # ring
    1, 2, 3, 4,  # little
)

#: Camera parameters from the STB readme ("1. Camera parameters").
SK_COLOR_K = intrinsics(607.92271, 607.88192, 314.78337, 236.42484)
SK_DEPTH_K = intrinsics(475.62768, 474.77709, 336.41179, 238.77962)
#: Rodrigues vector and translation (mm) that "transform the coordinates relative to color camera
#: to those relative to depth camera": x_depth = R x_color + T, so x_color = R^T (x_depth − T).
SK_ROTATION_VECTOR = np.array([0.00531, -0.01196, 0.00301])
SK_TRANSLATION_MM = np.array([-24.0381, -0.4563, -1.2326])
BB_K = intrinsics(822.79041, 822.79041, 318.47345, 250.31296)
BB_BASELINE_MM = 120.054

SEQUENCES = tuple(f"B{i}{kind}" for i in range(1, 7) for kind in ("Counting", "Random"))
FRAMES_PER_SEQUENCE = 1500
#: Train B2-B6 / test B1: Zimmermann & Brox (ICCV 2017, §6) and the 15,000/3,000 split stated by
#: InterNet+ (§5.1.1) and ResUnet (§III-A). RCSF (§4) states 12,000/3,000/3,000 without naming
#: sequences; we keep B1 for test and hold out B2 for validation (as Yang's bihand ``val`` split).
SPLIT_SEQUENCES: dict[str, tuple[str, ...]] = {
    "train": tuple(s for s in SEQUENCES if not s.startswith("B1")),
    "test": ("B1Counting", "B1Random"),
    "rcsf_train": tuple(s for s in SEQUENCES if s[:2] in ("B3", "B4", "B5", "B6")),
    "rcsf_val": ("B2Counting", "B2Random"),
    "rcsf_test": ("B1Counting", "B1Random"),
}
CAMERAS = ("SK", "BB_left", "BB_right")
IMAGE_PREFIX = {"SK": "SK_color", "BB_left": "BB_left", "BB_right": "BB_right"}

INFO = DatasetInfo(
    name="stb",
    title="Stereo Hand Pose Tracking Benchmark (STB)",
    modality="rgb+depth",
    resolution=(640, 480),
    num_joints=21,
    joint_order_source="STB readme; palm centre, then little, ring, middle, index, thumb (MCP→tip), "
    "as named in public STB loaders (bihand STB_joints)",
    units="mm (labels), pixels (images); SK labels in the depth camera frame",
    splits={k: len(v) * FRAMES_PER_SEQUENCE for k, v in SPLIT_SEQUENCES.items()},
    split_source="train/test = B2-B6 / B1 (Zimmermann & Brox 2017; InterNet+ §5.1.1, ResUnet §III-A: "
    "15,000/3,000); rcsf_* = RCSF §4 12,000/3,000/3,000 with B3-B6 / B2 / B1 (sequences our choice)",
    licence="research use (see the dataset page)",
    url="https://github.com/zhjwustc/icip17_stereo_hand_pose_dataset",
    layout="""STB/                          <- data_root
  images/B1Counting/SK_color_0.png ... SK_color_1499.png
  images/B1Counting/SK_depth_0.png ...  BB_left_0.png ...  BB_right_0.png ...
  images/B1Random/ ... images/B6Random/  (12 sequence folders)
  labels/B1Counting_SK.mat  labels/B1Counting_BB.mat ... labels/B6Random_BB.mat""",
    papers=("rcsf", "internet_plus", "resunet"),
)


def rodrigues(vector: np.ndarray) -> np.ndarray:
    """Rotation matrix of a Rodrigues (axis × angle) vector."""
    vector = np.asarray(vector, dtype=np.float64)
    theta = np.linalg.norm(vector)
    if theta == 0:
        return np.eye(3)
    k = vector / theta
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * cross @ cross


SK_ROTATION = rodrigues(SK_ROTATION_VECTOR)


def sk_depth_to_color(xyz: np.ndarray) -> np.ndarray:
    """SK labels (..., 3) in the depth camera frame → colour camera frame (mm)."""
    return (np.asarray(xyz) - SK_TRANSLATION_MM) @ SK_ROTATION  # row form of R^T (x − T)


def move_palm_to_wrist(kp3d: np.ndarray) -> np.ndarray:
    """Canonical-order joints with the palm centre at index 0 → the wrist estimate at index 0."""
    out = np.array(kp3d, dtype=np.float64, copy=True)
    ring_mcp = out[..., finger_joints("ring")[0], :]
    out[..., 0, :] = ring_mcp + 2.0 * (out[..., 0, :] - ring_mcp)
    return out


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: all 12 sequences): the image folder and the SK and BB
    label files of each of its sequences (``SPLIT_SEQUENCES``; e.g. test and rcsf_test only B1)."""
    check_split(INFO, split)
    sequences = SEQUENCES if split is None else SPLIT_SEQUENCES[split]
    expected = [f"images/{seq}" for seq in sequences]
    expected += [f"labels/{seq}_{cam}.mat" for seq in sequences for cam in ("SK", "BB")]
    require_files(root, expected, INFO, split)


def _load_labels(root: Path, sequence: str, camera_kind: str) -> np.ndarray:
    """(frames, 21, 3) mm, STB order, as stored (SK: depth-camera frame; BB: left camera frame)."""
    path = root / "labels" / f"{sequence}_{camera_kind}.mat"

    def build() -> dict[str, np.ndarray]:
        try:
            hand_para = np.asarray(scipy.io.loadmat(str(path))["handPara"], dtype=np.float64)
        except (ValueError, KeyError, OSError, TypeError) as error:
            raise CorruptFileError(f"cannot read STB labels {path}: {error!r}") from error
        if hand_para.ndim != 3 or hand_para.shape[:2] != (3, 21):
            raise CorruptFileError(f"{path}: handPara has shape {hand_para.shape}, expected (3, 21, frames)")
        return {"xyz": hand_para.transpose(2, 1, 0)}

    return cached_arrays(f"stb-{sequence}-{camera_kind}", [path], build)["xyz"]


class STBSplit(SampleSequence):
    def __init__(self, root: Path, split: str, camera: str = "SK", palm_to_wrist: bool = True):
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
        self.root, self.split, self.camera = Path(root), split, camera
        self.K = SK_COLOR_K if camera == "SK" else BB_K
        kind = "SK" if camera == "SK" else "BB"
        sequences, frames, joints = [], [], []
        for seq in SPLIT_SEQUENCES[split]:
            xyz = _load_labels(self.root, seq, kind)
            if camera == "SK":
                xyz = sk_depth_to_color(xyz)
            elif camera == "BB_right":
                xyz = xyz - np.array([BB_BASELINE_MM, 0.0, 0.0])
            xyz = reorder(xyz, STB_TO_CANONICAL)
            if palm_to_wrist:
                xyz = move_palm_to_wrist(xyz)
            joints.append(xyz)
            sequences += [seq] * len(xyz)
            frames.append(np.arange(len(xyz)))
        self.kp3d = np.concatenate(joints).astype(np.float32)
        self.kp2d = project(self.kp3d, self.K).astype(np.float32)
        self.sequences = np.array(sequences)
        self.frames = np.concatenate(frames)
        self.root_joint = "wrist" if palm_to_wrist else "palm"

    def __len__(self) -> int:
        return len(self.kp3d)

    def _sample(self, index: int) -> dict:
        seq, frame = str(self.sequences[index]), int(self.frames[index])
        path = self.root / "images" / seq / f"{IMAGE_PREFIX[self.camera]}_{frame}.png"
        kp2d = self.kp2d[index]
        return {
            "image": read_image(path),
            "kp2d": kp2d,
            "kp3d": self.kp3d[index],
            "visible": np.ones(21, dtype=bool),
            "K": self.K.astype(np.float32),
            "side": "left",
            "bbox": bbox_from_keypoints(kp2d),
            "meta": {
                "dataset": "stb",
                "id": f"{seq}/{IMAGE_PREFIX[self.camera]}_{frame}",
                "sequence": seq,
                "frame": frame,
                "camera": self.camera,
                "root_joint": self.root_joint,
                "visibility_labelled": False,
                "occlusion": None,
            },
        }


def open_split(root: Path, split: str, camera: str = "SK", palm_to_wrist: bool = True) -> STBSplit:
    """Samples of ``split`` seen by ``camera`` ("SK" colour, "BB_left", "BB_right")."""
    if split not in INFO.splits:
        raise ValueError(f"STB has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return STBSplit(Path(root), split, camera=camera, palm_to_wrist=palm_to_wrist)
