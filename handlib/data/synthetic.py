"""The synthetic hand engine: articulated, rendered hands with exact labels and known occlusion.

Every sample is a deterministic function of ``(seed, split, index)`` and the generator's
parameters: a ``numpy.random.Generator`` seeded with ``[seed, split stream, index]`` draws the
scene (no global random state), the renderer (``handlib.data.render``) draws it. Train,
validation, test and the heavily occluded ``hard`` split use disjoint seed streams.

A scene (``sample_scene``) holds one hand, or two (a right and a left hand, as in InterHand2.6M:
interacting, i.e. 40-90 mm apart with overlapping image boxes, or side by side; with
``single_prob`` some frames of a two-hand dataset show one hand only, InterHand2.6M's single-hand
frames, the other slot unlabelled), each with a shape and pose from ``handlib.data.hand_model``,
a rotation drawn uniformly over the whole viewing sphere (palm or back towards the camera) and a distance in
``distance_mm``; optional occluding objects (capsules, balls, plates) in front of the hand, like
the object occlusion of GANerated/SynthHands; a pinhole camera ``K``; a procedural background
(``handlib.data.appearance``) and a background surface (a tilted plane) for the depth map.

What a dataset's stand-in changes (``handlib.data.presets``; ``make_params(..., preset=...)``):
``view_cone_deg``/``roll_deg``/``back_prob`` keep the hand within a cone of facing the camera
(palm, or back with ``back_prob``) and near fingers-up, instead of uniform rotations;
``subjects`` draws every hand's shape and skin from a fixed pool of people (STB's one subject,
RHD's twenty), ``backgrounds`` every background from a fixed pool, ``plain_background`` gives a
dark studio backdrop. A pool member is the same in every split and for every seed.

Two framings:

- ``"scene"`` (default): a fixed camera with ``fov_deg`` field of view; the hand lands anywhere in
  the central part of the frame, large when near and small when far, and may leave the frame.
- ``"hand"``: the camera zooms so that the hand's box, enlarged by ``crop_padding``, fills the
  frame (as in pre-cropped datasets); used by the training pipeline, which then needs no
  resampling and gets every pixel of resolution.

Labels: ``kp3d`` are the joint centres in the camera frame (mm), ``kp2d`` their exact projections
with ``K`` (pixel convention of ``handlib.codecs``). Per-joint visibility comes from the
z-buffer (``occlusion_kinds``): a joint is **visible** iff it is in frame, the surface seen at its
pixel belongs to its own hand and to its own part (its finger; for the wrist the palm or
forearm; for the finger bases also the palm), and that surface lies no more than
``VISIBILITY_TOL_MM`` in front of the joint's own sphere. Otherwise it is ``out_of_frame``,
occluded by an ``object``, by the ``other_hand``, or ``self``-occluded. Joint spheres are drawn at
least ``MIN_RADIUS_PX`` wide, so a joint's pixel always shows its own sphere unless something
hides it.

Length: one module, because a sample's randomness is read top to bottom in one place: the
parameters, the scene sampler, the hand placement, the occluders, the labels from the z-buffer
and the dataset with its shard cache all draw from the one per-sample generator, and splitting
them would scatter the order in which it is consumed (which fixes every sample).

The sample is the canonical sample (``book/design.md``) plus ``mask`` (H,W int8 part id, ``PART_NAMES``;
the second hand's parts are offset by ``SECOND_HAND_OFFSET``). Two hands: leading axis 2 (index 0
the right hand, 1 the left, as in InterHand2.6M) and ``hand_valid`` (2,).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from handlib.data import appearance, hand_model, presets
from handlib.data.render import plane_depth, render
from handlib.data.shard_cache import ShardCache
from handlib.data.two_hands import to_two_slots
from handlib.paths import cache_dir
from handlib.skeleton import FINGERS, JOINT_FINGER, NUM_JOINTS, PALM_JOINTS, PARENTS, finger_joints

#: Bump whenever a change alters any generated sample; cached shards are keyed by it.
GENERATOR_VERSION = "1.3.0"

SPLITS: tuple[str, ...] = ("train", "val", "test", "hard")
_STREAM = {"train": 0, "val": 1, "test": 2, "hard": 3}
OCCLUSION_KINDS: tuple[str, ...] = ("visible", "self", "object", "other_hand", "out_of_frame")

#: Part ids of the ``mask``; the second hand's parts are offset by SECOND_HAND_OFFSET.
PART_NAMES: dict[int, str] = {0: "background", 1: "palm", 2: "thumb", 3: "index", 4: "middle",
                              5: "ring", 6: "little", 7: "forearm", 8: "object"}
PALM, FOREARM, OBJECT = 1, 7, 8
SECOND_HAND_OFFSET = 10
FINGER_PART = {finger: 2 + k for k, finger in enumerate(FINGERS)}

VISIBILITY_TOL_MM = 2.0
MIN_RADIUS_PX = 0.75
NEAREST_MM = 30.0

#: Split presets: the ``hard`` split has objects in every image, more of them, near the hand's
#: centre, and poses that hide their own joints.
SPLIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "train": {}, "val": {}, "test": {},
    "hard": {"occluder_prob": 1.0, "max_objects": 3, "object_size": 1.3, "object_anchor": "centre",
             "family_weights": (("open", 0.0), ("relaxed", 0.1), ("fist", 0.25),
                                ("pinch", 0.2), ("point", 0.1), ("grasp", 0.25),
                                ("random", 0.1))},
}


@dataclass(frozen=True)
class SynthParams:
    """Everything that determines the generated samples (besides seed, split and index)."""

    image_size: int = 128
    two_hands: bool = False
    occluder_prob: float = 0.3
    max_objects: int = 2
    object_size: float = 1.0
    object_anchor: str = "joint"
    modality: str = "rgb+depth"
    framing: str = "scene"
    crop_padding: float = 1.3
    fov_deg: float = 60.0
    distance_mm: tuple[float, float] = (250.0, 800.0)
    hand_length_mm: tuple[float, float] = (160.0, 210.0)
    interacting_prob: float = 0.5
    single_prob: float = 0.0
    family_weights: tuple[tuple[str, float], ...] | None = None
    rgb_noise: float = 0.01
    blur_sigma: float = 0.0
    depth_noise_mm: float = 0.0
    depth_dropout: float = 0.0
    view_cone_deg: float = 180.0
    roll_deg: float = 180.0
    back_prob: float = 0.5
    subjects: int = 0
    backgrounds: int = 0
    plain_background: bool = False
    preset: str | None = None

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"synthetic hands: {name}={getattr(self, name)!r} is invalid: {why}")

        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 8:
            bad("image_size", "it must be an integer of at least 8 pixels")
        for name in ("occluder_prob", "interacting_prob", "depth_dropout", "back_prob",
                     "single_prob"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                bad(name, "a probability must lie in [0, 1]")
        if not isinstance(self.max_objects, (int, np.integer)) or not 0 <= self.max_objects <= 8:
            bad("max_objects", "it must be an integer in 0..8")
        for name in ("subjects", "backgrounds"):
            if not isinstance(getattr(self, name), (int, np.integer)) or getattr(self, name) < 0:
                bad(name, "it must be an integer >= 0 (0: a new one for every sample)")
        for name in ("view_cone_deg", "roll_deg"):
            if not 0.0 <= float(getattr(self, name)) <= 180.0:
                bad(name, "an angle range must lie in [0, 180] degrees")
        for name in ("object_size", "crop_padding"):
            if float(getattr(self, name)) <= 0:
                bad(name, "it must be > 0")
        for name in ("rgb_noise", "blur_sigma", "depth_noise_mm"):
            if float(getattr(self, name)) < 0:
                bad(name, "it must be >= 0")
        if self.modality not in ("rgb", "depth", "rgb+depth"):
            bad("modality", "choose 'rgb', 'depth' or 'rgb+depth'")
        if self.object_anchor not in ("joint", "centre"):
            bad("object_anchor", "objects are placed over a random 'joint' or the hand's 'centre'")
        if self.framing not in ("scene", "hand"):
            bad("framing", "choose 'scene' or 'hand'")
        if not 10.0 <= float(self.fov_deg) <= 120.0:
            bad("fov_deg", "the field of view must be between 10 and 120 degrees")
        for name, low in (("distance_mm", 100.0), ("hand_length_mm", 50.0)):
            value = tuple(getattr(self, name))
            if len(value) != 2 or not low <= value[0] <= value[1]:
                bad(name, f"give (min, max) with {low} <= min <= max")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        if self.family_weights is not None:
            weights = dict(self.family_weights)
            hand_model.family_probabilities(weights)  # validates names and values
            object.__setattr__(self, "family_weights", tuple(sorted(weights.items())))

    @functools.cached_property
    def key(self) -> str:
        """A short hash of the generator version and these parameters (the cache key)."""
        text = json.dumps([GENERATOR_VERSION, dataclasses.asdict(self)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_params(split: str, image_size: int, preset: str | None = None,
                **options: Any) -> SynthParams:
    """``SynthParams`` for ``split``, with clear errors: a dataset ``preset``
    (``handlib.data.presets``, its image size aside) under the split's defaults (the ``hard``
    split's objects) under the explicit ``options`` (None = not given)."""
    if split not in SPLITS:
        raise ValueError(f"unknown synthetic split {split!r}; choose one of {', '.join(SPLITS)}")
    fields = {f.name for f in dataclasses.fields(SynthParams)} - {"preset"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"unknown synthetic-hand option(s) {unknown}; valid options: "
                         f"preset, {', '.join(sorted(fields))}")
    base = {}
    if preset is not None:
        base = {k: v for k, v in presets.get(preset).options.items() if k != "image_size"}
    merged = {**base, **SPLIT_DEFAULTS[split],
              **{k: v for k, v in options.items() if v is not None}}
    if isinstance(merged.get("family_weights"), dict):
        merged["family_weights"] = tuple(merged["family_weights"].items())
    return SynthParams(image_size=image_size, preset=preset, **merged)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: its own stream, a function of (seed, split, index) only."""
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([int(seed), _STREAM[split], int(index)])


# ---- geometry of one hand -----------------------------------------------------------------
_PALM_CAPSULES = (  # (from, to, radius at from, radius at to) in reference mm; see _hand_geometry
    ("wrist_radial", "index", 10.0, 9.5), ("wrist_ulnar", "little", 11.0, 8.5),
    ("wrist_radial", "wrist_ulnar", 14.0, 14.0), ("index", "middle", 9.5, 9.5),
    ("middle", "ring", 9.5, 9.0), ("ring", "little", 9.0, 8.5), ("wrist", "thumb", 13.0, 12.0),
)
CAPSULES_PER_HAND = NUM_JOINTS + 15 + len(_PALM_CAPSULES) + 1
TRIANGLES_PER_HAND = 4


def _own_parts(joint: int) -> tuple[int, ...]:
    if joint == 0:
        return (PALM, FOREARM)
    finger = FINGER_PART[JOINT_FINGER[joint]]
    return (finger, PALM) if joint in PALM_JOINTS else (finger,)


#: Parts (of its own hand) that may be seen at a visible joint's pixel.
OWN_PARTS: tuple[tuple[int, ...], ...] = tuple(_own_parts(j) for j in range(NUM_JOINTS))


def _hand_geometry(shape: dict, fk: dict, forearm_mm: float) -> dict:
    """Capsules and triangles of a right hand in its hand frame (mm)."""
    joints = fk["joints"]
    scale = shape["scale"]
    radii = hand_model.segment_radii(shape)
    named = {"wrist": joints[0], "wrist_radial": fk["palm_corners"][0],
             "wrist_ulnar": fk["palm_corners"][1],
             **{f: joints[finger_joints(f)[0]] for f in FINGERS}}
    a, b, ra, rb, part = [], [], [], [], []

    def capsule(p, q, r0, r1, part_id):
        a.append(p), b.append(q), ra.append(r0), rb.append(r1), part.append(part_id)

    capsule(joints[0], joints[0], scale * hand_model.WRIST_RADIUS_MM,
            scale * hand_model.WRIST_RADIUS_MM, PALM)
    for j in range(1, NUM_JOINTS):  # joint spheres, slot = joint id
        finger = JOINT_FINGER[j]
        r = 1.06 * radii[finger][(j - 1) % 4]
        capsule(joints[j], joints[j], r, r, FINGER_PART[finger])
    for j in range(1, NUM_JOINTS):  # bones whose parent is not the wrist
        if PARENTS[j] != 0:
            finger = JOINT_FINGER[j]
            k = (j - 1) % 4
            capsule(joints[PARENTS[j]], joints[j], radii[finger][k - 1], radii[finger][k],
                    FINGER_PART[finger])
    for p, q, r0, r1 in _PALM_CAPSULES:
        capsule(named[p], named[q], scale * r0, scale * r1, PALM)
    start = joints[0] + 22.0 * scale * fk["forearm_dir"]
    capsule(start, start + forearm_mm * fk["forearm_dir"], 19.0 * scale, 24.0 * scale, FOREARM)
    thumb = finger_joints("thumb")
    triangles = np.array([
        [named["wrist_radial"], named["index"], named["little"]],
        [named["wrist_radial"], named["little"], named["wrist_ulnar"]],
        [joints[0], joints[thumb[0]], named["index"]],
        [joints[thumb[0]], fk["thumb_web"], named["index"]],
    ])
    return {"a": np.array(a), "b": np.array(b), "Ra": np.array(ra), "Rb": np.array(rb),
            "part": np.array(part), "tri": triangles,
            "tri_offset": np.full(TRIANGLES_PER_HAND, scale * hand_model.PALM_HALF_THICKNESS_MM)}


def _transform(geometry: dict, rotation: np.ndarray, translation: np.ndarray,
               mirror: bool) -> dict:
    flip = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
    out = dict(geometry)
    for key in ("a", "b", "tri"):
        out[key] = (geometry[key] * flip) @ rotation.T + translation
    return out


# ---- scenes --------------------------------------------------------------------------------
def _place(rng, params: SynthParams, K: np.ndarray) -> np.ndarray:
    z = rng.uniform(*params.distance_mm)
    u, v = rng.uniform(0.3, 0.7, 2) * params.image_size
    return np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])


def _make_hand(side: str, shape: dict, family: str, pose: np.ndarray, rotation: np.ndarray,
               forearm_mm: float) -> dict:
    fk = hand_model.forward_kinematics(shape, pose)
    return {"side": side, "shape": shape, "family": family, "pose": pose, "fk": fk,
            "geometry": _hand_geometry(shape, fk, forearm_mm), "rotation": rotation}


#: Fixed streams of the person and background pools (``subjects``, ``backgrounds``): person or
#: background ``k`` is the same in every split and for every seed, as one STB subject is.
_SUBJECT_STREAM, _BACKGROUND_STREAM = 101, 102
#: Hand frame -> camera frame of a hand whose palm faces the camera with its fingers up
#: (hand x radial, y distal, z palmar; camera x right, y down, z forward).
_PALM_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


def _person(params: SynthParams, rng) -> tuple[dict, np.ndarray] | None:
    """(shape, skin tone) of one of the ``subjects`` people, or None for a new person per hand."""
    if not params.subjects:
        return None
    person = np.random.default_rng([_SUBJECT_STREAM, int(rng.integers(params.subjects))])
    return (hand_model.sample_shape(person, params.hand_length_mm),
            appearance.sample_skin_tone(person))


def _hand_rotation(rng, params: SynthParams) -> np.ndarray:
    """Hand -> camera rotation: uniform over SO(3), or within ``view_cone_deg`` of facing the
    camera (palm, or back with ``back_prob``; the cone uniform over its solid angle) and within
    ``roll_deg`` of fingers-up in the image plane."""
    if params.view_cone_deg >= 180.0 and params.roll_deg >= 180.0:
        return hand_model.random_rotation(rng)
    facing = _PALM_TO_CAMERA
    if rng.random() < params.back_prob:  # turn about the finger axis: the back faces the camera
        facing = hand_model.rotation_about(np.array([0.0, 1.0, 0.0]), np.pi) @ facing
    cos_tilt = rng.uniform(np.cos(np.deg2rad(params.view_cone_deg)), 1.0)
    azimuth = rng.uniform(0.0, 2 * np.pi)
    tilt = hand_model.rotation_about(np.array([np.cos(azimuth), np.sin(azimuth), 0.0]),
                                     np.arccos(cos_tilt))
    roll = hand_model.rotation_about(np.array([0.0, 0.0, 1.0]),
                                     np.deg2rad(rng.uniform(-params.roll_deg, params.roll_deg)))
    return roll @ tilt @ facing


def _sample_hand(rng, params: SynthParams, side: str, probabilities: np.ndarray,
                 shape: dict | None = None) -> dict:
    shape = shape if shape is not None else hand_model.sample_shape(rng, params.hand_length_mm)
    family = str(rng.choice(hand_model.FAMILY_NAMES, p=probabilities))
    pose = hand_model.sample_pose(rng, family)
    forearm_mm = rng.uniform(80, 250) * shape["scale"]
    return _make_hand(side, shape, family, pose, _hand_rotation(rng, params), forearm_mm)


def _put_hand(rng, hand: dict, target: np.ndarray, skin: np.ndarray) -> None:
    """Move ``hand`` so that its joints' centroid lies at ``target`` (camera frame, mm)."""
    mirror = hand["side"] == "left"
    centre = hand["fk"]["joints"].mean(axis=0) * np.array([-1.0 if mirror else 1.0, 1, 1])
    translation = target - hand["rotation"] @ centre
    hand["geometry"] = _transform(hand["geometry"], hand["rotation"], translation, mirror)
    hand["kp3d"] = hand["geometry"]["a"][:NUM_JOINTS].copy()
    hand["skin"] = np.clip(skin * rng.uniform(0.97, 1.03, 3), 0, 1)
    sleeve = rng.random() < 0.35
    hand["forearm_albedo"] = appearance.sample_colour(rng) if sleeve else hand["skin"]
    hand["forearm_texture"] = appearance.sample_texture(rng, 0.4 if sleeve else 0.0)


