"""Chapter 13, ResUnet (Bekiri & Babahenini): what the chapter computes from its runs.

The runs, their test predictions and the claim machinery are the shared ``handlib.study``; the
runs are data in ``profiles.yaml``. What is ResUnet's own lives here:

- **the scores** (§III.B, which names EPE, PCK and AUC and no protocol): the 2D error in pixels
  of the crop the network sees (the paper's frame, "[0, image width]"; its side is the run's
  ``data.input_size``, 128 on the paper's model, and every label says which), and the 3D error
  of the bones summed from the wrist, so root-relative, in mm; the 3D PCK and its AUC over
  20-50 mm (Fig. 5) **under both protocols**: as predicted, and with each predicted hand first
  rescaled to the true wrist-to-middle-MCP length (ground-truth scale, the Zimmermann & Brox
  protocol the paper's AUC of 0.999 would need); the joint angles (§V's claim, never measured
  in the paper): the angle between the two bones at each joint, predicted against true
  (:func:`joint_angle_error`), with each bone's direction error in the camera frame beside it
  (:func:`bone_direction_error`, which also counts the hand's global rotation);
- **the crop**, an oracle: every crop, in training and test, is cut around the true hand box:
  the paper says only "cropped hand image", and no detector is run, so every number assumes a
  perfect one; every caption, figure title and verdict names it (through
  :meth:`handlib.study.Study.tested_on`, which every label of the data goes through);
- **the loss balance** (:func:`loss_terms_at_start`): the terms of the nominal 1 : 1 loss on
  the first training batch, before any step, as the chapter reports them;
- **the floors** (``handlib.floors``): in 3D the *constant mean pose* (every test hand
  predicted as the training split's mean wrist-relative pose), in 2D every joint at the centre
  of the hand's box; a model must get below them before its differences mean anything, and
  whether each run did, by the 3D error, is ``handlib.learning``'s rule
  (:func:`learning_table`, :func:`figure_learning`);
- **the occlusion breakdown** (the paper's title): every error split by the synthetic engine's
  per-joint visibility (visible, self-occluded, object-occluded), on the test split and on the
  synthetic ``hard`` split (objects in every image, near the hand), and by viewpoint (the cosine
  between the palm normal and the direction to the camera);
- Figs. 3-8, the in-text table (:func:`table_in_text`) and what the claims need beyond the
  shared evaluator: each claim says in ``paper.yaml`` how it is tested (``handlib.claims``);
  this module gives the scores it names (:data:`SCORERS`), the seed-spread measurement
  (:data:`MEASUREMENTS`) and the hard split's records (:func:`hard_split`).

Length: everything the ResUnet chapter computes beyond the shared machinery: its floors,
scores under two scale protocols, the occlusion and viewpoint splits, its tables and Figs. 3-8,
the loss terms at the start of training and the scores of its 12 tested claims.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

import handlib.floors
from handlib import claims, engine, learning, losses, metrics, papers, viz
from handlib.data import hand_model
from handlib.data.pipeline import build_dataset
from handlib.profiles import load_profile
from handlib.runconfig import build_named
from handlib.runtime import make_loader
from handlib.skeleton import WRIST
from handlib.study import (PROFILES_THAT_TRAIN, Record, Study, first_records_floors,
                           group_datasets, sample_images, seed_mean, split_predictions,
                           trained_datasets, validation_curves)

PAPER = "resunet"
#: The split of hard occlusions the chapter scores every run on too (``eval.also_test_on``).
HARD = "hard"
#: Visibility codes (``handlib.data.pipeline.VISIBILITY_KINDS``) of the occlusion breakdown.
OCCLUSION_KINDS = {"visible": 0, "self-occluded": 1, "object-occluded": 2}
#: Viewpoint bins: the cosine between the palm normal and the direction to the camera.
VIEW_BINS = (-1.0, -0.5, 0.0, 0.5, 1.0)
VIEW_LABELS = ("back to the camera", "back, sideways", "palm, sideways", "palm to the camera")
#: Fig. 3(a)'s and Fig. 5's threshold grids.
PCK_2D_PX = np.arange(0.0, 30.5, 0.5)
PCK_3D_MM = np.arange(0.0, 80.5, 1.0)
AUC_RANGE_MM = (20.0, 50.0)


# ----------------------------------------------------------------------------- per-joint errors


def crop_points(points: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(N, J, 2) original-image pixels -> pixels of each sample's crop (``crop``: (N, 3, 3))."""
    homogeneous = np.concatenate([points, np.ones((*points.shape[:-1], 1))], axis=-1)
    return np.einsum("nij,nkj->nki", np.asarray(crop, np.float64), homogeneous)[..., :2]


