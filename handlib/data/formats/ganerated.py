"""GANerated Hands (Mueller et al., CVPR 2018), as published in ``GANeratedHands_Release``.

Native format (the dataset's ``README.txt``):

- ``data/{noObject,withObject}/<NNNN>/<FFFF>_color_composed.png``: 256x256 crops around the hand,
  with, per frame, ``_joint2D.txt`` (21 x 2 pixels in the crop), ``_joint_pos_global.txt``
  (21 x 3 mm, camera frame of the uncropped 640x480 image), ``_joint_pos.txt`` (root-relative,
  normalised; not used) and ``_crop_params.txt`` = ``u, v, s``: crop pixel = s (full pixel −
  (u, v)), so the crop's camera matrix is :func:`crop_intrinsics` of :data:`FULL_K`;
- joints: wrist, then thumb, index, middle, ring, little each base → tip (``W, T0..T3, I0..I3,
  M0..M3, R0..R3, L0..L3``), already the canonical order (:data:`GANERATED_TO_CANONICAL`).

No per-joint visibility is published (``withObject`` frames are occluded by objects): ``visible``
means annotated. The hand is treated as a left hand, as public loaders do (a Chainer hand-pose
project's GANerated loader sets ``hand_side = "left"``). Frames are listed from the folders on
first use; the per-frame text files are read lazily.

Splits (our decision; neither the dataset nor ResUnet §III-A gives one): "all" is every frame
present; "train", "val" and "test" keep the release's folders whole, so that the neighbouring
frames of one folder (``data/<kind>/<NNNN>``, our unit of "sequence") never straddle two splits.
A folder goes to the split of :func:`folder_split`: the SHA-256 of its name relative to ``data/``
(e.g. ``"withObject/0001"``) read as a number in [0, 1) (``common.hash_split``): below 0.8 →
train, below 0.9 → val, else test. The rule needs no file list and
gives a folder the same split whatever other folders a copy holds. ``INFO.splits`` gives the
frame counts the 80/10/10 ratio implies for the full release; a copy's real counts differ a
little, as folders (not frames) are drawn (``handlib datasets check`` prints them).
"""
from __future__ import annotations

import os
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
    read_image,
    read_text_array,
    require_files,
)
from handlib.skeleton import reorder

#: GANerated order (README: W, T0-T3, I0-I3, M0-M3, R0-R3, L0-L3, base → tip) → canonical: identity.
GANERATED_TO_CANONICAL: tuple[int, ...] = tuple(range(21))
#: Intrinsics of the uncropped images (README).
FULL_K = intrinsics(617.173, 617.173, 315.453, 242.259)
OBJECT_KINDS = ("noObject", "withObject")
IMAGE_SUFFIX = "_color_composed.png"
#: The sequence splits and the upper bound of each one's share of [0, 1) (see the module docstring).
#: Frames in the release: "approximately 330,000 images" (ResUnet §III-A).
TOTAL_FRAMES = 330_000

INFO = DatasetInfo(
    name="ganerated",
    title="GANerated Hands",
    modality="rgb",
    resolution=(256, 256),
    num_joints=21,
    joint_order_source="GANerated README: W, T0..T3, I0..I3, M0..M3, R0..R3, L0..L3 (base→tip)",
    units="joint_pos_global in mm (camera frame), joint2D in crop pixels",
    splits={"all": TOTAL_FRAMES, "train": 264_000, "val": 33_000, "test": 33_000},
    split_source="no official split (ResUnet §III-A gives 'approximately 330,000 images' and no "
    "split); 'all' = every frame; train/val/test = our decision: whole data/<kind>/<NNNN> folders, "
    "by SHA-256 of the folder name relative to data/ mapped to [0, 1): < 0.8 train, < 0.9 val, "
    "else test; counts = the 80/10/10 ratio of ~330,000 (a copy's real counts vary a little)",
    licence="research only (see the dataset page)",
    url="https://handtracker.mpi-inf.mpg.de/projects/GANeratedHands/GANeratedDataset.htm",
    layout="""GANeratedHands_Release/        <- data_root
  data/noObject/0001/0001_color_composed.png  0001_joint2D.txt  0001_joint_pos_global.txt
                     0001_crop_params.txt  0001_joint_pos.txt  0002_...
  data/noObject/0002/ ...
  data/withObject/0001/ ...""",
    papers=("resunet",),
)


