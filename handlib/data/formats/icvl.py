"""ICVL hand posture dataset (Tang et al., "Latent Regression Forest", CVPR 2014), read as
published: ``Training/labels.txt`` + ``Training/Depth/...`` and ``Testing/test_seq_{1,2}.txt`` +
``Testing/Depth/...``.

Conventions, each from the source named:

- Label files: one line per frame, ``<path relative to Depth/> u1 v1 d1 ... u16 v16 d16`` (u, v in
  px, d in mm); the public evaluation ground truth (awesome-hand-pose-estimation,
  evaluation/groundtruth/icvl/test_seq_{1,2}.txt) is in the same format, and its
  ``icvl_test_groundtruth_label.txt`` is test_seq_1 then test_seq_2 without the names.
- Depth: 320×240 single-channel 16-bit PNGs in mm; 32001 marks "no reading" (DeepPrior++
  ``ICVLImporter.getDepthMapNV``), stored here as 0.
- 16 joints: palm, then thumb, index, middle, ring, little, each root, mid, tip (the order
  DeepPrior++ ``ICVLImporter.showAnnotatedDepth`` draws: chains 0-1-2-3, 0-4-5-6, ...). Only the
  fingertips are the same points as canonical joints: "palm" is the palm centre, not the wrist,
  and root/mid are not documented as MCP/PIP or PIP/DIP (on the public test labels root–mid is
  29 mm and mid–tip 19 mm for the index finger, which fits neither cleanly), so only the five
  tips fill the canonical arrays.
- Camera: fx = 240.99, fy = 240.96, cx = 160, cy = 120, the public evaluation code's values
  (evaluation/util.py, ``get_param('icvl')``; DeepPrior++ used 241.42 for both focal lengths);
  positive fy, i.e. the OpenCV frame (y down) directly.
- Splits: the training list holds the genuine frames and in-plane rotated copies; the genuine
  frames are those whose first path component is longer than 6 characters (the rule of
  DeepPrior++ ``ICVLImporter.loadSequence``; rotated copies sit in short folders such as "45").
  CrossInfoNet (Sec. 4.1) trains on all frames ("train") and uses the genuine ones
  ("train_genuine") in its self-comparisons; "test" is test_seq_1 followed by test_seq_2.
- Hand side: right (DeepPrior++ ``ICVLImporter.sides``).
- Refined hand centres (optional; ``handlib.data.formats.depth.REFINED_CENTRES``): V2V-PoseNet's
  ``center_train_refined.txt`` (one line per line of ``Training/labels.txt``; train_genuine
  keeps the genuine frames' lines) and ``center_test_refined.txt`` (test_seq_1 then
  test_seq_2) put in the dataset folder beside Training/ and Testing/; their points are in
  V2V-PoseNet's frame (y down, fx = fy = 241.42, cx = 160, cy = 120: its src/data/ICVL/data.lua,
  :data:`V2V_CAMERA`), moved to :data:`CAMERA` through their pixel and depth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlib.data.formats import DatasetInfo
from handlib.data.formats.common import check_split, require_files
from handlib.data.formats.depth import (
    DepthFrames,
    Intrinsics,
    JointMap,
    REFINED_CENTRES,
    read_depth_png16,
    read_refined_centres,
    read_label_table,
    uvd_to_xyz,
)
from handlib.skeleton import JOINT_NAMES as CANONICAL_NAMES

#: Public evaluation code (evaluation/util.py, get_param('icvl')).
CAMERA = Intrinsics(fx=240.99, fy=240.96, cx=160.0, cy=120.0)
#: V2V-PoseNet's ICVL camera (src/data/ICVL/data.lua), the frame of its refined centres.
V2V_CAMERA = Intrinsics(fx=241.42, fy=241.42, cx=160.0, cy=120.0)

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
JOINT_NAMES: tuple[str, ...] = ("palm",) + tuple(
    f"{finger}_{part}" for finger in FINGERS for part in ("root", "mid", "tip")
)
#: Canonical joint → ICVL joint: the five fingertips only (see module doc).
CANONICAL_FROM_ICVL: tuple[int | None, ...] = tuple(
    JOINT_NAMES.index(f"{name.split('_')[0]}_tip") if name.endswith("_TIP") else None
    for name in CANONICAL_NAMES
)
JOINTS = JointMap(
    all_names=JOINT_NAMES, native=tuple(range(len(JOINT_NAMES))), canonical=CANONICAL_FROM_ICVL
)

TEST_SEQUENCES: tuple[str, ...] = ("test_seq_1", "test_seq_2")
TRAIN_LABELS = "Training/labels.txt"

INFO = DatasetInfo(
    name="icvl",
    title="ICVL Hand Posture Dataset",
    modality="depth",
    resolution=(320, 240),
    num_joints=len(JOINT_NAMES),
    joint_order_source=(
        "palm, then thumb, index, middle, ring, little as root, mid, tip (Tang et al. 2014; "
        "DeepPrior++ ICVLImporter)"
    ),
    units="depth mm (16-bit PNG, 32001 = no reading); labels u, v px and d mm",
    splits={"train": 330000, "train_genuine": 22000, "test": 1596},
    split_source=(
        "CrossInfoNet Sec. 4.1: 'train' = all ~330K frames (genuine ~22K + in-plane rotations), "
        "'train_genuine' = the ~22K genuine frames (train sizes are the paper's rounded figures; "
        "`handlib datasets check icvl` counts a copy exactly); 'test' = test_seq_1 (702) + "
        "test_seq_2 (894) as in Tang et al. 2014"
    ),
    licence="research use, as stated on the download page",
    url="https://labicvl.github.io/hand.html",
    layout=(
        "Training/labels.txt and Training/Depth/<folder>/image_NNNN.png (from Training.tar); "
        "Testing/test_seq_1.txt, Testing/test_seq_2.txt and Testing/Depth/test_seq_1/"
        "image_NNNN.png, Testing/Depth/test_seq_2/image_NNNN.png (from Testing.tar); each label "
        "line names its image relative to the Depth/ folder next to it."
    ),
    papers=("crossinfonet",),
)


def is_genuine(relative_path: str) -> bool:
    """True for a frame without in-plane rotation (DeepPrior++ rule, see module doc)."""
    return len(relative_path.split("/")[0]) > 6


def read_labels(path: Path) -> tuple[list[str], np.ndarray]:
    """An ICVL label file → (image paths relative to Depth/, uvd (N, 16, 3))."""
    names, values = read_label_table(
        INFO.name, path, columns=1 + 3 * len(JOINT_NAMES), first_numeric=1
    )
    return names, values.reshape(len(values), len(JOINT_NAMES), 3)


def _read_frame(path: Path) -> tuple[np.ndarray, None]:
    return read_depth_png16(path), None


def _label_files(split: str) -> list[str]:
    if split == "test":
        return [f"Testing/{sequence}.txt" for sequence in TEST_SEQUENCES]
    return [TRAIN_LABELS]


def split_files(split: str) -> list[str]:
    """What ``split`` reads: train and train_genuine ``Training/labels.txt`` and
    ``Training/Depth/``, test the two ``Testing/test_seq_*.txt`` and ``Testing/Depth/``."""
    label_files = _label_files(split)
    return [*label_files, f"{Path(label_files[0]).parent.as_posix()}/Depth"]


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: Training/ and Testing/), see :func:`split_files`."""
    check_split(INFO, split)
    names = ("train", "test") if split is None else (split,)
    require_files(Path(root), [f for name in names for f in split_files(name)], INFO, split)


