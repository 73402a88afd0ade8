"""``build_dataset``: canonical samples (synthetic or real) -> training tensors for any model.

Per item (``PoseDataset.item``):

1. the canonical sample: from the synthetic engine (``source: synthetic``; rendered with the
   camera framed on the hand, cached as shards keyed by the generator's version and parameters)
   or from a real dataset (``handlib.data.formats.open_dataset(source, data_root, split)``);
2. for codecs of two-hand models (``codec.two_slot``, InterNet's layout) every sample is put in
   the two-hand slots: right hand joints 0-20, left 21-41, ``hand_valid`` (2,); a one-hand sample
   fills the slot of its side. Otherwise a left hand is mirrored to a right hand
   (``mirror_left``; one-hand samples only);
3. the crop: the codec's ``crop_region`` (e.g. CrossInfoNet's 3D cube around the hand centre,
   which a codec with a ``hand_centre`` chooses once on the whole frame, kept as ``centre_mm``)
   or, by default, the square of side ``crop_padding * max(w, h)`` around the hand's box (both
   hands' box for two-hand samples), resized to ``input_size``; on the split a model trains on
   only (``training=True``), the ``augment`` rotation/scale/shift is folded into the same warp
   and colour jitter applied; a rotation also turns the 3D labels into the rotated view
   (``transforms.follow_rotation``: ``kp3d`` and ``K`` then describe the rotated crop), and the
   zoom is kept as ``crop_scale`` for codecs whose targets depend on it (``depth_crop``). The whole map from the sample's own image to the input, mirror
   included, is kept as ``crop`` (3, 3), so that ``handlib.codecs.geometry`` can bring every
   prediction back into the sample's own frame;
4. the labels, in the crop frame: ``kp2d`` (input px), ``labelled`` (the dataset labels the
   joint), ``in_frame`` (inside the crop), ``visible`` (visible in the source and in frame),
   ``visibility_kind`` (codes of :data:`VISIBILITY_KINDS`), ``norm_size`` (the PCK normaliser,
   ``metrics.bbox_size``: the larger side of the tight box of the labelled joints, input px),
   ``mirrored``, ``index``; with 3D labels also ``kp3d`` (camera mm: the crop changes ``K``, to
   the crop's intrinsics, not the 3D points), ``kp3d_rel`` (root-relative), ``root_depth_abs``
   (each hand's wrist depth, mm) and ``K``; two-slot items also ``root_depth`` (left wrist z
   minus right wrist z, mm) and ``rel_root`` (left wrist minus right wrist, mm);
5. the targets: ``codec.encode`` of those labels (``data.codec``, a ``handlib.codecs`` spec:
   heat maps and their weights, voxels, bones, a normalised depth crop, ...).

Augmentation randomness: with ``set_epoch(e)`` called by the training loop, item ``i`` of epoch
``e`` is augmented from the stream ``[seed, e, i]`` (reproducible whatever the number of
workers); without it, from a seed drawn from torch's generator (which PyTorch seeds per worker).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import torch

from handlib import codecs
from handlib.data import transforms
from handlib.data.formats import dataset_info, open_dataset
from handlib.data.synthetic import SyntheticHands
from handlib.data.two_hands import to_two_slots
from handlib.metrics import bbox_size
from handlib.skeleton import NUM_JOINTS, WRIST

#: ``visibility_kind`` codes, index = code: the synthetic engine's kinds, plus ``occluded`` for
#: datasets that label a joint occluded without saying by what (RHD). Joints a dataset says
#: nothing about get -1.
VISIBILITY_KINDS: tuple[str, ...] = (
    "visible", "self", "object", "other_hand", "out_of_frame", "occluded",
)
#: The canonical sample's per-joint occlusion words (synthetic engine and
#: ``handlib.data.formats.common.OCCLUSION_KINDS``) -> code.
_KIND_CODES: dict[str, int] = {
    "visible": 0, "none": 0, "self": 1, "object": 2, "other_hand": 3, "out_of_frame": 4,
    "occluded": 5, "unannotated": -1,
}

DEFAULT_CODEC: dict[str, Any] = {"name": "heatmap2d", "heatmap_size": 32, "sigma": 2.0}

DEFAULT_SPEC: dict[str, Any] = {
    "source": "synthetic",
    "data_root": None,
    "n": {"train": 1000, "val": 200, "test": 200, "hard": 200},
    "input_size": 128,
    "codec": DEFAULT_CODEC,
    "modality": "rgb",
    "two_hands": False,
    "occluder_prob": None,
    "augment": None,
    "mirror_left": True,
    "seed": 0,
    "crop_padding": 1.3,
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
    if not isinstance(resolved["input_size"], int) or resolved["input_size"] <= 0:
        raise ValueError(f"data option input_size={resolved['input_size']!r} must be a positive "
                         "integer")
    if resolved["modality"] not in ("rgb", "depth"):
        raise ValueError(f"modality must be 'rgb' or 'depth', got {resolved['modality']!r}")
    if float(resolved["crop_padding"]) <= 0:
        raise ValueError(f"data option crop_padding={resolved['crop_padding']!r} must be > 0")
    return resolved


def codec_parts(spec: dict) -> list[dict]:
    """The codec spec(s) of a data spec, as a list of ``{name, **options}``."""
    codec = resolve_spec(spec)["codec"]
    return list(codec) if isinstance(codec, list) else [codec]


def build_codec(spec: dict) -> codecs.Codec:
    """The codec of a data spec: ``data.codec`` (one spec or a list), each part given the data's
    ``input_size`` when it takes one."""
    resolved = resolve_spec(spec)
    parts = []
    for part in codec_parts(resolved):
        takes = inspect.signature(codecs.codec_class(part.get("name"))).parameters
        if "input_size" in takes and "input_size" not in part:
            part = {**part, "input_size": resolved["input_size"]}
        parts.append(part)
    return codecs.build(parts if len(parts) > 1 else parts[0])


def build_dataset(spec: dict, split: str, *, training: bool = False) -> "PoseDataset":
    """The dataset of ``split`` described by ``spec`` (keys of ``DEFAULT_SPEC``).

    ``training=True`` marks the split a model is trained on: only it gets ``spec["augment"]``.
    """
    spec = resolve_spec(spec)
    if spec["source"] == "synthetic":
        source = SyntheticHands.from_data_spec(spec, split)
        source.fill_cache()
    else:
        if spec["data_root"] is None:
            raise ValueError(f"data source {spec['source']!r} needs data_root: the folder "
                             "holding the dataset as its authors publish it")
        source = open_dataset(spec["source"], spec["data_root"], split)
    return PoseDataset(source, spec, split, training=training)


def split_size(spec: dict, split: str) -> int | None:
    """How many samples ``split`` of the data ``spec`` describes, without rendering or decoding
    any: the configured count for synthetic data (``None`` when ``data.n`` gives none, which
    :func:`build_dataset` refuses by name), the opened split's length for a real copy."""
    spec = resolve_spec(spec)
    if spec["source"] == "synthetic":
        count = (spec["n"] or {}).get(split)
        return None if count is None else int(count)

    if spec["data_root"] is None:
        raise ValueError(f"data source {spec['source']!r} needs data_root: the folder "
                         "holding the dataset as its authors publish it")
    return len(open_dataset(spec["source"], spec["data_root"], split))


