"""``depth_crop``: a 3D cube crop of a depth frame, normalised to the cube (CrossInfoNet §3.5,
in the DeepPrior++ tradition), with heat maps of chosen joint subsets (CrossInfoNet §3.1, Fig. 2,
§3.4 eqs. 1-3).

- the hand centre (``centre``, a configured choice; CrossInfoNet §3.5 says only that "a hand
  area is firstly cropped"): ``depth`` (the default), found from the depth frame alone
  (:func:`depth_centre`); ``file``, the published refined centre the dataset's loader attaches
  as ``refined_centre_mm`` (V2V-PoseNet's ``center_train_refined.txt`` /
  ``center_test_refined.txt`` for ICVL and NYU, which the authors' code reads:
  ``handlib.data.formats.depth.REFINED_CENTRES``), a clear error when the frame has none unless
  ``fallback: depth``; ``labels``, the mean of the labelled 3D joints: an **oracle** (it reads
  the test label), kept as the named upper bound of what a better centre could give. The
  pipeline asks for it once per frame, on the whole frame before the crop (``hand_centre``),
  and the crop, the augmentation and the targets follow it (``centre_mm``);
- ``crop_region``: the hand centre projected with the camera's intrinsics; the window is the
  cube's side seen at that depth, ``cube_x · f_x / z`` (for an [x, y, z] cube, the larger of
  ``cube_x · f_x`` and ``cube_y · f_y`` over ``z``, as the pipeline crops squares). A window
  with no depth reading within ``cube_z / 2`` of the centre's depth, or one that lies wholly
  outside the frame, is refused with a clear error.
- ``encode``: ``depth`` (1, S, S): the crop's depths mapped to [-1, 1] within the cube around
  the centre (missing readings and the background beyond it to +1;
  ``handlib.data.transforms.normalise_depth`` with ``cube_z``), ``kp3d_norm`` (J, 3) =
  (joints − centre) / (cube / 2) per axis, ``centre_mm``, ``heatmaps`` (J, h, w) of every joint
  and ``heatmaps_<subset>`` of each subset at ``heatmap_size`` (2D Gaussians at the crop-frame
  joints, peak 1, zero for joints outside the crop or unlabelled), and ``joint_weight``
  (labelled and inside the crop; it weights the heat-map and the coordinate losses alike).
- augmentation (training items): a rotated crop comes with its 3D labels turned into the
  rotated view (``handlib.data.transforms.follow_rotation``), and a crop zoomed by ``s``
  (``crop_scale``) is normalised with the cube divided by ``s``, the cube it shows (as
  DeepPrior++ scales its cube), so that depths and labels stay consistent with the image;
- ``decode_crop``: the model's ``kp3d_norm`` back to camera mm (``centre + pred · cube / 2``), the
  root-relative joints (``kp3d_rel``, minus the wrist) and their 2D projection with the crop's
  intrinsics (``kp2d``).

Where the paper is silent (CrossInfoNet notes §2-3):

- the cube: 250 mm by default, the authors' released NYU test cube (MSRA: 175 mm); one number or
  per-axis [x, y, z] (DeepPrior++ uses per-dataset cubes);
- the input 96² and heat maps 24² are the paper's (Fig. 2), hence the defaults;
- the heat-map form is not stated: the released code blurs a one-hot at the joint's 24² cell
  with a 3×3 Gaussian kernel (σ ≈ 0.8) and rescales it to peak 1; we use the sampled Gaussian of
  ``heatmap2d`` with ``sigma`` 1.0 heat-map pixels, the same width to within the 3×3 kernel's
  truncation, and sub-pixel placed rather than snapped to a cell;
- the hand centre (``depth``): the authors' code reads V2V-PoseNet's refined centres for NYU
  and ICVL (a DeepPrior++ centre network's output) and a depth centre of mass for MSRA; with
  no centre network here, ``depth_centre`` is the centre of mass in camera mm of the readings
  within ``cube_z / 2`` behind the nearest reading (the hand is the object nearest the sensor
  in the depth benchmarks), then :data:`REFINE_STEPS` times the centre of mass of the readings
  inside the cube around it (DeepPrior++'s refinement of a centre of mass within its cube), each
  pixel back-projected at its centre with the camera's intrinsics. On the NYU-like and ICVL-like
  stand-ins it lies about 25 mm (root mean square per axis) from the labelled joints' mean; a
  forearm in the cube pulls it towards the arm.

Subsets default to ``handlib.skeleton``'s palm (wrist and the five MCPs) and finger (the other
15) joints, our reading of Fig. 4 on the canonical 21-joint layout; a dataset's native layouts
(NYU's 14 joints, ICVL's 16) give their own in the CrossInfoNet chapter's profiles.
"""
from __future__ import annotations

