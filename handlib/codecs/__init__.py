"""Codecs: one object per kind of model output that encodes training targets and decodes
predictions, shared by the data pipeline and the model's head (as MMPose's codecs are).

A run names its codec in its data section, ``data.codec: {name: ..., **options}`` (or a list
of such specs, combined by :class:`CompositeCodec`):

=================  ======================================================  ==================
codec              targets (``encode``)                                    papers
=================  ======================================================  ==================
``heatmap2d``      2D Gaussian heat maps + joint weights                   RCSF, CPN, HRNet
``heatmap3d``      per-joint voxel heat maps around each wrist, relative   MS-FF, InterNet+
                   root depth (1D heat map), hand type; two hands          (InterNet)
``softargmax2d``   2D joints for a soft-argmax over latent heat maps       ResUnet
``bones3d``        20 bone vectors on the kinematic tree                   ResUnet
``depth_crop``     a 3D cube crop, depth and joints normalised to it,      CrossInfoNet
                   heat maps of chosen joint subsets
``scoremap_lift``  2D score maps, scale-normalised wrist-relative 3D in    Zimmermann & Brox
                   a canonical frame + viewpoint rotation; two hands       (MS-FF's PoseNet)
=================  ======================================================  ==================

The interface (:class:`Codec`):

- ``crop_region(sample)``: where to crop the canonical sample (``None``: the pipeline's square
  around the hand box; ``depth_crop`` crops a 3D cube around the hand centre);
- ``encode(item)``: the item's labels, already in the crop frame (``kp2d`` in input pixels,
  ``labelled``, ``in_frame``, ``visible``, ``kp3d`` in camera mm with the crop's ``K``, ...; see
  ``handlib.data.pipeline``) → the targets and their masks, as new item keys;
- ``decode_crop(outputs, batch)``: the model's outputs and the batch's labels → predictions in
  the crop frame (``kp2d`` input pixels, ``kp3d`` camera mm, ``kp3d_rel`` root-relative mm,
  ``hand_type``, ``root_depth``, ``rel_root``, ``confidence``);
- ``decode(outputs, batch)``: the same predictions in each sample's own frame
  (:func:`handlib.codecs.geometry.to_sample_frame`: the inverse crop A⁻¹, the mirror undone).
  The inverse crop and the back-projection P⁻¹ live in :mod:`handlib.codecs.geometry` only.

**Pixel convention (the one place it is defined).** Coordinates are continuous: pixel
``(row, col)`` covers ``[col, col+1) x [row, row+1)`` and its centre is ``(col + 0.5, row + 0.5)``.
So an image of side ``S`` spans ``[0, S)``, resizing by a factor ``s`` maps ``x -> s * x``, and a
point ``(x, y)`` lies in pixel ``(floor(y), floor(x))``. A heat map of side ``h`` for an input
of side ``S`` has cells of ``S / h`` input pixels; input point ``x`` is heat-map point
``x * h / S``.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from handlib.codecs import geometry
from handlib.skeleton import NUM_JOINTS

#: Codec name -> ``module:class`` (the registry's table; :data:`CODECS` reads it).
_TABLE: dict[str, str] = {
    "heatmap2d": "handlib.codecs.heatmap2d:Heatmap2D",
    "heatmap3d": "handlib.codecs.heatmap3d:Heatmap3D",
    "softargmax2d": "handlib.codecs.softargmax:SoftArgmax2D",
    "bones3d": "handlib.codecs.bones:Bones3D",
    "depth_crop": "handlib.codecs.depth_crop:DepthCrop",
    "scoremap_lift": "handlib.codecs.scoremap_lift:ScoremapLift",
}


class _Registry(Mapping):
    """Codec name -> codec class, each module imported on first access (so ``import handlib``
    stays cheap and ``handlib.data`` and ``handlib.codecs`` can import each other's modules)."""

    def __getitem__(self, name: str) -> type:
        module, cls = _TABLE[name].split(":")
        return getattr(importlib.import_module(module), cls)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in _TABLE

    def __iter__(self) -> Iterator[str]:
        return iter(_TABLE)

    def __len__(self) -> int:
        return len(_TABLE)

    def __repr__(self) -> str:
        return f"CODECS({', '.join(_TABLE)})"


#: Codec name -> class (a read-only mapping that imports each codec's module when asked).
CODECS: Mapping[str, type] = _Registry()


class Codec:
    """Base class: subclasses implement ``encode`` and ``decode_crop`` (see the module doc)."""

    name = "codec"
    #: True: items use the two-hand slots (42 joints, right 0-20, left 21-41, ``hand_valid``).
    two_slot = False
    #: True: the decoded 3D pose takes its scale from the ground truth (a scale-free output, as
    #: Zimmermann & Brox's), so it cannot be scored without it ("GT S = Y").
    needs_gt_scale = False

    def hand_centre(self, sample: dict) -> np.ndarray | None:
        """The hand's 3D centre (camera mm) a crop is cut around, chosen once on the whole frame
        before the crop (``depth_crop``), or ``None``: the crop follows the hand's 2D box."""
        return None

    def crop_region(self, sample: dict) -> tuple[np.ndarray, float] | None:
        """(centre (2,), side) in the sample's own pixels, or ``None`` for the pipeline's rule."""
        return None

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def decode_crop(self, outputs: dict[str, torch.Tensor],
                    batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def decode(self, outputs: dict[str, torch.Tensor],
               batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """Predictions in each sample's own frame (kp2d in original-image pixels)."""
        return geometry.to_sample_frame(self.decode_crop(outputs, batch), batch)


def output(outputs: dict, key: str, codec: str) -> torch.Tensor:
    """``outputs[key]``, or a clear error naming what the codec needs from the model."""
    if key not in outputs:
        raise ValueError(f"codec {codec!r} decodes the model output {key!r}, but the model "
                         f"returned {', '.join(outputs) or 'nothing'}: pair the model with "
                         "the codec that matches its head")
    return outputs[key]


def check_two_hand_decode(codec: str, predicted, ndim: int, layout: str, batch) -> None:
    """What a two-hand codec's ``decode_crop`` refuses, with the fix: a model output ``predicted``
    that is not ``ndim``-D with 42 joints on axis 1 (``layout`` names the expected shape), or a
    batch that is not in the two-hand layout (42 joints and ``hand_valid``)."""
    joints = 2 * NUM_JOINTS
    if predicted.ndim != ndim or predicted.shape[1] != joints:
        raise ValueError(f"{codec} decodes two hands: {layout}; the model predicts "
                         f"{tuple(predicted.shape)}: a one-hand model cannot use a two-hand codec")
    if "hand_valid" not in batch or ("kp2d" in batch and np.shape(batch["kp2d"])[1] != joints):
        raise ValueError(f"{codec} is a two-hand codec: the batch is not in the two-hand layout "
                         "(42 joints and hand_valid); build it with this codec so the pipeline "
                         "puts every sample in the two hand slots")


def to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value)


class CompositeCodec(Codec):
    """Several codecs on one item (e.g. ResUnet's ``softargmax2d`` + ``bones3d``): the crop of
    the first part that has one, the union of their targets and of their predictions (a key
    produced by two parts is an error)."""

    name = "composite"

    def __init__(self, parts: list[Codec]):
        self.parts = parts
        self.two_slot = any(part.two_slot for part in parts)
        self.name = "+".join(part.name for part in parts)

    def _first_part(self, method: str, sample):
        """What the first part that has one gives by ``method`` (a crop's centre or region)."""
        for part in self.parts:
            found = getattr(part, method)(sample)
            if found is not None:
                return found
        return None

    def hand_centre(self, sample):
        return self._first_part("hand_centre", sample)

    def crop_region(self, sample):
        return self._first_part("crop_region", sample)

    @staticmethod
    def _union(dicts: list[dict], what: str) -> dict:
        merged: dict = {}
        for found in dicts:
            twice = sorted(set(merged) & set(found))
            if twice:
                raise ValueError(f"two codecs both produce the {what} {twice}; combine codecs "
                                 "that produce different keys")
            merged.update(found)
        return merged

    def encode(self, item):
        return self._union([part.encode(item) for part in self.parts], "targets")

    def decode_crop(self, outputs, batch):
        return self._union([part.decode_crop(outputs, batch) for part in self.parts],
                           "predictions")


def module_of(name: str) -> str:
    """The module that defines codec ``name``."""
    if not isinstance(name, str) or name not in _TABLE:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(_TABLE)}")
    return _TABLE[name].split(":")[0]


def codec_class(name: str) -> type:
    """The class of codec ``name`` (imported on first use, keeping ``import handlib`` cheap)."""
    module_of(name)  # a clear error for an unknown name
    return CODECS[name]


def build(spec: dict | list) -> Codec:
    """The codec of a spec ``{name, **options}``, or a :class:`CompositeCodec` of a list.

    An unknown name, an unknown option or a missing required option raises ValueError naming
    the valid names or the codec's options."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("an empty list of codecs; give at least one {name: ...} spec")
        return CompositeCodec([build(part) for part in spec])
    if not isinstance(spec, dict):
        raise ValueError(f"a codec spec is a {{name: ..., **options}} dict or a list of them, "
                         f"got {spec!r}")
    options: dict[str, Any] = {key: value for key, value in spec.items() if key != "name"}
    cls = codec_class(spec.get("name"))
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"codec {spec['name']!r} has no option(s) {unknown}; its options are "
                         f"{', '.join(accepted) or 'none'}")
    missing = [name for name, p in accepted.items()
               if p.default is inspect.Parameter.empty and name not in options
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise ValueError(f"codec {spec['name']!r} needs the option(s) {missing}")
    return cls(**options)