#: Draws of an interacting hand's offset before the last one is kept (see _touching_offset).
TOUCH_TRIES = 20


def _joints_at(hand: dict, target: np.ndarray) -> np.ndarray:
    """The joints ``hand`` would have with its centroid at ``target`` (as ``_put_hand`` puts it)."""
    joints = hand["fk"]["joints"] * np.array([-1.0 if hand["side"] == "left" else 1.0, 1, 1])
    return (joints - joints.mean(axis=0)) @ hand["rotation"].T + target


def _boxes_overlap(K: np.ndarray, first: np.ndarray, second: np.ndarray) -> bool:
    a, b = project(K, first), project(K, second)
    return bool((a.min(axis=0) < b.max(axis=0)).all() and (b.min(axis=0) < a.max(axis=0)).all())


def _touching_offset(rng, K: np.ndarray, first_joints: np.ndarray, hand: dict,
                     target: np.ndarray) -> np.ndarray:
    """An offset of 40-90 mm in a random direction between the two hands' centroids whose joint
    boxes overlap in the image: InterHand2.6M's interacting frames, where the hands touch or
    cross. Up to ``TOUCH_TRIES`` draws; the last is kept if none overlaps."""
    for _ in range(TOUCH_TRIES):
        offset = rng.standard_normal(3)
        offset *= rng.uniform(40, 90) / np.linalg.norm(offset)
        if _boxes_overlap(K, first_joints, _joints_at(hand, target + offset)):
            break
    return offset


