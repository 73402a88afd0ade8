"""The COCO-style hand-keypoint JSON that MMPose users convert RHD and FreiHAND into.

Format (MMPose's ``rhd_{train,test}.json`` and ``freihand_{train,val,test}.json``, and the
``test_<dataset>.json`` files of MMPose's test data): ``images`` (``id``, ``file_name``,
``width``, ``height``; RHD adds ``cam_param = {focal: [fx, fy], princpt: [cx, cy]}``) and one
``annotations`` entry per image (``image_id``, ``bbox`` x, y, w, h, ``keypoints`` as 21 (x, y, v)
triples, nested or flat; RHD adds ``joint_cam`` (21, 3) mm and ``hand_type``).

Joint order is *not* what the file's ``categories`` names suggest for RHD: MMPose keeps each
dataset's own order (its ``rhd2d`` metainfo: "In RHD, 1-4: left thumb [tip to palm] ...", the
names being for visualisation only). The real RHD samples confirm it: the joint listed as
``thumb1`` lies farthest from the wrist. So RHD files are reordered with
``rhd.RHD_TO_CANONICAL`` and FreiHAND files with ``freihand.FREIHAND_TO_CANONICAL``.

Fields the file lacks are NaN: FreiHAND conversions carry no ``kp3d`` or ``K``. ``visible`` is
``v > 0``. ``side`` is the annotation's ``hand_type`` when present, else the dataset's only side
(FreiHAND: right). InterHand2.6M in MMPose keeps its official three-file layout, read by
``handlib.data.formats.interhand``.

Split names are ``<dataset>_<split>``; the JSON is looked for, in this order, at
``annotations/<dataset>_<split>.json`` and ``<dataset>/annotations/<dataset>_<split>.json``
(image ``file_name`` relative to the folder holding ``annotations/``), then
``<split>_<dataset>.json`` and ``<dataset>/<split>_<dataset>.json`` (images beside the JSON).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    SampleSequence,
    cached_arrays,
    check_split,
    intrinsics,
    layout_error,
    read_image,
    read_json,
)
from handlib.data.formats.freihand import FREIHAND_TO_CANONICAL
from handlib.data.formats.rhd import RHD_TO_CANONICAL
from handlib.skeleton import reorder

#: Source dataset → (its joint order → canonical table, the side when the file gives none).
SOURCES: dict[str, tuple[tuple[int, ...], str | None]] = {
    "rhd": (RHD_TO_CANONICAL, None),
    "freihand": (FREIHAND_TO_CANONICAL, "right"),
}

INFO = DatasetInfo(
    name="mmpose_coco",
    title="MMPose COCO-style hand keypoints (RHD, FreiHAND conversions)",
    modality="rgb",
    resolution=(320, 320),
    num_joints=21,
    joint_order_source="each source dataset's own order, kept by MMPose (rhd2d metainfo: RHD is "
    "tip-first; FreiHAND base-first); the categories' keypoint names are not the order",
    units="pixels; joint_cam in mm (RHD conversions only)",
    splits={
        "rhd_train": 41_258,
        "rhd_test": 2_728,
        "freihand_train": 104_192,
        "freihand_val": 13_024,
        "freihand_test": 13_024,
    },
    split_source="MMPose's annotation files: RHD = the official training/evaluation sets; "
    "FreiHAND = MMPose's 8:1:1 split of the 130,240 training images (counts as that ratio "
    "implies, all four background versions of a frame in the same split)",
    licence="that of the source dataset (RHD, FreiHAND)",
    url="https://mmpose.readthedocs.io/en/latest/dataset_zoo/2d_hand_keypoint.html",
    layout="""rhd/                            <- data_root (MMPose's data/rhd)
  annotations/rhd_train.json  annotations/rhd_test.json
  training/color/00000.png ...  evaluation/color/00000.png ...   (as file_name says)
freihand/                       <- data_root (MMPose's data/freihand)
  annotations/freihand_train.json  freihand_val.json  freihand_test.json
  training/rgb/00000000.jpg ...
or MMPose's test-data layout: <data_root>/<dataset>/test_<dataset>.json with the images beside it""",
    papers=("rcsf", "msff", "internet_plus"),
)


def _candidates(root: Path, dataset: str, part: str) -> list[tuple[Path, Path]]:
    """(JSON path, folder that image file_names are relative to), in order of preference."""
    name, flat = f"{dataset}_{part}.json", f"{part}_{dataset}.json"
    return [
        (root / "annotations" / name, root),
        (root / dataset / "annotations" / name, root / dataset),
        (root / flat, root),
        (root / dataset / flat, root / dataset),
    ]


def _split_parts(split: str) -> tuple[str, str]:
    dataset, _, part = split.partition("_")
    if dataset not in SOURCES or not part:
        raise ValueError(
            f"mmpose_coco split {split!r} is not <dataset>_<split> with dataset in {list(SOURCES)}"
        )
    return dataset, part


def _find(root: Path, split: str) -> tuple[Path, Path]:
    dataset, part = _split_parts(split)
    for json_path, image_root in _candidates(root, dataset, part):
        if json_path.is_file():
            return json_path, image_root
    tried = ", ".join(str(p) for p, _ in _candidates(root, dataset, part))
    raise layout_error(INFO, root, f"no annotation file for split {split!r}; looked for {tried}")


def check_layout(root: Path, split: str | None = None) -> None:
    """The file ``split`` needs: its annotation JSON in one of the recognised places. A data_root
    holds one source dataset's conversion (MMPose's data/rhd or data/freihand), so ``None``
    asks for the annotation file of at least one split, not of all five."""
    check_split(INFO, split)
    root = Path(root)
    if not root.is_dir():
        raise layout_error(INFO, root, "the folder does not exist")
    if split is not None:
        _find(root, split)  # raises, naming the split and the files looked for
        return
    found = [
        p for split in INFO.splits for p, _ in _candidates(root, *_split_parts(split)) if p.is_file()
    ]
    if not found:
        _find(root, "rhd_train")  # raises, listing what was looked for


def _parse(path: Path) -> dict[str, np.ndarray]:
    data = read_json(path)
    try:
        images = {image["id"]: image for image in data["images"]}
        rows = []
        for ann in data["annotations"]:
            image = images[ann["image_id"]]
            keypoints = np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)
            joint_cam = np.asarray(ann.get("joint_cam", np.full((21, 3), np.nan)), dtype=np.float64)
            cam = image.get("cam_param")
            K = intrinsics(*cam["focal"], *cam["princpt"]) if cam else np.full((3, 3), np.nan)
            rows.append((image, ann, keypoints, joint_cam.reshape(21, 3), K))
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(f"malformed COCO-style hand annotations in {path}: {error!r}") from error
    return {
        "id": np.array([r[1]["id"] for r in rows], dtype=np.int64),
        "image_id": np.array([r[0]["id"] for r in rows], dtype=np.int64),
        "file_name": np.array([r[0]["file_name"] for r in rows], dtype=np.str_),
        "bbox": np.array([r[1]["bbox"] for r in rows], dtype=np.float32).reshape(-1, 4),
        "keypoints": np.array([r[2] for r in rows]).reshape(-1, 21, 3),
        "joint_cam": np.array([r[3] for r in rows]).reshape(-1, 21, 3),
        "K": np.array([r[4] for r in rows]).reshape(-1, 3, 3),
        "hand_type": np.array([r[1].get("hand_type", "") for r in rows], dtype=np.str_),
    }