def errors_2d(p: Record) -> np.ndarray:
    """(N, J) 2D distances in pixels of the network's input crop (its side is the run's
    ``data.input_size``: :func:`crop_pixels` names it), NaN where unlabelled."""
    pred = crop_points(np.asarray(p["kp2d_pred"], np.float64), p["crop"])
    truth = crop_points(np.asarray(p["kp2d"], np.float64), p["crop"])
    distance = np.linalg.norm(pred - truth, axis=-1)
    return np.where(np.asarray(p["labelled"], bool), distance, np.nan)


def errors_3d(p: Record, gt_scale: bool = False) -> np.ndarray:
    """(N, J) wrist-relative 3D distances in mm (the wrist itself is exact), NaN where unscored;
    with ``gt_scale`` each predicted hand first takes the true wrist-to-middle-MCP length."""
    spec = {"joints": "labelled"}
    pred, truth, mask = metrics.aligned_3d(p, spec)
    if gt_scale:
        pred = pred * np.nan_to_num(metrics.gt_scale_factor(pred, truth), nan=1.0)[..., None, None]
    distance = np.linalg.norm(pred - truth, axis=-1)
    return np.where(mask, distance, np.nan).reshape(len(distance), -1)


def mean_of(errors: np.ndarray, keep: np.ndarray | None = None) -> float:
    """The mean of the finite errors (where ``keep``, (N, J) bool), NaN when none."""
    values = errors if keep is None else np.where(keep, errors, np.nan)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def scored_3d(p: Record) -> np.ndarray:
    """(N, J): the joints a 3D error is averaged over: every labelled one but the wrist, which
    a root-relative prediction gets right by construction."""
    keep = np.asarray(p["labelled"], bool).copy()
    keep[:, WRIST] = False
    return keep


def epe_2d(p: Record) -> float:
    return mean_of(errors_2d(p))


def epe_3d(p: Record, gt_scale: bool = False) -> float:
    return mean_of(errors_3d(p, gt_scale), scored_3d(p))


def epe_3d_of(p: Record, joints: str = "all", view: str = "all") -> float:
    """The 3D error (mm) of the scored joints of one visibility (``joints``: ``all`` or a key
    of :data:`OCCLUSION_KINDS`, from the synthetic engine's per-joint labels) on the hands of
    one viewpoint bin (``view``: ``all`` or one of :data:`VIEW_LABELS`, :func:`view_bins`);
    with both ``all``, :func:`epe_3d`."""
    keep = scored_3d(p)
    if joints != "all":
        keep &= np.asarray(p["visibility_kind"]) == OCCLUSION_KINDS[joints]
    if view != "all":
        keep &= (view_bins(p) == VIEW_LABELS.index(view))[:, None]
    return mean_of(errors_3d(p), keep)


def joint_angle_error(p: Record) -> float:
    """Mean joint-angle error (degrees): at every joint between two bones, the angle between
    them, predicted against true (``handlib.metrics.joint_angle_error``): §V's "joint angles",
    which a rotation of the whole hand does not change."""
    return metrics.joint_angle_error(np.asarray(p["kp3d_rel_pred"], np.float64),
                                     np.asarray(p["kp3d"], np.float64),
                                     mask=np.asarray(p["labelled"], bool))


def bone_direction_error(p: Record) -> float:
    """Mean angle (degrees) between each predicted bone vector and the true one, in the camera
    frame (``handlib.metrics.bone_angle_error``): the bones' directions, so a hand in the right
    pose but turned as a whole errs on every bone; not the joint angles
    (:func:`joint_angle_error`)."""
    return metrics.bone_angle_error(np.asarray(p["kp3d_rel_pred"], np.float64),
                                    np.asarray(p["kp3d"], np.float64),
                                    mask=np.asarray(p["labelled"], bool))


def pck_3d(p: Record, thresholds, gt_scale: bool = False) -> np.ndarray:
    """Fraction of scored (non-wrist) joints within each threshold (mm)."""
    errors = errors_3d(p, gt_scale)[scored_3d(p)]
    errors = errors[np.isfinite(errors)]
    return (errors[:, None] <= np.asarray(thresholds)[None]).mean(axis=0)


def pck_2d(p: Record, thresholds) -> np.ndarray:
    errors = errors_2d(p)
    errors = errors[np.isfinite(errors)]
    return (errors[:, None] <= np.asarray(thresholds)[None]).mean(axis=0)