def _sample_object(rng, params: SynthParams, anchor: np.ndarray) -> dict:
    size = params.object_size
    in_front = rng.uniform(20, 120)
    centre = anchor * max(anchor[2] - in_front, 1.0) / anchor[2]  # on the ray through the anchor
    kind = str(rng.choice(["capsule", "ball", "plate"], p=[0.4, 0.3, 0.3]))
    if kind == "capsule":
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        half = 0.5 * rng.uniform(40, 160) * size
        points = np.array([centre - half * axis, centre + half * axis])
        radius = rng.uniform(6, 25) * size
    elif kind == "ball":
        points = np.array([centre, centre])
        radius = rng.uniform(12, 40) * size
    else:
        rotation = hand_model.random_rotation(rng)
        w, h = rng.uniform(15, 60, 2) * size
        points = np.array([[-w, -h, 0], [w, -h, 0], [w, h, 0], [-w, h, 0]]) @ rotation.T + centre
        radius = 0.0
    nearest = points[:, 2].min() - radius
    if nearest < NEAREST_MM:  # keep the object in front of the camera
        points = points + np.array([0.0, 0.0, NEAREST_MM - nearest])
    return make_object(kind, points, radius, appearance.sample_colour(rng, skin_prob=0.15),
                       appearance.sample_texture(rng, 0.5))


