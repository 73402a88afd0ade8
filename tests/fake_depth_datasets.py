"""Tiny copies of the four depth datasets in their native formats, with known values, for tests.

Each writer returns the values it wrote so tests can check the loaded samples field by field.
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


# ----------------------------------------------------------------------------------------- NYU
def write_nyu(root: Path, frames: dict[str, int] = None, seed: int = 0) -> dict:
    """train/ and test/ with joint_data.mat (3 views) and view-1 depth PNGs (G*256+B)."""
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
            depth = depth_ramp(480, 640, 400.0 + 100 * i).astype(np.uint16)
            image = np.zeros((480, 640, 3), dtype=np.uint8)  # B, G, R as cv2 writes them
            image[..., 0] = depth & 0xFF
            image[..., 1] = depth >> 8
            image[..., 2] = 77  # R carries nothing; the decoder must ignore it
            assert cv2.imwrite(str(folder / nyu.depth_file(i)), image)
            depths.append(depth.astype(np.float32))
        written[split] = {"xyz_cam": xyz_cam, "uvd": uvd, "depth": depths}
    return written


# ---------------------------------------------------------------------------------------- ICVL
ICVL_TRAIN = ["201403121135/image_0000.png", "45/image_0000.png"]  # genuine, rotated copy


def _icvl_line(name: str, uvd: np.ndarray) -> str:
    return name + " " + " ".join(f"{v:.3f}" for v in uvd.ravel()) + " \n"


def write_icvl(root: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    c = icvl.CAMERA
    entries = {
        "Training/labels.txt": ICVL_TRAIN,
        "Testing/test_seq_1.txt": ["test_seq_1/image_0000.png"],
        "Testing/test_seq_2.txt": ["test_seq_2/image_0000.png"],
    }
    written = {}
    for label_file, names in entries.items():
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
            depth = depth_ramp(240, 320, 200.0 + 10 * k).astype(np.uint16)
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


def write_msra(root: Path, frames_per_gesture: int = 1, seed: int = 0) -> dict:
    """All 9 subjects × 17 gestures with joint.txt; depth .bin files for every frame."""
    rng = np.random.default_rng(seed)
    written = {}
    for subject in msra.SUBJECTS:
        for gesture in msra.GESTURES:
            folder = root / subject / gesture
            folder.mkdir(parents=True)
            xyz_cam = np.stack([hand_xyz(rng, 21, 400.0) for _ in range(frames_per_gesture)])
            xyz_file = np.round(xyz_cam * np.array([1.0, -1.0, -1.0]), 4)  # y up, z negative
            rows = [" ".join(f"{v:.4f}" for v in frame.ravel()) for frame in xyz_file]
            (folder / "joint.txt").write_text(f"{frames_per_gesture}\n" + "\n".join(rows) + "\n")
            for i in range(frames_per_gesture):
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
