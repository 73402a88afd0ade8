"""Tiny copies of RHD and STB in their published layouts, with known values, for the loader
tests and for end-to-end runs of a chapter's ``paper`` profile (:func:`write_rcsf_data_root`)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from scipy.spatial.transform import Rotation

from handlib.data.formats import common, rhd, stb
from handlib.skeleton import finger_joints


def canonical_hand(seed=0, z=500.0):
    """A distinct (21, 3) mm hand in front of the camera: joints far enough apart that any
    order mix-up changes the values."""
    rng = np.random.default_rng(seed)
    return np.array([0.0, 0.0, z]) + rng.uniform(-60, 60, size=(21, 3)) + np.arange(21)[:, None] * [1.0, 2.0, 3.0]


def to_native(canonical, table):
    """Inverse of skeleton.reorder: native[table[i]] = canonical[i]."""
    native = np.zeros_like(canonical)
    native[..., list(table), :] = canonical
    return native


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def pattern_image(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def write_rhd(root, n_train=2, n_eval=1):
    """RHD_published_v2 with known values; returns {set: [(canonical_left, canonical_right, uv_vis, K)]}."""
    truth = {}
    for set_dir, n in (("training", n_train), ("evaluation", n_eval)):
        anno, truth[set_dir] = {}, []
        for i in range(n):
            K = common.intrinsics(280.0 + i, 281.0 + i, 160.0, 158.0)
            left, right = canonical_hand(10 * i + 1), canonical_hand(10 * i + 2, z=600.0)
            xyz = np.concatenate([to_native(left, rhd.RHD_TO_CANONICAL), to_native(right, rhd.RHD_TO_CANONICAL)])
            uv = common.project(xyz, K)
            vis = np.ones(42)
            vis[[1, 27]] = 0  # left thumb tip, right index DIP (native indices)
            anno[i] = {"xyz": (xyz / 1000.0).astype(np.float32), "uv_vis": np.c_[uv, vis].astype(np.float32),
                       "K": K.astype(np.float32)}
            write_png(root / set_dir / "color" / f"{i:05d}.png", pattern_image(320, 320, i))
            mask = np.zeros((320, 320), np.uint8)
            mask[:40, :40] = 5  # left index: 1600 px
            mask[100:100 + (30 if i == 0 else 50), :50] = 20  # right thumb: 1500 px (i=0) or 2500 px
            write_png(root / set_dir / "mask" / f"{i:05d}.png", mask)
            depth = np.zeros((320, 320, 3), np.uint8)
            depth[..., 0], depth[..., 1] = 12, 34
            write_png(root / set_dir / "depth" / f"{i:05d}.png", depth)
            truth[set_dir].append((left, right, vis, K))
        with open(root / set_dir / f"anno_{set_dir}.pickle", "wb") as handle:
            pickle.dump(anno, handle, protocol=2)
    return truth


def write_stb(root, frames=2, image_sequences=("B1Counting",)):
    """STB with all 12 label files; images for ``image_sequences`` only (default B1Counting).
    Returns canonical colour-frame joints."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    truth = {}
    R = Rotation.from_rotvec(stb.SK_ROTATION_VECTOR).as_matrix()  # independent of stb.rodrigues
    for seq in stb.SEQUENCES:
        (root / "images" / seq).mkdir(parents=True, exist_ok=True)
        color = np.stack([canonical_hand(100 + f) for f in range(frames)])  # wrist at index 0
        # the published root is the palm centre: wrist = ring + 2 (palm - ring) ⇔ palm = (wrist + ring) / 2
        with_palm = color.copy()
        ring = color[:, finger_joints("ring")[0]]
        with_palm[:, 0] = (color[:, 0] + ring) / 2
        depth_frame = with_palm @ R.T + stb.SK_TRANSLATION_MM  # readme: x_depth = R x_color + T
        for kind, xyz in (("SK", depth_frame), ("BB", with_palm)):
            native = to_native(xyz, stb.STB_TO_CANONICAL)
            scipy.io.savemat(root / "labels" / f"{seq}_{kind}.mat", {"handPara": native.transpose(2, 1, 0)})
        truth[seq] = color
    for seq in image_sequences:
        for f in range(frames):
            for prefix in ("SK_color", "BB_left", "BB_right"):
                write_png(root / "images" / seq / f"{prefix}_{f}.png", pattern_image(480, 640, f))
    return truth


def write_rcsf_data_root(root: Path) -> Path:
    """``root/STB/`` and ``root/RHD_published_v2/`` (the folders the RCSF chapter's ``paper``
    profile reads), each large enough for RCSF's rcsf_train / rcsf_val / rcsf_test splits to
    hold at least two samples: RHD's validation share of 2,728 / 41,258 of the training rows
    rounds to 2 at 31 training images; STB's splits are whole sequences."""
    write_rhd(Path(root) / "RHD_published_v2", n_train=31, n_eval=2)
    write_stb(Path(root) / "STB", frames=1, image_sequences=stb.SEQUENCES)
    return Path(root)