def crop_intrinsics(u: float, v: float, scale: float, K: np.ndarray = FULL_K) -> np.ndarray:
    """Camera matrix of a crop made by pixel' = scale (pixel − (u, v))."""
    return np.array(
        [
            [scale * K[0, 0], 0.0, scale * (K[0, 2] - u)],
            [0.0, scale * K[1, 1], scale * (K[1, 2] - v)],
            [0.0, 0.0, 1.0],
        ]
    )


def folder_split(folder: str) -> str:
    """The split ("train", "val" or "test") of a folder named relative to ``data/``, e.g.
    ``"noObject/0001"``, by ``common.hash_split`` of the name."""
    return hash_split(folder)


def check_layout(root: Path, split: str | None = None) -> None:
    """Every split reads both ``data/noObject/`` and ``data/withObject/`` (a split's folders may
    be of either kind)."""
    check_split(INFO, split)
    require_files(root, [f"data/{kind}" for kind in OBJECT_KINDS], INFO)


def _list_frames(root: Path) -> dict[str, np.ndarray]:
    folders = sorted(
        (kind, entry.name)
        for kind in OBJECT_KINDS
        for entry in os.scandir(root / "data" / kind)
        if entry.is_dir()
    )

    def build() -> dict[str, np.ndarray]:
        stems = []
        for kind, folder in folders:
            names = sorted(
                e.name[: -len(IMAGE_SUFFIX)]
                for e in os.scandir(root / "data" / kind / folder)
                if e.name.endswith(IMAGE_SUFFIX)
            )
            stems += [f"{kind}/{folder}/{name}" for name in names]
        return {"stems": np.array(stems, dtype=np.str_)}

    sources = [root / "data" / kind / folder for kind, folder in folders]
    frames = cached_arrays("ganerated-index", sources, build)
    if len(frames["stems"]) == 0:
        raise layout_error(INFO, root, f"no *{IMAGE_SUFFIX} frames under data/")
    return frames


def split_stems(stems: np.ndarray, split: str) -> np.ndarray:
    """The frames of ``stems`` (``<kind>/<folder>/<frame>``) whose folder :func:`folder_split`
    puts in ``split``; "all" keeps every one."""
    if split == "all":
        return stems
    folders = np.array([str(stem).rsplit("/", 1)[0] for stem in stems], dtype=np.str_)
    names, inverse = np.unique(folders, return_inverse=True)
    keep = np.array([folder_split(str(name)) == split for name in names], dtype=bool)
    return stems[keep[inverse]]


class GANeratedSplit(SampleSequence):
    def __init__(self, root: Path, split: str = "all"):
        self.root, self.split = Path(root), split
        self.stems = split_stems(_list_frames(self.root)["stems"], split)

    def __len__(self) -> int:
        return len(self.stems)

    def _sample(self, index: int) -> dict:
        stem = str(self.stems[index])
        base = self.root / "data" / stem
        kp2d = reorder(read_text_array(f"{base}_joint2D.txt", (21, 2)), GANERATED_TO_CANONICAL)
        kp3d = reorder(read_text_array(f"{base}_joint_pos_global.txt", (21, 3)), GANERATED_TO_CANONICAL)
        u, v, scale = read_text_array(f"{base}_crop_params.txt", (3,))
        kind, folder, frame = stem.split("/")
        return {
            "image": read_image(f"{base}{IMAGE_SUFFIX}"),
            "kp2d": kp2d.astype(np.float32),
            "kp3d": kp3d.astype(np.float32),
            "visible": np.ones(21, dtype=bool),
            "K": crop_intrinsics(u, v, scale).astype(np.float32),
            "side": "left",
            "bbox": bbox_from_keypoints(kp2d),
            "meta": {
                "dataset": "ganerated",
                "id": stem,
                "object": kind == "withObject",
                "crop_params": (float(u), float(v), float(scale)),
                "visibility_labelled": False,
                "occlusion": None,
            },
        }


def open_split(root: Path, split: str = "all") -> GANeratedSplit:
    if split not in INFO.splits:
        raise ValueError(f"GANerated Hands has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return GANeratedSplit(Path(root), split)