import numpy as np

from handlib.codecs import Codec, output, to_numpy
from handlib.codecs.geometry import project
from handlib.codecs.heatmap2d import encode_heatmaps
from handlib.data.formats.depth import REFINED_CENTRES_SOURCE
from handlib.data.transforms import normalise_depth, normalise_kp3d
from handlib.skeleton import FINGER_ONLY_JOINTS, PALM_JOINTS, WRIST

DEFAULT_SUBSETS: dict[str, list[int]] = {"palm": list(PALM_JOINTS),
                                          "finger": list(FINGER_ONLY_JOINTS)}
#: The hand centre's sources (``centre``; see the module doc): ``labels`` is the oracle.
CENTRES: tuple[str, ...] = ("depth", "file", "labels")
#: How often :func:`depth_centre` re-centres the centre of mass inside the cube around it.
REFINE_STEPS = 3


def labels_centre(sample: dict) -> np.ndarray:
    """The oracle centre (camera mm): the mean of the sample's labelled 3D joints."""
    kp3d = np.asarray(sample["kp3d"], np.float64).reshape(-1, 3)
    labelled = np.asarray(sample.get("labelled", np.ones(len(kp3d), bool)), bool).reshape(-1)
    labelled &= np.isfinite(kp3d).all(axis=1)
    if not labelled.any():
        raise ValueError("depth_crop: the labels' centre needs a labelled 3D joint; the sample "
                         "has none")
    return kp3d[labelled].mean(axis=0)


def depth_centre(depth: np.ndarray, K: np.ndarray, cube: np.ndarray) -> np.ndarray:
    """The hand centre (camera mm) found from the depth frame alone (module doc): the centre of
    mass of the readings within ``cube[2] / 2`` behind the nearest reading, then, ``REFINE_STEPS``
    times, of the readings inside the cube (sides ``cube``, mm) around it; every pixel
    back-projected at its centre (col + 0.5, row + 0.5) with the intrinsics ``K``."""
    depth = np.asarray(depth, np.float64)
    rows, cols = np.nonzero(depth > 0)
    if not len(rows):
        raise ValueError("depth_crop: the depth centre needs depth readings; the frame has none "
                         "(every pixel 0)")
    z = depth[rows, cols]
    pixels = np.stack([cols + 0.5, rows + 0.5, np.ones(len(z))])
    points = (np.linalg.solve(np.asarray(K, np.float64), pixels) * z).T
    centre = points[z <= z.min() + cube[2] / 2].mean(axis=0)
    for _ in range(REFINE_STEPS):
        inside = (np.abs(points - centre) <= np.asarray(cube) / 2).all(axis=1)
        centre = points[inside].mean(axis=0)
    return centre


