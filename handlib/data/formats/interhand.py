"""InterHand2.6M (Moon et al., ECCV 2020): single and interacting hands, 5 fps and 30 fps releases.

Native format (the dataset's README and its authors' loader ``data/InterHand2.6M/dataset.py``):

- per split, three JSON files ``InterHand2.6M_<split>_data.json`` (COCO style: ``images`` with
  ``file_name``, ``width``, ``height``, ``capture``, ``camera``, ``frame_idx``; ``annotations``
  with ``bbox`` (x, y, w, h), ``joint_valid`` (42), ``hand_type`` ``right|left|interacting`` and
  ``hand_type_valid``), ``..._camera.json`` (``capture -> {campos, camrot, focal, princpt} ->
  camera -> value``, mm and pixels) and ``..._joint_3d.json`` (``capture -> frame_idx ->
  {world_coord (42, 3) mm, ...}``);
- world → camera: ``x_cam = camrot (x_world − campos)`` (the authors' ``world2cam``); pixels by
  pinhole projection with ``focal`` and ``princpt``;
- joints 0-20 right hand, 21-41 left hand; per hand thumb, index, middle, ring, pinky each tip →
  base (``thumb4`` … ``thumb1``), then the wrist (``annotations/skeleton.txt``;
  :data:`INTERHAND_TO_CANONICAL`).

Every sample uses the two-hand layout (``common.TWO_HAND_ORDER`` = right, left): ``kp2d``
(2, 21, 2), ``kp3d`` (2, 21, 3), ``visible`` (2, 21), ``hand_valid`` (2,), single-hand frames
included (the absent hand has ``hand_valid`` False), so batches of any frames collate. As the
authors' loader does, a hand's joints count as valid only if its wrist is valid; ``hand_valid``
is "``hand_type`` names this hand and its wrist is valid". ``bbox`` is the annotated box
(image level). InterHand2.6M has no visibility labels: ``visible`` means annotated, and
``labelled`` is the same mask, so a joint with ``joint_valid`` 0 is neither a target nor scored.

Three arrangements are recognised (first match wins), so one loader serves the official releases
and MMPose's copies: ``annotations/<split>/`` (v1.0, 5 fps and 30 fps), ``annotations/all/``
(the first 5 fps release), each with images under ``images/<split>/<file_name>``; and the flat
``<split>_interhand2.6m_{data,camera,joint_3d}.json`` with images beside them (MMPose test data).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlib.data.formats import CorruptFileError, DatasetInfo
from handlib.data.formats.common import (
    TWO_HAND_ORDER,
    SampleSequence,
    cached_arrays,
    check_split,
    intrinsics,
    layout_error,
    project,
    read_image,
    read_json,
    split_note,
)
from handlib.skeleton import reorder

#: InterHand2.6M per-hand order → canonical. Source: ``annotations/skeleton.txt`` (r_thumb4 0,
#: r_thumb3 1, r_thumb2 2, r_thumb1 3, r_index4 4, ..., r_pinky1 19, r_wrist 20; left = +21).
INTERHAND_TO_CANONICAL: tuple[int, ...] = (
    20,
    3, 2, 1, 0,  # thumb MCP..TIP
    7, 6, 5, 4,  # index
    11, 10, 9, 8,  # middle
    15, 14, 13, 12,  # ring
    19, 18, 17, 16,  # little
)
HAND_OFFSET = {"right": 0, "left": 21}
HAND_TYPES = ("right", "left", "interacting")

INFO = DatasetInfo(
    name="interhand26m",
    title="InterHand2.6M",
    modality="rgb",
    resolution=(334, 512),
    num_joints=42,
    joint_order_source="InterHand2.6M annotations/skeleton.txt: right hand 0-20, left 21-41; per "
    "hand thumb..pinky each tip→base, wrist last",
    units="world and camera coordinates in mm, pixels for images",
    splits={"train": 1_361_062, "val": 380_125, "test": 849_160},
    split_source="official train/val/test; sizes of the 30 fps release as InterNet+ §5.1.3 states "
    "them (2,590,347 frames); the 5 fps release (used by InterNet+) is a subset with the same splits",
    licence="CC BY-NC 4.0",
    url="https://mks0601.github.io/InterHand2.6M/",
    layout="""InterHand2.6M_5fps_batch1/  (or the 30 fps release)   <- data_root
  annotations/train/InterHand2.6M_train_data.json
  annotations/train/InterHand2.6M_train_camera.json
  annotations/train/InterHand2.6M_train_joint_3d.json
  annotations/val/...   annotations/test/...
  images/train/Capture0/<sequence>/cam400002/image0004.jpg ...
  images/val/...   images/test/...