def check_splits_have_samples(spec: dict, roles: dict[str, str]) -> None:
    """Refuse, before any training, a run one of whose splits is empty.

    ``roles`` maps what a split is for ("training", "validation", "test") to its name. A real
    copy with a handful of images can leave a split carved from another empty (RHD's ``rcsf_val``
    is 2,728/41,258 of the training set: none of 5 images); the message names the split, the
    dataset and its folder, the sizes of every split this copy opens and how the dataset's
    splits are made, instead of failing mid-run on a metric with nothing to score."""
    sizes = {role: split_size(spec, split) for role, split in roles.items()}
    empty = [role for role, n in sizes.items() if n == 0]
    if not empty:
        return
    spec = resolve_spec(spec)
    named = ", ".join(f"the {role} split {roles[role]!r}" for role in empty)
    if spec["source"] == "synthetic":
        raise ValueError(f"{named} of the synthetic data has no samples: set data.n."
                         f"{roles[empty[0]]} to a positive count")

    info = dataset_info(spec["source"])
    copy_sizes = []
    for split in info.splits:
        try:
            copy_sizes.append(f"{split} {split_size(spec, split)}")
        except (OSError, ValueError):
            copy_sizes.append(f"{split} (not in this copy)")
    raise ValueError(
        f"{named} of {info.title} under {spec['data_root']} holds no samples, so the run cannot "
        f"start. This copy's splits hold: {', '.join(copy_sizes)} ({info.split_source}). Use a "
        "copy with more images, or choose a split that has samples (train.split, eval.split, "
        "eval.test_split).")


