"""HANDS 2017 Challenge, frame-based task (Yuan et al., "The 2017 Hands in the Million Challenge on
3D Hand Pose Estimation", 2017; frames sampled from BigHand2.2M, Yuan et al. CVPR 2017), read as
released: ``training/Training_Annotation.txt`` + ``training/images/`` and ``frame/images/``.

Conventions, each from the source named:

- Annotation lines: ``image_D<8 digits>.png x1 y1 z1 ... x21 y21 z21``, 3D joints in mm in the
  depth camera's frame with y pointing down like the image (the challenge's loaders project with a
  positive fy, e.g. AWR's ``Hands17`` loader ``flip = 1`` and Chen et al.'s ``hands17holder``:
  "same as image space"), i.e. already the OpenCV frame of handlib's samples.
- Depth: 640×480 single-channel 16-bit PNGs in mm (0 = no reading).
- 21 joints in the BigHand2.2M order: Wrist, TMCP, IMCP, MMCP, RMCP, PMCP, TPIP, TDIP, TTIP,
  IPIP, IDIP, ITIP, MPIP, MDIP, MTIP, RPIP, RDIP, RTIP, PPIP, PDIP, PTIP (BigHand2.2M / HANDS 2017
  naming, as in the HANDS17 evaluation scripts of Pose-REN, Chen et al.);
  all 21 map one-to-one to the canonical joints (T = thumb ... P = pinky/little).
- Camera (BigHand2.2M's Intel RealSense SR300): fx = 475.065948, fy = 475.065857,
  cx = 315.944855, cy = 245.287079.
- Splits: "train" = the 957,032 training frames (5 subjects); "test" = the 295,510 frame-based
  test frames (10 subjects, 5 unseen). CrossInfoNet (Sec. 4.1) uses this partition and reports
  test results from the challenge server: the test labels are not part of the release. If you
  have them (``test_annotation_frame.txt``, same line format), put them in ``frame/`` to open the
  "test" split; otherwise only "train" opens.
- Hand side: right (one hand per frame; BigHand2.2M's capture protocol uses the subjects' right
  hands).
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
    read_depth_png16,
    read_label_table,
)

CAMERA = Intrinsics(fx=475.065948, fy=475.065857, cx=315.944855, cy=245.287079)

_FINGER_LETTERS = {"thumb": "T", "index": "I", "middle": "M", "ring": "R", "little": "P"}
JOINT_NAMES: tuple[str, ...] = (
    ("Wrist",)
    + tuple(f"{letter}MCP" for letter in _FINGER_LETTERS.values())
    + tuple(
        f"{letter}{part}" for letter in _FINGER_LETTERS.values() for part in ("PIP", "DIP", "TIP")
    )
)
#: Canonical joint → HANDS2017 joint (canonical finger order thumb..little, MCP, PIP, DIP, TIP).
CANONICAL_FROM_HANDS2017: tuple[int, ...] = (0,) + tuple(
    JOINT_NAMES.index(f"{letter}{part}")
    for letter in _FINGER_LETTERS.values()
    for part in ("MCP", "PIP", "DIP", "TIP")
)
JOINTS = JointMap(
    all_names=JOINT_NAMES, native=tuple(range(len(JOINT_NAMES))), canonical=CANONICAL_FROM_HANDS2017
)

SPLIT_FILES: dict[str, tuple[str, str]] = {  # split -> (annotation file, image folder)
    "train": ("training/Training_Annotation.txt", "training/images"),
    "test": ("frame/test_annotation_frame.txt", "frame/images"),
}

INFO = DatasetInfo(
    name="hands2017",
    title="HANDS 2017 Challenge (frame-based, BigHand2.2M)",
    modality="depth",
    resolution=(640, 480),
    num_joints=len(JOINT_NAMES),
    joint_order_source=(
        "BigHand2.2M order Wrist, TMCP..PMCP, then PIP, DIP, TIP per finger T, I, M, R, P "
        "(BigHand2.2M / HANDS 2017 naming)"
    ),
    units="depth mm (16-bit PNG); joints x, y, z mm (camera frame, y down)",
    splits={"train": 957032, "test": 295510},
    split_source=(
        "HANDS 2017 frame-based task (Yuan et al. 2017): 957K training frames (5 subjects), 295K "
        "test frames (10 subjects, 5 unseen), as used by CrossInfoNet Sec. 4.1; test labels are "
        "not public"
    ),
    licence="research use under the BigHand2.2M / HANDS 2017 licence agreement (by request)",
    url="http://icvl.ee.ic.ac.uk/hands17/challenge/",
    layout=(
        "training/Training_Annotation.txt and training/images/image_D00000001.png ...; "
        "frame/images/image_D00000001.png ... (frame/BoundingBox.txt may stay); for the test "
        "split also frame/test_annotation_frame.txt (test labels, not in the public release)."
    ),
    papers=("crossinfonet",),
)


def read_annotations(path: Path) -> tuple[list[str], np.ndarray]:
    """An annotation file → (image file names, xyz (N, 21, 3) mm)."""
    names, values = read_label_table(
        INFO.name, path, columns=1 + 3 * len(JOINT_NAMES), first_numeric=1
    )
    return names, values.reshape(len(values), len(JOINT_NAMES), 3)


def _read_frame(path: Path) -> tuple[np.ndarray, None]:
    return read_depth_png16(path), None


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs: its annotation file and image folder (``SPLIT_FILES``). ``None``
    checks the public release: the training files and ``frame/images/``; the test labels are not
    public, so only ``split="test"`` asks for ``frame/test_annotation_frame.txt``."""
    check_split(INFO, split)
    if split is None:
        expected = [*SPLIT_FILES["train"], SPLIT_FILES["test"][1]]
    else:
        expected = list(SPLIT_FILES[split])
    require_files(Path(root), expected, INFO, split)


def open_split(root: Path, split: str) -> DepthFrames:
    root = Path(root)
    if split not in INFO.splits:
        raise ValueError(
            f"HANDS2017 has no split {split!r}; its splits are {', '.join(INFO.splits)}"
        )
    check_layout(root, split)
    annotation, images = SPLIT_FILES[split]
    names, xyz = read_annotations(root / annotation)
    return DepthFrames(
        info=INFO,
        split=split,
        root=root,
        # the challenge's own loaders keep only the file name of each line's first field
        files=[f"{images}/{Path(name).name}" for name in names],
        kp3d_all=xyz,
        kp2d_all=None,
        joints=JOINTS,
        camera=CAMERA,
        side="right",
        read_frame=_read_frame,
    )