class DepthCrop(Codec):
    """A cube crop of ``cube_mm`` (one side or [x, y, z]) around the hand centre (``centre``:
    ``depth``, ``file`` or ``labels``; ``fallback: depth`` for a ``file`` frame without a
    published centre, unused by the others), resized to ``input_size``² (see the module doc)."""

    name = "depth_crop"

    def __init__(self, input_size: int = 96, heatmap_size: int = 24,
                 cube_mm: float | list[float] = 250.0, sigma: float = 1.0,
                 subsets: dict[str, list[int]] | None = None, centre: str = "depth",
                 fallback: str | None = None):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"depth_crop: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        cube = np.broadcast_to(np.asarray(cube_mm, np.float64).reshape(-1), (3,)) \
            if np.size(cube_mm) in (1, 3) else None
        if cube is None or not (cube > 0).all():
            raise ValueError(f"depth_crop: cube_mm must be one number or [x, y, z], all > 0 mm, "
                             f"got {cube_mm!r}")
        if sigma <= 0:
            raise ValueError(f"depth_crop: sigma must be > 0 heat-map pixels, got {sigma}")
        if centre not in CENTRES:
            raise ValueError(f"depth_crop: centre must be one of {', '.join(CENTRES)}, got "
                             f"{centre!r}")
        if fallback not in (None, "depth"):
            raise ValueError(f"depth_crop: fallback (for centre 'file') may only be 'depth' or "
                             f"null, got {fallback!r}")
        self.input_size, self.heatmap_size = input_size, heatmap_size
        #: The cube's sides (x, y, z) in mm.
        self.cube = cube.astype(np.float32).copy()
        self.sigma = float(sigma)
        self.centre_source, self.fallback = centre, fallback
        self.subsets = {name: [int(j) for j in joints] for name, joints in
                        (DEFAULT_SUBSETS if subsets is None else subsets).items()}
        for name, joints in self.subsets.items():
            if not joints or min(joints) < 0:
                raise ValueError(f"depth_crop: subset {name!r} must list joint indices >= 0, "
                                 f"got {joints}")

    def hand_centre(self, sample: dict) -> np.ndarray:
        """The hand centre (camera mm) of a whole frame by the configured source (module doc)."""
        if self.centre_source == "labels":
            return labels_centre(sample)
        if self.centre_source == "file":
            published = sample.get("refined_centre_mm")
            if published is not None and np.isfinite(published).all():
                return np.asarray(published, np.float64)
            if self.fallback is None:
                where = sample.get("meta", {}).get("refined_centre_file", "the dataset folder")
                raise ValueError(
                    f"depth_crop: centre 'file' needs the published refined hand centre of "
                    f"this frame, which is missing or 'invalid': expected in {where}, "
                    f"{REFINED_CENTRES_SOURCE}; or set the codec's centre to 'depth'")
        return depth_centre(sample["depth"], sample["K"], self.cube)

    def centre(self, sample: dict) -> np.ndarray:
        """The centre the crop is made around: the sample's ``centre_mm`` (the pipeline puts
        :meth:`hand_centre`'s there, on the whole frame), else :meth:`hand_centre`."""
        if sample.get("centre_mm") is not None:
            return np.asarray(sample["centre_mm"], np.float64)
        return self.hand_centre(sample)

    def crop_region(self, sample: dict) -> tuple[np.ndarray, float]:
        centre = self.centre(sample)
        K = np.asarray(sample["K"], np.float64)
        if centre[2] <= 0:
            raise ValueError(f"depth_crop: the hand centre {centre.round(1).tolist()} mm is not "
                             "in front of the camera")
        centre_px = project(centre[None], K)[0].astype(np.float64)
        side = max(self.cube[0] * K[0, 0], self.cube[1] * K[1, 1]) / centre[2]
        depth = np.asarray(sample["depth"])
        h, w = depth.shape[:2]
        lo = np.floor(centre_px - side / 2).astype(int)
        hi = np.ceil(centre_px + side / 2).astype(int)
        if hi[0] <= 0 or hi[1] <= 0 or lo[0] >= w or lo[1] >= h:
            raise ValueError(f"depth_crop: the {side:.0f} px crop around the hand centre at "
                             f"pixel {centre_px.round(1).tolist()} lies outside the "
                             f"{w}x{h} frame; check the centre and the intrinsics")
        window = depth[max(lo[1], 0):min(hi[1], h), max(lo[0], 0):min(hi[0], w)]
        near = (window > 0) & (np.abs(window - centre[2]) <= self.cube[2] / 2)
        if not near.any():
            raise ValueError(f"depth_crop: no hand pixels near the given centre: no depth "
                             f"reading within {self.cube[2] / 2:.0f} mm of {centre[2]:.0f} mm in "
                             f"the crop around pixel {centre_px.round(1).tolist()}; check the "
                             "hand centre, the depth units (mm) and the frame")
        return centre_px.astype(np.float32), float(side)

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        if "depth" not in item or "kp3d" not in item:
            raise ValueError("depth_crop needs depth frames with 3D labels (modality: depth)")
        centre = np.asarray(self.centre(item), np.float32)
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        kp2d = np.asarray(item["kp2d"], np.float32)
        joints = len(kp2d)
        too_big = [name for name, subset in self.subsets.items() if max(subset) >= joints]
        if too_big:
            raise ValueError(f"depth_crop: subset(s) {too_big} name joints beyond the item's "
                             f"{joints}")
        # a crop zoomed by s (scale augmentation) shows a cube s times smaller: normalise by it
        cube = self.cube / float(item.get("crop_scale", 1.0))
        out = {
            "depth": normalise_depth(np.asarray(item["depth"]), float(centre[2]),
                                     float(cube[2]))[None],
            "kp3d_norm": np.nan_to_num(normalise_kp3d(item["kp3d"], centre, cube)
                                       ).astype(np.float32),
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
        kp3d = (centre + normalised * self.cube.astype(np.float64) / 2).astype(np.float32)
        return {"kp3d": kp3d, "kp3d_rel": kp3d - kp3d[:, WRIST:WRIST + 1],
                "kp2d": project(kp3d, to_numpy(batch["K"]))}
