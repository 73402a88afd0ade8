"""Rendered Handpose Dataset (RHD, Zimmermann & Brox, ICCV 2017), as published in ``RHD_published_v2``.

Native format (the dataset's README and its ``view_samples.py``):

- ``<set>/anno_<set>.pickle``: a dict ``sample_id -> {"xyz": (42, 3) metres, camera frame,
  "uv_vis": (42, 3) = (u px, v px, visible 0/1), "K": (3, 3)}`` with ``<set>`` = ``training`` or
  ``evaluation`` (Python-2 pickles, read with ``encoding="latin1"``);
- ``<set>/color/%05d.png`` (320x320 RGB), ``<set>/mask/%05d.png`` (hand-part labels: 0 background,
  1 person, 2-17 left hand, 18-33 right hand), ``<set>/depth/%05d.png`` (depth in two 8-bit channels,
  see :data:`DEPTH_MAX_M`).
- Joints: 0-20 left hand, 21-41 right hand; per hand the wrist, then thumb, index, middle, ring,
  little, each from the TIP to the MCP (:data:`RHD_TO_CANONICAL`).

Which hand a sample is (``hands="dominant"``, the default): RHD frames show up to two hands, the
single-hand papers here (RCSF, ResUnet-style 2D/3D) use one hand per frame, and we pick it as
ColorHandPose3D (Zimmermann & Brox's own loader, ``BinaryDbReader``) does: the hand with more
pixels in the segmentation mask (left if ``n_left > n_right``, else right). ``hands="both"`` gives
the two-hand layout (``common.TWO_HAND_ORDER``, ``hand_valid`` = the hand has pixels in the mask),
for InterNet-style models (MS-FF, InterNet+).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    TWO_HAND_ORDER,
    SampleSequence,
    bbox_from_keypoints,
    cached_arrays,
    check_split,
    in_frame,
    read_image,
    read_raw_image,
    require_files,
)
from handlib.skeleton import reorder

#: RHD per-hand joint order → canonical (source index of each canonical joint). Source: RHD README
#: ("0: wrist, 1: thumb tip, 2: thumb dip, 3: thumb pip, 4: thumb mcp, 5: index tip, ... 20: pinky
#: mcp", repeated for the right hand at 21-41); MMPose's rhd2d metainfo notes the same tip-first order.
RHD_TO_CANONICAL: tuple[int, ...] = (
    0,
    4, 3, 2, 1,  # thumb MCP..TIP
    8, 7, 6, 5,  # index
    12, 11, 10, 9,  # middle
    16, 15, 14, 13,  # ring
    20, 19, 18, 17,  # little
)
#: Offset of each hand's 21 joints in RHD's 42 (README: left 0-20, right 21-41).
HAND_OFFSET = {"left": 0, "right": 21}
#: Mask labels per hand (README; ColorHandPose3D: left = 2..17, right >= 18).
MASK_LEFT = (2, 17)
MASK_RIGHT = (18, 33)
#: Depth PNG: metres = (R * 2**8 + G) / (2**16 - 1) * DEPTH_MAX_M (``view_samples.py``,
#: ``depth_two_uint8_to_float(top_bits=R, bottom_bits=G)``).
DEPTH_MAX_M = 5.0

SET_DIRS = {"train": "training", "test": "evaluation"}
OFFICIAL_SIZES = {"train": 41_258, "test": 2_728}
#: RCSF (§4, "Dataset and Evaluation Metrics"): 38,530 training, 2,728 validation, 2,728 test
#: images. The paper does not say which training images it held out; we hold out a fixed random
#: subset (seed below) of the official training set, and test on the official evaluation set.
RCSF_VAL_SIZE = 2_728
RCSF_VAL_SEED = 0

INFO = DatasetInfo(
    name="rhd",
    title="Rendered Handpose Dataset (RHD)",
    modality="rgb+depth",
    resolution=(320, 320),
    num_joints=42,
    joint_order_source="RHD README (RHD_published_v2/README): per hand wrist, then thumb..little "
    "each tip→MCP; left hand 0-20, right hand 21-41",
    units="xyz in metres (converted to mm), uv in pixels, depth PNG in two 8-bit channels (0-5 m)",
    splits={
        "train": OFFICIAL_SIZES["train"],
        "test": OFFICIAL_SIZES["test"],
        "rcsf_train": OFFICIAL_SIZES["train"] - RCSF_VAL_SIZE,
        "rcsf_val": RCSF_VAL_SIZE,
        "rcsf_test": OFFICIAL_SIZES["test"],
    },
    split_source="train/test: the published training (41,258) and evaluation (2,728) sets; "
    "rcsf_*: RCSF §4 (38,530/2,728/2,728), validation = a seeded random subset of training "
    "(the paper does not name it), test = the evaluation set",
    licence="research use only (see the dataset page)",
    url="https://lmb.informatik.uni-freiburg.de/resources/datasets/RenderedHandposeDataset.en.html",
    layout="""RHD_published_v2/            <- data_root
  training/anno_training.pickle
  training/color/00000.png ... 41257.png
  training/mask/00000.png ...    training/depth/00000.png ...
  evaluation/anno_evaluation.pickle
  evaluation/color/00000.png ... 02727.png
  evaluation/mask/...            evaluation/depth/...""",
    papers=("rcsf", "msff", "internet_plus"),
    hands="single+two",
)


def _anno_path(root: Path, set_dir: str) -> Path:
    return root / set_dir / f"anno_{set_dir}.pickle"


def set_dirs_of(split: str | None) -> list[str]:
    """The published set folders a split reads (every one for ``None``)."""
    if split is None:
        return list(SET_DIRS.values())
    return [SET_DIRS["test" if split in ("test", "rcsf_test") else "train"]]


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: the whole dataset): train, rcsf_train and rcsf_val read
    ``training/``, test and rcsf_test ``evaluation/``, so an evaluation-only copy opens the test
    splits and names the training files only when a training split is asked for."""
    check_split(INFO, split)
    root = Path(root)
    expected = []
    for set_dir in set_dirs_of(split):
        expected += [
            f"{set_dir}/anno_{set_dir}.pickle",
            f"{set_dir}/color",
            f"{set_dir}/mask",
        ]
    require_files(root, expected, INFO, split)


