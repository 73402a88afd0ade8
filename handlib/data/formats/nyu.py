"""NYU Hand Pose Dataset (Tompson et al., "Real-Time Continuous Pose Recovery of Human Hands Using
Convolutional Networks", ToG 2014), read as published: ``{train,test}/joint_data.mat`` and
``depth_<view>_<frame>.png``.

Conventions, each from the source named:

- Depth PNGs: 640×480, 3×8 bit, depth in mm packed as G·256 + B ("the top 8 bits of depth are
  packed into the green channel and the lower 8 bits into blue", dataset README; DeepPrior++
  ``NYUImporter.loadDepthMap``). Checked on the real frame ``depth_1_0000001.png``: the decoded
  depth at the 14 ground-truth joint pixels lies 3–33 mm in front of their labelled depth (the
  sensor sees the skin; the labels are joint centres), see tests/test_formats_depth.py.
- ``joint_data.mat``: ``joint_uvd`` and ``joint_xyz`` of shape (3 views, frames, 36 joints, 3);
  frame ``i`` (0-based) belongs to ``depth_<view>_<i+1:07d>.png``. Only view 1 (the frontal
  Kinect) is used, as by most work and by CrossInfoNet (Sec. 4.1).
- 36 joints: per digit (F1 little, F2 ring, F3 middle, F4 index, TH thumb) six points, segments
  KNU3 (distal), KNU2 (middle), KNU1 (proximal phalanx; metacarpal for the thumb), each with A
  (bone neck, the distal end) and B (joint, the bone base); then PALM_1..PALM_6 (dataset README;
  PALM_6 is the middle of the wrist).
- The 14 evaluation joints (Tompson et al.'s subset, DeepPrior++ ``restrictedJointsEval``):
  36-joint indices [0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32]; these are the
  ``kp*_native`` joints, in the order of the public ground truth
  ``nyu_test_groundtruth_label.txt``.
- Camera: the public evaluation code (awesome-hand-pose-estimation, evaluation/util.py) uses
  fx = 588.03, fy = −587.07, cx = 320, cy = 240. The minus sign is there because NYU's
  ``joint_xyz`` has y pointing up (the dataset's convert_xyz_to_uvd.m: v = 240 − 587.07·y/z).
  handlib's canonical ``kp3d`` is the OpenCV frame (y down), so ``K`` uses +587.07 and
  ``kp3d = joint_xyz · (1, −1, 1)``; ``EVAL_INTRINSICS`` keeps the evaluation code's values for
  reproducing published numbers from u, v, d files.
- Hand side: right (DeepPrior++ ``NYUImporter.sides``).
- Refined hand centres (optional; ``handlib.data.formats.depth.REFINED_CENTRES``): V2V-PoseNet's
  ``center_train_refined.txt`` / ``center_test_refined.txt`` put in the dataset folder beside
  train/ and test/, one line per frame, in joint_xyz's frame (y up; V2V-PoseNet
  src/data/NYU/data.lua ``pixel2world``), converted as the labels are.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    cached_arrays,
    check_split,
    layout_error,
    read_raw_image,
    require_files,
    split_note,
)
from handlib.data.formats.depth import (
    DepthFrames,
    Intrinsics,
    JointMap,
    REFINED_CENTRES,
    no_reading_to_zero,
    read_refined_centres,
)

#: The public evaluation code's (fx, fy, cx, cy); fy < 0 because joint_xyz is y-up (see above).
EVAL_INTRINSICS: tuple[float, float, float, float] = (588.03, -587.07, 320.0, 240.0)
#: The same camera for the OpenCV (y-down) frame of handlib's canonical samples.
CAMERA = Intrinsics(EVAL_INTRINSICS[0], -EVAL_INTRINSICS[1], EVAL_INTRINSICS[2], EVAL_INTRINSICS[3])
#: joint_xyz (y up) → OpenCV camera frame.
XYZ_TO_CAMERA = np.array([1.0, -1.0, 1.0], dtype=np.float32)

VIEW = 1  # the frontal Kinect
DIGITS: tuple[str, ...] = ("F1", "F2", "F3", "F4", "TH")  # little, ring, middle, index, thumb
#: The 36 joint names in joint_data.mat order (dataset README).
JOINT_NAMES: tuple[str, ...] = tuple(
    f"{digit}_KNU{segment}_{part}" for digit in DIGITS for segment in (3, 2, 1) for part in "AB"
) + tuple(f"PALM_{i}" for i in range(1, 7))
#: Tompson et al.'s 14 evaluation joints (DeepPrior++ restrictedJointsEval).
EVAL_JOINTS: tuple[int, ...] = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)


def _digit_chain(digit: str) -> tuple[int, int, int, int]:
    """36-joint indices of a digit's canonical MCP, PIP, DIP, TIP: the bases (B) of the proximal,
    middle and distal segments, then the distal segment's neck (A), which is the tip."""
    name = JOINT_NAMES.index
    return (
        name(f"{digit}_KNU1_B"), name(f"{digit}_KNU2_B"), name(f"{digit}_KNU3_B"),
        name(f"{digit}_KNU3_A"),
    )


#: Canonical joint → 36-joint index: wrist = PALM_6 (middle of the wrist), then thumb, index,
#: middle, ring, little (canonical finger order) as MCP, PIP, DIP, TIP.
CANONICAL_FROM_36: tuple[int, ...] = (JOINT_NAMES.index("PALM_6"),) + tuple(
    j for digit in ("TH", "F4", "F3", "F2", "F1") for j in _digit_chain(digit)
)
#: Canonical joint → position among the 14 evaluation joints (None where it is not one of them);
#: for drawing the public u, v, d ground truth in canonical order.
CANONICAL_FROM_EVAL: tuple[int | None, ...] = tuple(
    EVAL_JOINTS.index(j) if j in EVAL_JOINTS else None for j in CANONICAL_FROM_36
)
JOINTS = JointMap(all_names=JOINT_NAMES, native=EVAL_JOINTS, canonical=CANONICAL_FROM_36)