def make_object(kind: str, points: np.ndarray, radius: float = 0.0,
                albedo=(0.2, 0.4, 0.8), texture=(0.0, 10.0, 0.0, 0.0)) -> dict:
    """An occluding object in camera coordinates (mm): a ``"capsule"`` (2 points, ``radius``), a
    ``"ball"`` (its centre twice, ``radius``) or a ``"plate"`` (4 corners, in order)."""
    expected = {"capsule": 2, "ball": 2, "plate": 4}
    points = np.asarray(points, dtype=np.float64)
    if kind not in expected or points.shape != (expected[kind], 3):
        raise ValueError(f"an object is a capsule or ball (2 points) or a plate (4 points); got "
                         f"{kind!r} with points of shape {points.shape}")
    return {"kind": kind, "points": points, "radius": float(radius),
            "albedo": np.asarray(albedo, float), "texture": np.asarray(texture, float)}


def _camera(params: SynthParams) -> np.ndarray:
    focal = 0.5 * params.image_size / np.tan(np.deg2rad(params.fov_deg) / 2)
    return np.array([[focal, 0, params.image_size / 2], [0, focal, params.image_size / 2],
                     [0, 0, 1.0]])


def sample_scene(params: SynthParams, rng: np.random.Generator) -> dict:
    """Everything about one sample except its pixels, in camera coordinates (mm)."""
    K = _camera(params)
    probabilities = hand_model.family_probabilities(
        dict(params.family_weights) if params.family_weights else None)
    single = params.two_hands and params.single_prob > 0 and rng.random() < params.single_prob
    sides = (("right", "left") if params.two_hands and not single
             else (str(rng.choice(["right", "left"])),))
    person = _person(params, rng)
    hands = [_sample_hand(rng, params, side, probabilities, person and person[0])
             for side in sides]
    skin = person[1] if person else appearance.sample_skin_tone(rng)
    target = _place(rng, params, K)
    placement = "single" if single else None
    for k, hand in enumerate(hands):
        if k == 1:
            placement = "interacting" if rng.random() < params.interacting_prob else "separate"
            if placement == "interacting":
                offset = _touching_offset(rng, K, hands[0]["kp3d"], hand, target)
            else:
                angle = rng.uniform(0, 2 * np.pi)
                offset = np.array([np.cos(angle), np.sin(angle), 0.0]) * rng.uniform(130, 250)
                offset[2] = rng.normal(0, 60)
            target = target + offset
            target[2] = max(target[2], 0.8 * params.distance_mm[0])
        _put_hand(rng, hand, target, skin)

    objects = []
    if rng.random() < params.occluder_prob and params.max_objects > 0:
        for _ in range(int(rng.integers(1, params.max_objects + 1))):
            hand = hands[int(rng.integers(len(hands)))]
            if params.object_anchor == "centre":
                anchor = hand["kp3d"].mean(axis=0)
            else:
                anchor = hand["kp3d"][int(rng.integers(NUM_JOINTS))]
            anchor = anchor + np.array([*rng.normal(0, 20, 2), 0.0])
            objects.append(_sample_object(rng, params, anchor))
    return _finish_scene(rng, params, K, hands, objects, placement)


