"""MSRA Hand Gesture dataset (Sun et al., "Cascaded Hand Pose Regression", CVPR 2015), read as
published: ``P0``..``P8`` (subjects) × 17 gesture folders, each with ``joint.txt`` and
``NNNNNN_depth.bin``.

Conventions, each from the source named:

- Depth ``.bin`` (dataset readme): six 32-bit integers img_width, img_height, left, top, right,
  bottom, then (right − left)·(bottom − top) float32 depths in mm of the hand's bounding box
  [left, right) × [top, bottom), row by row; the rest of the 320×240 frame has no reading (0).
  That box is the sample's ``bbox``.
- ``joint.txt``: the number of frames on the first line, then per frame 21 joints × (x, y, z) mm.
  The readme's joint order: wrist, index (mcp, pip, dip, tip), middle, ring, little, thumb (mcp,
  pip, dip, tip); all 21 are canonical joints (canonical thumb MCP/PIP/DIP/TIP = MSRA thumb
  mcp/pip/dip/tip).
- Axes: joint.txt stores z negative and y up; DeepPrior++ (``MSRA15Importer.loadSequence`` and
  ``joint3DToImg``) negates z and projects with v = cy − fy·y/z. In the OpenCV frame of handlib's
  samples that is ``kp3d = xyz · (1, −1, −1)``.
- Camera: fx = fy = 241.42, cx = 160, cy = 120 (dataset readme; the public evaluation code's
  ``get_param('msra')``).
- Splits: leave-one-subject-out (Sun et al. 2015; CrossInfoNet Sec. 4.1): ``test_Pk`` is subject
  Pk, ``train_Pk`` the other eight. The readme gives "about 500 frames" per gesture; the sizes in
  ``INFO`` use that figure (76.5K frames in all per CrossInfoNet), ``handlib datasets check msra``
  counts a copy exactly. DeepPrior++ lists a few faulty frames (P2/TIP 172-174, P2/MP 173-175,
  345-354, 356, 359, 360, P3/T 120, 489, P8/4 168); they are kept, as in the protocol.
- Hand side: right ("9 subjects' right hands", dataset readme).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlib.data.formats import CorruptFileError, DatasetInfo, DatasetLayoutError
from handlib.data.formats.common import cached_arrays, check_split, require_files
from handlib.data.formats.depth import (
    DepthFrames,
    Intrinsics,
    JointMap,
    no_reading_to_zero,
)

CAMERA = Intrinsics(fx=241.42, fy=241.42, cx=160.0, cy=120.0)  # dataset readme
#: joint.txt (y up, z backward) → OpenCV camera frame (DeepPrior++ MSRA15Importer).
XYZ_TO_CAMERA = np.array([1.0, -1.0, -1.0], dtype=np.float32)

SUBJECTS: tuple[str, ...] = tuple(f"P{i}" for i in range(9))
GESTURES: tuple[str, ...] = (
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "I", "IP", "L", "MP", "RP", "T", "TIP", "Y"
)
FRAMES_PER_GESTURE = 500  # "about 500 frames for each gesture" (dataset readme)

JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{part}"
    for finger in ("index", "middle", "ring", "little", "thumb")
    for part in ("mcp", "pip", "dip", "tip")
)
#: Canonical joint → MSRA joint (readme order above), e.g. canonical thumb_MCP ← thumb_mcp.
CANONICAL_FROM_MSRA: tuple[int, ...] = (0,) + tuple(
    JOINT_NAMES.index(f"{finger}_{part}")
    for finger in ("thumb", "index", "middle", "ring", "little")
    for part in ("mcp", "pip", "dip", "tip")
)
JOINTS = JointMap(
    all_names=JOINT_NAMES, native=tuple(range(len(JOINT_NAMES))), canonical=CANONICAL_FROM_MSRA
)

_SUBJECT_SIZE = len(GESTURES) * FRAMES_PER_GESTURE
INFO = DatasetInfo(
    name="msra",
    title="MSRA Hand Gesture Dataset (cvpr15_MSRAHandGestureDB)",
    modality="depth",
    resolution=(320, 240),
    num_joints=len(JOINT_NAMES),
    joint_order_source=(
        "dataset readme: wrist, index, middle, ring, little, thumb, each mcp, pip, dip, tip"
    ),
    units="depth mm (float32 crop in .bin); joints x, y, z mm (y up, z negative in joint.txt)",
    splits={
        **{f"train_{s}": (len(SUBJECTS) - 1) * _SUBJECT_SIZE for s in SUBJECTS},
        **{f"test_{s}": _SUBJECT_SIZE for s in SUBJECTS},
    },
    split_source=(
        "leave-one-subject-out (Sun et al. 2015; CrossInfoNet Sec. 4.1): test_Pk = subject Pk, "
        "train_Pk = the other 8; sizes from the readme's 'about 500 frames' per gesture"
    ),
    licence="research use, as stated in the dataset readme",
    url="https://jimmysuen.github.io/",
    layout=(
        "the cvpr15_MSRAHandGestureDB folder: P0 ... P8, each with the 17 gesture folders "
        "1-9, I, IP, L, MP, RP, T, TIP, Y, each holding joint.txt and 000000_depth.bin, "
        "000001_depth.bin, ... (the .jpg previews may stay; they are not read)."
    ),
    papers=("crossinfonet",),
)


def read_depth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An MSRA .bin → (float32 (img_height, img_width) mm, 0 outside the box; bbox x, y, w, h)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: depth file missing")
    raw = path.read_bytes()
    if len(raw) < 24:
        raise CorruptFileError(f"{path}: {len(raw)} bytes, shorter than the 24-byte header")
    width, height, left, top, right, bottom = (int(v) for v in np.frombuffer(raw[:24], "<i4"))
    inside = 0 <= left < right <= width and 0 <= top < bottom <= height
    if not (width > 0 and height > 0 and inside):
        raise CorruptFileError(
            f"{path}: header (width {width}, height {height}, box {left},{top},{right},{bottom}) "
            "is not a box inside the image"
        )
    count = (right - left) * (bottom - top)
    if len(raw) != 24 + 4 * count:
        raise CorruptFileError(
            f"{path}: {len(raw)} bytes, expected 24 + 4*{count} for its "
            f"{right - left}x{bottom - top} box (truncated?)"
        )
    depth = np.zeros((height, width), dtype=np.float32)
    crop = np.frombuffer(raw[24:], "<f4").reshape(bottom - top, right - left)
    depth[top:bottom, left:right] = crop
    bbox = np.array([left, top, right - left, bottom - top], dtype=np.float32)
    return no_reading_to_zero(depth), bbox


def read_joints(path: Path) -> np.ndarray:
    """A joint.txt → (N, 21, 3) as stored (y up, z negative)."""
    path = Path(path)
    lines = path.read_text().split("\n")
    try:
        count = int(lines[0])
    except ValueError:
        raise CorruptFileError(f"{path}: first line must be the number of frames") from None
    rows = [line for line in lines[1:] if line.strip()]
    if len(rows) != count:
        raise CorruptFileError(f"{path}: header says {count} frames but {len(rows)} lines follow")
    values = np.empty((count, len(JOINT_NAMES) * 3), dtype=np.float32)
    for i, line in enumerate(rows):
        fields = line.split()
        if len(fields) != values.shape[1]:
            raise CorruptFileError(
                f"{path}: line {i + 2} has {len(fields)} numbers, expected {values.shape[1]}"
            )
        try:
            values[i] = [float(f) for f in fields]
        except ValueError:
            raise CorruptFileError(
                f"{path}: line {i + 2} holds a field that is not a number"
            ) from None
    return values.reshape(count, len(JOINT_NAMES), 3)


def _read_split_joints(label_files: list[Path]) -> dict[str, np.ndarray]:
    joints = [read_joints(path) for path in label_files]
    return {"xyz": np.concatenate(joints), "counts": np.array([len(j) for j in joints])}


def _subjects_of(split: str) -> tuple[str, ...]:
    kind, held_out = split.split("_")
    return (held_out,) if kind == "test" else tuple(s for s in SUBJECTS if s != held_out)


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: all nine subjects): the 17 gestures' ``joint.txt`` of
    each subject it reads (test_Pk: Pk; train_Pk: the other eight)."""
    check_split(INFO, split)
    subjects = SUBJECTS if split is None else _subjects_of(split)
    require_files(Path(root), [f"{s}/{g}/joint.txt" for s in subjects for g in GESTURES], INFO, split)


def open_split(root: Path, split: str) -> DepthFrames:
    root = Path(root)
    if split not in INFO.splits:
        raise ValueError(f"MSRA has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    folders = [(s, g) for s in _subjects_of(split) for g in GESTURES]
    label_files = [root / s / g / "joint.txt" for s, g in folders]
    arrays = cached_arrays("msra-joints", label_files, lambda: _read_split_joints(label_files))
    files, subjects = [], []
    for (subject, gesture), count in zip(folders, arrays["counts"]):
        files += [f"{subject}/{gesture}/{i:06d}_depth.bin" for i in range(count)]
        subjects += [subject] * int(count)
    return DepthFrames(
        info=INFO,
        split=split,
        root=root,
        files=files,
        kp3d_all=arrays["xyz"] * XYZ_TO_CAMERA,
        kp2d_all=None,
        joints=JOINTS,
        camera=CAMERA,
        side="right",
        read_frame=read_depth,
        subjects=subjects,
    )
