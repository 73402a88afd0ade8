"""SynthHands (Mueller et al., ICCV 2017), as published in ``SynthHands_Release``.

Native format (the dataset's ``README.txt``):

- ``{female,male}_{noobject,object}/seq<NN>/cam<NN>/<NN>/%08d_<kind>`` with kinds ``color.png``
  (640x480, colour camera), ``color_on_depth.png`` (colour registered to the depth camera),
  ``depth.png`` (16-bit, mm; :data:`INVALID_DEPTH` and above = no reading) and ``joint_pos.txt``
  (21 x 3, mm, *depth* camera frame);
- cameras (egocentric RealSense SR300 model): colour intrinsics :data:`COLOR_K`, depth
  intrinsics :data:`DEPTH_K`, depth → colour = a translation of :data:`DEPTH_TO_COLOR_MM`;
- joints: wrist, then thumb, index, middle, ring, little each base → tip (``W, T0..T3, ...,
  L0..L3``), already canonical (:data:`SYNTHHANDS_TO_CANONICAL`).

``image="color"`` (default) gives the colour image with joints moved to the colour camera;
``image="color_on_depth"`` the registered image with joints in the depth frame (``K`` = depth
intrinsics), as the authors' networks use it. ``depth=True`` adds the depth map (mm, 0 = none),
which is aligned with ``color_on_depth``. No visibility labels are published; the hand is treated
as a left hand, as public loaders do (a Chainer hand-pose project's SynthHands loader).

Splits (our decision; neither the dataset nor ResUnet §III-A gives one): "all" is every frame
present; "train", "val" and "test" keep whole sequences (``<top>/seq<NN>``, all its cameras and
parts together: the cameras are viewpoints of one sequence, so splitting by camera would leak) and
hold out sequences within each gender/object folder, so that every split has female and male
hands, with and without objects. :func:`sequence_split` puts ``seq<NN>`` with NN ≡ 1 (mod 10)
in test, NN ≡ 2 (mod 10) in val, the others in train: in the release, whose folders number
their sequences from seq01 (a Chainer loader lists seq01-seq07 per folder), that is seq01 →
test, seq02 → val, seq03... → train in each of the four folders. A sequence folder not named
``seq<digits>`` falls back to the hash rule of :mod:`~handlib.data.formats.ganerated` (SHA-256
of ``<top>/<sequence>`` in [0, 1): < 0.8 train, < 0.9 val, else test). Neither rule needs a file
list, and a sequence's split does not depend on which others a copy holds. ``INFO.splits``
gives the counts the rule implies if each folder holds seq01-seq07 of equal length (1/7 of
63,530 each for val and test); the true counts are known only from a copy (``handlib datasets
check`` prints them).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from handlib.data.formats import DatasetInfo
from handlib.data.formats.common import (
    SampleSequence,
    bbox_from_keypoints,
    cached_arrays,
    check_split,
    hash_split,
    intrinsics,
    layout_error,
    project,
    read_image,
    read_raw_image,
    read_text_array,
    require_files,
)
from handlib.skeleton import reorder

#: SynthHands order (README: W, T0-T3, I0-I3, M0-M3, R0-R3, L0-L3, base → tip) → canonical: identity.
SYNTHHANDS_TO_CANONICAL: tuple[int, ...] = tuple(range(21))
#: Camera parameters (README).
COLOR_K = intrinsics(617.173, 617.173, 315.453, 242.259)
DEPTH_K = intrinsics(475.62, 475.62, 311.125, 245.965)
DEPTH_TO_COLOR_MM = np.array([24.7, -0.0471401, 3.72045])
#: Depth values at or above this mean "no reading" (the authors' MATLAB demo: invalid_depth = 32001).
INVALID_DEPTH = 32001
TOP_FOLDERS = ("female_noobject", "female_object", "male_noobject", "male_object")
JOINT_SUFFIX = "_joint_pos.txt"
IMAGE_KINDS = ("color", "color_on_depth")
#: Frames in the release (ResUnet §III-A: "63.5K").
TOTAL_FRAMES = 63_530
#: Split of ``seq<NN>`` by NN mod 10; other residues → train (see the module docstring).
SEQUENCE_NUMBER_SPLITS: dict[int, str] = {1: "test", 2: "val"}
#: Fallback for sequence folders not named ``seq<digits>``: upper bound of each split's share of [0, 1).
_SEQUENCE_NAME = re.compile(r"seq(\d+)")
#: Counts the rule implies for 7 equal sequences per folder: 1/7 each for val and test.
_HELD_OUT = round(TOTAL_FRAMES / 7)

INFO = DatasetInfo(
    name="synthhands",
    title="SynthHands",
    modality="rgb+depth",
    resolution=(640, 480),
    num_joints=21,
    joint_order_source="SynthHands README: W, T0..T3, I0..I3, M0..M3, R0..R3, L0..L3 (base→tip)",
    units="mm (joints, depth), pixels",
    splits={
        "all": TOTAL_FRAMES,
        "train": TOTAL_FRAMES - 2 * _HELD_OUT,
        "val": _HELD_OUT,
        "test": _HELD_OUT,
    },
    split_source="no official split (ResUnet §III-A gives '63.5K' images and no split); 'all' = "
    "every frame; train/val/test = our decision: whole sequences held out in each "
    "{female,male}_{noobject,object} folder, seq<NN> with NN mod 10 = 1 → test, = 2 → val, else "
    "train (seq01 test, seq02 val, seq03-07 train); counts assume 7 equal sequences per folder "
    "(a copy's real counts differ)",
    licence="research only (see the dataset page)",
    url="https://handtracker.mpi-inf.mpg.de/projects/OccludedHands/SynthHands.htm",
    layout="""SynthHands_Release/            <- data_root
  female_noobject/seq01/cam01/01/00000000_color.png  00000000_color_on_depth.png
                                 00000000_depth.png  00000000_joint_pos.txt  00000001_...
  female_object/...  male_noobject/...  male_object/...""",
    papers=("resunet",),
)


def sequence_split(sequence: str) -> str:
    """The split ("train", "val" or "test") of a sequence folder named ``<top>/<sequence>``, e.g.
    ``"female_object/seq01"`` → "test": by the sequence number mod 10
    (:data:`SEQUENCE_NUMBER_SPLITS`), or, for a name not of the form ``seq<digits>``, by
    ``common.hash_split`` of the whole ``<top>/<sequence>``."""
    match = _SEQUENCE_NAME.fullmatch(sequence.rsplit("/", 1)[-1])
    if match:
        return SEQUENCE_NUMBER_SPLITS.get(int(match.group(1)) % 10, "train")
    return hash_split(sequence)


def check_layout(root: Path, split: str | None = None) -> None:
    """Every split reads the four top folders ({female,male}_{noobject,object}); each split holds
    sequences of all four."""
    check_split(INFO, split)
    require_files(root, TOP_FOLDERS, INFO)


def _subdirs(path: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir())


def _list_frames(root: Path) -> np.ndarray:
    leaves = [
        f"{top}/{seq}/{cam}/{part}"
        for top in TOP_FOLDERS
        for seq in _subdirs(root / top)
        for cam in _subdirs(root / top / seq)
        for part in _subdirs(root / top / seq / cam)
    ]

    def build() -> dict[str, np.ndarray]:
        stems = []
        for leaf in leaves:
            names = sorted(
                e.name[: -len(JOINT_SUFFIX)] for e in os.scandir(root / leaf) if e.name.endswith(JOINT_SUFFIX)
            )
            stems += [f"{leaf}/{name}" for name in names]
        return {"stems": np.array(stems, dtype=np.str_)}

    stems = cached_arrays("synthhands-index", [root / leaf for leaf in leaves], build)["stems"]
    if len(stems) == 0:
        raise layout_error(INFO, root, f"no *{JOINT_SUFFIX} frames found")
    return stems


def split_stems(stems: np.ndarray, split: str) -> np.ndarray:
    """The frames of ``stems`` (``<top>/<sequence>/<camera>/<part>/<frame>``) whose sequence
    :func:`sequence_split` puts in ``split``; "all" keeps every one."""
    if split == "all":
        return stems
    sequences = np.array(["/".join(str(stem).split("/", 2)[:2]) for stem in stems], dtype=np.str_)
    names, inverse = np.unique(sequences, return_inverse=True)
    keep = np.array([sequence_split(str(name)) == split for name in names], dtype=bool)
    return stems[keep[inverse]]


class SynthHandsSplit(SampleSequence):
    def __init__(self, root: Path, image: str = "color", depth: bool = False, split: str = "all"):
        if image not in IMAGE_KINDS:
            raise ValueError(f"image must be one of {IMAGE_KINDS}, got {image!r}")
        self.root, self.image_kind, self.depth, self.split = Path(root), image, depth, split
        self.K = COLOR_K if image == "color" else DEPTH_K
        self.stems = split_stems(_list_frames(self.root), split)

    def __len__(self) -> int:
        return len(self.stems)

    def _sample(self, index: int) -> dict:
        stem = str(self.stems[index])
        base = self.root / stem
        kp3d = reorder(read_text_array(f"{base}{JOINT_SUFFIX}", (21, 3)), SYNTHHANDS_TO_CANONICAL)
        if self.image_kind == "color":
            kp3d = kp3d + DEPTH_TO_COLOR_MM
        kp2d = project(kp3d, self.K)
        sample = {
            "image": read_image(f"{base}_{self.image_kind}.png"),
            "kp2d": kp2d.astype(np.float32),
            "kp3d": kp3d.astype(np.float32),
            "visible": np.ones(21, dtype=bool),
            "K": self.K.astype(np.float32),
            "side": "left",
            "bbox": bbox_from_keypoints(kp2d),
            "meta": {
                "dataset": "synthhands",
                "id": stem,
                "object": stem.split("/")[0].endswith("_object"),
                "image_kind": self.image_kind,
                "visibility_labelled": False,
                "occlusion": None,
            },
        }
        if self.depth:
            raw = read_raw_image(f"{base}_depth.png").astype(np.float32)
            sample["depth"] = np.where(raw >= INVALID_DEPTH, 0.0, raw).astype(np.float32)
        return sample


def open_split(root: Path, split: str = "all", image: str = "color", depth: bool = False) -> SynthHandsSplit:
    if split not in INFO.splits:
        raise ValueError(f"SynthHands has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return SynthHandsSplit(Path(root), image=image, depth=depth, split=split)