def _load_annotations(root: Path, set_dir: str) -> dict[str, np.ndarray]:
    path = _anno_path(root, set_dir)

    def build() -> dict[str, np.ndarray]:
        try:
            with open(path, "rb") as handle:
                anno = pickle.load(handle, encoding="latin1")
            ids = np.array(sorted(anno), dtype=np.int64)
            xyz = np.stack([np.asarray(anno[i]["xyz"], dtype=np.float64) for i in ids])
            uv_vis = np.stack([np.asarray(anno[i]["uv_vis"], dtype=np.float64) for i in ids])
            K = np.stack([np.asarray(anno[i]["K"], dtype=np.float64) for i in ids])
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError) as error:
            raise CorruptFileError(f"cannot read RHD annotations {path}: {error!r}") from error
        if xyz.shape[1:] != (42, 3) or uv_vis.shape[1:] != (42, 3) or K.shape[1:] != (3, 3):
            raise CorruptFileError(
                f"{path}: expected xyz (42,3), uv_vis (42,3), K (3,3) per sample, got "
                f"{xyz.shape[1:]}, {uv_vis.shape[1:]}, {K.shape[1:]}"
            )
        return {"ids": ids, "xyz": xyz, "uv_vis": uv_vis, "K": K}

    return cached_arrays("rhd-" + set_dir, [path], build)


def _split_rows(n: int, split: str) -> np.ndarray:
    """Rows of the set's (id-sorted) annotation arrays that form ``split``."""
    if not split.startswith("rcsf_"):
        return np.arange(n)
    if split == "rcsf_test":
        return np.arange(n)
    # Proportional for partial copies; exactly RCSF_VAL_SIZE for the full 41,258-image set.
    n_val = int(round(n * RCSF_VAL_SIZE / OFFICIAL_SIZES["train"]))
    val = np.sort(np.random.default_rng(RCSF_VAL_SEED).permutation(n)[:n_val])
    if split == "rcsf_val":
        return val
    return np.setdiff1d(np.arange(n), val)


def decode_depth(png: np.ndarray) -> np.ndarray:
    """RHD's two-channel depth PNG (H, W, >=2 uint8) → depth in mm (float32)."""
    top, bottom = png[..., 0].astype(np.float64), png[..., 1].astype(np.float64)
    return ((top * 2**8 + bottom) / (2**16 - 1) * DEPTH_MAX_M * 1000.0).astype(np.float32)