def open_split(root: Path, split: str) -> DepthFrames:
    root = Path(root)
    if split not in INFO.splits:
        raise ValueError(f"ICVL has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    files, labels, kept = [], [], []
    for label_file in _label_files(split):
        names, uvd = read_labels(root / label_file)
        folder = Path(label_file).parent / "Depth"
        keep = np.array([split != "train_genuine" or is_genuine(n) for n in names], dtype=bool)
        files += [f"{folder.as_posix()}/{name}" for name, k in zip(names, keep) if k]
        labels.append(uvd[keep])
        kept.append(keep)
    uvd, kept = np.concatenate(labels), np.concatenate(kept)
    centre_file = root / REFINED_CENTRES["test" if split == "test" else "train"]
    centres = read_refined_centres(centre_file, len(kept), CAMERA, V2V_CAMERA,
                                   y_up=False)[kept] if centre_file.is_file() else None
    return DepthFrames(
        info=INFO,
        split=split,
        root=root,
        files=files,
        kp3d_all=uvd_to_xyz(uvd, CAMERA.fx, CAMERA.fy, CAMERA.cx, CAMERA.cy),
        kp2d_all=uvd[..., :2],
        joints=JOINTS,
        camera=CAMERA,
        side="right",
        read_frame=_read_frame,
        centres=centres,
        centre_file=centre_file,
    )
