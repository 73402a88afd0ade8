"""FreiHAND (Zimmermann et al., ICCV 2019), as published in ``FreiHAND_pub_v2``.

Native format (the dataset's README and its authors' ``utils/fh_utils.py``):

- ``training_xyz.json`` (32,560 x 21 x 3, metres, camera frame) and ``training_K.json``
  (32,560 x 3 x 3); ``training/rgb/%08d.jpg`` holds 130,240 224x224 images, four versions of every
  annotated frame (green-screen, homogenised, sample and auto backgrounds): image ``i`` shows
  annotation ``i mod 32,560`` (``fh_utils.sample_version``);
- ``evaluation/rgb/%08d.jpg`` (3,960) with ``evaluation_K.json`` and, from the evaluation
  annotation release (``FreiHAND_pub_v2_eval``), ``evaluation_xyz.json``;
- joints: wrist, then thumb, index, middle, ring, little each MCP → tip, i.e. already the
  canonical order (:data:`FREIHAND_TO_CANONICAL`); every hand is a right hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    SampleSequence,
    bbox_from_keypoints,
    cached_arrays,
    check_split,
    layout_error,
    project,
    read_image,
    read_json,
    require_files,
)
from handlib.skeleton import reorder

#: FreiHAND order → canonical: identity. Source: FreiHAND ``fh_utils.plot_hand`` bone list
#: (0 wrist; 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 pinky, each from the palm out).
FREIHAND_TO_CANONICAL: tuple[int, ...] = tuple(range(21))
#: Background versions, in the order they are stacked in ``training/rgb`` (``fh_utils``).
VERSIONS = ("gs", "hom", "sample", "auto")
ANNOTATED_TRAINING_FRAMES = 32_560
SET = {"train": "training", "evaluation": "evaluation"}

INFO = DatasetInfo(
    name="freihand",
    title="FreiHAND",
    modality="rgb",
    resolution=(224, 224),
    num_joints=21,
    joint_order_source="FreiHAND fh_utils.plot_hand: wrist, thumb..little each MCP→tip (canonical)",
    units="xyz in metres (converted to mm), pixels",
    splits={"train": len(VERSIONS) * ANNOTATED_TRAINING_FRAMES, "evaluation": 3_960},
    split_source="the published training set (32,560 frames x 4 backgrounds) and evaluation set",
    licence="research only (see the dataset page)",
    url="https://lmb.informatik.uni-freiburg.de/resources/datasets/FreihandDataset.en.html",
    layout="""FreiHAND_pub_v2/               <- data_root
  training_xyz.json  training_K.json
  training/rgb/00000000.jpg ... 00130239.jpg
  evaluation_xyz.json  evaluation_K.json   (evaluation_xyz.json from FreiHAND_pub_v2_eval.zip)
  evaluation/rgb/00000000.jpg ... 00003959.jpg""",
    papers=(),
)


def split_files(split: str) -> list[str]:
    """What ``split`` reads: its ``<set>_xyz.json``, ``<set>_K.json`` and ``<set>/rgb/``."""
    set_name = SET[split]
    return [f"{set_name}_xyz.json", f"{set_name}_K.json", f"{set_name}/rgb"]


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: both sets): train the ``training_*`` files, evaluation
    the ``evaluation_*`` files (``evaluation_xyz.json`` comes in FreiHAND_pub_v2_eval.zip)."""
    check_split(INFO, split)
    expected = [f for name in (INFO.splits if split is None else (split,)) for f in split_files(name)]
    require_files(root, expected, INFO, split)


def _load(root: Path, set_name: str) -> dict[str, np.ndarray]:
    files = [root / f"{set_name}_xyz.json", root / f"{set_name}_K.json"]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise layout_error(INFO, root, "missing " + ", ".join(missing))

    def build() -> dict[str, np.ndarray]:
        xyz, K = (np.asarray(read_json(p), dtype=np.float64) for p in files)
        if xyz.ndim != 3 or xyz.shape[1:] != (21, 3) or K.shape != (len(xyz), 3, 3):
            raise CorruptFileError(
                f"{files[0]} / {files[1]}: expected (N, 21, 3) and (N, 3, 3), got {xyz.shape}, {K.shape}"
            )
        return {"xyz": xyz, "K": K}

    return cached_arrays(f"freihand-{set_name}", files, build)


class FreiHANDSplit(SampleSequence):
    def __init__(self, root: Path, split: str):
        self.root, self.set_name = Path(root), SET[split]
        anno = _load(self.root, self.set_name)
        self.kp3d = (reorder(anno["xyz"], FREIHAND_TO_CANONICAL) * 1000.0).astype(np.float32)
        self.K = anno["K"].astype(np.float32)
        self.kp2d = project(self.kp3d, self.K).astype(np.float32)
        self.n_images = len(self.kp3d) * (len(VERSIONS) if split == "train" else 1)

    def __len__(self) -> int:
        return self.n_images

    def _sample(self, index: int) -> dict:
        row = index % len(self.kp3d)
        kp2d = self.kp2d[row]
        return {
            "image": read_image(self.root / self.set_name / "rgb" / f"{index:08d}.jpg"),
            "kp2d": kp2d,
            "kp3d": self.kp3d[row],
            "visible": np.ones(21, dtype=bool),
            "K": self.K[row],
            "side": "right",
            "bbox": bbox_from_keypoints(kp2d),
            "meta": {
                "dataset": "freihand",
                "id": index,
                "annotation": row,
                "version": VERSIONS[index // len(self.kp3d)] if self.set_name == "training" else "eval",
                "visibility_labelled": False,
                "occlusion": None,
            },
        }


def open_split(root: Path, split: str) -> FreiHANDSplit:
    if split not in INFO.splits:
        raise ValueError(f"FreiHAND has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return FreiHANDSplit(Path(root), split)