def _finish_scene(rng, params, K, hands, objects, placement) -> dict:
    """Camera framing, light, background surface and clutter."""
    if params.framing == "hand":
        K = _hand_framing(rng, params, K, hands)
    light = hand_model.unit(np.array([*rng.normal(0, 0.6, 2), -1.0]))
    tilt, azimuth = np.deg2rad(rng.uniform(0, 35)), rng.uniform(0, 2 * np.pi)
    normal = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth),
                       np.cos(tilt)])
    all_joints = np.concatenate([h["kp3d"] for h in hands])
    offset = (all_joints @ normal).max() + rng.uniform(100, 500) * normal[2]
    return {
        "K": K, "hands": hands, "objects": objects, "placement": placement,
        "light": {"direction": light, "ambient": rng.uniform(0.25, 0.5),
                  "diffuse": rng.uniform(0.5, 0.9)},
        "plane": np.concatenate([normal, [offset]]),
        "background": _background(rng, params) if "rgb" in params.modality else None,
    }


def _background(rng, params: SynthParams) -> dict:
    """A new background, or one of a pool of ``backgrounds`` (STB's six scenes, say)."""
    if params.backgrounds:
        rng = np.random.default_rng([_BACKGROUND_STREAM, int(rng.integers(params.backgrounds))])
    return appearance.sample_background(rng, params.plain_background)


def render_pose(pose: np.ndarray, rotation: np.ndarray, position_mm=(0.0, 0.0, 400.0),
                side: str = "right", objects: Sequence[dict] = (), image_size: int = 128,
                seed: int = 0, **options: Any) -> dict:
    """One hand of the reference shape (199 mm) in a given pose, for built examples and tests.

    ``pose``: a vector in ``hand_model.ANGLE_NAMES`` order (degrees; cup in 0..1);
    ``rotation``: hand frame -> camera frame (camera: x right, y down, z forward); the joints'
    centroid is put at ``position_mm``; ``objects`` from ``make_object``. The appearance
    (background, light, skin) is drawn from ``seed``. Returns the canonical sample.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    params = make_params("test", image_size, occluder_prob=0.0,
                         max_objects=max(len(objects), 1), **options)
    rng = np.random.default_rng(seed)
    shape = {"scale": 1.0, "hand_length_mm": hand_model.REFERENCE_LENGTH_MM,
             "segments": {f: np.asarray(hand_model.SEGMENTS_MM[f]) for f in FINGERS}}
    pose = np.clip(np.asarray(pose, dtype=np.float64), *hand_model.ANGLE_LIMITS_DEG.T)
    hand = _make_hand(side, shape, "given", pose, np.asarray(rotation, float), 150.0)
    _put_hand(rng, hand, np.asarray(position_mm, dtype=np.float64),
              appearance.sample_skin_tone(rng))
    scene = _finish_scene(rng, params, _camera(params), [hand], list(objects), None)
    return render_scenes(params, "test", seed, [0], [scene], [rng])[0]


def _projected_radius(K, points, radius):
    return np.maximum(K[0, 0] * radius / points[..., 2], MIN_RADIUS_PX)


def _hand_framing(rng, params: SynthParams, K: np.ndarray, hands: list) -> np.ndarray:
    """Intrinsics that zoom the camera onto the hands' box enlarged by ``crop_padding``."""
    joints = np.concatenate([h["kp3d"] for h in hands])
    radii = np.concatenate([h["geometry"]["Ra"][:NUM_JOINTS] for h in hands])
    uv = project(K, joints)
    r = _projected_radius(K, joints, radii)[:, None]
    lo, hi = (uv - r).min(axis=0), (uv + r).max(axis=0)
    side = params.crop_padding * (hi - lo).max() * rng.uniform(0.95, 1.1)
    centre = 0.5 * (lo + hi) + rng.uniform(-0.05, 0.05, 2) * side
    zoom = params.image_size / side
    origin = centre - side / 2
    return np.array([[K[0, 0] * zoom, 0, (K[0, 2] - origin[0]) * zoom],
                     [0, K[1, 1] * zoom, (K[1, 2] - origin[1]) * zoom], [0, 0, 1.0]])


