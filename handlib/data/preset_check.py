"""The synthetic presets checked against the real files, and summarised.

``handlib.data.presets`` defines each preset (the fields it sets and each number's source);
this module draws scenes from them (:func:`scene_params`, :func:`scene_geometry`), measures the
same per-hand statistics on the real files in ``../shared/data`` and on the preset's scenes
(:func:`real_statistics`, :func:`preset_statistics`), lines them up (:func:`comparison_table`)
and summarises every preset (:func:`summary_table`). It sits above both the presets and the
synthetic engine, which uses the presets, so that neither imports the other's user.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from handlib.data import presets
from handlib.data.formats import open_dataset
from handlib.data.stats import joint_box_px, labelled_hands
from handlib.data.synthetic import make_params, project, sample_rng, sample_scene


def scene_params(name: str, split: str = "test", **options: Any):
    """``SynthParams`` of preset ``name`` at the real files' image size, framed as they are."""
    preset = presets.get(name)
    return make_params(split, preset.image_size, preset=name, **options)


def scene_geometry(name: str, n: int, seed: int = 0, split: str = "test") -> dict[str, np.ndarray]:
    """Joints of every hand in ``n`` scenes of a preset, without rendering them (fast): ``kp2d``
    (H, 21, 2) in pixels of the real image size, ``kp3d`` (H, 21, 3) mm, ``frame`` (H,) the
    scene each hand belongs to (one or two hands per scene)."""
    params = scene_params(name, split)
    kp2d, kp3d, frame = [], [], []
    for index in range(n):
        scene = sample_scene(params, sample_rng(seed, split, index))
        for hand in scene["hands"]:
            kp3d.append(hand["kp3d"])
            kp2d.append(project(scene["K"], hand["kp3d"]))
            frame.append(index)
    return {"kp2d": np.array(kp2d), "kp3d": np.array(kp3d), "frame": np.array(frame)}


# ---- the presets against the real files --------------------------------------------------------
#: The real files each checked preset is compared with, under the shared data folder:
#: (loader or "uvd_labels", folder, split or label file, joints per hand).
REAL_FILES: dict[str, tuple[str, str, str, int]] = {
    "rhd_like": ("mmpose_coco", "samples/mmpose_format", "rhd_test", 21),
    "freihand_like": ("mmpose_coco", "samples/mmpose_format", "freihand_test", 21),
    "interhand_like": ("interhand26m", "samples/mmpose_format/interhand2.6m", "test", 21),
    "nyu_like": ("uvd_labels", "depth_eval/evaluation/groundtruth/nyu",
                 "nyu_test_groundtruth_label.txt", 14),
    "icvl_like": ("uvd_labels", "depth_eval/evaluation/groundtruth/icvl",
                  "icvl_test_groundtruth_label.txt", 16),
}


def real_statistics(name: str, shared: Path) -> dict[str, np.ndarray] | None:
    """Per-hand statistics of the real files behind preset ``name`` (``REAL_FILES``) under the
    shared data folder, or None when they are absent: ``box_px`` (joint box, larger side),
    ``depth_mm`` (mean joint depth, where the files have 3D) and ``kp3d`` (where they have 3D).
    Only hands with every joint inside the image count."""
    if name not in REAL_FILES:
        raise ValueError(f"preset {name!r} has no real files to compare with; these do: "
                         f"{', '.join(REAL_FILES)}")
    loader, folder, split, joints = REAL_FILES[name]
    path = Path(shared) / folder
    if loader == "uvd_labels":
        if not (path / split).is_file():
            return None
        uvd = np.loadtxt(path / split).reshape(-1, joints, 3)
        return {"box_px": joint_box_px(uvd[..., :2]), "depth_mm": uvd[..., 2].mean(axis=1)}
    if not path.is_dir():
        return None
    samples = list(open_dataset(loader, path, split))
    kp2d, kp3d = labelled_hands(samples)
    width = max(max(s["image"].shape[:2]) for s in samples)
    inside = np.isfinite(kp2d).all(axis=(1, 2)) & ((kp2d >= 0) & (kp2d < width)).all(axis=(1, 2))
    found = {"box_px": joint_box_px(kp2d[inside])}
    if np.isfinite(kp3d[inside]).all():
        found.update(depth_mm=kp3d[inside][..., 2].mean(axis=1), kp3d=kp3d[inside])
    return found


def preset_statistics(name: str, n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """The same statistics over ``n`` scenes of the preset (per hand)."""
    geometry = scene_geometry(name, n, seed)
    return {"box_px": joint_box_px(geometry["kp2d"]),
            "depth_mm": geometry["kp3d"][..., 2].mean(axis=1), "kp3d": geometry["kp3d"]}


def comparison_table(shared: Path | None, n: int = 400) -> pd.DataFrame:
    """Preset x statistic: the real files' median and 5th-95th percentiles beside the preset's,
    for every preset whose real files are in the shared data folder."""
    rows = []
    for name in REAL_FILES:
        real = real_statistics(name, shared) if shared is not None else None
        if real is None:
            continue
        ours = preset_statistics(name, n)
        for statistic in ("box_px", "depth_mm"):
            if statistic not in real:
                continue
            low, mid, high = np.percentile(real[statistic], [5, 50, 95])
            p_low, p_mid, p_high = np.percentile(ours[statistic], [5, 50, 95])
            rows.append({"preset": name, "statistic": statistic, "real hands": len(real[statistic]),
                         "real median": mid, "real 5-95 %": f"{low:.0f}-{high:.0f}",
                         "preset median": p_mid, "preset 5-95 %": f"{p_low:.0f}-{p_high:.0f}"})
    return pd.DataFrame(rows).set_index(["preset", "statistic"]) if rows else pd.DataFrame()


def summary_table() -> pd.DataFrame:
    """One row per preset: what it sets, the dataset's joints and root, and its check."""
    rows = {}
    for name, preset in presets.PRESETS.items():
        params = scene_params(name)
        rows[name] = {
            "dataset": preset.dataset, "image (px)": params.image_size,
            "field of view (deg)": params.fov_deg,
            "distance (mm)": f"{params.distance_mm[0]:.0f}-{params.distance_mm[1]:.0f}",
            "views": ("any" if params.view_cone_deg >= 180 else
                      f"within {params.view_cone_deg:.0f} deg of frontal"),
            "people": params.subjects or "new per hand",
            "backgrounds": ("-" if "rgb" not in params.modality else "plain"
                            if params.plain_background else params.backgrounds or "new per frame"),
            "object prob.": params.occluder_prob, "hands": 2 if params.two_hands else 1,
            "modality": preset.modality, "depth noise (mm)": params.depth_noise_mm,
            "joints labelled": preset.num_joints, "root joint": preset.root_joint,
            "checked against": ", ".join(preset.checked_against) or "-",
        }
    return pd.DataFrame.from_dict(rows, orient="index")
