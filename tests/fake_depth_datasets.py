"""Tiny copies of the four depth datasets in their native formats, with known values, for tests.

Each writer returns the values it wrote so tests can check the loaded samples field by field.
The NYU and ICVL frames hold the hand's depth around its projected joints (a depth crop around
the labels sees a surface, not only background); :func:`write_crossinfonet_data_root` writes
the three folders the CrossInfoNet ``paper`` profile reads, each split large enough to train on.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import scipy.io

from handlib.data.formats import icvl, msra, nyu


def hand_xyz(rng: np.random.Generator, joints: int, z: float) -> np.ndarray:
    """(joints, 3) points of a hand-sized cloud about ``z`` mm in front of the camera (y down)."""
    return np.array([0.0, 0.0, z]) + rng.uniform(-60, 60, size=(joints, 3))


def depth_ramp(height: int, width: int, start: float) -> np.ndarray:
    """A known depth image in mm: every pixel different, above 255 so both bytes matter."""
    return start + np.arange(height * width, dtype=np.float64).reshape(height, width) % 997


def paint_hand(depth: np.ndarray, uv: np.ndarray, z: float, margin: int = 8) -> np.ndarray:
    """``depth`` with the box around the joints' pixels ``uv`` (plus ``margin``) set to a known
    surface within 20 mm of ``z``: where a depth crop around the labels looks, it sees a hand."""
    height, width = depth.shape
    left, top = np.clip(np.floor(uv.min(axis=0)).astype(int) - margin, 0, [width, height])
    right, bottom = np.clip(np.ceil(uv.max(axis=0)).astype(int) + margin, 0, [width, height])
    box = depth[top:bottom, left:right]
    box[:] = z - 20 + np.arange(box.size).reshape(box.shape) % 40
    return depth


# ----------------------------------------------------------------------------------------- NYU
def write_nyu(root: Path, frames: dict[str, int] = None, seed: int = 0) -> dict:
    """train/ and test/ (``frames``: split -> frame count) with joint_data.mat (3 views) and
    view-1 depth PNGs (G*256+B): the hand about 700 mm away on a background ramp."""
    frames = frames or {"train": 2, "test": 1}
    rng = np.random.default_rng(seed)
    written = {}
    for split, count in frames.items():
        folder = root / split
        folder.mkdir(parents=True)
        xyz_cam = np.stack([hand_xyz(rng, 36, 700.0) for _ in range(count)])  # y down
        xyz_file = xyz_cam * np.array([1.0, -1.0, 1.0])  # NYU stores y up
        fx, fy, cx, cy = nyu.EVAL_INTRINSICS
        uvd = np.stack(
            [
                fx * xyz_file[..., 0] / xyz_file[..., 2] + cx,
                fy * xyz_file[..., 1] / xyz_file[..., 2] + cy,  # fy < 0: v = 240 - 587.07 y/z
                xyz_file[..., 2],
            ],
            axis=-1,
        )
        views_uvd = np.stack([uvd, uvd + 1000.0, uvd + 2000.0])  # views 2, 3 must not be read
        views_xyz = np.stack([xyz_file, xyz_file + 1000.0, xyz_file + 2000.0])
        names = np.empty((1, 36), dtype=object)
        names[0, :] = list(nyu.JOINT_NAMES)
        scipy.io.savemat(
            folder / "joint_data.mat",
            {"joint_names": names, "joint_uvd": views_uvd, "joint_xyz": views_xyz},
        )
        depths = []
        for i in range(count):
            depth = paint_hand(depth_ramp(480, 640, 900.0 + i), uvd[i, :, :2], 700.0)
            depth = depth.astype(np.uint16)
            image = np.zeros((480, 640, 3), dtype=np.uint8)  # B, G, R as cv2 writes them
            image[..., 0] = depth & 0xFF
            image[..., 1] = depth >> 8
            image[..., 2] = 77  # R carries nothing; the decoder must ignore it
            assert cv2.imwrite(str(folder / nyu.depth_file(i)), image)
            depths.append(depth.astype(np.float32))
        written[split] = {"xyz_cam": xyz_cam, "uvd": uvd, "depth": depths}
    return written


# ---------------------------------------------------------------------------------------- ICVL
def icvl_names(genuine: int = 1, rotated: int = 1, per_sequence: int = 1) -> dict[str, list[str]]:
    """Label file -> the image paths it lists, as ICVL names them: ``genuine`` frames of a
    recording (a long folder name) then ``rotated`` in-plane rotated copies (folder "45") in
    Training/labels.txt, ``per_sequence`` frames in each Testing/test_seq_*.txt."""
    return {
        "Training/labels.txt": [f"201403121135/image_{k:04d}.png" for k in range(genuine)]
        + [f"45/image_{k:04d}.png" for k in range(rotated)],
        **{f"Testing/{sequence}.txt": [f"{sequence}/image_{k:04d}.png" for k in range(per_sequence)]
           for sequence in icvl.TEST_SEQUENCES},
    }


ICVL_TRAIN = icvl_names()["Training/labels.txt"]  # genuine, rotated copy


def _icvl_line(name: str, uvd: np.ndarray) -> str:
    return name + " " + " ".join(f"{v:.3f}" for v in uvd.ravel()) + " \n"


def write_icvl(root: Path, genuine: int = 1, rotated: int = 1, per_sequence: int = 1,
               seed: int = 0) -> dict:
    """Training/ and Testing/ as published (:func:`icvl_names`), the hand about 350 mm away on
    a background ramp; image path -> its ``uvd`` labels and ``depth``."""
    rng = np.random.default_rng(seed)
    c = icvl.CAMERA
    written = {}
    for label_file, names in icvl_names(genuine, rotated, per_sequence).items():
        lines = []
        for k, name in enumerate(names):
            xyz = hand_xyz(rng, 16, 350.0)
            uvd = np.stack(
                [c.fx * xyz[:, 0] / xyz[:, 2] + c.cx, c.fy * xyz[:, 1] / xyz[:, 2] + c.cy, xyz[:, 2]],
                axis=-1,
            )
            uvd = np.round(uvd, 3)
            lines.append(_icvl_line(name, uvd))
            path = root / Path(label_file).parent / "Depth" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            depth = paint_hand(depth_ramp(240, 320, 600.0 + 10 * k), uvd[:, :2], 350.0)
            depth = depth.astype(np.uint16)
            depth[0, 0] = 32001  # ICVL's "no reading"
            assert cv2.imwrite(str(path), depth)
            written[name] = {"uvd": uvd, "depth": depth}
        (root / label_file).write_text("".join(lines))
    return written


# ---------------------------------------------------------------------------------------- MSRA
def write_msra_bin(path: Path, depth: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """The readme's format: 6 int32 (width, height, left, top, right, bottom), float32 crop."""
    left, top, right, bottom = box
    height, width = depth.shape
    header = np.array([width, height, left, top, right, bottom], dtype="<i4").tobytes()
    path.write_bytes(header + depth[top:bottom, left:right].astype("<f4").tobytes())