def project(K: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pinhole projection of (..., 3) camera-frame points to (..., 2) pixels."""
    p = np.asarray(points, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    return p[..., :2] / p[..., 2:3]


# ---- screen-space primitives ------------------------------------------------------------------
def _primitives(scene: dict, params: SynthParams) -> dict:
    """Fixed-size arrays of projected capsules and triangles (unused object slots inactive)."""
    K = scene["K"]
    n_caps = CAPSULES_PER_HAND * len(scene["hands"]) + params.max_objects
    n_tris = TRIANGLES_PER_HAND * len(scene["hands"]) + 2 * params.max_objects
    c = {"a3": np.zeros((n_caps, 3)), "b3": np.zeros((n_caps, 3)), "R0": np.zeros(n_caps),
         "R1": np.zeros(n_caps), "albedo": np.zeros((n_caps, 3)), "texture": np.zeros((n_caps, 4)),
         "active": np.zeros(n_caps, bool)}
    t = {"v3": np.ones((n_tris, 3, 3)), "offset": np.zeros(n_tris),
         "albedo": np.zeros((n_tris, 3)), "texture": np.zeros((n_tris, 4)),
         "active": np.zeros(n_tris, bool)}
    part = np.zeros(n_caps + n_tris, np.int64)
    for k, hand in enumerate(scene["hands"]):
        g = hand["geometry"]
        cs = slice(k * CAPSULES_PER_HAND, (k + 1) * CAPSULES_PER_HAND)
        ts = slice(k * TRIANGLES_PER_HAND, (k + 1) * TRIANGLES_PER_HAND)
        c["a3"][cs], c["b3"][cs], c["R0"][cs], c["R1"][cs] = g["a"], g["b"], g["Ra"], g["Rb"]
        c["albedo"][cs] = np.where((g["part"] == FOREARM)[:, None], hand["forearm_albedo"],
                                   hand["skin"])
        c["texture"][cs] = np.where((g["part"] == FOREARM)[:, None], hand["forearm_texture"], 0)
        c["active"][cs] = True
        t["v3"][ts], t["offset"][ts], t["albedo"][ts] = g["tri"], g["tri_offset"], hand["skin"]
        t["active"][ts] = True
        offset = SECOND_HAND_OFFSET * k
        part[cs] = g["part"] + offset
        part[n_caps + ts.start:n_caps + ts.stop] = PALM + offset
    first_cap = CAPSULES_PER_HAND * len(scene["hands"])
    first_tri = TRIANGLES_PER_HAND * len(scene["hands"])
    for k, obj in enumerate(scene["objects"]):
        if obj["kind"] == "plate":
            i = first_tri + 2 * k
            quad = obj["points"]
            t["v3"][i], t["v3"][i + 1] = quad[[0, 1, 2]], quad[[0, 2, 3]]
            t["albedo"][i:i + 2], t["texture"][i:i + 2] = obj["albedo"], obj["texture"]
            t["active"][i:i + 2] = True
            part[n_caps + i:n_caps + i + 2] = OBJECT
        else:
            i = first_cap + k
            c["a3"][i], c["b3"][i] = obj["points"]
            c["R0"][i] = c["R1"][i] = obj["radius"]
            c["albedo"][i], c["texture"][i] = obj["albedo"], obj["texture"]
            c["active"][i] = True
            part[i] = OBJECT
    c["a3"][~c["active"]] = c["b3"][~c["active"]] = [0.0, 0.0, 1.0]
    ra = _projected_radius(K, c["a3"], c["R0"])
    rb = _projected_radius(K, c["b3"], c["R1"])
    edge1 = t["v3"][:, 1] - t["v3"][:, 0]
    edge2 = t["v3"][:, 2] - t["v3"][:, 0]
    normal = np.cross(edge1, edge2)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    normal *= -np.sign(normal[:, 2:3] + 1e-12)  # facing the camera
    return {
        "caps": {"a": project(K, c["a3"]), "b": project(K, c["b3"]), "za": c["a3"][:, 2],
                 "zb": c["b3"][:, 2], "ra": ra, "rb": rb, "Ra": ra * c["a3"][:, 2] / K[0, 0],
                 "Rb": rb * c["b3"][:, 2] / K[0, 0], "albedo": c["albedo"],
                 "texture": c["texture"], "active": c["active"]},
        "tris": {"v": project(K, t["v3"]), "z": t["v3"][..., 2], "offset": t["offset"],
                 "normal": normal, "albedo": t["albedo"], "texture": t["texture"],
                 "active": t["active"]},
        "part": part,
    }


def _stack(dicts: Sequence[dict], device) -> dict:
    out = {}
    for key in dicts[0]:
        value = np.stack([d[key] for d in dicts])
        dtype = torch.bool if value.dtype == bool else torch.float32
        out[key] = torch.as_tensor(value, dtype=dtype, device=device)
    return out


# ---- labels from the z-buffer ----------------------------------------------------------------
def occlusion_kinds(kp2d: np.ndarray, kp3d: np.ndarray, sphere_radius: np.ndarray,
                    hand: int, prim: np.ndarray, depth: np.ndarray, part: np.ndarray) -> list[str]:
    """Occlusion kind of each joint of ``hand`` from the rendered buffers (see module doc)."""
    height, width = prim.shape
    kinds = []
    for j in range(NUM_JOINTS):
        x, y = kp2d[j]
        if not (0 <= x < width and 0 <= y < height):
            kinds.append("out_of_frame")
            continue
        row, col = int(np.floor(y)), int(np.floor(x))
        winner = prim[row, col]
        seen = part[winner] if winner >= 0 else 0
        seen_hand, seen_part = divmod(seen, SECOND_HAND_OFFSET)
        near_enough = depth[row, col] >= kp3d[j, 2] - sphere_radius[j] - VISIBILITY_TOL_MM
        if seen == 0 or (seen_hand == hand and seen_part in OWN_PARTS[j] and near_enough):
            kinds.append("visible")
        elif seen_part == OBJECT:
            kinds.append("object")
        elif seen_hand != hand:
            kinds.append("other_hand")
        else:
            kinds.append("self")
    return kinds


def _bbox(kp2d: np.ndarray, radius_px: np.ndarray, size: int) -> np.ndarray:
    lo = np.clip((kp2d - radius_px[:, None]).min(axis=0), 0, size)
    hi = np.clip((kp2d + radius_px[:, None]).max(axis=0), 0, size)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)


def generate(params: SynthParams, split: str, seed: int, indices: Sequence[int],
             device: str | torch.device = "cpu", tile: int = 8) -> list[dict]:
    """Canonical samples ``indices`` of ``split``, rendered as one batch on ``device``."""
    rngs = [sample_rng(seed, split, i) for i in indices]
    scenes = [sample_scene(params, rng) for rng in rngs]
    return render_scenes(params, split, seed, indices, scenes, rngs, device, tile)


def render_scenes(params: SynthParams, split: str, seed: int, indices: Sequence[int],
                  scenes: Sequence[dict], rngs: Sequence[np.random.Generator],
                  device: str | torch.device = "cpu", tile: int = 8) -> list[dict]:
    """Render sampled scenes as one batch and assemble their canonical samples."""
    prims = [_primitives(scene, params) for scene in scenes]
    with _cpu_threads(1 if torch.device(device).type == "cpu" else None):
        out = _render_batch(params, scenes, prims, device, tile)
    return [_assemble(params, split, seed, index, scene, prim_info["part"], rng,
                      {k: v[b] for k, v in out.items()})
            for b, (index, scene, prim_info, rng) in enumerate(zip(indices, scenes, prims, rngs))]


@contextlib.contextmanager
def _cpu_threads(count: int | None):
    """Run with ``count`` intra-op threads: per-sample tensors are small, and on a shared CPU
    extra threads cost more in synchronisation than they save (measured 3x slower with 2)."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _render_batch(params, scenes, prims, device, tile) -> dict[str, np.ndarray]:
    size = params.image_size
    K = torch.as_tensor(np.stack([s["K"] for s in scenes]), dtype=torch.float32, device=device)
    plane = torch.as_tensor(np.stack([s["plane"] for s in scenes]), dtype=torch.float32,
                            device=device)
    light = _stack([s["light"] for s in scenes], device)
    background = None
    if "rgb" in params.modality:
        background = appearance.render_background(
            _stack([s["background"] for s in scenes], device), size, size)
    out = render(_stack([p["caps"] for p in prims], device),
                 _stack([p["tris"] for p in prims], device), background,
                 plane_depth(K, plane, size, size), light, tile=tile)
    return {k: v.cpu().numpy() for k, v in out.items()}


def _assemble(params, split, seed, index, scene, part, rng, buffers) -> dict:
    size = params.image_size
    K = scene["K"]
    prim, depth = buffers["prim"], buffers["depth"]
    mask = np.where(prim >= 0, part[np.maximum(prim, 0)], 0).astype(np.int8)
    hands = []
    for k, hand in enumerate(scene["hands"]):
        kp3d = hand["kp3d"]
        kp2d = project(K, kp3d)
        radius_px = _projected_radius(K, kp3d, hand["geometry"]["Ra"][:NUM_JOINTS])
        kinds = occlusion_kinds(kp2d, kp3d, radius_px * kp3d[:, 2] / K[0, 0], k, prim, depth,
                                part)
        hands.append({"kp2d": kp2d.astype(np.float32), "kp3d": kp3d.astype(np.float32),
                      "visible": np.array([kind == "visible" for kind in kinds]),
                      "bbox": _bbox(kp2d, radius_px, size), "side": hand["side"],
                      "kinds": kinds, "valid": any(kind != "out_of_frame" for kind in kinds)})
    sample: dict[str, Any] = {"K": K.astype(np.float32), "mask": mask}
    if "image" in buffers:
        image = buffers["image"]
        if params.rgb_noise > 0:  # uniform noise of standard deviation rgb_noise (7x cheaper
            # to draw than Gaussian noise, and just as good at hiding flat shading)
            image = image + (params.rgb_noise * np.sqrt(12.0)) * (
                rng.random(image.shape, np.float32) - 0.5)
        if params.blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), params.blur_sigma)
        sample["image"] = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if "depth" in params.modality:
        depth = depth.astype(np.float32)
        if params.depth_noise_mm > 0:
            depth = depth + params.depth_noise_mm * rng.standard_normal(depth.shape, np.float32)
        if params.depth_dropout > 0:
            depth = np.where(rng.random(depth.shape) < params.depth_dropout, 0.0, depth)
        sample["depth"] = depth.astype(np.float32)
    meta = {"dataset": "synthetic", "id": f"{split}/{index:07d}", "split": split,
            "index": int(index), "seed": int(seed), "generator_version": GENERATOR_VERSION,
            "params_key": params.key, "framing": params.framing, "preset": params.preset,
            "objects": [o["kind"] for o in scene["objects"]]}
    per_hand = {"occlusion": [h["kinds"] for h in hands],
                "pose_family": [h["family"] for h in scene["hands"]],
                "angles_deg": [np.round(h["pose"], 3).tolist() for h in scene["hands"]],
                "hand_length_mm": [round(float(h["shape"]["hand_length_mm"]), 3)
                                   for h in scene["hands"]]}
    if params.two_hands and len(hands) == 2:
        for key in ("kp2d", "kp3d", "visible", "bbox"):
            sample[key] = np.stack([h[key] for h in hands])
        sample["side"] = np.array([h["side"] for h in hands])
        sample["hand_valid"] = np.array([h["valid"] for h in hands])
        sample["labelled"] = np.ones((2, NUM_JOINTS), bool)
        meta.update(per_hand, placement=scene["placement"])
    else:
        sample.update({key: hands[0][key] for key in ("kp2d", "kp3d", "visible", "bbox", "side")})
        meta.update({key: value[0] for key, value in per_hand.items()})
    sample["meta"] = meta
    if params.two_hands and len(hands) == 1:  # a single-hand frame of a two-hand dataset
        sample = _single_in_two_slots(sample, hands[0]["valid"])
    return sample