(the first 5 fps release's annotations/all/InterHand2.6M_<split>_*.json is read too, and so is
MMPose's flat <split>_interhand2.6m_{data,camera,joint_3d}.json with the images beside them)""",
    papers=("msff", "internet_plus"),
    hands="two",
)

KINDS = ("data", "camera", "joint_3d")


def _arrangements(root: Path, split: str) -> list[tuple[dict[str, Path], Path]]:
    """Candidate (annotation files, image folder) pairs, in order of preference."""
    official = lambda folder: {k: folder / f"InterHand2.6M_{split}_{k}.json" for k in KINDS}  # noqa: E731
    return [
        (official(root / "annotations" / split), root / "images" / split),
        (official(root / "annotations" / "all"), root / "images" / split),
        ({k: root / f"{split}_interhand2.6m_{k}.json" for k in KINDS}, root),
    ]


def _find(root: Path, split: str) -> tuple[dict[str, Path], Path]:
    for files, image_dir in _arrangements(root, split):
        if all(p.is_file() for p in files.values()):
            return files, image_dir
    tried = [str(p.relative_to(root)) for files, _ in _arrangements(root, split) for p in files.values()]
    raise layout_error(
        INFO, root, f"no complete set of {split} annotations; looked for " + ", ".join(tried)
    )


def check_layout(root: Path, split: str | None = None) -> None:
    """The files ``split`` needs (``None``: train, val and test): the split's three annotation
    files in one of the recognised arrangements and the folder its images are read from
    (``images/<split>/``, or the folder of MMPose's flat files)."""
    check_split(INFO, split)
    root = Path(root)
    if not root.is_dir():
        raise layout_error(INFO, root, "the folder does not exist")
    for name in INFO.splits if split is None else (split,):
        _, image_dir = _find(root, name)
        if not image_dir.is_dir():
            raise layout_error(
                INFO, root, f"missing {image_dir.relative_to(root).as_posix()}/ "
                f"(the {name} images){split_note(split)}"
            )


def _parse(files: dict[str, Path]) -> dict[str, np.ndarray]:
    data, cameras, joints = (read_json(files[k]) for k in KINDS)
    try:
        images = {image["id"]: image for image in data["images"]}
        cam_keys: dict[tuple[str, str], int] = {}
        frame_keys: dict[tuple[str, str], int] = {}
        rows = []
        for ann in data["annotations"]:
            image = images[ann["image_id"]]
            capture, camera, frame = str(image["capture"]), str(image["camera"]), str(image["frame_idx"])
            cam_index = cam_keys.setdefault((capture, camera), len(cam_keys))
            frame_index = frame_keys.setdefault((capture, frame), len(frame_keys))
            rows.append((image, ann, cam_index, frame_index))
        cam_R = np.zeros((len(cam_keys), 3, 3))
        cam_pos = np.zeros((len(cam_keys), 3))
        cam_K = np.zeros((len(cam_keys), 3, 3))
        for (capture, camera), i in cam_keys.items():
            c = cameras[capture]
            cam_R[i] = np.asarray(c["camrot"][camera], dtype=np.float64)
            cam_pos[i] = np.asarray(c["campos"][camera], dtype=np.float64)
            cam_K[i] = intrinsics(*c["focal"][camera], *c["princpt"][camera])
        world = np.zeros((len(frame_keys), 42, 3), dtype=np.float32)
        for (capture, frame), i in frame_keys.items():
            world[i] = np.asarray(joints[capture][frame]["world_coord"], dtype=np.float32)
        return {
            "image_id": np.array([r[0]["id"] for r in rows], dtype=np.int64),
            "file_name": np.array([r[0]["file_name"].encode() for r in rows], dtype=np.bytes_),
            "size": np.array([(r[0]["width"], r[0]["height"]) for r in rows], dtype=np.int32),
            "capture": np.array([int(r[0]["capture"]) for r in rows], dtype=np.int32),
            "camera": np.array([str(r[0]["camera"]).encode() for r in rows], dtype=np.bytes_),
            "frame_idx": np.array([int(r[0]["frame_idx"]) for r in rows], dtype=np.int64),
            "bbox": np.array([r[1]["bbox"] for r in rows], dtype=np.float32).reshape(-1, 4),
            "joint_valid": np.array(
                [np.asarray(r[1]["joint_valid"]).reshape(42) for r in rows], dtype=bool
            ).reshape(-1, 42),
            "hand_type": np.array([HAND_TYPES.index(r[1]["hand_type"]) for r in rows], dtype=np.int8),
            "hand_type_valid": np.array([int(r[1]["hand_type_valid"]) for r in rows], dtype=np.int8),
            "cam_index": np.array([r[2] for r in rows], dtype=np.int32),
            "frame_index": np.array([r[3] for r in rows], dtype=np.int32),
            "cam_R": cam_R,
            "cam_pos": cam_pos,
            "cam_K": cam_K,
            "world": world,
        }
    except (KeyError, TypeError, ValueError, IndexError) as error:
        names = ", ".join(str(p) for p in files.values())
        raise CorruptFileError(
            f"InterHand2.6M annotations inconsistent or malformed ({names}): missing or bad {error!r}"
        ) from error