def write_msra(root: Path, frames_per_gesture: int = 1, gestures: tuple[str, ...] = msra.GESTURES,
               seed: int = 0) -> dict:
    """All 9 subjects × 17 gestures with joint.txt; ``frames_per_gesture`` frames (depth .bin
    files) in each of ``gestures``, none in the others (their joint.txt lists 0 frames)."""
    rng = np.random.default_rng(seed)
    written = {}
    for subject in msra.SUBJECTS:
        for gesture in msra.GESTURES:
            folder = root / subject / gesture
            folder.mkdir(parents=True)
            count = frames_per_gesture if gesture in gestures else 0
            xyz_cam = np.array([hand_xyz(rng, 21, 400.0) for _ in range(count)]).reshape(count, 21, 3)
            xyz_file = np.round(xyz_cam * np.array([1.0, -1.0, -1.0]), 4)  # y up, z negative
            rows = [" ".join(f"{v:.4f}" for v in frame.ravel()) for frame in xyz_file]
            (folder / "joint.txt").write_text(f"{count}\n" + "\n".join(rows) + "\n")
            for i in range(count):
                depth = np.zeros((240, 320), dtype=np.float32)
                box = (100 + i, 50, 180 + i, 140)
                depth[50:140, 100 + i:180 + i] = 300.0 + rng.uniform(0, 100, size=(90, 80))
                write_msra_bin(folder / f"{i:06d}_depth.bin", depth, box)
                written[f"{subject}/{gesture}/{i:06d}"] = {
                    "xyz_cam": xyz_file[i] * np.array([1.0, -1.0, -1.0]),
                    "depth": depth,
                    "box": box,
                }
    return written


# ----------------------------------------------------------------------------------- HANDS2017
def write_hands2017(root: Path, count: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images = root / "training" / "images"
    images.mkdir(parents=True)
    (root / "frame" / "images").mkdir(parents=True)
    lines, written = [], {}
    for i in range(count):
        name = f"image_D{i + 1:08d}.png"
        xyz = np.round(hand_xyz(rng, 21, 500.0), 4)
        lines.append(name + "\t" + "\t".join(f"{v:.4f}" for v in xyz.ravel()) + "\n")
        depth = depth_ramp(480, 640, 300.0 + i).astype(np.uint16)
        assert cv2.imwrite(str(images / name), depth)
        written[name] = {"xyz": xyz, "depth": depth}
    (root / "training" / "Training_Annotation.txt").write_text("".join(lines))
    return written


# --------------------------------------------------------------------------------- CrossInfoNet
def write_crossinfonet_data_root(root: Path) -> Path:
    """The data_root of the CrossInfoNet ``paper`` profile: ICVL/, NYU/ and MSRA/, each split
    large enough for the profile's runs (a training split of six frames holds out one for
    validation, ``handlib.data.formats.held_out_rows``). MSRA holds a frame of two gestures per
    subject (16 training and 2 test frames per leave-one-subject-out fold): its nine folds each
    train a model."""
    write_icvl(root / "ICVL", genuine=6, rotated=1, per_sequence=2)
    write_nyu(root / "NYU", frames={"train": 6, "test": 4})
    write_msra(root / "MSRA", gestures=msra.GESTURES[:2])
    return root
