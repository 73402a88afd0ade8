"""``build_dataset``: canonical samples (synthetic or real) -> training tensors for any chapter.

Per item (``PoseDataset.__getitem__``):

1. the canonical sample: from the synthetic engine (``source: synthetic``; rendered with the
   camera framed on the hand, cached as shards keyed by the generator's version and parameters)
   or from a real dataset (``handlib.data.formats.open_dataset(source, data_root, split)``);
2. a left hand is mirrored to a right hand (``mirror_left``; one-hand samples only);
3. the square of side ``crop_padding * max(w, h)`` around the hand's box (both hands' box for
   two-hand samples) is resized to ``input_size``; on the split a model trains on only
   (``training=True``), the ``augment`` rotation/scale/shift is folded into the same warp and
   colour jitter applied;
4. targets: heatmaps (``handlib.data.codecs.encode_heatmaps``) weighted by ``target_weight`` =
   labelled and inside the crop (occluded joints are still supervised: their position is known);
   ``visible`` = visible in the source and inside the crop; ``norm_size`` = the PCK normaliser
   (``metrics.bbox_size``: the larger side of the tight box of the labelled joints, input px);
5. 3D targets when the sample has ``kp3d`` (not all NaN): ``kp3d`` (mm, camera frame of the crop: ``K`` is the
   crop's intrinsics), ``kp3d_rel`` (root-relative), ``rel_depth`` (root-relative depth, mm),
   ``root_depth`` (mm); for ``modality: depth`` also the CrossInfoNet §3.5 normalisation:
   ``depth`` (1,S,S) in [-1, 1] within ``cube_mm`` around the joints' centre, ``kp3d_norm`` and
   ``kp_uvd`` (u, v scaled to [-1, 1] over the crop, d normalised like the depth map).

Two-hand samples (``two_hands: true``) keep the InterHand2.6M joint order: right hand joints
0-20, left hand 21-41, and add ``hand_valid`` (2,).

Augmentation randomness: with ``set_epoch(e)`` called by the training loop, item ``i`` of epoch
``e`` is augmented from the stream ``[seed, e, i]`` (reproducible whatever the number of
workers); without it, from a seed drawn from torch's generator (which PyTorch seeds per worker).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from handlib.data import codecs, transforms
from handlib.metrics import bbox_size
from handlib.skeleton import NUM_JOINTS, WRIST

DEFAULT_SPEC: dict[str, Any] = {
    "source": "synthetic",
    "data_root": None,
    "n": {"train": 1000, "val": 200, "test": 200, "hard": 200},
    "input_size": 128,
    "heatmap_size": 32,
    "sigma": 2.0,
    "modality": "rgb",
    "two_hands": False,
    "occluder_prob": None,
    "augment": None,
    "mirror_left": True,
    "seed": 0,
    "crop_padding": 1.3,
    "cube_mm": 250.0,
    "cache": True,
    "synthetic": {},
}


def resolve_spec(spec: dict) -> dict:
    """``spec`` over ``DEFAULT_SPEC``, checked; unknown keys and bad values raise ValueError."""
    unknown = sorted(set(spec) - set(DEFAULT_SPEC))
    if unknown:
        raise ValueError(f"unknown data option(s) {unknown}; valid options: "
                         f"{', '.join(DEFAULT_SPEC)}")
    resolved = copy.deepcopy(DEFAULT_SPEC)
    resolved.update(copy.deepcopy(spec))
    for key in ("input_size", "heatmap_size"):
        if not isinstance(resolved[key], int) or resolved[key] <= 0:
            raise ValueError(f"data option {key}={resolved[key]!r} must be a positive integer")
    if resolved["input_size"] % resolved["heatmap_size"]:
        raise ValueError(f"input_size {resolved['input_size']} must be a multiple of "
                         f"heatmap_size {resolved['heatmap_size']}")
    if resolved["modality"] not in ("rgb", "depth"):
        raise ValueError(f"modality must be 'rgb' or 'depth', got {resolved['modality']!r}")
    for key in ("sigma", "crop_padding", "cube_mm"):
        if float(resolved[key]) <= 0:
            raise ValueError(f"data option {key}={resolved[key]!r} must be > 0")
    return resolved


def build_dataset(spec: dict, split: str, *, training: bool = False) -> "PoseDataset":
    """The dataset of ``split`` described by ``spec`` (keys of ``DEFAULT_SPEC``).

    ``training=True`` marks the split a model is trained on: only it gets ``spec["augment"]``.
    """
    spec = resolve_spec(spec)
    if spec["source"] == "synthetic":
        from handlib.data.synthetic import SyntheticHands

        if split not in spec["n"]:
            raise ValueError(f"no sample count for split {split!r}: set data.n.{split}")
        options = {"framing": "hand", "crop_padding": spec["crop_padding"],
                   "modality": spec["modality"], **spec["synthetic"]}
        size = options.pop("image_size", spec["input_size"])
        source = SyntheticHands(split, spec["n"][split], size, seed=spec["seed"],
                                two_hands=spec["two_hands"],
                                occluder_prob=spec["occluder_prob"], cache=spec["cache"],
                                **options)
    else:
        from handlib.data.formats import open_dataset

        if spec["data_root"] is None:
            raise ValueError(f"data source {spec['source']!r} needs data_root: the folder "
                             "holding the dataset as its authors publish it")
        source = open_dataset(spec["source"], spec["data_root"], split)
    return PoseDataset(source, spec, split, training=training)


class PoseDataset(torch.utils.data.Dataset):
    """Canonical samples -> dicts of tensors (see the module doc for every key)."""

    def __init__(self, source, spec: dict, split: str, *, training: bool = False):
        self.source, self.spec, self.split = source, resolve_spec(spec), split
        self.augment = self.spec["augment"] if training else None
        self.epoch: int | None = None

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        if self.epoch is not None:
            return np.random.default_rng([int(self.spec["seed"]), self.epoch, index])
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, ()).item()))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v) for k, v in self.item(index).items()}

    def item(self, index: int) -> dict[str, np.ndarray]:
        """The item as numpy arrays (``__getitem__`` converts them to tensors)."""
        spec = self.spec
        size, modality = spec["input_size"], spec["modality"]
        sample = self.source[index]
        two = np.ndim(sample["kp2d"]) == 3
        if two != spec["two_hands"]:
            raise ValueError(f"sample {index} has {'two hands' if two else 'one hand'} but the "
                             f"data spec says two_hands={spec['two_hands']}")
        mirrored = False
        if spec["mirror_left"] and not two and sample.get("side") == "left":
            sample, mirrored = transforms.mirror_sample(sample), True
        labelled = np.asarray(sample.get("labelled", np.ones(np.shape(sample["kp2d"])[:-1],
                                                                bool)), bool)
        if two:
            labelled = labelled & np.asarray(sample["hand_valid"], bool)[:, None]
        if "bbox" not in sample:
            lo = sample["kp2d"][labelled].min(axis=0)
            hi = sample["kp2d"][labelled].max(axis=0)
            sample = {**sample, "bbox": np.array([*lo, *(hi - lo)], np.float32)}
        rng = self._rng(index) if self.augment else None
        warp = transforms.sample_augmentation(rng, self.augment) if rng else {}
        centre, side = transforms.bbox_centre_size(sample["bbox"])
        M = transforms.crop_matrix(centre, spec["crop_padding"] * side, size, **warp)
        sample = transforms.warp_sample(sample, M, size)

        kp2d = sample["kp2d"].reshape(-1, 2).astype(np.float32)
        labelled = labelled.reshape(-1)
        in_frame = np.all((kp2d >= 0) & (kp2d < size), axis=-1)
        weight = labelled & in_frame
        item = {
            "kp2d": kp2d,
            "visible": np.asarray(sample["visible"], bool).reshape(-1) & in_frame,
            "in_frame": in_frame,
            "heatmaps": codecs.encode_heatmaps(kp2d, weight, size, spec["heatmap_size"],
                                               spec["sigma"]),
            "target_weight": weight.astype(np.float32),
            "norm_size": np.float32(np.nan_to_num(bbox_size(kp2d, labelled))),
            "mirrored": np.bool_(mirrored),
            "index": np.int64(index),
        }
        if two:
            item["hand_valid"] = np.asarray(sample["hand_valid"], bool)
        if modality == "rgb":
            if "image" not in sample:
                raise ValueError(f"modality 'rgb' but sample {index} has no image")
            image = sample["image"]
            if self.augment and self.augment.get("colour"):
                image = transforms.colour_jitter(image, rng, float(self.augment["colour"]))
            item["image"] = transforms.normalise_image(image)
        if "kp3d" in sample and np.isfinite(sample["kp3d"]).any():  # FreiHAND-2D files: all NaN
            item.update(self._targets_3d(sample, labelled, modality, size, index))
        elif modality == "depth":
            raise ValueError(f"modality 'depth' needs kp3d to centre the depth crop; sample "
                             f"{index} has none")
        return item

    def _targets_3d(self, sample, labelled, modality, size, index) -> dict[str, np.ndarray]:
        kp3d = np.asarray(sample["kp3d"], np.float32)
        hands = kp3d.reshape(-1, NUM_JOINTS, 3)
        roots = hands[:, WRIST]
        out = {
            "kp3d": kp3d.reshape(-1, 3),
            "kp3d_rel": (hands - roots[:, None]).reshape(-1, 3),
            "rel_depth": codecs.relative_depth(hands, WRIST).reshape(-1).astype(np.float32),
            "root_depth": roots[:, 2].astype(np.float32).reshape(np.shape(kp3d)[:-2]),
            "K": np.asarray(sample["K"], np.float32),
        }
        if modality == "depth":
            if "depth" not in sample:
                raise ValueError(f"modality 'depth' but sample {index} has no depth map")
            cube = float(self.spec["cube_mm"])
            centre = out["kp3d"][labelled].mean(axis=0)
            depth = transforms.normalise_depth(sample["depth"], centre[2], cube)
            kp3d_norm = transforms.normalise_kp3d(out["kp3d"], centre, cube)
            uv = sample["kp2d"].reshape(-1, 2) / size * 2 - 1
            out.update(depth=depth[None], kp3d_norm=kp3d_norm, centre_mm=centre,
                       kp_uvd=np.concatenate([uv, kp3d_norm[:, 2:3]], -1).astype(np.float32))
        return out