def world_to_camera(world: np.ndarray, R: np.ndarray, campos: np.ndarray) -> np.ndarray:
    """World points (..., 3) mm → camera frame: R (x − campos) (the authors' ``world2cam``)."""
    return (np.asarray(world, dtype=np.float64) - campos) @ np.asarray(R).T


class InterHandSplit(SampleSequence):
    def __init__(self, root: Path, split: str):
        self.root, self.split = Path(root), split
        files, self.image_dir = _find(self.root, split)
        self.anno = cached_arrays(
            f"interhand-{split}", [files[k] for k in KINDS], lambda: _parse(files)
        )

    def __len__(self) -> int:
        return len(self.anno["image_id"])

    def _sample(self, index: int) -> dict:
        a = self.anno
        file_name = a["file_name"][index].decode()
        cam = int(a["cam_index"][index])
        K = a["cam_K"][cam]
        world = a["world"][a["frame_index"][index]]
        kp3d_42 = world_to_camera(world, a["cam_R"][cam], a["cam_pos"][cam])
        valid_42 = a["joint_valid"][index]
        hand_type = HAND_TYPES[a["hand_type"][index]]
        kp3d, visible, hand_valid = [], [], []
        for side in TWO_HAND_ORDER:
            sl = slice(HAND_OFFSET[side], HAND_OFFSET[side] + 21)
            hand_kp = reorder(kp3d_42[sl], INTERHAND_TO_CANONICAL)
            hand_vis = reorder(valid_42[sl, None], INTERHAND_TO_CANONICAL)[:, 0]
            present = hand_type in (side, "interacting") and bool(hand_vis[0])
            kp3d.append(hand_kp)
            visible.append(hand_vis & present)
            hand_valid.append(present)
        kp3d = np.stack(kp3d)
        image = read_image(self.image_dir / file_name)
        return {
            "image": image,
            "kp2d": project(kp3d, K).astype(np.float32),
            "kp3d": kp3d.astype(np.float32),
            "visible": np.stack(visible),
            # a joint whose joint_valid is 0 has no annotation: neither trained on nor scored
            "labelled": np.stack(visible),
            "hand_valid": np.array(hand_valid),
            "K": K.astype(np.float32),
            "side": np.array(TWO_HAND_ORDER),
            "bbox": a["bbox"][index],
            "meta": {
                "dataset": "interhand26m",
                "id": int(a["image_id"][index]),
                "file_name": file_name,
                "capture": int(a["capture"][index]),
                "camera": a["camera"][index].decode(),
                "frame_idx": int(a["frame_idx"][index]),
                "hand_type": hand_type,
                "hand_type_valid": bool(a["hand_type_valid"][index]),
                "visibility_labelled": False,
                "occlusion": None,
            },
        }


def open_split(root: Path, split: str) -> InterHandSplit:
    """Two-hand samples of ``split`` ("train", "val", "test"); see the module doc for the layout."""
    if split not in INFO.splits:
        raise ValueError(f"InterHand2.6M has no split {split!r}; its splits are {', '.join(INFO.splits)}")
    check_layout(root, split)
    return InterHandSplit(Path(root), split)