class MMPoseCocoSplit(SampleSequence):
    def __init__(self, root: Path, split: str):
        self.root, self.split = Path(root), split
        self.source, _ = _split_parts(split)
        self.json_path, self.image_root = _find(self.root, split)
        self.anno = cached_arrays(f"mmpose-{split}", [self.json_path], lambda: _parse(self.json_path))
        self.order, self.default_side = SOURCES[self.source]

    def __len__(self) -> int:
        return len(self.anno["id"])

    def _sample(self, index: int) -> dict:
        a = self.anno
        keypoints = reorder(a["keypoints"][index], self.order)
        side = str(a["hand_type"][index]) or self.default_side
        if side not in ("left", "right"):
            raise CorruptFileError(
                f"{self.json_path}: annotation {int(a['id'][index])} has no usable hand_type ({side!r})"
            )
        file_name = str(a["file_name"][index])
        return {
            "image": read_image(self.image_root / file_name),
            "kp2d": keypoints[:, :2].astype(np.float32),
            "kp3d": reorder(a["joint_cam"][index], self.order).astype(np.float32),
            "visible": keypoints[:, 2] > 0,
            "K": a["K"][index].astype(np.float32),
            "side": side,
            "bbox": a["bbox"][index],
            "meta": {
                "dataset": "mmpose_coco",
                "source": self.source,
                "id": int(a["id"][index]),
                "image_id": int(a["image_id"][index]),
                "file_name": file_name,
                "visibility_labelled": False,
                "occlusion": None,
            },
        }


def open_split(root: Path, split: str) -> MMPoseCocoSplit:
    if split not in INFO.splits:
        raise ValueError(f"mmpose_coco has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return MMPoseCocoSplit(Path(root), split)