def auc_3d(p: Record, gt_scale: bool = False) -> float:
    """Fig. 5's AUC: the mean 3D PCK over 20-50 mm in 1 mm steps (area normalised to [0, 1])."""
    thresholds = np.arange(AUC_RANGE_MM[0], AUC_RANGE_MM[1] + 0.5, 1.0)
    return metrics.auc(thresholds, pck_3d(p, thresholds, gt_scale))


def palm_to_camera(p: Record) -> np.ndarray:
    """(N,) the cosine between each true hand's palm normal and the direction to the camera
    (+1 palm to the camera, -1 back to it); records keep each hand in its own frame, so a
    mirrored (left) hand's normal is a left hand's."""
    kp3d = np.asarray(p["kp3d"], np.float64)
    sides = np.where(np.asarray(p.get("mirrored", np.zeros(len(kp3d), bool)), bool),
                     "left", "right")
    return np.array([hand_model.palm_to_camera(joints, side)
                     for joints, side in zip(kp3d, sides)])


def view_bins(p: Record) -> np.ndarray:
    """(N,) each hand's viewpoint bin: the index in :data:`VIEW_LABELS` of the bin of
    :data:`VIEW_BINS` its :func:`palm_to_camera` cosine falls in."""
    return np.digitize(palm_to_camera(p), VIEW_BINS[1:-1])


# ----------------------------------------------------------------------------- floors


def mean_pose(study: Study, dataset: str) -> np.ndarray:
    """(21, 3) the training split's mean wrist-relative pose on ``dataset``: its labelled
    joints, as the pipeline gives them to the network (float32, a left hand mirrored), averaged
    by ``handlib.floors.mean_pose``."""
    run = next(r for r in study.runs if r.dataset == dataset)
    data = build_dataset(run.config["data"], engine.resolve_config(run.config)["train"]["split"])
    kp3d, labelled = [], []
    for index in range(len(data.source)):
        item = data.item(index)
        kp3d.append(item["kp3d"])
        labelled.append(item["labelled"])
    return handlib.floors.mean_pose(np.stack(kp3d), np.stack(labelled))


def floor_record(p: Record, pose: np.ndarray) -> Record:
    """``p`` with every hand predicted as the constant ``pose`` in 3D and every joint at the
    centre of its hand's true box in 2D (float32, as the chapter's models predict): the floors
    of the two errors, in one record (``handlib.floors``)."""
    return handlib.floors.mean_pose_record(handlib.floors.box_centre_record(p, np.float32), pose)


def floors(study: Study) -> dict[str, Record]:
    """Dataset -> the floor record on its test split (beside its first run's labels)."""
    return first_records_floors(study, lambda p, dataset: floor_record(
        p, mean_pose(study, dataset)))