def dominant_side(mask: np.ndarray) -> str:
    """ColorHandPose3D's rule: the hand with more mask pixels (left only if strictly more)."""
    n_left = np.count_nonzero((mask >= MASK_LEFT[0]) & (mask <= MASK_LEFT[1]))
    n_right = np.count_nonzero(mask >= MASK_RIGHT[0])
    return "left" if n_left > n_right else "right"


class RHDSplit(SampleSequence):
    def __init__(self, root: Path, split: str, hands: str = "dominant", depth: bool = False):
        if hands not in ("dominant", "both"):
            raise ValueError(f"hands must be 'dominant' or 'both', got {hands!r}")
        self.root = Path(root)
        (self.set_dir,) = set_dirs_of(split)
        self.split, self.hands, self.depth = split, hands, depth
        self.anno = _load_annotations(self.root, self.set_dir)
        self.rows = _split_rows(len(self.anno["ids"]), split)

    def __len__(self) -> int:
        return len(self.rows)

    def _hand(self, row: int, side: str, width: int, height: int) -> dict:
        sl = slice(HAND_OFFSET[side], HAND_OFFSET[side] + 21)
        uv_vis = reorder(self.anno["uv_vis"][row, sl], RHD_TO_CANONICAL)
        kp3d = reorder(self.anno["xyz"][row, sl], RHD_TO_CANONICAL) * 1000.0  # m → mm
        kp2d = uv_vis[:, :2]
        visible = uv_vis[:, 2] > 0.5
        framed = in_frame(kp2d, width, height)
        occlusion = np.where(visible, "none", np.where(framed, "occluded", "out_of_frame"))
        return {
            "kp2d": kp2d.astype(np.float32),
            "kp3d": kp3d.astype(np.float32),
            "visible": visible,
            "occlusion": occlusion,
        }

    def _sample(self, index: int) -> dict:
        row = int(self.rows[index])
        sample_id = int(self.anno["ids"][row])
        name = f"{sample_id:05d}.png"
        image = read_image(self.root / self.set_dir / "color" / name)
        mask = read_raw_image(self.root / self.set_dir / "mask" / name)
        if mask.ndim == 3:
            mask = mask[..., 0]
        height, width = image.shape[:2]
        sample = {"image": image, "K": self.anno["K"][row].astype(np.float32)}
        meta = {"dataset": "rhd", "id": sample_id, "set": self.set_dir, "visibility_labelled": True}
        if self.hands == "dominant":
            side = dominant_side(mask)
            hand = self._hand(row, side, width, height)
            sample.update(
                kp2d=hand["kp2d"], kp3d=hand["kp3d"], visible=hand["visible"], side=side,
                bbox=bbox_from_keypoints(hand["kp2d"]),
            )
            meta["occlusion"] = hand["occlusion"]
        else:
            hands = [self._hand(row, side, width, height) for side in TWO_HAND_ORDER]
            pixels = {
                "left": np.count_nonzero((mask >= MASK_LEFT[0]) & (mask <= MASK_LEFT[1])),
                "right": np.count_nonzero(mask >= MASK_RIGHT[0]),
            }
            hand_valid = np.array([pixels[side] > 0 for side in TWO_HAND_ORDER])
            kp2d = np.stack([h["kp2d"] for h in hands])
            sample.update(
                kp2d=kp2d,
                kp3d=np.stack([h["kp3d"] for h in hands]),
                visible=np.stack([h["visible"] for h in hands]),
                side=np.array(TWO_HAND_ORDER),
                hand_valid=hand_valid,
                bbox=bbox_from_keypoints(kp2d[hand_valid]),
            )
            meta["occlusion"] = np.stack([h["occlusion"] for h in hands])
        if self.depth:
            sample["depth"] = decode_depth(read_raw_image(self.root / self.set_dir / "depth" / name))
        sample["meta"] = meta
        return sample


def open_split(root: Path, split: str, hands: str = "dominant", depth: bool = False) -> RHDSplit:
    """Samples of ``split``; ``hands``: "dominant" (one hand, see module doc) or "both";
    ``depth=True`` adds ``depth`` (H, W) float32 mm decoded from the depth PNG."""
    if split not in INFO.splits:
        raise ValueError(f"RHD has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return RHDSplit(Path(root), split, hands=hands, depth=depth)