def kind_codes(sample: dict, shape: tuple[int, ...]) -> np.ndarray:
    """Per-joint ``visibility_kind`` codes from the sample's ``meta["occlusion"]`` words."""
    words = sample.get("meta", {}).get("occlusion")
    if words is None:
        return np.full(shape, -1, np.int8)
    return np.vectorize(lambda w: _KIND_CODES.get(str(w), -1), otypes=[np.int8])(
        np.asarray(words, dtype=object)).reshape(shape)


class PoseDataset(torch.utils.data.Dataset):
    """Canonical samples -> dicts of tensors (see the module doc for every key)."""

    def __init__(self, source, spec: dict, split: str, *, training: bool = False):
        self.source, self.spec, self.split = source, resolve_spec(spec), split
        self.codec = build_codec(self.spec)
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
        spec, codec = self.spec, self.codec
        size, modality = spec["input_size"], spec["modality"]
        sample = self.source[index]
        if codec.two_slot:
            sample = to_two_slots(sample)
        elif np.ndim(sample["kp2d"]) == 3:
            raise ValueError(f"sample {index} has two hands but codec "
                             f"{codec.name!r} is a one-hand codec; use a two-hand codec "
                             "(heatmap3d) or a one-hand data source")
        two = np.ndim(sample["kp2d"]) == 3
        if two != spec["two_hands"] and not codec.two_slot:
            raise ValueError(f"sample {index} has {'two hands' if two else 'one hand'} but the "
                             f"data spec says two_hands={spec['two_hands']}")
        mirror = np.eye(3)
        if spec["mirror_left"] and not two and sample.get("side") == "left":
            mirror = np.vstack([transforms.mirror_matrix(transforms.image_width(sample)),
                                [0.0, 0.0, 1.0]])
            sample = transforms.mirror_sample(sample)
        labelled = np.asarray(sample.get("labelled", np.ones(np.shape(sample["kp2d"])[:-1],
                                                                bool)), bool)
        if two:
            labelled = labelled & np.asarray(sample["hand_valid"], bool)[:, None]
        kinds = kind_codes(sample, labelled.shape)
        if "bbox" not in sample:
            lo = sample["kp2d"][labelled].min(axis=0)
            hi = sample["kp2d"][labelled].max(axis=0)
            sample = {**sample, "bbox": np.array([*lo, *(hi - lo)], np.float32)}
        rng = self._rng(index) if self.augment else None
        warp = transforms.sample_augmentation(rng, self.augment) if rng else {}
        hand_centre = codec.hand_centre(sample)
        if hand_centre is not None:  # a 3D crop's centre (depth_crop): chosen on the whole frame
            sample = {**sample, "centre_mm": hand_centre}
        region = codec.crop_region(sample)
        centre, side = region if region is not None else transforms.bbox_centre_size(
            sample["bbox"])
        if region is None:
            side *= spec["crop_padding"]
        M = transforms.crop_matrix(centre, side, size, **warp)
        warped = transforms.warp_sample(sample, M, size)
        if warp.get("rotation_deg") and "kp3d" in sample and "K" in sample:
            unrotated = transforms.crop_matrix(centre, side, size,
                                               **{**warp, "rotation_deg": 0.0})
            warped.update(transforms.follow_rotation(sample, M, unrotated))
        sample = warped

        kp2d = sample["kp2d"].reshape(-1, 2).astype(np.float32)
        labelled, kinds = labelled.reshape(-1), kinds.reshape(-1)
        in_frame = np.all((kp2d >= 0) & (kp2d < size), axis=-1)
        kinds = np.where(labelled & ~in_frame, np.int8(4), kinds).astype(np.int8)
        item = {
            "kp2d": kp2d,
            "labelled": labelled,
            "visible": np.asarray(sample["visible"], bool).reshape(-1) & in_frame,
            "in_frame": in_frame,
            "visibility_kind": kinds,
            "norm_size": np.float32(np.nan_to_num(bbox_size(kp2d, labelled))),
            "crop": (np.vstack([M, [0.0, 0.0, 1.0]]) @ mirror).astype(np.float32),
            "mirrored": np.bool_(not np.array_equal(mirror, np.eye(3))),
            "index": np.int64(index),
        }
        if two:
            item["hand_valid"] = np.asarray(sample["hand_valid"], bool)
            # InterHand2.6M marks frames whose hand type is not to be trusted (its
            # ``hand_type_valid``); every other source's hand type is its label
            item["hand_type_valid"] = np.bool_(sample.get("meta", {}).get("hand_type_valid",
                                                                          True))
        if modality == "rgb":
            if "image" not in sample:
                raise ValueError(f"modality 'rgb' but sample {index} has no image")
            image = sample["image"]
            if self.augment and self.augment.get("colour"):
                image = transforms.colour_jitter(image, rng, float(self.augment["colour"]))
            item["image"] = transforms.normalise_image(image)
        elif "depth" not in sample:
            raise ValueError(f"modality 'depth' but sample {index} has no depth map")
        else:
            item["depth"] = np.asarray(sample["depth"], np.float32)
        if "kp3d" in sample and np.isfinite(sample["kp3d"]).any():  # FreiHAND-2D files: all NaN
            item.update(_labels_3d(sample, two))
        if sample.get("centre_mm") is not None:  # the hand centre the crop is made around
            item["centre_mm"] = np.asarray(sample["centre_mm"], np.float32)
        if self.augment:  # the zoom of the scale augmentation (a depth cube shrinks with it)
            item["crop_scale"] = np.float32(warp.get("scale", 1.0))
        item.update(codec.encode(item))
        if modality == "depth" and item["depth"].ndim == 2:
            item["depth"] = item["depth"][None]
        return item


def _labels_3d(sample: dict, two: bool) -> dict[str, np.ndarray]:
    """3D labels of a cropped sample: camera-frame joints, root-relative joints, wrist depths."""
    hands = np.asarray(sample["kp3d"], np.float32).reshape(-1, NUM_JOINTS, 3)
    roots = hands[:, WRIST]
    out = {
        "kp3d": hands.reshape(-1, 3),
        "kp3d_rel": (hands - roots[:, None]).reshape(-1, 3),
        "root_depth_abs": roots[:, 2].astype(np.float32),
        "K": np.asarray(sample["K"], np.float32),
    }
    if two:
        out["root_depth"] = np.float32(roots[1, 2] - roots[0, 2])
        out["rel_root"] = (roots[1] - roots[0]).astype(np.float32)
    return out