def learning_table(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Did each run learn? ``handlib.learning.learning_table`` by the score the chapter's
    headline claims compare, the root-relative 3D error (:func:`epe_3d`, mm, lower is better),
    against the constant mean pose's (``floor_records``, :func:`floors`) on the same test hands:
    a run learned when it is below that floor by more than the paired-bootstrap interval."""
    return learning.learning_table(study, epe_3d, floor_records)


def figure_learning(study: Study, floor_records: dict[str, Record]) -> Figure:
    """Does it learn? The main comparison's models' validation 3D error (``val_epe_mm``, after
    each epoch) against the optimiser steps, one panel per dataset, with the constant mean
    pose's test 3D error (:func:`epe_3d` of ``floor_records``) as each panel's floor. The
    validation error averages the wrist in (exact by construction), so it reads a little lower
    than :func:`epe_3d` of the same predictions would."""
    floor_scores = {dataset: epe_3d(p) for dataset, p in floor_records.items()}
    return learning.figure_learning(study, "val_epe_mm", group_runs(study, "main"), floor_scores,
                                    "validation 3D EPE (mm)")


# ----------------------------------------------------------------------------- tables


def crop_pixels(cfg: dict) -> str:
    """What a pixel of the chapter's 2D errors is, from the profile's configuration: a pixel of
    the ``data.input_size``² crop the network sees."""
    return f"px of the {cfg['data']['input_size']}² crop"


def score_names(cfg: dict) -> tuple[str, ...]:
    """The columns of :func:`score_columns` under the profile ``cfg``, as the chapter's tables
    print them (the 2D error's pixels named by :func:`crop_pixels`)."""
    low, high = AUC_RANGE_MM
    return (f"2D EPE ({crop_pixels(cfg)})", "3D EPE (mm)", "3D EPE, GT scale (mm)",
            f"AUC {low:g}-{high:g} mm", f"AUC {low:g}-{high:g} mm, GT scale",
            "joint angle (deg)", "bone direction, camera frame (deg)")


def score_columns(p: Record, cfg: dict) -> dict[str, float]:
    """Every score of one record, named by :func:`score_names`."""
    return dict(zip(score_names(cfg), (
        epe_2d(p), epe_3d(p), epe_3d(p, gt_scale=True), auc_3d(p), auc_3d(p, gt_scale=True),
        joint_angle_error(p), bone_direction_error(p))))


def group_runs(study: Study, group: str) -> dict[str, str]:
    return study.cfg["study"]["groups"][group]["runs"]


# ----------------------------------------------------------------------------- what data


def data_label(study: Study, paper_dataset: str) -> str:
    """What the data compared with the paper's ``paper_dataset`` was, for titles and captions:
    the runs' own data spec (:meth:`Study.tested_on`: the real dataset and its test split, or
    the synthetic stand-in, and the oracle crop), or, for a dataset absent from ``data_root``,
    that it was not run and why."""
    dataset = study.dataset_for(paper_dataset)
    if dataset is None:
        return f"{paper_dataset}: {study.absent(paper_dataset)}"
    return study.tested_on(dataset)


def not_run_note(study: Study, paper_dataset: str) -> str | None:
    """Markdown saying that the paper's ``paper_dataset`` was not run and why, or ``None`` when
    it was: the notebook shows it in place of that dataset's figure or table."""
    reason = study.absent(paper_dataset)
    return None if reason is None else f"**{paper_dataset}**: {reason}."


def occlusion_labelled(p: Record) -> bool:
    """Whether a record's data labels any joint visible, self- or object-occluded (the
    synthetic engine does; the real datasets of this chapter label no occlusion: -1)."""
    return bool(np.isin(np.asarray(p["visibility_kind"]), list(OCCLUSION_KINDS.values())).any())


def occlusion_note(study: Study, paper_dataset: str = "GANerated") -> str | None:
    """Markdown saying why the occlusion breakdown on ``paper_dataset`` cannot be made (the
    dataset was not run, or its data labels no occlusion), or ``None`` when it can."""
    absent = not_run_note(study, paper_dataset)
    if absent is not None:
        return absent
    dataset = study.dataset_for(paper_dataset)
    records = study.of(dataset, group_runs(study, "main")["ResUnet"])
    if records and not occlusion_labelled(records[0]):
        return (f"**{study.tested_on(dataset)}** labels no joint as visible, self- or "
                "object-occluded, so the errors cannot be split by occlusion: that split needs "
                "the synthetic engine's per-joint labels.")
    return None


def group_trained_by(study: Study, group: str) -> str:
    """Which other profile of ``handlib.study.PROFILES_THAT_TRAIN`` trains study group ``group``
    on some dataset, with the command line that does, for a table this profile leaves empty."""
    for other in PROFILES_THAT_TRAIN:
        if other != study.profile and trained_datasets(load_profile(study.experiment, other),
                                                       group):
            return (f"the {other} profile trains it: `handlib train --chapter {study.experiment} "
                    f"--profile {other} --all`")
    return "no profile trains it"


def table_scores(study: Study, group: str, floor_records: dict[str, Record]) -> pd.DataFrame:
    """(dataset, model) x every score (:func:`score_names`), seed means, with the floors' rows:
    the main comparison (``group="main"``) or the controls. A dataset absent from ``data_root``
    has one row, its model label saying that it was not run and why, and no values; a group the
    profile trains on no dataset has one row saying so and which profile trains it
    (:func:`group_trained_by`)."""
    names = score_names(study.cfg)
    rows = {}
    for paper_dataset in group_datasets(study.cfg, group):
        dataset = study.dataset_for(paper_dataset)
        if dataset is None:
            rows[(paper_dataset, study.absent(paper_dataset))] = dict.fromkeys(names, np.nan)
            continue
        for label, name in group_runs(study, group).items():
            records = study.of(dataset, name)
            if records:
                rows[(dataset, label)] = pd.DataFrame(
                    [score_columns(p, study.cfg) for p in records]).mean().to_dict()
        if dataset in floor_records:
            rows[(dataset, "floor")] = score_columns(floor_records[dataset], study.cfg)
    if not rows:  # a group this profile trains on no dataset
        rows[("none", f"not trained on the {study.profile} profile "
                      f"({group_trained_by(study, group)})")] = dict.fromkeys(names, np.nan)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.names = ["dataset", "model"]
    return frame


def hard_records(study: Study) -> dict[str, Record | None]:
    """Run id -> its record on the ``hard`` split."""
    return split_predictions(study, HARD)


def table_occlusion(study: Study, hard: dict[str, Record | None]) -> pd.DataFrame:
    """(split, model) x (2D / 3D error on visible, self-occluded, object-occluded joints): the
    main models and the controls on GANerated (or its stand-in), first seeds."""
    dataset = study.dataset_for("GANerated")
    labels = {**group_runs(study, "main"), **group_runs(study, "controls")}
    rows = {}
    for split_name, source in (("test", study.predictions), (HARD, hard)):
        for label, name in labels.items():
            run = next((r for r in study.runs if r.dataset == dataset and r.name == name
                        and source.get(r.run_id) is not None), None)
            if run is None:
                continue
            p = source[run.run_id]
            kinds = np.asarray(p["visibility_kind"])
            e2, e3 = errors_2d(p), errors_3d(p)
            row = {}
            for kind, code in OCCLUSION_KINDS.items():
                row[(kind, "2D (px)")] = mean_of(e2, kinds == code)
                row[(kind, "3D (mm)")] = mean_of(e3, (kinds == code) & scored_3d(p))
            row[("share of joints", "object-occluded")] = float(
                (kinds == OCCLUSION_KINDS["object-occluded"]).mean())
            rows[(split_name, label)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.names = ["split", "model"]
    return frame


def table_viewpoints(study: Study) -> pd.DataFrame:
    """Model x viewpoint bin: the 3D error (mm) of the main models and the controls on
    GANerated's (or its stand-in's) test split, first seeds, with each bin's share of the test
    hands."""
    dataset = study.dataset_for("GANerated")
    labels = {**group_runs(study, "main"), **group_runs(study, "controls")}
    rows = {}
    for label, name in labels.items():
        records = study.of(dataset, name)
        if not records:
            continue
        p = records[0]
        bins = view_bins(p)
        errors = np.where(scored_3d(p), errors_3d(p), np.nan)
        rows[label] = {view: mean_of(errors[bins == b]) for b, view in enumerate(VIEW_LABELS)}
        rows["share of test hands"] = {view: float((bins == b).mean())
                                       for b, view in enumerate(VIEW_LABELS)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns.name = "palm-to-camera cosine bin"
    return frame


def table_stability(study: Study, dataset: str | None = None,
                    runs: dict[str, str] | None = None) -> pd.DataFrame:
    """Model x (per-seed 3D errors, their mean and standard deviation): the ``stability``
    group's runs on GANerated (or its stand-in), or ``runs`` (label -> run name) on the
    profile's ``dataset``."""
    dataset = dataset or study.dataset_for("GANerated")
    rows = {}
    for label, name in (runs or group_runs(study, "stability")).items():
        values = [epe_3d(p) for p in study.of(dataset, name)]
        seeds = study.seeds(dataset, name)
        rows[label] = {**{f"seed {s} (mm)": v for s, v in zip(seeds, values)},
                       "mean (mm)": float(np.mean(values)) if values else np.nan,
                       "std (mm)": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def table_in_text(study: Study) -> pd.DataFrame:
    """The paper's ``in-text`` table (its one number, the STB AUC 20-50) beside ResUnet's AUC on
    STB's test split (``paper`` profile) or the STB-like stand-in (other data, so not a test of
    the printed number) under both protocols, seed means; the column names the data (and the
    oracle crop, :meth:`Study.tested_on`)."""
    dataset = study.dataset_for("STB")
    records = study.of(dataset, group_runs(study, "main")["ResUnet"])
    paper = papers.table(PAPER, "in-text")
    column = paper.columns[0]
    rows = {"as predicted (root-relative)": seed_mean([auc_3d(p) for p in records]),
            "ground-truth scale": seed_mean([auc_3d(p, True) for p in records])}
    frame = pd.DataFrame({"paper (STB)": [float(paper.loc["ResUnet", column])] * 2,
                          f"ours ({study.tested_on(dataset)})": list(rows.values())},
                         index=list(rows))
    frame.index.name = "protocol"
    return frame


# ----------------------------------------------------------------------------- figures


def figure_pck(study: Study, floor_records: dict[str, Record]) -> Figure:
    """Fig. 3(a): 2D PCK (px) and 3D PCK (mm) of the main models and the floor on GANerated (or
    its stand-in; the title names the data), first seeds."""
    dataset = study.dataset_for("GANerated")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    curves_2d, curves_3d = {}, {}
    for label, name in group_runs(study, "main").items():
        records = study.of(dataset, name)
        if records:
            curves_2d[label], curves_3d[label] = (pck_2d(records[0], PCK_2D_PX),
                                                  pck_3d(records[0], PCK_3D_MM))
    if dataset in floor_records:
        curves_2d["floor (box centre)"] = pck_2d(floor_records[dataset], PCK_2D_PX)
        curves_3d["floor (mean pose)"] = pck_3d(floor_records[dataset], PCK_3D_MM)
    viz.plot_pck_curves(PCK_2D_PX, curves_2d, left,
                        xlabel=f"threshold ({crop_pixels(study.cfg)})", title="2D PCK")
    viz.plot_pck_curves(PCK_3D_MM, curves_3d, right, xlabel="threshold (mm, root-relative)",
                        title="3D PCK")
    fig.suptitle(study.tested_on(dataset), fontsize=10)
    fig.tight_layout()
    return fig


def figure_losses(study: Study) -> Figure:
    """Fig. 3(b): training and validation loss per epoch of ResUnet on GANerated (or its
    stand-in; the title names the data), from its run's history (``eval.loss``)."""
    dataset = study.dataset_for("GANerated")
    runs = {"ResUnet": group_runs(study, "main")["ResUnet"]}
    train = validation_curves(study, dataset, runs, "loss")
    val = validation_curves(study, dataset, runs, "val_loss")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if not train.empty:
        ax.plot(train.index, train["ResUnet"], marker="o", label="training (mean over the epoch)")
    if not val.empty:
        ax.plot(val.index, val["ResUnet"], marker="s", label="validation (after the epoch)")
    ax.set(xlabel="epoch", ylabel="loss (2D coordinate MSE + bone loss)")
    ax.set_title(f"ResUnet trained on {dataset}, validated on its validation split\n"
                 f"(tested on: {study.tested_on(dataset)})", fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig


def training_text(cfg: dict) -> str:
    """The training recipe of the profile ``cfg`` in words, for the chapter's prose (all of it
    our choice: the paper states no optimiser, schedule, batch or augmentation): the optimiser
    and its learning rate, the batch, the epochs and the step decay, and the augmentation of
    ``data.augment`` (or none)."""
    optimizer, scheduler, train = cfg["optimizer"], cfg["scheduler"], cfg["train"]
    if scheduler["name"] != "step":
        raise ValueError(f"training_text describes a step decay; the profile has "
                         f"{scheduler['name']!r}")
    epochs = f"{train['epochs']} epoch" + ("s" if train["epochs"] != 1 else "")
    text = (f"{optimizer['name'].capitalize()} at learning rate {optimizer['lr']:g}, batches of "
            f"{train['batch_size']}, {epochs}, the learning rate × {scheduler['gamma']:g} every "
            f"{scheduler['step_size']} epochs")
    augment = cfg["data"].get("augment")
    if not augment:
        return text + "; no augmentation"
    parts = []
    if augment.get("rotation"):
        parts.append(f"in-plane rotation up to ±{augment['rotation']:g}°")
    if "scale" in augment:
        parts.append(f"scale {augment['scale'][0]:g}-{augment['scale'][1]:g}")
    if augment.get("shift"):
        parts.append(f"shift up to {100 * augment['shift']:g} % of the crop")
    if augment.get("colour"):
        parts.append(f"colour jitter of ±{100 * augment['colour']:g} % in brightness, contrast "
                     "and saturation")
    return text + "; augmentation: " + ", ".join(parts)


def loss_terms_at_start(study: Study, paper_dataset: str = "GANerated",
                        name: str = "resunet") -> dict[str, float]:
    """The loss of run ``name`` (first seed) on the profile's ``paper_dataset`` at the start of
    training: each term of ``resunet_loss`` (already weighted, nominally 1 : 1) and ``loss``,
    their sum, on the first batch of its first epoch before any step: the model built as the
    training loop builds it (the run's seed), the batch that epoch's order draws (augmentation
    included), in training mode, on the CPU, without gradients. The paper gives no weights
    (§II.A writes only eq. 4): a 1 : 1 sum weighs its terms equally only if these are alike."""
    dataset = study.dataset_for(paper_dataset)
    if dataset is None:
        raise ValueError(f"{paper_dataset} was not run on the {study.profile} profile: "
                         f"{study.absent(paper_dataset)}")
    run = next(r for r in study.runs if r.dataset == dataset and r.name == name)
    cfg = engine.resolve_config(run.config)
    seed, batch_size = cfg["train"]["seed"], cfg["train"]["batch_size"]
    engine.seed_everything(seed)
    model = engine.build_model(cfg)
    data = build_dataset(cfg["data"], cfg["train"]["split"], training=True)
    data.set_epoch(0)
    first = engine.epoch_indices(len(data), seed=seed, epoch=0, shuffle=True)[:batch_size]
    batch = next(iter(make_loader(data, first, batch_size, device=torch.device("cpu"),
                                  num_workers=0, seed=seed * 1000, drop_last=True)))
    with torch.no_grad():
        terms = build_named(losses.build, cfg["loss"])(model(engine.model_input(batch)), batch)
    values = {term: float(value) for term, value in terms.items()}
    return {**values, "loss": sum(values.values())}


def figure_stb(study: Study, floor_records: dict[str, Record]) -> Figure:
    """Fig. 5: 3D PCK over 20-50 mm on STB (or its stand-in; the title names the data) with the
    AUC in the legend, as predicted (left) and with ground-truth scale (right), first seeds,
    with the floor."""
    dataset = study.dataset_for("STB")
    thresholds = np.arange(AUC_RANGE_MM[0], AUC_RANGE_MM[1] + 0.5, 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, gt_scale in zip(axes, (False, True)):
        curves = {}
        records = {label: study.of(dataset, name)
                   for label, name in group_runs(study, "main").items()}
        if dataset in floor_records:
            records["floor (mean pose)"] = [floor_records[dataset]]
        for label, found in records.items():
            if found:
                curves[label] = pck_3d(found[0], thresholds, gt_scale)
        viz.plot_pck_curves(thresholds, curves, ax, xlabel="threshold (mm)",
                            auc_range=AUC_RANGE_MM,
                            title=("ground-truth scale" if gt_scale
                                   else "as predicted (root-relative)"))
    fig.suptitle(study.tested_on(dataset), fontsize=10)
    fig.tight_layout()
    return fig


def qualitative_frames(p: Record, count: int = 3) -> dict[str, list[int]]:
    """Figs. 6-8's rule: test frames at the 10th, 50th and 90th percentile of the 3D error, and
    the ``count`` frames with the most object-occluded joints (ties: the lower 3D error first);
    none of the latter when the data labels no occlusion (:func:`occlusion_labelled`)."""
    per_frame = np.array([mean_of(row) for row in np.where(scored_3d(p), errors_3d(p), np.nan)])
    order = np.argsort(per_frame, kind="stable")
    percentiles = [int(order[round(q * (len(order) - 1))]) for q in (0.1, 0.5, 0.9)]
    if not occlusion_labelled(p):
        return {"by error": percentiles, "most occluded": []}
    hidden = (np.asarray(p["visibility_kind"]) == OCCLUSION_KINDS["object-occluded"]).sum(axis=1)
    occluded = list(np.lexsort((per_frame, -hidden))[:count])
    return {"by error": percentiles, "most occluded": [int(i) for i in occluded]}


def figure_qualitative(study: Study, paper_dataset: str, name: str = "resunet") -> Figure:
    """Figs. 6-8 for one paper dataset (or its stand-in; the title names the data): the input
    frame with the true (green) and predicted (red) 2D skeleton, cropped around the hand, and
    the root-relative 3D skeletons seen from the camera's side, for the frames of
    :func:`qualitative_frames` (first seed)."""
    dataset = study.dataset_for(paper_dataset)
    run = next(r for r in study.runs if r.dataset == dataset and r.name == name)
    p = study.first(dataset, name)
    picks = qualitative_frames(p)
    chosen = ([(f"{q}th percentile", i) for q, i in zip((10, 50, 90), picks["by error"])]
              + [("most occluded", i) for i in picks["most occluded"]])
    images = sample_images(run, [p["index"][i] for _, i in chosen])
    fig = plt.figure(figsize=(2.6 * len(chosen), 5.4))
    for column, ((title, i), image) in enumerate(zip(chosen, images)):
        ax = fig.add_subplot(2, len(chosen), column + 1)
        truth, pred = p["kp2d"][i], p["kp2d_pred"][i]
        box = np.concatenate([truth, pred])
        lo, hi = box.min(axis=0) - 10, box.max(axis=0) + 10
        ax.imshow(image)
        viz.draw_skeleton(ax, truth, colour="tab:green")
        viz.draw_skeleton(ax, pred, colour="tab:red")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])
        error = f"{mean_of(errors_3d(p)[i]):.0f} mm"
        if occlusion_labelled(p):
            hidden = int((np.asarray(p["visibility_kind"][i])
                          == OCCLUSION_KINDS["object-occluded"]).sum())
            error += f", {hidden} joints behind objects"
        ax.set_title(f"{title}\n{error}", fontsize=8)
        ax.axis("off")
        ax3 = fig.add_subplot(2, len(chosen), len(chosen) + column + 1, projection="3d")
        true_rel = np.asarray(p["kp3d"][i], np.float64) - np.asarray(p["kp3d"][i])[WRIST]
        pred_rel = np.asarray(p["kp3d_rel_pred"][i], np.float64)
        viz.draw_skeleton_3d(ax3, true_rel, colour="tab:green")
        viz.draw_skeleton_3d(ax3, pred_rel, colour="tab:red")
        ax3.set_axis_off()
    fig.suptitle(f"{study.tested_on(dataset)}: true skeleton green, ResUnet red (first seed)",
                 fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- claims
#
# Every claim the chapter tests declares how in ``paper.yaml`` (its ``test`` block): which runs,
# which of the paper's datasets, which score below, on which split, against which floor; the one
# evaluator, ``handlib.claims.evaluate``, turns the declarations into verdict inputs.


def score_2d(target: claims.Target) -> tuple[claims.Score, str]:
    """``epe_2d``: the 2D error in pixels of the network's input crop (:func:`epe_2d`; the
    verdict's data column gives the crop's side)."""
    return epe_2d, ""


def score_3d(target: claims.Target, joints: str, view: str) -> tuple[claims.Score, str]:
    """``epe_3d``: the root-relative 3D error (mm, :func:`epe_3d_of`) of the scored joints of
    one visibility (``joints``: ``all`` or a key of :data:`OCCLUSION_KINDS`) on the hands of one
    viewpoint (``view``: ``all`` or one of :data:`VIEW_LABELS`)."""
    return (lambda p: epe_3d_of(p, joints, view)), ""


def score_joint_angle(target: claims.Target) -> tuple[claims.Score, str]:
    """``joint_angle``: the mean error (degrees) of the angles between adjacent bones
    (:func:`joint_angle_error`), §V's joint angles; the bones' directions in the camera frame
    (:func:`bone_direction_error`) are shown beside it in the tables, not scored by a claim."""
    return joint_angle_error, ""


#: ResUnet's scores of its claims (``score: {name: ...}`` in ``paper.yaml``); the 2D error in
#: crop pixels, the wrist-skipping 3D error and the joint angles are the chapter's own. They add
#: no note to the verdict's data column: each claim's text names the joints and hands it scores.
SCORERS = {"epe_2d": score_2d, "epe_3d": score_3d, "joint_angle": score_joint_angle}


def seed_spread(target: claims.Target) -> dict | None:
    """``bones_more_stable``'s values: each compared run's seed-to-seed standard deviation of
    the 3D error on the claim's dataset (:func:`table_stability`), over the subject's seeds;
    ``None`` while a run has fewer than two seeds (nothing to measure). Its noise is declared
    (``noise: {rule: absolute, value: 0}``): a standard deviation has no bootstrap here."""
    study = target.study
    stability = table_stability(study, target.dataset, target.runs)
    if not stability["std (mm)"].notna().all():
        return None
    seeds = study.seeds(target.dataset, target.runs[target.claim["subject"]])
    return {"reproduced": stability["std (mm)"].to_dict(),
            "tested_on": study.tested_on(target.dataset) + f", seeds {seeds}",
            "run": f"{study.experiment}/{study.profile}"}


#: ResUnet's measurements (``compare: measured``): what no prediction record holds.
MEASUREMENTS = {"seed_spread": seed_spread}


def hard_split(study: Study, hard: dict[str, Record | None]) -> Study | str:
    """The study whose records are those on the ``hard`` split (``hard``: run id -> record, from
    :func:`hard_records`), for the claims that declare ``split: hard``; or, on a profile that
    scores no hard split (real data: only the synthetic engine makes one), why."""
    if HARD not in study.cfg["eval"]["also_test_on"]:
        return (f"no {HARD} split (the synthetic engine's hand-object frames; the "
                f"{study.profile} profile scores none)")
    return Study(study.cfg, study.runs, {run_id: hard.get(run_id) for run_id in study.predictions})


def claim_results(study: Study, floor_records: dict[str, Record] | None = None,
                  hard: dict[str, Record | None] | None = None) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs of every claim the runs test, as ``paper.yaml``
    declares each (``handlib.claims.evaluate``): the model comparisons per seed over shared
    seeds, judged against the floor record (:func:`floors`) where a floor bounds the score
    directly (the 2D and 3D errors and the bone angle on the test split) and unusable otherwise
    while no compared model gets below the 3D floor; the runs' records on the ``hard`` split
    (``hard``, :func:`hard_split`) for the claims on hand-object frames; the seed-to-seed spread
    (:func:`seed_spread`). A claim whose data this profile lacks is not run, with the reason."""
    return claims.evaluate(study, papers.claims(PAPER), SCORERS, measurements=MEASUREMENTS,
                           floor_records=floor_records,
                           splits={HARD: hard_split(study, hard or {})})
