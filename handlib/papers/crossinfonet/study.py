"""Chapter 14, CrossInfoNet (Du et al. 2019): what the chapter computes from its runs.

The runs, their test predictions and the claim machinery are the shared ``handlib.study``; the
runs and the map from Table 1 to them are data in ``profiles.yaml``. What is CrossInfoNet's own
lives here:

- **the score** (§4.1): the mean 3D distance error in camera millimetres, without alignment,
  over every labelled joint (``handlib.metrics``' ``mean3d``), also over the palm and the finger
  joints separately (the two branches' subsets, claim 15);
- **the floor**: the *constant offset*, every test hand predicted as the crop centre plus the
  training split's mean joint offset from it, i.e. a model that ignores the depth map. A trained
  model must get below it before its differences mean anything;
- **Table 1** (Base, Base+HM, Cross, Cross+HM on ICVL and NYU), seed means, and its claims;
- **Fig. 4**, the palm / finger subsets, which the paper gives only as a picture: each is data
  here (:data:`FIG4_SUBSETS`, in each benchmark's own joint order, ``handlib.depth_eval``) with
  its source.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import depth_eval, engine, metrics, papers, viz
from handlib.codecs.depth_crop import DepthCrop
from handlib.data.pipeline import build_codec, build_dataset
from handlib.study import Record, Study, bench_row, claim_inputs, seed_mean

PAPER = "crossinfonet"


def subset_error(study: Study, p: Record, joints: list[int] | None = None) -> float:
    """Mean 3D error (camera mm, unaligned) over the scored joints of ``joints`` (all: None)."""
    mask = metrics.mask_3d(p, study.cfg["eval"])
    if joints is not None:
        keep = np.zeros(mask.shape[-1], bool)
        keep[list(joints)] = True
        mask = mask & keep
    return float(metrics.epe(np.asarray(p["kp3d_pred"], np.float64),
                             np.asarray(p["kp3d"], np.float64), mask=mask))


def scorer(study: Study, joints: list[int] | None = None):
    """``record -> mean 3D error`` over ``joints`` (all joints: None)."""
    return lambda p: subset_error(study, p, joints)


def subsets(study: Study) -> dict[str, list[int]]:
    """The palm and finger joints of the profile's codec (the branches' subsets)."""
    return build_codec(study.runs[0].config["data"]).subsets


# ----------------------------------------------------------------------------- the floor


def training_offset(study: Study, dataset: str) -> np.ndarray:
    """(J, 3) mm: the training split's mean offset of each joint from the crop centre (the
    labelled joints' mean, the ``depth_crop`` codec's centre)."""
    runs = [r for r in study.runs if r.dataset == dataset]
    if not runs:
        raise ValueError(f"the profile trains nothing on {dataset!r}; its datasets are "
                         f"{', '.join(study.cfg['study']['datasets'])}")
    run = runs[0]
    data = build_dataset(run.config["data"], engine.resolve_config(run.config)["train"]["split"])
    offsets = []
    for i in range(len(data)):
        item = data.item(i)
        labelled = item["labelled"].astype(bool)[:, None]
        offsets.append(np.where(labelled, item["kp3d"] - data.codec.centre(item), np.nan))
    return np.nanmean(np.stack(offsets), axis=0)


def constant_offset_record(p: Record, offset: np.ndarray) -> Record:
    """``p`` with every prediction replaced by its crop centre (the mean of its labelled joints)
    plus ``offset``: the floor a model must get below."""
    centre_of = DepthCrop().centre  # the codec's rule; records carry no given centre
    centre = np.stack([centre_of({"kp3d": k, "labelled": m})
                       for k, m in zip(p["kp3d"], p["labelled"])])
    return {**p, "kp3d_pred": (centre[:, None] + offset[None]).astype(np.float32)}


def floors(study: Study) -> dict[str, Record]:
    """Dataset -> the constant-offset record on its test split (beside its first run's)."""
    found = {}
    for dataset in study.cfg["study"]["datasets"]:
        records = [study.predictions[r.run_id] for r in study.runs if r.dataset == dataset
                   and study.predictions[r.run_id] is not None]
        if records:
            found[dataset] = constant_offset_record(records[0], training_offset(study, dataset))
    return found


# ----------------------------------------------------------------------------- tables


def table_1(study: Study) -> pd.DataFrame:
    """Table 1 as the paper lays it out: strategy x ICVL/NYU, mean 3D error (mm), seed means."""
    group, columns = study.group("1"), study.table("1")["datasets"]
    score = scorer(study)
    rows = {label: {column: seed_mean([score(p) for p in
                                       study.of(study.dataset_for(column), name)])
                    for column in columns} for label, name in group.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table(PAPER, "1").index.name
    return frame


def table_subsets(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Every trained model's error over all, palm and finger joints, beside the constant
    offset's (first seeds): the branches' sub-tasks of claim 15, and the floor check."""
    parts = {"all joints": None, **subsets(study)}
    rows = {}
    for run in study.runs:
        p = study.predictions[run.run_id]
        if p is None or run.seed != study.cfg["study"]["seeds"][0]:
            continue
        rows[(run.dataset, run.name)] = {f"{part} (mm)": subset_error(study, p, joints)
                                         for part, joints in parts.items()}
    for dataset, p in floor_records.items():
        rows[(dataset, "constant offset")] = {f"{part} (mm)": subset_error(study, p, joints)
                                              for part, joints in parts.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index(level=0, sort_remaining=False)
    frame.index.names = ["dataset", "run"]
    return frame


#: Table 2's and Table 3's row for the model trained here (the paper's own row is CrossInfoNet).
OURS = "CrossInfoNet (trained here)"


def table_2(study: Study, comparison: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as recomputed from the published predictions (``comparison``: the metrics
    chapter's ``depth_eval.table2_comparison``, the one code path for those rows), plus
    :data:`OURS`: the first Table 1 group's Cross+HM, seed mean, on the data of its run (a
    stand-in on every profile but ``paper``: not comparable with the published rows)."""
    reproduced = depth_eval.table2_reproduced(comparison)
    ours = table_1(study).loc["Cross+HM"]
    reproduced.loc[OURS] = {column: ours.get(column, np.nan) for column in reproduced.columns}
    reproduced.attrs = {**reproduced.attrs, "ours_tested_on": "; ".join(
        f"{column}: {study.tested_on(study.dataset_for(column))}" for column in ours.index)}
    return reproduced


def table_3(bench: dict) -> pd.DataFrame:
    """Table 3: the paper's test speeds beside ours, measured by ``handlib bench`` (eager, each
    batch size of the bench) on the machine that built the page; the other methods' speeds are
    the paper's, each from its own paper and hardware."""
    paper = papers.table(PAPER, "3")
    frame = paper.rename(columns={paper.columns[0]: "paper (fps)"})
    for speed in bench_row(bench, "CrossInfoNet")["speed"]:
        if speed["mode"] == "eager":
            column = f"measured, batch {speed['batch']} (fps)"
            frame[column] = np.nan
            frame.loc["CrossInfoNet", column] = speed["infer_img_s"]
    frame.attrs = {"device": bench["device_name"], "input_size": bench["settings"]["input_size"]}
    return frame


# ----------------------------------------------------------------------------- claims


def claim_results(study: Study, floor_records: dict[str, Record] | None = None) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs of Table 1's claims: the mean 3D error of the
    claim's two variants on the stand-in of its column, per seed over shared seeds, with the
    constant offset's error as the floor."""
    floor_records = floor_records or {}
    score = scorer(study)
    found = {}
    for claim in papers.claims(PAPER):
        if claim.get("table") != "1" or claim["testable_on"] == "not_here":
            continue
        dataset = study.dataset_for(claim["column"])
        floor = float(score(floor_records[dataset])) if dataset in floor_records else None
        found[claim["id"]] = claim_inputs(study, claim, dataset, score, floor=floor)
    return found


# ----------------------------------------------------------------------------- Fig. 4


#: Fig. 4's palm joints of each benchmark, in its own joint order (``depth_eval.BENCHMARKS``);
#: the finger joints are the others. With the source of each reading.
FIG4_SUBSETS: dict[str, dict] = {
    "nyu": {"palm": [1, 3, 5, 7, 9, 10, 11, 12, 13],
            "source": "the authors' code (github.com/dumyy/handpose): finger = the five tips "
                      "[0, 2, 4, 6, 8], palm = the other nine"},
    "msra": {"palm": [0, 1, 5, 9, 13, 17],
             "source": "the authors' code: the wrist and the five MCPs (HANDS 2017 the same, "
                       "§4.1); on the canonical 21-joint layout of the stand-ins this is "
                       "handlib.skeleton.PALM_JOINTS"},
    "icvl": {"palm": [0, 1, 4, 7, 10, 13],
             "source": "our decision (not in the authors' code): by analogy with MSRA, the palm "
                       "joint and the five finger roots"},
}


def fig4_partition(dataset: str) -> dict[str, list[int]]:
    """``{"palm": [...], "finger": [...]}`` of a benchmark, in its own joint order."""
    joints = depth_eval.benchmark(dataset).num_joints  # a clear error for an unknown one
    palm = FIG4_SUBSETS[dataset]["palm"]
    return {"palm": list(palm), "finger": [j for j in range(joints) if j not in palm]}


def figure_subsets(poses: dict[str, np.ndarray]) -> Figure:
    """Fig. 4: each benchmark's skeleton (``poses``: dataset -> (J, 2) pixels of one frame in its
    own joint order) with its palm joints in blue boxes and its finger joints in red boxes."""
    fig, axes = plt.subplots(1, len(poses), figsize=(4.0 * len(poses), 4.2), squeeze=False)
    for ax, (dataset, kp2d) in zip(axes[0], poses.items()):
        spec, partition = depth_eval.benchmark(dataset), fig4_partition(dataset)
        viz.draw_skeleton(ax, kp2d, bones=spec.bones, joint_finger=spec.joint_finger,
                          colour="0.55")
        for part, colour in (("palm", "tab:blue"), ("finger", "tab:red")):
            joints = partition[part]
            ax.scatter(*np.asarray(kp2d)[joints].T, s=90, marker="s", facecolors="none",
                       edgecolors=colour, linewidths=1.6, label=f"{part} ({len(joints)})")
        for j, (u, v) in enumerate(np.asarray(kp2d)):
            ax.annotate(str(j), (u, v), xytext=(4, 4), textcoords="offset points", fontsize=7)
        ax.set_title(spec.title)
        ax.invert_yaxis()
        ax.set_aspect("equal")
        ax.axis("off")
        ax.legend(loc="lower left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
