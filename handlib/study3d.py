"""Scores, floors and protocols of the InterNet family's 3D studies (papers 2, MS-FF, and 3,
InterNet+): what their chapters compute from two-hand prediction records.

**Scoring** follows InterNet's released evaluation (``handlib.metrics``): 3D errors in mm after
root alignment, each hand to its own wrist, over every labelled joint (``eval.joints``:
``labelled``, visible or not), reduced as the mean over joints of each joint's mean. Records
carry two hand slots (right 0-20, left 21-41); a one-hand frame fills one.

**GT S and GT H** (the protocol columns of MS-FF's Table 1 and InterNet+'s Table 2, "ground
truth used at inference": scale and handedness), for our runs (:data:`PROTOCOLS`):

- *GT H = N*: on a frame with one hand, the hand slot scored is the one the model's own
  hand-type head rates more likely (``handlib.metrics.predicted_hand_selection``): a wrong
  handedness scores the other slot's prediction. *GT H = Y*: the slot of the ground-truth hand,
  which is what InterNet's released RHD/STB evaluation does although its tables say N.
- *GT S = N* is not free of the ground truth's scale: the prediction is back-projected with
  the ground-truth wrist depth, as in InterNet's released evaluation (its RHD and STB numbers,
  which the papers' GT S = N rows print, use it too). That depth sets where the hand is *and*
  its metric size: a predicted image offset of ``du`` pixels becomes ``du · Z / f`` mm, so the
  hand's extent across the image scales with the true depth ``Z``. The book therefore names
  this protocol "GT S = N (true root depth)" wherever its numbers are shown. *GT S = Y*: every
  predicted hand is first rescaled about its wrist so that its wrist → middle-MCP bone has the
  true length (``metrics.SCALE_BONE``).
- A model whose codec takes the scale from the ground truth (Zimmermann & Brox's PoseNet,
  ``Codec.needs_gt_scale``) is scored only with GT S = Y (:func:`epe_under`).

**The floor.** An error metric has no fixed floor, so each claim is judged against the error of
the *constant mean pose*: every test hand predicted as the mean wrist-relative pose of its slot
over the training split (``handlib.floors.mean_pose_record``; :func:`mean_pose` counts every
joint of a present hand, this family's rule). A model worse than that has learnt nothing about
the hand it sees; a claim whose compared values are all at or above it is inconclusive. Whether
each run learned (its MPJPE below the constant's by more than the interval,
``handlib.learning``) is :func:`learning_table`, and its validation curve against the floor
:func:`figure_learning`. In 2D the floor is every joint at the centre of the hand's box
(``handlib.floors.box_centre_record``).

**Joint and frame sets**: fingertips are the five TIP joints, palm joints the wrist and the
five MCP joints (``handlib.skeleton``); occluded joints are those the ground truth marks not
visible (by the hand itself, the other hand or an object), "occluded by the other hand" those of
``visibility_kind`` 3. Interacting frames are the frames with both hands (InterHand2.6M's
"interacting", ``metrics.mpjpe``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import codecs, learning, metrics
from handlib.data.pipeline import build_dataset
from handlib.floors import mean_pose_record, training_mean_pose
from handlib.profiles import resolve_run
from handlib.skeleton import BONES, NUM_JOINTS, PALM_JOINTS, TIP_JOINTS
from handlib.study import Record, Study, seed_mean

HANDS = 2
#: Joint sets of the split tables and the claims.
JOINT_SETS: tuple[str, ...] = ("all joints", "visible", "occluded", "occluded by the other hand",
                               "fingertips", "palm joints")
FRAME_SETS: tuple[str, ...] = ("all", "single", "interacting")
#: What a claim is scored by: the paper's 3D error, or (the coarser re-test) the 2D error.
MEASURES: tuple[str, ...] = ("3d", "2d")
OTHER_HAND = 3  # visibility_kind of a joint hidden by the other hand (handlib.data.pipeline)
#: The protocol columns, (GT S, GT H) as printed (Y = ground truth used); GT S = N still
#: back-projects with the true root depth (the module doc), and says so.
PROTOCOLS: dict[str, tuple[bool, bool]] = {
    "GT S N (true root depth), GT H N": (False, False),
    "GT S N (true root depth), GT H Y (InterNet's released evaluation)": (False, True),
    "GT S Y, GT H Y": (True, True),
}
#: The column of a run's ``history.csv`` that follows :func:`scorer`'s MPJPE on the validation
#: split, after every epoch.
CURVE_COLUMN = "val_mpjpe_mm"
TWO_HAND_BONES = tuple(BONES) + tuple((p + NUM_JOINTS, c + NUM_JOINTS) for p, c in BONES)


def joint_set(p: Record, name: str) -> np.ndarray:
    """(N, 2, 21) bool: the joints of ``p`` in the set ``name`` (:data:`JOINT_SETS`)."""
    shape = (len(p["index"]), HANDS, NUM_JOINTS)
    joint = np.broadcast_to(np.arange(NUM_JOINTS), shape)
    visible = np.asarray(p["visible"], bool).reshape(shape)
    sets = {
        "all joints": lambda: np.ones(shape, bool),
        "visible": lambda: visible,
        "occluded": lambda: ~visible,
        "occluded by the other hand": lambda: np.asarray(p["visibility_kind"]).reshape(shape)
        == OTHER_HAND,
        "fingertips": lambda: np.isin(joint, TIP_JOINTS),
        "palm joints": lambda: np.isin(joint, PALM_JOINTS),
    }
    if name not in sets:
        raise ValueError(f"unknown joint set {name!r}; the sets are {', '.join(JOINT_SETS)}")
    return sets[name]()


def frame_set(p: Record, name: str) -> np.ndarray:
    """(N,) bool: the frames of ``p`` in the set ``name`` (:data:`FRAME_SETS`)."""
    if name not in FRAME_SETS:
        raise ValueError(f"unknown frame set {name!r}; the sets are {', '.join(FRAME_SETS)}")
    both = np.asarray(p["hand_valid"], bool).reshape(-1, HANDS).all(axis=1)
    return {"all": np.ones_like(both), "single": ~both, "interacting": both}[name]


def mpjpe(study: Study, p: Record, joints: str = "all joints", frames: str = "all") -> float:
    """Root-aligned MPJPE (mm) over the scored joints of ``p`` in a joint set and frame set; NaN
    where none is scored."""
    pred, gt, mask = metrics.aligned_3d(p, study.cfg["eval"])
    keep = mask & joint_set(p, joints) & frame_set(p, frames)[:, None, None]
    return float(metrics.epe(pred, gt, mask=keep)) if keep.any() else np.nan


def error_2d(study: Study, p: Record, joints: str = "all joints", frames: str = "all") -> float:
    """Mean 2D joint error as a fraction of the hand's box (``norm_size``), pooled over the
    scored joints of a joint set and frame set (the ground truth's hand slot); NaN where none."""
    shape = (len(p["index"]), HANDS, NUM_JOINTS)
    keep = (metrics.joint_mask(p, study.cfg["eval"]["joints"]).reshape(shape)
            & joint_set(p, joints) & frame_set(p, frames)[:, None, None])
    if not keep.any():
        return np.nan
    errors, _ = metrics.joint_errors(p["kp2d_pred"], p["kp2d"], norm=p["norm_size"],
                                     mask=keep.reshape(len(keep), -1))
    return float(errors[keep.reshape(len(keep), -1)].mean())


def scorer(study: Study, joints: str = "all joints", frames: str = "all", measure: str = "3d"):
    """``record -> error`` over a joint set and frame set, the score a claim compares: MPJPE
    (mm, ``measure="3d"``) or the normalised 2D error (``"2d"``, :func:`error_2d`)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    score = mpjpe if measure == "3d" else error_2d
    return lambda p: score(study, p, joints, frames)


def scored_count(study: Study, p: Record, joints: str, frames: str = "all") -> int:
    """How many (frame, joint) pairs of ``p`` a joint set and frame set score."""
    _, _, mask = metrics.aligned_3d(p, study.cfg["eval"])
    return int((mask & joint_set(p, joints) & frame_set(p, frames)[:, None, None]).sum())


def needs_gt_scale(study: Study, name: str | None) -> bool:
    """Whether run ``name``'s codec takes the hand's scale from the ground truth (PoseNet's);
    ``False`` for a row no run stands behind on this profile (its label mapped to null)."""
    if name is None:
        return False
    spec = resolve_run(study.cfg, name)["data"]["codec"]
    parts = spec if isinstance(spec, list) else [spec]
    return any(codecs.codec_class(part["name"]).needs_gt_scale for part in parts)


#: What GT S = N and GT S = Y use of the ground truth, as a reproduced row's protocol cell.
GT_SCALE_TEXT: dict[bool, str] = {False: "N (true root depth)", True: "Y (true scale bone)"}


def protocol_epe(study: Study, p: Record, gt_scale: bool, gt_hand: bool) -> float:
    """3D EPE (mm) of ``p`` under a GT S / GT H protocol (see the module doc); NaN for a protocol the
    record cannot be scored by (GT H = N without a hand-type prediction)."""
    if gt_scale and not gt_hand:
        raise ValueError("there is no GT S = Y, GT H = N protocol (the tables print none)")
    if not gt_hand and "hand_type_pred" not in p:
        return np.nan
    found = metrics.evaluate_record(p, {**study.cfg["eval"], "metric": "epe3d",
                                        "gt_scale": gt_scale})
    return found["epe_mm_gt_scale" if gt_scale else
                 "epe_mm" if gt_hand else "epe_mm_predicted_hand"]


def epe_under(study: Study, name: str, gt_scale: bool, gt_hand: bool):
    """``record -> EPE`` of run ``name`` under a protocol; NaN where the run cannot drop the
    ground truth it needs (PoseNet without GT S)."""
    if needs_gt_scale(study, name) and not gt_scale:
        return lambda p: np.nan
    return lambda p: protocol_epe(study, p, gt_scale, gt_hand)


def mean_pose(study: Study, dataset: str) -> np.ndarray:
    """(2, 21, 3) the mean wrist-relative pose of each hand slot over the training split of
    ``dataset`` (the labels of the first run's training data on it), every joint of a present
    hand counting (``handlib.floors.training_mean_pose``, ``joints="hand"``: this family's rule
    since its first chapter, kept so that its floors do not change)."""
    run = next(r for r in study.runs if r.dataset == dataset)
    source = build_dataset(run.config["data"], run.config["train"].get("split", "train")).source
    return training_mean_pose((source[index] for index in range(len(source))), joints="hand")


def floors(study: Study) -> dict[str, Record]:
    """Dataset -> the constant mean-pose record (``handlib.floors.mean_pose_record``) on its test
    split (first main run's labels); the 2D re-tests score ``handlib.floors.box_centre_record``
    of it."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    found = {}
    for dataset in study.cfg["study"]["datasets"]:
        name = next((n for n in main.values() if study.of(dataset, n)), None)
        if name is not None:
            found[dataset] = mean_pose_record(study.first(dataset, name),
                                              mean_pose(study, dataset))
    return found


def learning_table(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Does each run learn? ``handlib.learning.learning_table`` by this family's score, MPJPE
    (mm) over every labelled joint of every test frame (:func:`scorer`), against its dataset's
    constant mean pose (``floor_records``, :func:`floors`) scored the same way: a run learned
    when its MPJPE is below the constant's by more than twice the paired-bootstrap standard
    error of that difference."""
    return learning.learning_table(study, scorer(study), floor_records)


def figure_learning(study: Study, floor_records: dict[str, Record], names: dict[str, str]
                    ) -> Figure:
    """Does it learn? The validation MPJPE (``history.csv``'s :data:`CURVE_COLUMN`) of each run
    in ``names`` (label -> run) against the optimiser steps, one panel per dataset, with the
    test-split MPJPE of that dataset's constant mean pose (``floor_records``) dashed across it
    (``handlib.learning.figure_learning``)."""
    score = scorer(study)
    floor_scores = {dataset: score(floor) for dataset, floor in floor_records.items()}
    return learning.figure_learning(study, CURVE_COLUMN, names, floor_scores,
                                    "validation MPJPE (mm)")


def seed_mean_score(study: Study, dataset: str, name: str, score) -> float:
    """The mean over seeds of ``score`` of run ``name`` on ``dataset``."""
    return float(seed_mean([score(p) for p in study.of(dataset, name)]))


def table_interhand(study: Study, dataset: str, models: dict[str, str]) -> pd.DataFrame:
    """InterNet's InterHand2.6M metrics for each of ``models`` (label -> run) on ``dataset``: MPJPE over all, single and interacting frames, MRRPE and handedness
    accuracy (empty for a model
    that predicts neither relative root nor hand type)."""
    rows = {}
    for label, name in models.items():
        found = [metrics.evaluate_record(p, {**study.cfg["eval"], "metric": "mpjpe"})
                 for p in study.of(dataset, name)]
        rows[label] = {column: seed_mean([f.get(key, np.nan) for f in found])
                       for column, key in (("MPJPE all (mm)", "mpjpe_mm"),
                                           ("MPJPE single (mm)", "mpjpe_single_mm"),
                                           ("MPJPE interacting (mm)", "mpjpe_interacting_mm"),
                                           ("MRRPE (mm)", "mrrpe_mm"),
                                           ("handedness accuracy", "handedness_acc"))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def most_occluded_by_other_hand(p: Record, count: int) -> np.ndarray:
    """Positions of the ``count`` interacting frames with the most joints hidden by the other
    hand (ties: the earlier frame)."""
    hidden = (np.asarray(p["visibility_kind"]) == OTHER_HAND).sum(axis=1)
    hidden = np.where(frame_set(p, "interacting"), hidden, -1)
    return np.argsort(-hidden, kind="stable")[:count]