INFO = DatasetInfo(
    name="nyu",
    title="NYU Hand Pose Dataset",
    modality="depth",
    resolution=(640, 480),
    num_joints=len(JOINT_NAMES),
    joint_order_source=(
        "joint_names in joint_data.mat / dataset README (F1 little .. F4 index, TH thumb, "
        "PALM_1-6); 14 evaluation joints [0,3,6,9,12,15,18,21,24,25,27,30,31,32] as in "
        "Tompson et al. 2014 and DeepPrior++ restrictedJointsEval"
    ),
    units="depth mm (G*256+B PNG); joint_xyz mm (y up, converted to y down); joint_uvd px + mm",
    splits={"train": 72757, "test": 8252},
    split_source=(
        "Tompson et al. 2014 (dataset README): 72,757 training frames (subject A) and 8,252 test "
        "frames (subjects A and B) per view; view 1 and the 14 evaluation joints as in "
        "CrossInfoNet Sec. 4.1"
    ),
    licence="free for research use, as stated on the download page",
    url="https://jonathantompson.github.io/NYU_Hand_Pose_Dataset.htm",
    layout=(
        "the dataset/ folder of nyu_hand_dataset_v2.zip: train/joint_data.mat, "
        "train/depth_1_0000001.png ... train/depth_1_0072757.png, test/joint_data.mat, "
        "test/depth_1_0000001.png ... test/depth_1_0008252.png (rgb_*, synthdepth_* and views 2-3 "
        "may stay; they are not read)."
    ),
    papers=("crossinfonet",),
)


def read_depth(path: Path) -> np.ndarray:
    """An NYU depth PNG → float32 (480, 640) mm, 0 = no reading (G·256 + B; see module doc)."""
    image = read_raw_image(path)  # channels R, G, B
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CorruptFileError(
            f"{path}: expected a 3-channel 8-bit PNG with depth in G*256+B, got "
            f"shape {image.shape} {image.dtype}"
        )
    depth = image[..., 1].astype(np.float32) * 256.0 + image[..., 2].astype(np.float32)
    return no_reading_to_zero(depth)


def _read_frame(path: Path) -> tuple[np.ndarray, None]:
    return read_depth(path), None


def depth_file(frame: int, view: int = VIEW) -> str:
    """File name of 0-based ``frame`` of ``view``."""
    return f"depth_{view}_{frame + 1:07d}.png"


def read_joint_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """View-1 (uvd (N, 36, 3), xyz (N, 36, 3)) of a joint_data.mat, parsed once and cached."""
    arrays = cached_arrays("nyu-joints", [Path(path)], lambda: _parse_joint_data(Path(path)))
    return arrays["uvd"], arrays["xyz"]


def _parse_joint_data(path: Path) -> dict[str, np.ndarray]:
    try:
        mat = scipy.io.loadmat(path, variable_names=("joint_uvd", "joint_xyz"))
    except Exception as error:  # scipy raises several types for a damaged file
        raise CorruptFileError(f"{path}: not a readable MATLAB file ({error})") from None
    arrays = {}
    for key in ("joint_uvd", "joint_xyz"):
        if key not in mat:
            raise CorruptFileError(f"{path}: has no variable {key!r}")
        value = mat[key]
        if value.ndim != 4 or value.shape[0] < VIEW or value.shape[2:] != (len(JOINT_NAMES), 3):
            raise CorruptFileError(
                f"{path}: {key} has shape {value.shape}, expected (views, frames, 36, 3)"
            )
        arrays[key[len("joint_"):]] = np.ascontiguousarray(value[VIEW - 1], dtype=np.float32)
    if arrays["uvd"].shape != arrays["xyz"].shape:
        raise CorruptFileError(f"{path}: joint_uvd and joint_xyz differ in shape")
    return arrays


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: both): ``<split>/joint_data.mat`` and the split's first
    view-1 frame ``<split>/depth_1_0000001.png`` (train and test are separate folders)."""
    check_split(INFO, split)
    root = Path(root)
    folders = list(INFO.splits) if split is None else [split]
    require_files(root, [f"{folder}/joint_data.mat" for folder in folders], INFO, split)
    for folder in folders:
        if not (root / folder / depth_file(0)).is_file():
            raise layout_error(INFO, root, f"missing {folder}/{depth_file(0)}{split_note(split)}")


def open_split(root: Path, split: str) -> DepthFrames:
    root = Path(root)
    if split not in INFO.splits:
        raise ValueError(f"NYU has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    uvd, xyz = read_joint_data(root / split / "joint_data.mat")
    centre_file = root / REFINED_CENTRES[split]
    # joint_xyz's frame: the labels' own conversion (y flipped), so the camera maps it unchanged
    centres = read_refined_centres(centre_file, len(uvd), CAMERA, CAMERA, y_up=True) \
        if centre_file.is_file() else None
    return DepthFrames(
        info=INFO,
        split=split,
        root=root,
        files=[f"{split}/{depth_file(i)}" for i in range(len(uvd))],
        kp3d_all=xyz * XYZ_TO_CAMERA,
        kp2d_all=uvd[..., :2],
        joints=JOINTS,
        camera=CAMERA,
        side="right",
        read_frame=_read_frame,
        centres=centres,
        centre_file=centre_file,
    )
