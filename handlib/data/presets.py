"""Synthetic stand-ins shaped like the real datasets: one preset of the synthetic engine each.

The paper tables have one column per real dataset, and the datasets differ in ways that decide
the results: STB is one person seen near-frontally in front of six backgrounds, RHD twenty
rendered characters seen from anywhere, InterHand2.6M two interacting hands in a dark capture
studio, GANerated and SynthHands hands holding objects, the depth datasets differ in sensor,
distance and view. A preset is the set of :class:`handlib.data.synthetic.SynthParams` fields that
makes the engine's samples resemble one dataset in what the engine can vary: camera intrinsics
and image size of the real files, the hand's distance (hence its size in pixels), the range of
views, the number of people and of backgrounds, occluding objects, one or two hands, and sensor
noise for depth. ``make_params(split, size, preset="stb_like")`` applies one (under the split's
own defaults and any explicit option); a chapter's profile names it as
``data: {synthetic: {preset: stb_like}}``.

Where every number comes from is stated per preset in ``sources``. Three kinds of source:

- **the loaders** (``handlib.data.formats.<dataset>``): intrinsics and resolution of the
  published files (their constants cite the datasets' own documentation);
- **the real files in ../shared/data**: the RHD, InterHand2.6M and FreiHAND samples and the
  public ICVL/NYU test ground truth (1,596 and 8,252 frames), from which distances and hand boxes
  are measured; ``tests/test_presets.py`` checks every preset that has such files against them;
- **the dataset's paper**, or, where neither states a number, **our choice**, said as such.

What a preset does not change: the engine renders square frames (the real width, with the real
focal length), labels all 21 joints of the canonical skeleton with the wrist as root, and draws
poses from its own pose families (``handlib.data.hand_model``). A dataset's own joint layout and
root joint (``num_joints``, ``root_joint`` below) are what its loader maps to the canonical
skeleton; the preset records them so that a chapter can say what the real column would label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def fov_deg(focal_px: float, width_px: float) -> float:
    """Horizontal field of view of a pinhole camera of focal length ``focal_px``."""
    return math.degrees(2 * math.atan(0.5 * width_px / focal_px))


@dataclass(frozen=True)
class Preset:
    """One dataset's stand-in: engine options and where each number comes from."""

    name: str
    dataset: str  # the loader (handlib.data.formats) of the real dataset
    label: str  # how tables name the stand-in, e.g. "STB-like"
    description: str  # what sets it apart, in a few words
    options: dict[str, Any]
    sources: dict[str, str]
    num_joints: int  # joints the real files label (per hand)
    root_joint: str  # the joint the dataset's 3D evaluation aligns on
    modality: str = "rgb"
    notes: str = ""
    checked_against: tuple[str, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"{self.label} ({self.description})"

    @property
    def image_size(self) -> int:
        return int(self.options["image_size"])


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        name="stb_like", dataset="stb", label="STB-like",
        description="one person, near-frontal, six scenes",
        options={"image_size": 640, "fov_deg": round(fov_deg(822.79, 640), 2),
                 "distance_mm": (300.0, 650.0), "view_cone_deg": 45.0, "roll_deg": 45.0,
                 "subjects": 1, "backgrounds": 6, "occluder_prob": 0.0,
                 "family_weights": {"open": 0.3, "relaxed": 0.2, "fist": 0.1, "pinch": 0.1,
                                    "point": 0.2, "grasp": 0.0, "random": 0.1}},
        sources={
            "image_size, fov_deg": "the Bumblebee2 frames, 640x480 with fx 822.79 "
                                   "(handlib.data.formats.stb.BB_K, INFO.resolution)",
            "subjects, backgrounds": "Zhang et al. 2016 (STB): one subject, six sequences "
                                     "with different backgrounds",
            "family_weights": "STB's 'counting' and 'random' poses (Zhang et al. 2016); our "
                              "weights over the engine's pose families, no held objects",
            "view_cone_deg, roll_deg": "our choice: the subject faces the camera, the hand "
                                       "within 45 degrees of frontal (no STB file here to measure)",
            "distance_mm": "our choice (no STB file here to measure): the hand at 30-65 cm "
                           "from a desk-mounted stereo rig",
            "occluder_prob": "STB has no hand-object occlusion",
        },
        num_joints=21, root_joint="palm centre (the loader can move it to the wrist)"),
    Preset(
        name="rhd_like", dataset="rhd", label="RHD-like",
        description="rendered characters, any view",
        options={"image_size": 320, "fov_deg": round(fov_deg(299.0, 320), 2),
                 "distance_mm": (300.0, 700.0), "subjects": 20, "occluder_prob": 0.0},
        sources={
            "image_size, fov_deg": "RHD's 320x320 frames (handlib.data.formats.rhd.INFO) and "
                                   "fx 263-306 px in the real samples (299 the middle one)",
            "distance_mm": "the real samples' hand depth (468-635 mm) and box (50-101 px), "
                           "widened for RHD's near and far hands",
            "subjects": "Zimmermann & Brox 2017: 20 characters performing 39 actions",
            "view": "any view (the engine's uniform rotations): RHD renders from random "
                    "viewpoints, with heavy self-occlusion",
            "backgrounds": "a new background per frame (RHD composes random Flickr images)",
            "occluder_prob": "no held objects",
        },
        num_joints=21, root_joint="wrist", checked_against=("rhd samples",)),
    Preset(
        name="interhand_like", dataset="interhand26m",
        label="InterHand2.6M-like",
        description="two interacting hands, capture studio",
        options={"image_size": 512, "fov_deg": round(fov_deg(1268.0, 512), 2),
                 "distance_mm": (950.0, 1150.0), "two_hands": True, "single_prob": 0.5,
                 "interacting_prob": 0.8,
                 "subjects": 26, "plain_background": True, "occluder_prob": 0.0},
        sources={
            "image_size, fov_deg": "512x334 frames (the longer side; handlib.data.formats."
                                   "interhand.INFO) and fx 1262-1274 px in the real samples",
            "distance_mm": "the real samples' hand depth (1010-1098 mm)",
            "two_hands, single_prob, interacting_prob": "Moon et al. 2020: single-hand (SH) and "
                                                        "interacting (IH) sequences; our rates: "
                                                        "half the frames single, and of the "
                                                        "two-hand ones 80 % touching",
            "subjects": "Moon et al. 2020: 26 subjects",
            "plain_background": "the capture dome's dark backdrop in the real samples",
            "occluder_prob": "no held objects: the hands occlude each other",
        },
        num_joints=42, root_joint="wrist (each hand; MRRPE between the two wrists)",
        checked_against=("interhand2.6m samples",)),
    Preset(
        name="freihand_like", dataset="freihand", label="FreiHAND-like",
        description="32 people, some objects",
        options={"image_size": 224, "fov_deg": round(fov_deg(480.0, 224), 2),
                 "distance_mm": (600.0, 1000.0), "subjects": 32, "occluder_prob": 0.3},
        sources={
            "image_size": "224x224 frames (handlib.data.formats.freihand.INFO)",
            "fov_deg, distance_mm": "our choice: the MMPose conversion carries no K; fx 480 px "
                                    "and these depths give the real samples' hand box (85 px)",
            "subjects": "Zimmermann et al. 2019: 32 people",
            "occluder_prob": "FreiHAND's frames with grasped objects; our rate",
        },
        num_joints=21, root_joint="wrist", checked_against=("freihand samples",)),
    Preset(
        name="ganerated_like", dataset="ganerated",
        label="GANerated-like",
        description="hand-centred crops, objects in half",
        options={"image_size": 256, "framing": "hand", "crop_padding": 1.3,
                 "occluder_prob": 0.5},
        sources={
            "image_size, framing": "256x256 crops around the hand "
                                   "(handlib.data.formats.ganerated.INFO)",
            "occluder_prob": "Mueller et al. 2018: the noObject and withObject halves",
            "crop_padding": "our choice: the crops' hand fills most of the frame",
        },
        num_joints=21, root_joint="middle MCP (the dataset's 3D root)"),
    Preset(
        name="synthhands_like", dataset="synthhands",
        label="SynthHands-like",
        description="egocentric, hand-object interaction",
        options={"image_size": 640, "fov_deg": round(fov_deg(617.17, 640), 2),
                 "distance_mm": (250.0, 600.0), "view_cone_deg": 60.0, "roll_deg": 60.0,
                 "back_prob": 0.8, "occluder_prob": 0.5},
        sources={
            "image_size, fov_deg": "640x480 RealSense SR300 colour, fx 617.17 "
                                   "(handlib.data.formats.synthhands.COLOR_K)",
            "view_cone_deg, roll_deg, back_prob": "our choice: an egocentric camera sees mostly "
                                                  "the back of the hand (Mueller et al. 2017)",
            "distance_mm": "our choice: at arm's length from a head-mounted camera",
            "occluder_prob": "Mueller et al. 2017: sequences with and without objects",
        },
        num_joints=21, root_joint="middle MCP"),
    Preset(
        name="nyu_like", dataset="nyu", label="NYU-like",
        description="Kinect depth, about a metre away",
        modality="depth",
        options={"image_size": 640, "fov_deg": round(fov_deg(588.04, 640), 2),
                 "distance_mm": (600.0, 1060.0), "modality": "depth", "subjects": 2,
                 "view_cone_deg": 60.0, "depth_noise_mm": 3.0, "depth_dropout": 0.02,
                 "occluder_prob": 0.0},
        sources={
            "image_size, fov_deg": "640x480 Kinect frames, fx 588.04 "
                                   "(handlib.data.formats.nyu.CAMERA)",
            "distance_mm": "the hand's depth over the 8,252 public test labels (5th-95th "
                           "percentile 700-1036 mm), widened at the near end for their large boxes",
            "subjects": "Tompson et al. 2014: the test set's two subjects",
            "view_cone_deg": "our choice: the hand faces the sensor, within 60 degrees",
            "depth_noise_mm, depth_dropout": "our choice for a structured-light sensor at "
                                             "about 1 m (Khoshelham & Elberink 2012: a few mm)",
            "occluder_prob": "no held objects",
        },
        num_joints=14, root_joint="palm (the 14 evaluated of 36 labelled joints)",
        checked_against=("nyu test labels", "nyu frame")),
    Preset(
        name="icvl_like", dataset="icvl", label="ICVL-like",
        description="time-of-flight depth, close range",
        modality="depth",
        options={"image_size": 320, "fov_deg": round(fov_deg(240.99, 320), 2),
                 "distance_mm": (255.0, 410.0), "modality": "depth", "subjects": 10,
                 "view_cone_deg": 60.0, "depth_noise_mm": 4.0, "depth_dropout": 0.01,
                 "occluder_prob": 0.0},
        sources={
            "image_size, fov_deg": "320x240 Senz3D frames, fx 240.99 "
                                   "(handlib.data.formats.icvl.CAMERA)",
            "distance_mm": "the hand's depth over the 1,596 public test labels (5th-95th "
                           "percentile 266-398 mm, widened by 10 mm)",
            "subjects": "Tang et al. 2014: ten subjects",
            "view_cone_deg": "our choice: mostly frontal, as the test labels' small boxes show",
            "depth_noise_mm, depth_dropout": "our choice for a time-of-flight sensor",
            "occluder_prob": "no held objects",
        },
        num_joints=16, root_joint="palm", checked_against=("icvl test labels",)),
    Preset(
        name="msra_like", dataset="msra", label="MSRA-like",
        description="nine people, 17 gestures, wide views",
        modality="depth",
        options={"image_size": 320, "fov_deg": round(fov_deg(241.42, 320), 2),
                 "distance_mm": (250.0, 450.0), "modality": "depth", "subjects": 9,
                 "view_cone_deg": 90.0, "depth_noise_mm": 4.0, "occluder_prob": 0.0},
        sources={
            "image_size, fov_deg": "320x240 frames, fx 241.42 (handlib.data.formats.msra.CAMERA)",
            "subjects": "Sun et al. 2015: nine subjects, 17 gestures",
            "view_cone_deg": "our choice: MSRA's views are wider than ICVL's",
            "distance_mm, depth_noise_mm": "our choice (no MSRA file here): a time-of-flight "
                                           "sensor at close range",
            "occluder_prob": "no held objects",
        },
        num_joints=21, root_joint="wrist"),
)}


def get(name: str) -> Preset:
    """The preset ``name``, with a clear error listing the presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
