"""Chapter 11, MS-FF (Zhan & Luo 2023): what ``notebooks/11_msff.ipynb`` computes from its runs.

The runs, their test predictions, the runs table, the bench cache and the claim machinery are
the shared ``handlib.study``; the runs and the map from Table 1 to them are data in
``profiles.yaml``. What is MS-FF's own lives here.

**Scoring** follows InterNet's released evaluation (``handlib.metrics``): 3D errors in mm after
root alignment, each hand to its own wrist, over every labelled joint (``eval.joints``:
``labelled``, visible or not), reduced as the mean over joints of each joint's mean. Tables show
the mean over seeds where a profile has several.

**GT S and GT H (Table 1's columns), for our runs.** The paper says only that they mark "the
handedness and scale of the hand" used at test time.

- *GT H = N*: on a frame with one hand, the hand slot scored is the one the model's own
  hand-type head rates more likely (``handlib.metrics.predicted_hand_selection``): a wrong
  handedness scores the other slot's prediction. *GT H = Y*: the slot of the ground-truth hand,
  which is what InterNet's released RHD evaluation does although its Table 1 row says N.
- *GT S = N*: the prediction as back-projected by P⁻¹ (eq. 2) with the ground-truth wrist depth,
  as in InterNet's evaluation: that depth sets where the hand is, not how long its bones are.
  *GT S = Y*: every predicted hand first rescaled about its wrist so that its wrist → middle-MCP
  bone has the true length (``metrics.SCALE_BONE``).
- PoseNet (Zimmermann & Brox) predicts a scale-free pose and takes the hand side as an input:
  its codec multiplies by the true bone length and its hand slots are the hand sides, so it is
  scored only as GT S = Y, GT H = Y, as its Table 1 row says; its other cells are empty.

**The floor.** An error metric has no fixed floor, so each claim is judged against the error of
the *constant mean pose*: every test hand predicted as the mean wrist-relative pose of its slot
over the training split (:func:`mean_pose_record`). A model worse than that has learnt nothing
about the hand it sees; a claim whose compared values are all at or above it is inconclusive.
The same constant shows which orders need no model at all: its fingertips are farther from the
wrist than its palm joints, so its fingertip error is the larger too (:func:`contrast_floors`).

**Joint sets** (the claims the paper makes without numbers): fingertips are the five TIP
joints, palm joints the wrist and the five MCP joints (``handlib.skeleton``); occluded joints
are those the ground truth marks not visible (by the hand itself, the other hand or an object),
"occluded by the other hand" those of ``visibility_kind`` 3. Interacting frames are the frames
with both hands (InterHand2.6M's "interacting", ``metrics.mpjpe``).

**Figure selections** by rule: Fig. 6 shows the interacting test frames with the most joints
occluded by the other hand (ties: the earlier frame).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import codecs, metrics, papers, viz
from handlib.data.pipeline import build_dataset, to_two_slots
from handlib.profiles import resolve_run
from handlib.skeleton import (BONES, JOINT_FINGER, JOINT_NAMES, NUM_JOINTS, PALM_JOINTS,
                              TIP_JOINTS, WRIST)
from handlib.study import (Record, Study, claim_inputs, contrast_inputs, sample_images,
                           seed_mean, validation_curves)

HANDS = 2
#: Joint sets of the split tables and the claims.
JOINT_SETS: tuple[str, ...] = ("all joints", "visible", "occluded", "occluded by the other hand",
                               "fingertips", "palm joints")
FRAME_SETS: tuple[str, ...] = ("all", "single", "interacting")
#: What a claim is scored by: the paper's 3D error, or (the coarser re-test) the 2D error.
MEASURES: tuple[str, ...] = ("3d", "2d")
OTHER_HAND = 3  # visibility_kind of a joint hidden by the other hand (handlib.data.pipeline)
#: Table 1's protocol columns, (GT S, GT H) as printed.
PROTOCOLS: dict[str, tuple[bool, bool]] = {
    "GT S N, GT H N": (False, False),
    "GT S N, GT H Y (InterNet's released evaluation)": (False, True),
    "GT S Y, GT H Y": (True, True),
}
TWO_HAND_BONES = tuple(BONES) + tuple((p + NUM_JOINTS, c + NUM_JOINTS) for p, c in BONES)


# ----------------------------------------------------------------------------- joint and frame sets


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


# ----------------------------------------------------------------------------- scores


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


def needs_gt_scale(study: Study, name: str) -> bool:
    """Whether run ``name``'s codec takes the hand's scale from the ground truth (PoseNet's)."""
    spec = resolve_run(study.cfg, name)["data"]["codec"]
    parts = spec if isinstance(spec, list) else [spec]
    return any(codecs.codec_class(part["name"]).needs_gt_scale for part in parts)


def rhd_epe(study: Study, p: Record, gt_scale: bool, gt_hand: bool) -> float:
    """3D EPE (mm) of ``p`` under a Table 1 protocol (see the module doc); NaN for a protocol the
    record cannot be scored by (GT H = N without a hand-type prediction)."""
    if gt_scale and not gt_hand:
        raise ValueError("Table 1 has no GT S = Y, GT H = N protocol")
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
    return lambda p: rhd_epe(study, p, gt_scale, gt_hand)


# ----------------------------------------------------------------------------- the floor


def mean_pose(study: Study, dataset: str) -> np.ndarray:
    """(2, 21, 3) the mean wrist-relative pose of each hand slot over the training split of
    ``dataset`` (the labels of the first main run's training data)."""
    run = next(r for r in study.runs if r.dataset == dataset)
    source = build_dataset(run.config["data"], run.config["train"].get("split", "train")).source
    poses, valid = [], []
    for index in range(len(source)):
        sample = to_two_slots(source[index])
        hands = np.asarray(sample["kp3d"], np.float64).reshape(HANDS, NUM_JOINTS, 3)
        poses.append(hands - hands[:, WRIST:WRIST + 1])
        valid.append(np.asarray(sample["hand_valid"], bool))
    poses, valid = np.array(poses), np.array(valid)
    poses[~valid] = np.nan
    with np.errstate(invalid="ignore"):
        return np.nanmean(poses, axis=0)


def mean_pose_record(p: Record, pose: np.ndarray) -> Record:
    """The test record ``p`` with every hand predicted as ``pose`` ((2, 21, 3) wrist-relative,
    :func:`mean_pose`) and the true hand type (so that every protocol scores it alike)."""
    constant = np.broadcast_to(np.asarray(pose).reshape(1, HANDS * NUM_JOINTS, 3),
                               np.shape(p["kp3d"]))
    record = {key: value for key, value in p.items() if key not in ("kp3d_pred", "rel_root_pred")}
    record["kp3d_rel_pred"] = np.nan_to_num(constant).astype(np.float32)
    record["hand_type_pred"] = np.asarray(p["hand_valid"], np.float32)
    return record


def box_centre_record(p: Record) -> Record:
    """The 2D floor: the test record ``p`` with every joint of a hand predicted at the centre of
    that hand's ground-truth box (where the crop is centred: what a model that learnt nothing
    about the hand's pose would best predict in 2D)."""
    hands = np.asarray(p["kp2d"], np.float64).reshape(len(p["index"]), HANDS, NUM_JOINTS, 2)
    labelled = np.asarray(p["labelled"], bool).reshape(hands.shape[:-1])
    low = np.where(labelled[..., None], hands, np.inf).min(axis=2, keepdims=True)
    high = np.where(labelled[..., None], hands, -np.inf).max(axis=2, keepdims=True)
    with np.errstate(invalid="ignore"):  # an absent hand: inf - inf
        centre = np.where(np.isfinite(low + high), (low + high) / 2, 0.0)
    return {**p, "kp2d_pred": np.broadcast_to(centre, hands.shape).reshape(p["kp2d"].shape)}


def floors(study: Study) -> dict[str, Record]:
    """Dataset -> the constant mean-pose record on its test split (first main run's labels)."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    found = {}
    for dataset in study.cfg["study"]["datasets"]:
        name = next((n for n in main.values() if study.of(dataset, n)), None)
        if name is not None:
            found[dataset] = mean_pose_record(study.first(dataset, name),
                                              mean_pose(study, dataset))
    return found


def floor_table(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Per dataset and trained model: MPJPE (mm, all frames and joints) beside the constant mean
    pose's, and whether the model beats it (has learnt something about the hand it sees)."""
    rows = {}
    for dataset, floor in floor_records.items():
        constant = mpjpe(study, floor)
        for label, name in _models(study).items():
            if study.of(dataset, name):
                value = _seed_mean(study, dataset, name, scorer(study))
                rows[(dataset, label)] = {"MPJPE (mm)": value,
                                          "constant mean pose (mm)": constant,
                                          "below the constant": bool(value < constant)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["dataset", "Model"])
    frame.attrs = {"profile": study.profile}
    return frame


# ----------------------------------------------------------------------------- tables


def _models(study: Study) -> dict[str, str]:
    """Label -> run of every model the chapter trains (main comparison, then the ablations)."""
    groups = study.cfg["study"]["groups"]
    return {**groups["main"]["runs"], **groups["modules"]["runs"]}


def _seed_mean(study: Study, dataset: str, name: str, score) -> float:
    return float(seed_mean([score(p) for p in study.of(dataset, name)]))


def table_rhd(study: Study) -> pd.DataFrame:
    """Table 1's reproduced rows: EPE (mm) of each model of the main comparison under the
    protocol its paper row prints (GT S, GT H)."""
    paper = papers.table("msff", "1")
    dataset = study.dataset_for(study.table("1")["datasets"][0])
    rows = {}
    for label, name in study.group("1").items():
        gt_scale, gt_hand = (paper.loc[label, column] == "Y" for column in ("GT S", "GT H"))
        rows[label] = {"EPE": _seed_mean(study, dataset, name,
                                         epe_under(study, name, gt_scale, gt_hand))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = paper.index.name
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_ground_truth(study: Study, dataset: str, floor: Record | None = None) -> pd.DataFrame:
    """Beyond the paper: what ground truth at test time is worth: EPE (mm) of every model under
    each protocol (:data:`PROTOCOLS`), and of the constant mean pose."""
    rows = {label: {column: _seed_mean(study, dataset, name, epe_under(study, name, *protocol))
                    for column, protocol in PROTOCOLS.items()}
            for label, name in _models(study).items()}
    if floor is not None:
        rows["constant mean pose (floor)"] = {
            column: rhd_epe(study, floor, *protocol) for column, protocol in PROTOCOLS.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_interhand(study: Study, dataset: str) -> pd.DataFrame:
    """Beyond the paper (MS-FF prints no InterHand2.6M number): InterNet's InterHand2.6M metrics
    for every model: MPJPE over all, single and interacting frames, MRRPE and handedness
    accuracy (PoseNet predicts neither relative root nor hand type: empty)."""
    rows = {}
    for label, name in _models(study).items():
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


def table_joint_sets(study: Study, dataset: str, frames: str = "all",
                     floor: Record | None = None) -> pd.DataFrame:
    """Beyond the paper: MPJPE (mm) of every model on each joint set (:data:`JOINT_SETS`) of
    ``frames``, with the number of (frame, joint) pairs behind each column and the constant mean
    pose."""
    rows = {label: {js: _seed_mean(study, dataset, name, scorer(study, js, frames))
                    for js in JOINT_SETS}
            for label, name in _models(study).items()}
    if floor is not None:
        rows["constant mean pose (floor)"] = {js: mpjpe(study, floor, js, frames)
                                              for js in JOINT_SETS}
    reference = floor if floor is not None else next(
        (study.first(dataset, n) for n in _models(study).values() if study.of(dataset, n)), None)
    if reference is not None:
        rows["joints scored"] = {js: scored_count(study, reference, js, frames)
                                 for js in JOINT_SETS}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": f"{study.tested_on(dataset)}, {frames} frames",
                   "profile": study.profile}
    return frame


def per_joint_pooled(study: Study, dataset: str, frames: str = "interacting") -> pd.DataFrame:
    """Fig. 5's values: joint x model, the MPJPE (mm) of each of the 21 joints with its left and
    right instances pooled, on ``frames``, mean over seeds."""
    spec = study.cfg["eval"]
    columns = {label: seed_mean([metrics.mpjpe_per_joint_pooled_hands(p, spec, frames)
                                 for p in study.of(dataset, name)])
               for label, name in _models(study).items() if study.of(dataset, name)}
    frame = pd.DataFrame(columns, index=pd.Index(JOINT_NAMES, name="joint"))
    frame.attrs = {"tested_on": f"{study.tested_on(dataset)}, {frames} frames",
                   "profile": study.profile}
    return frame


# ----------------------------------------------------------------------------- figures


def learning_curves(study: Study, dataset: str, column: str = "val_mpjpe_mm") -> pd.DataFrame:
    """Epoch x model: the validation ``column`` of each main model's first seed."""
    return validation_curves(study, dataset, study.cfg["study"]["groups"]["main"]["runs"],
                             column)


def figure_learning_curves(study: Study) -> Figure:
    """Validation MPJPE per epoch of the main models, one panel per paper dataset."""
    datasets = list(study.cfg["study"]["datasets"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.6),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        curves = learning_curves(study, dataset)
        for label in curves:
            ax.plot(curves.index, curves[label], marker="o", markersize=3, label=label)
        ax.set(title=dataset, xlabel="epoch", ylabel="validation MPJPE (mm)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def figure_per_joint(study: Study, dataset: str, floor: Record | None = None) -> Figure:
    """Fig. 5: per-joint MPJPE bars on interacting frames, left and right averaged, for every
    trained model (and the constant mean pose as a grey line)."""
    values = per_joint_pooled(study, dataset)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    viz.plot_per_joint_errors({label: values[label].to_numpy() for label in values},
                              list(JOINT_NAMES), ax=ax, highlight=["MS-FF"],
                              title=values.attrs["tested_on"])
    if floor is not None:
        constant = metrics.mpjpe_per_joint_pooled_hands(floor, study.cfg["eval"], "interacting")
        ax.plot(np.arange(NUM_JOINTS), constant, color="0.5", linestyle=":", marker="_",
                label="constant mean pose (floor)")
        ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def most_occluded_by_other_hand(p: Record, count: int) -> np.ndarray:
    """Positions of the ``count`` interacting frames with the most joints hidden by the other
    hand (ties: the earlier frame)."""
    hidden = (np.asarray(p["visibility_kind"]) == OTHER_HAND).sum(axis=1)
    hidden = np.where(frame_set(p, "interacting"), hidden, -1)
    return np.argsort(-hidden, kind="stable")[:count]


def figure_qualitative(study: Study, dataset: str) -> Figure:
    """Fig. 6: input with ground truth, then PoseNet, InterNet and MS-FF (first seeds), on the
    interacting test frames chosen by :func:`most_occluded_by_other_hand`."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    reference = study.first(dataset, main["MS-FF"])
    positions = most_occluded_by_other_hand(reference,
                                            study.cfg["study"]["qualitative_samples"])
    run = next(r for r in study.runs if r.dataset == dataset and r.name == main["MS-FF"])
    indices = reference["index"][positions]
    predictions = {label: study.first(dataset, name)["kp2d_pred"][positions]
                   for label, name in main.items() if study.of(dataset, name)}
    return viz.comparison_grid(
        sample_images(run, indices), predictions, ground_truth=reference["kp2d"][positions],
        visible=reference["visible"][positions].astype(bool), bones=TWO_HAND_BONES,
        joint_finger=tuple(JOINT_FINGER) * HANDS,
        row_titles=[f"test frame {int(i)}" for i in indices])


# ----------------------------------------------------------------------------- claims

#: The score behind each claim without a table: (kind, joint set, frame set) where kind is
#: "models" (the claim's subject and reference are models) or a model label (the claim compares
#: two scores of that one model; its subject and reference name joint or frame sets).
#: Fig. 5's contrast: fingertips against palm joints on interacting frames.
FINGERTIPS_VS_PALM = {"fingertips": ("fingertips", "interacting"),
                      "palm joints": ("palm joints", "interacting")}
CLAIM_SCORES: dict[str, tuple] = {
    "fingertips_harder_msff": ("MS-FF", FINGERTIPS_VS_PALM),
    "fingertips_harder_internet": ("InterNet(2020)", FINGERTIPS_VS_PALM),
    "fingertips_harder_posenet": ("PoseNet(2017)", FINGERTIPS_VS_PALM),
    "beats_baselines_interacting": ("models", ("all joints", "interacting")),
    "occluded_beats_internet": ("models", ("occluded", "all")),
    "channel_conversion_helps": ("models", ("all joints", "all")),
    "global_regression_helps_fingertips": ("models", ("fingertips", "all")),
    "local_optimization_helps_occluded": ("models", ("occluded", "all")),
    "multiscale_beats_single_scale": ("models", ("all joints", "all")),
    "internet_worse_on_interacting": ("InterNet(2020)",
                                      {"interacting frames": ("all joints", "interacting"),
                                       "single-hand frames": ("all joints", "single")}),
    "internet_worse_on_occluded": ("InterNet(2020)",
                                   {"occluded joints": ("occluded", "all"),
                                    "visible joints": ("visible", "all")}),
    "fingertips_beat_internet": ("models", ("fingertips", "all")),
}
#: Claims "at every joint": tested at the joint where the subject does worst against the
#: reference, on interacting frames.
EVERY_JOINT_CLAIMS: tuple[str, ...] = ("every_joint_beats_internet", "every_joint_beats_posenet")


def worst_joint(study: Study, dataset: str, subject: str, reference: str) -> int:
    """The joint (1-20, L/R pooled) at which ``subject``'s interacting-frame MPJPE exceeds
    ``reference``'s the most (first seeds); the wrist, the root of the alignment, is exact for
    every model and so is left out."""
    spec = study.cfg["eval"]
    mine, theirs = (metrics.mpjpe_per_joint_pooled_hands(study.first(dataset, name), spec)
                    for name in (subject, reference))
    gap = mine - theirs
    gap[WRIST] = np.nan
    return int(np.nanargmax(gap))


def pooled_joint_scorer(study: Study, joint: int):
    """``record -> interacting-frame MPJPE of one joint (L/R pooled)``."""
    return lambda p: float(metrics.mpjpe_per_joint_pooled_hands(p, study.cfg["eval"])[joint])


def claim_results(study: Study, floor_records: dict[str, Record] | None = None,
                  measure: str = "3d") -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs for every claim testable on this profile.

    Table 1 claims compare EPE on RHD under the protocol of the subject's row (GT S = N, GT H =
    N for MS-FF and InterNet); the others are scored on the ``study.interacting_dataset`` by
    :data:`CLAIM_SCORES` and :data:`EVERY_JOINT_CLAIMS`. Model-against-model claims use
    ``handlib.study.claim_inputs`` (per-seed values over shared seeds, noise the larger of the
    seed spread and the paired bootstrap); two scores of one model use
    ``handlib.study.contrast_inputs``. ``floor_records`` (:func:`floors`) sets each model
    claim's floor, the constant mean pose's score; claims marked ``not_here`` get no entry.

    ``measure="2d"`` re-tests the claims by the normalised 2D error (:func:`error_2d`, the
    ground truth's hand slot) with the box-centre floor (:func:`box_centre_record`), beyond the
    paper: short runs whose 3D errors sit at the constant's can still be ordered in 2D. The
    claims "at every joint" are then left out (their joint is chosen in 3D)."""
    floor_records = floor_records or {}
    if measure == "2d":
        floor_records = {d: box_centre_record(p) for d, p in floor_records.items()}
    models = _models(study)
    interacting = study.dataset_for(study.cfg["study"]["interacting_dataset"])

    def floor_of(dataset: str, score) -> float | None:
        return float(score(floor_records[dataset])) if dataset in floor_records else None

    found: dict[str, dict] = {}
    for claim in papers.claims("msff"):
        if claim["testable_on"] == "not_here":
            continue
        cid = claim["id"]
        if claim.get("table") == "1":
            dataset = study.dataset_for(study.table("1")["datasets"][0])
            if measure == "2d":
                score = floor_score = scorer(study, measure="2d")
                note = ", 2D error"
            else:  # the subject's protocol; the constant is scored on the true hand's slot
                score, floor_score = (epe_under(study, models[claim["subject"]], False, False),
                                      epe_under(study, models[claim["subject"]], False, True))
                note = ", GT S = N, GT H = N"
            found[cid] = claim_inputs(study, claim, dataset, score,
                                      floor=floor_of(dataset, floor_score), note=note)
        elif cid in EVERY_JOINT_CLAIMS:
            if measure == "2d":
                continue
            joint = worst_joint(study, interacting, models[claim["subject"]],
                                models[claim["reference"]])
            score = pooled_joint_scorer(study, joint)
            found[cid] = claim_inputs(study, claim, interacting, score, group=models,
                                      floor=floor_of(interacting, score),
                                      note=f", interacting frames, at the {JOINT_NAMES[joint]}")
        elif CLAIM_SCORES[cid][0] == "models":
            joints, frames = CLAIM_SCORES[cid][1]
            score = scorer(study, joints, frames, measure)
            found[cid] = claim_inputs(study, claim, interacting, score, group=models,
                                      floor=floor_of(interacting, score),
                                      note=f", {joints}, {frames} frames"
                                      + (", 2D error" if measure == "2d" else ""))
        else:
            label, sets = CLAIM_SCORES[cid]
            scores = {name: scorer(study, *spec, measure) for name, spec in sets.items()}
            found[cid] = contrast_inputs(study, claim, interacting, models[label], scores)
    return found


def contrast_floors(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """For each claim comparing two scores of one model: the same two scores of the constant
    mean pose, i.e. the order that needs no model at all."""
    interacting = study.dataset_for(study.cfg["study"]["interacting_dataset"])
    if interacting not in floor_records:
        return pd.DataFrame()
    rows = {}
    for cid, (kind, sets) in CLAIM_SCORES.items():
        if kind == "models":
            continue
        (first, first_spec), (second, second_spec) = sets.items()
        floor = floor_records[interacting]
        a, b = mpjpe(study, floor, *first_spec), mpjpe(study, floor, *second_spec)
        rows[cid] = {"subject": first, "constant mean pose, subject (mm)": a,
                     "reference": second, "constant mean pose, reference (mm)": b,
                     "same order without a model": bool(a > b)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "claim"
    return frame


# ----------------------------------------------------------------------------- speed and size


def table_speed(bench: dict) -> pd.DataFrame:
    """Every trained model at the bench input size: parameters, size, GMACs and batch-1 eager
    latency (the paper prints none of these)."""
    rows = {}
    for result in bench["models"]:
        single = [s for s in result.get("speed", []) if s["mode"] == "eager" and s["batch"] == 1]
        rows[result["label"]] = {
            "parameters (M)": result["params_m"], "size (MB)": result["size_mb"],
            "GMACs": result["gmacs"],
            "latency, batch 1 (ms)": 1000.0 / single[0]["infer_img_s"] if single else np.nan,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"device": bench["device_name"],
                   "input_size": bench["settings"]["input_size"]}
    return frame
