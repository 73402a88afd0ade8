"""``depth_crop``: a 3D cube crop of a depth frame, normalised to the cube (CrossInfoNet §3.5,
in the DeepPrior++ tradition), with heat maps of chosen joint subsets (CrossInfoNet §3.1, Fig. 4).

- ``crop_region``: the hand centre (``centre_mm`` when the sample gives one, e.g. from a hand
  detector or a centre-of-mass refinement; else the mean of its labelled 3D joints) projected
  with the camera's intrinsics; the window is the cube's side seen at that depth,
  ``cube_mm · f_x / z``. A window with no depth reading within half a cube of the centre's
  depth, or one that lies wholly outside the frame, is refused with a clear error.
- ``encode``: ``depth`` (1, S, S): the crop's depths mapped to [-1, 1] within the cube around
  the centre (missing readings and the background beyond it to +1;
  ``handlib.data.transforms.normalise_depth``), ``kp3d_norm`` (J, 3) = (joints − centre) / (cube
  / 2), ``centre_mm``, ``heatmaps`` (J, h, w) of every joint and ``heatmaps_<subset>`` of each
  subset at ``heatmap_size`` (2D Gaussians at the crop-frame joints; CrossInfoNet supervises its
  24² all-joint, palm and finger heat maps with them), and ``joint_weight``.
- ``decode_crop``: the model's ``kp3d_norm`` back to camera mm (``centre + pred · cube / 2``), the
  root-relative joints, and their 2D projection with the crop's intrinsics.

Subsets default to ``handlib.skeleton``'s palm (wrist and the five MCPs) and finger (the other
15) joints, our reading of Fig. 4 on the canonical 21-joint layout; a dataset's native layouts
(NYU's 14 joints, ICVL's 16) give their own in the CrossInfoNet chapter's profiles.
"""
from __future__ import annotations

import numpy as np

from handlib.codecs import Codec, output, to_numpy
from handlib.codecs.geometry import project
from handlib.codecs.heatmap2d import encode_heatmaps
from handlib.data.transforms import normalise_depth, normalise_kp3d
from handlib.skeleton import FINGER_ONLY_JOINTS, PALM_JOINTS, WRIST

DEFAULT_SUBSETS: dict[str, list[int]] = {"palm": list(PALM_JOINTS),
                                          "finger": list(FINGER_ONLY_JOINTS)}


class DepthCrop(Codec):
    """A cube crop of ``cube_mm`` around the hand centre, resized to ``input_size``²."""

    name = "depth_crop"

    def __init__(self, input_size: int, heatmap_size: int = 24, cube_mm: float = 250.0,
                 sigma: float = 1.0, subsets: dict[str, list[int]] | None = None):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"depth_crop: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        if float(cube_mm) <= 0:
            raise ValueError(f"depth_crop: cube_mm must be > 0, got {cube_mm}")
        self.input_size, self.heatmap_size = input_size, heatmap_size
        self.cube_mm, self.sigma = float(cube_mm), float(sigma)
        self.subsets = DEFAULT_SUBSETS if subsets is None else subsets

    def centre(self, sample: dict) -> np.ndarray:
        """The hand centre (camera mm): the sample's ``centre_mm``, else its joints' mean."""
        if sample.get("centre_mm") is not None:
            return np.asarray(sample["centre_mm"], np.float64)
        kp3d = np.asarray(sample["kp3d"], np.float64).reshape(-1, 3)
        labelled = np.asarray(sample.get("labelled", np.ones(len(kp3d), bool)), bool).reshape(-1)
        labelled &= np.isfinite(kp3d).all(axis=1)
        if not labelled.any():
            raise ValueError("depth_crop needs a hand centre: the sample has no centre_mm and "
                             "no labelled 3D joint")
        return kp3d[labelled].mean(axis=0)

    def crop_region(self, sample: dict) -> tuple[np.ndarray, float]:
        centre = self.centre(sample)
        K = np.asarray(sample["K"], np.float64)
        if centre[2] <= 0:
            raise ValueError(f"depth_crop: the hand centre {centre.round(1).tolist()} mm is not "
                             "in front of the camera")
        centre_px = project(centre[None], K)[0].astype(np.float64)
        side = self.cube_mm * K[0, 0] / centre[2]
        depth = np.asarray(sample["depth"])
        h, w = depth.shape[:2]
        lo = np.floor(centre_px - side / 2).astype(int)
        hi = np.ceil(centre_px + side / 2).astype(int)
        if hi[0] <= 0 or hi[1] <= 0 or lo[0] >= w or lo[1] >= h:
            raise ValueError(f"depth_crop: the {side:.0f} px crop around the hand centre at "
                             f"pixel {centre_px.round(1).tolist()} lies outside the "
                             f"{w}x{h} frame; check the centre and the intrinsics")
        window = depth[max(lo[1], 0):min(hi[1], h), max(lo[0], 0):min(hi[0], w)]
        near = (window > 0) & (np.abs(window - centre[2]) <= self.cube_mm / 2)
        if not near.any():
            raise ValueError(f"depth_crop: no hand pixels near the given centre: no depth "
                             f"reading within {self.cube_mm / 2:.0f} mm of {centre[2]:.0f} mm in "
                             f"the crop around pixel {centre_px.round(1).tolist()}; check the "
                             "hand centre, the depth units (mm) and the frame")
        return centre_px.astype(np.float32), float(side)

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        if "depth" not in item or "kp3d" not in item:
            raise ValueError("depth_crop needs depth frames with 3D labels (modality: depth)")
        centre = np.asarray(item["centre_mm"] if "centre_mm" in item else self.centre(item),
                            np.float32)
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        kp2d = np.asarray(item["kp2d"], np.float32)
        out = {
            "depth": normalise_depth(np.asarray(item["depth"]), float(centre[2]),
                                     self.cube_mm)[None],
            "kp3d_norm": np.nan_to_num(normalise_kp3d(item["kp3d"], centre, self.cube_mm)),
            "centre_mm": centre,
            "joint_weight": weight.astype(np.float32),
            "heatmaps": encode_heatmaps(kp2d, weight, self.input_size, self.heatmap_size,
                                        self.sigma),
        }
        for name, joints in self.subsets.items():
            out[f"heatmaps_{name}"] = out["heatmaps"][list(joints)]
        return out

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        normalised = to_numpy(output(outputs, "kp3d_norm", self.name)).astype(np.float64)
        normalised = normalised.reshape(len(normalised), -1, 3)
        centre = to_numpy(batch["centre_mm"]).astype(np.float64)[:, None]
        kp3d = (centre + normalised * self.cube_mm / 2).astype(np.float32)
        return {"kp3d": kp3d, "kp3d_rel": kp3d - kp3d[:, WRIST:WRIST + 1],
                "kp2d": project(kp3d, to_numpy(batch["K"]))}