def _single_in_two_slots(sample: dict, valid: bool) -> dict:
    """A one-hand frame in the two-hand layout, as InterHand2.6M's single-hand frames: the
    absent hand's slot is unlabelled and not valid (``handlib.data.two_hands.to_two_slots``)."""
    slot = 0 if sample["side"] == "right" else 1
    out = to_two_slots(sample)
    out["side"] = np.array(["right", "left"])
    out["hand_valid"] = out["hand_valid"] & np.array([valid, valid])
    meta = out["meta"]
    out["meta"] = {**meta, "placement": "single",
                   **{key: [meta[key] if k == slot else None for k in range(2)]
                      for key in ("pose_family", "angles_deg", "hand_length_mm")}}
    return out


# ---- dataset -------------------------------------------------------------------------------
def generation_workers() -> int:
    """Processes that fill a cold cache on a CPU: one per core this process may use, at most 8
    (each renders one sample at a time on one thread)."""
    return max(1, min(8, len(os.sched_getaffinity(0))))


class SyntheticHands(torch.utils.data.Dataset):
    """``n`` synthetic samples of ``split``: a sequence of canonical samples (numpy dicts).

    ``options`` are the fields of :class:`SynthParams` (``modality``, ``framing``,
    ``max_objects``, ...); ``occluder_prob`` defaults to the split's preset (0.3, or 1.0 for
    ``hard``). With ``cache=True`` samples are rendered in batches of ``shard_size`` and kept as
    memory-mapped shards under ``handlib.paths.cache_dir()/synthetic/<key>`` where ``key`` hashes
    the generator version and parameters, so a changed generator never serves stale data.
    """

    def __init__(self, split: str = "train", n: int = 1000, image_size: int = 128,
                 seed: int = 0, *, two_hands: bool | None = None,
                 occluder_prob: float | None = None,
                 cache: bool = False, device: str | torch.device = "cpu",
                 shard_size: int = 256, **options: Any):
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"synthetic hands: n={n!r} is invalid: it must be a positive integer")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"synthetic hands: seed={seed!r} is invalid: it must be an integer >= 0")
        self.split, self.n, self.seed, self.device = split, int(n), int(seed), device
        self.params = make_params(split, image_size, two_hands=two_hands,
                                  occluder_prob=occluder_prob, **options)
        self._cache = None
        if cache:
            folder = cache_dir() / "synthetic" / f"{split}-s{seed}-{self.params.key}"
            # one sample at a time is fastest on a CPU (measured); a GPU wants big batches
            chunk = 1 if torch.device(device).type == "cpu" else shard_size
            self._cache = ShardCache(folder, self.n, shard_size, self._render, chunk)

    @classmethod
    def from_data_spec(cls, spec: dict, split: str) -> "SyntheticHands":
        """The samples of ``split`` that a run's data spec (``source: synthetic``; resolved,
        ``handlib.data.pipeline.resolve_spec``) reads, its cache not yet filled: ``data.n[split]``
        samples of the spec's seed, hands and occluders, the camera framed on the hand with the
        spec's crop padding, in its modality, ``data.synthetic`` options (a preset, an
        ``image_size`` other than ``input_size``) over those. A preset with one hand per frame
        where the spec says two (or the reverse) is refused."""
        if not spec["n"] or split not in spec["n"]:
            raise ValueError(f"no sample count for split {split!r}: set data.n.{split}")
        options = {"framing": "hand", "crop_padding": spec["crop_padding"],
                   "modality": spec["modality"], **spec["synthetic"]}
        size = options.pop("image_size", spec["input_size"])
        preset = options.get("preset")
        if preset is not None:
            two = bool(presets.get(preset).options.get("two_hands", False))
            if two != bool(spec["two_hands"]):
                hands = "two hands" if two else "one hand"
                raise ValueError(f"synthetic preset {preset!r} has {hands} per frame but the data "
                                 f"spec says two_hands={spec['two_hands']}: set data.two_hands: "
                                 f"{str(two).lower()}")
        return cls(split, spec["n"][split], size, seed=spec["seed"], two_hands=spec["two_hands"],
                   occluder_prob=spec["occluder_prob"], cache=spec["cache"], **options)

    @property
    def cache(self) -> ShardCache | None:
        """The shard cache the samples are kept in (``None`` without ``cache=True``)."""
        return self._cache

    def fill_cache(self, workers: int | None = None) -> None:
        """Render every sample not yet cached, over ``workers`` processes (default: one per
        core, :func:`generation_workers`). Without a cache there is nothing to fill."""
        if self._cache is not None:
            self._cache.fill(generation_workers() if workers is None else workers)

    def _render(self, indices: Sequence[int]) -> list[dict]:
        return generate(self.params, self.split, self.seed, indices, device=self.device)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        index = int(index) % self.n
        if self._cache is not None:
            return self._cache[index]
        return self._render([index])[0]

    def batch(self, indices: Sequence[int]) -> list[dict]:
        """Several samples rendered as one batch (fast on a GPU ``device``)."""
        return self._render(list(indices))
