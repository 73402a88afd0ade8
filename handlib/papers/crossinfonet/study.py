"""Chapter 14, CrossInfoNet (Du et al. 2019): what the chapter computes from its runs.

The runs, their test predictions and the claim machinery are the shared ``handlib.study``; the
runs and the map from Table 1 to them are data in ``profiles.yaml``. What is CrossInfoNet's own
lives here:

- **the score** (§4.1): the mean 3D distance error in camera millimetres, without alignment,
  over every labelled joint (``handlib.metrics``' ``mean3d``), also over the palm and the finger
  joints separately (the two branches' subsets, claim 15);
- **the hand centre** the crop is made around (the ``depth_crop`` codec's ``centre``): found
  from the depth frame alone on every profile (V2V-PoseNet's published refined centres on
  ``paper`` when supplied), with Cross+HM cropped around the labelled joints' mean (an oracle,
  the upper bound) beside it (:func:`table_centre`); every table, figure and verdict that rests
  on a centre names it (:func:`centre_text`);
- **the floor**: the *constant offset*, every test hand predicted as its crop centre plus the
  training split's mean joint offset from it (``handlib.floors.mean_offset``), i.e. a model
  that ignores the depth map. A trained model must get below it before its differences
  mean anything; whether each run did, by the mean 3D error over all joints, is
  ``handlib.learning``'s rule (:func:`learning_table`, :func:`figure_learning`);
- **Table 1** (Base, Base+HM, Cross, Cross+HM on ICVL and NYU), seed means, and its claims;
- **Fig. 4**, the palm / finger subsets, which the paper gives only as a picture: each is data
  here (:data:`FIG4_SUBSETS`, in each benchmark's own joint order, ``handlib.depth_eval``) with
  its source;
- **Fig. 7** (success frames and per-joint errors of the published predictions, our model's
  beside them on its own data) and **Fig. 8** (test crops at fixed quantiles of the error);
- the claims, each tested as its ``test`` block in ``paper.yaml`` declares (``handlib.claims``):
  Table 1's and the ablations' from the runs by the chapter's scorer (:data:`SCORERS`: the mean
  3D error over all, palm or finger joints), Table 2's from the published predictions or, for
  MSRA, from the paper's own printed table, and the own speed from the bench, by the chapter's
  measurements (:data:`MEASUREMENTS`).

Length: everything the CrossInfoNet chapter computes beyond the shared machinery: Table 1-3's
scoring, the published-prediction comparison of Table 2 and its measurements for the claims,
the MSRA folds and Figs. 4, 7 and 8.
"""
from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import claims, depth_eval, engine, learning, metrics, papers, report, viz
from handlib.codecs.geometry import unmirror_3d
from handlib.data.formats.depth import REFINED_CENTRES_SOURCE
from handlib.data.formats.msra import CANONICAL_FROM_MSRA
from handlib.data.pipeline import build_codec, build_dataset
from handlib.floors import mean_offset
from handlib.skeleton import JOINT_NAMES
from handlib.study import (Record, Study, bench_row, first_records_floors, group_datasets,
                           missing_names, sample_images, seed_mean)

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


# ----------------------------------------------------------------------------- which data


def present_columns(study: Study) -> list[str]:
    """Table 1's columns (ICVL, NYU) whose data the profile has: on the ``paper`` profile a
    column whose folder is not under ``data_root`` is left out (:meth:`Study.absent`)."""
    return [column for column in study.table("1")["datasets"] if study.dataset_for(column)]


def column_data(study: Study, column: str) -> str:
    """What the runs of a paper column were tested on (:func:`data_text`), or why the column
    was not run."""
    dataset = study.dataset_for(column)
    return data_text(study, dataset) if dataset else study.absent(column)


def data_text(study: Study, dataset: str, name: str | None = None) -> str:
    """The test data of run ``name`` (default: the dataset's first) on ``dataset`` (the real
    dataset and split, or the stand-in: :meth:`Study.tested_on`) and how its crops are centred
    (:func:`centre_text`)."""
    return f"{study.tested_on(dataset)}, {centre_text(study, dataset, name)}"


def not_run_note(study: Study) -> str | None:
    """One line per folder missing under ``data_root``: the datasets it would have given and
    why they were not run (None when every dataset of the profile ran)."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in missing_names(study.cfg).items():
        by_reason.setdefault(reason, []).append(name)
    if not by_reason:
        return None
    return "\n".join(f"- {', '.join(names)}: not run, {reason}; their table cells, figure panels "
                     "and claims are left empty" for reason, names in by_reason.items())


# ----------------------------------------------------------------------------- the hand centre

#: How each ``depth_crop`` centre source is named wherever a number rests on it.
CENTRE_NAMES: dict[str, str] = {
    "depth": "crops centred from the depth frame alone (its centre of mass, no label read)",
    "file": "crops centred on V2V-PoseNet's published refined centres",
    "labels": "crops centred on the labelled joints' mean (an oracle: it reads the test "
              "labels; an upper bound)",
}
#: Table 1's full model, and the same model cropped around the labels' centre (the oracle).
ORACLE_GROUP, ORACLE_LABEL = "oracle", "Cross+HM, labels' centre (oracle)"


def first_run(study: Study, dataset: str, name: str | None = None):
    """The study's first run of ``name`` (any: None) on ``dataset``; a clear error without one."""
    for run in study.runs:
        if run.dataset == dataset and name in (None, run.name):
            return run
    raise ValueError(f"the profile trains no run{' ' + name if name else ''} on {dataset!r}; "
                     f"its datasets are {', '.join(study.cfg['study']['datasets'])}")


def centre_name(codec) -> str:
    """How a ``depth_crop`` codec centres its crops (:data:`CENTRE_NAMES`, with the fallback of
    a ``file`` centre where the published centres are absent)."""
    fallback = codec.fallback if codec.centre_source == "file" else None
    return CENTRE_NAMES[codec.centre_source] + (
        f" where supplied, else {CENTRE_NAMES[fallback]}" if fallback else "")


def centre_text(study: Study, dataset: str, name: str | None = None) -> str:
    """How the crops of run ``name`` (default: the dataset's first) on ``dataset`` are centred
    (:data:`CENTRE_NAMES`): a ``file`` centre whose published files are not beside the data
    says so, and names the ``depth`` fallback it used (``handlib.codecs.depth_crop``)."""
    run = first_run(study, dataset, name)
    codec = build_codec(run.config["data"])
    source = codec.centre_source
    if source == "file" and run.config["data"]["data_root"] is None:  # nothing to look in
        return centre_name(codec)
    if source == "file":
        split = engine.resolve_config(run.config)["eval"]["test_split"]
        sample = build_dataset(run.config["data"], split).source[0]
        if sample.get("refined_centre_mm") is None and codec.fallback:
            where = sample.get("meta", {}).get("refined_centre_file", "the dataset folder")
            return (f"{CENTRE_NAMES[codec.fallback]}: V2V-PoseNet's refined centres are not "
                    f"in {where} ({REFINED_CENTRES_SOURCE})")
    return CENTRE_NAMES[source]


def table_centre(study: Study) -> pd.DataFrame | None:
    """The centre's share of the error: each Table 1 column's Cross+HM (first seed, the
    profile's centre, :func:`centre_text`) beside the same model trained and tested with its
    crops centred on the labelled joints' mean (the ``oracle`` group: an upper bound no
    published method of Table 2 had), mean 3D error (mm) over all scored joints; None without
    the group."""
    group = study.cfg["study"]["groups"].get(ORACLE_GROUP)
    if group is None:
        return None
    score, full = scorer(study), study.group("1")["Cross+HM"]
    rows = {}
    for column in present_columns(study):
        dataset = study.dataset_for(column)
        ours, oracle = study.of(dataset, full), study.of(dataset, group["runs"][ORACLE_LABEL])
        if ours and oracle:
            rows[column] = {"Cross+HM (mm)": score(ours[0]), f"{ORACLE_LABEL} (mm)":
                            score(oracle[0]), "Cross+HM centre": centre_text(study, dataset, full)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "dataset"
    return frame


def pipeline_text(cfg: dict) -> str:
    """The depth pipeline as the profile ``cfg`` configures it, beside the paper's settings
    (§3.5): the chapter prints it, so that no number of it is typed into prose."""
    codec, data = build_codec(cfg["data"]), cfg["data"]
    stated = papers.settings(PAPER)
    augment = data["augment"]
    augmented = ("; ".join(f"{key} {value}" for key, value in augment.items()) if augment
                 else "none on this profile")
    return (f"- the crop: a cube of {' x '.join(f'{side:g}' for side in codec.cube)} mm, "
            f"{centre_name(codec)}, resized to {data['input_size']}² "
            f"(the paper's {stated['input_size']}²), heat maps of {codec.heatmap_size}² "
            f"(the paper's {stated['heatmap_size']}²);\n"
            f"- the training augmentation: {augmented} (the paper's: "
            f"{stated['augmentation']});\n"
            f"- the optimiser: {cfg['optimizer']['name']}, learning rate "
            f"{cfg['optimizer']['lr']:g} x {cfg['scheduler']['gamma']:g} per epoch, weight "
            f"decay {cfg['optimizer']['weight_decay']:g}, batch {cfg['train']['batch_size']}, "
            f"dropout {cfg['model'].get('dropout', stated['dropout']):g}, "
            f"{cfg['train']['epochs']} epochs (the paper's: "
            f"{stated['optimizer']}, {stated['lr']:g} x {stated['lr_decay_per_epoch']:g}, "
            f"{stated['weight_decay']:g}, batch {stated['batch_size']}, dropout "
            f"{stated['dropout']:g}, {stated['epochs']} epochs).")


# ----------------------------------------------------------------------------- the floor


def split_items(run, split: str) -> dict[str, np.ndarray]:
    """The items of ``split`` of ``run``'s data as its codec crops them, stacked: ``kp3d`` (N, J,
    3) and ``centre_mm`` (N, 3, the codec's crop centre) in the crop's camera frame (a left
    hand mirrored), ``labelled`` (N, J) and ``mirrored`` (N)."""
    data = build_dataset(run.config["data"], split)
    items = [data.item(i) for i in range(len(data))]
    return {key: np.stack([item[key] for item in items])
            for key in ("kp3d", "centre_mm", "labelled", "mirrored")}


def training_offset(study: Study, dataset: str) -> np.ndarray:
    """(J, 3) mm: the training split's mean offset of each joint from its crop centre (the
    ``depth_crop`` codec's, :func:`split_items`), over the samples that label it
    (``handlib.floors.mean_offset``)."""
    run = first_run(study, dataset)
    train = split_items(run, engine.resolve_config(run.config)["train"]["split"])
    return mean_offset(train["kp3d"], train["centre_mm"], train["labelled"])


def constant_offset(study: Study, p: Record, dataset: str) -> Record:
    """The test record ``p`` of the dataset's first run with ``kp3d_pred`` each test hand's crop
    centre (:func:`split_items`, as that run's codec centres it) plus the training split's mean
    offset (:func:`training_offset`), in the sample's own frame (the mirror undone, as the
    models' predictions): the constant offset."""
    run = first_run(study, dataset)
    test = split_items(run, engine.resolve_config(run.config)["eval"]["test_split"])
    rows = np.asarray(p["index"])
    pred = test["centre_mm"][rows][:, None] + training_offset(study, dataset)[None]
    return {**p, "kp3d_pred": unmirror_3d(pred, test["mirrored"][rows]).astype(np.float32)}


def floors(study: Study) -> dict[str, Record]:
    """Dataset -> the constant-offset record (:func:`constant_offset`) on its test split
    (beside its first run's)."""
    return first_records_floors(study, lambda p, dataset: constant_offset(study, p, dataset))


def learning_table(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Did each run learn? ``handlib.learning.learning_table`` by the paper's score, the mean 3D
    error over all scored joints (:func:`scorer`, camera mm, lower is better), against the
    constant offset's (``floor_records``, :func:`floors`) on the same test frames: a run learned
    when it is below that floor by more than the paired-bootstrap interval."""
    return learning.learning_table(study, scorer(study), floor_records)


def figure_learning(study: Study, floor_records: dict[str, Record]) -> Figure:
    """Does it learn? Table 1's four variants' validation mean 3D error (``val_mean_error_mm``,
    after each epoch, the same score on the validation split) against the optimiser steps, one
    panel per dataset, with the constant offset's test error (:func:`scorer` of
    ``floor_records``) as each panel's floor."""
    score = scorer(study)
    floor_scores = {dataset: score(p) for dataset, p in floor_records.items()}
    return learning.figure_learning(study, "val_mean_error_mm", study.group("1"), floor_scores,
                                    "validation mean 3D error (mm)")


# ----------------------------------------------------------------------------- tables


def table_1(study: Study) -> pd.DataFrame:
    """Table 1 as the paper lays it out: strategy x ICVL/NYU, mean 3D error (mm), seed means;
    NaN in a column that was not run (:func:`handlib.study.run_labels` says why)."""
    group, columns = study.group("1"), study.table("1")["datasets"]
    score, present = scorer(study), present_columns(study)
    rows = {label: {column: seed_mean([score(p) for p in
                                       study.of(study.dataset_for(column), name)])
                    if column in present else np.nan
                    for column in columns} for label, name in group.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table(PAPER, "1").index.name
    return frame


def table_subsets(study: Study, floor_records: dict[str, Record]) -> pd.DataFrame:
    """Every trained model's error over all, palm and finger joints, beside the constant
    offset's (first seeds): the branches' sub-tasks of claim 15."""
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
    stand-in on every profile but ``paper``: not comparable with the published rows), and on the
    ``paper`` profile the mean of the nine MSRA folds (:func:`msra_folds`) once all are trained.
    The table's ``ours_tested_on`` attribute names the data of each of our cells, or why it is
    empty."""
    reproduced = depth_eval.table2_reproduced(comparison)
    ours = table_1(study).loc["Cross+HM"].to_dict()
    tested_on = [f"{column}: {column_data(study, column)}" for column in ours]
    folds = msra_folds(study)
    if folds is not None and len(folds):
        ours["MSRA"] = folds.mean() if folds.notna().all() else np.nan
        tested_on.append(f"MSRA: the mean of its {len(folds)} leave-one-subject-out folds, "
                         f"each its {MSRA_TEST_SPLIT_NOTE}")
    elif folds is not None:
        tested_on.append(f"MSRA: {msra_absent(study)}")
    attrs = {**reproduced.attrs, "ours_tested_on": "; ".join(tested_on)}
    reproduced = reproduced.reindex(columns=list(dict.fromkeys([*reproduced.columns, *ours])))
    reproduced.loc[OURS] = {column: ours.get(column, np.nan) for column in reproduced.columns}
    reproduced.attrs = attrs
    return reproduced


#: How Table 2 names the test data of one MSRA fold (each ``paper`` fold tests on its subject).
MSRA_TEST_SPLIT_NOTE = "held-out subject's frames (test_P<k> split, paper profile)"
def msra_absent(study: Study) -> str | None:
    """Why the MSRA folds (the ``msra`` group) were not run (their folder is not under
    ``data_root``), or None."""
    if "msra" not in study.cfg["study"]["groups"]:
        return None
    reasons = sorted({study.absent(name) for name in group_datasets(study.cfg, "msra")
                      if study.absent(name)})
    return "; ".join(reasons) or None


def msra_folds(study: Study) -> pd.Series | None:
    """The full model's mean 3D error on each MSRA leave-one-subject-out fold (the ``msra``
    group of the ``paper`` profile; NaN for a fold not trained yet; empty when MSRA is not under
    ``data_root``, :func:`msra_absent`), or None without the group.
    Table 2's MSRA cell is their mean over the folds: the paper does not say whether it averages
    over folds or over all frames (the folds hold about equally many)."""
    group = study.cfg["study"]["groups"].get("msra")
    if group is None:
        return None
    score, name = scorer(study), group["runs"]["CrossInfoNet"]
    return pd.Series({dataset: seed_mean([score(p) for p in study.of(dataset, name)])
                      for dataset in group["datasets"]}, name="mean 3D error (mm)")


def table_3(bench: dict) -> pd.DataFrame:
    """Table 3: the paper's test speeds beside ours, measured by ``handlib bench`` (eager, each
    batch size of the bench) on the machine that built the page; the other methods' speeds are
    the paper's, each from its own paper and hardware."""
    paper = papers.table(PAPER, "3")
    frame = paper.rename(columns={paper.columns[0]: "paper (fps)"})
    for speed in bench_row(bench, PAPER_ROW)["speed"]:
        if speed["mode"] == "eager":
            column = f"measured, batch {speed['batch']} (fps)"
            frame[column] = np.nan
            frame.loc[PAPER_ROW, column] = speed["infer_img_s"]
    frame.attrs = {"device": bench["device_name"], "input_size": bench["settings"]["input_size"]}
    return frame


# ----------------------------------------------------------------------------- claims

#: The paper's own row in Table 2.
PAPER_ROW = "CrossInfoNet"


def mean_3d_error(target: claims.Target, joints: str) -> tuple[Callable[[Record], float], str]:
    """The scorer of the claims on runs (``score: {name: mean_3d_error, joints: ...}``): the
    mean 3D error (camera mm, unaligned) over ``all`` the scored joints, or over the ``palm`` or
    the ``finger`` joints of the profile's codec (:func:`subsets`, the sub-task of each branch),
    which the verdict's data column then names."""
    if joints == "all":
        return scorer(target.study), ""
    return scorer(target.study, subsets(target.study)[joints]), f", {joints} joints"


def bench_speed(target: claims.Target, batch: int, relative_margin: float) -> dict | None:
    """The own-speed measurement (``measure: {name: bench_speed, ...}``): the claim subject's
    test speed (images/s) in the chapter's bench (``target.inputs["bench"]``; without one the
    claim is left out), eager, at ``batch``, with a margin of ``relative_margin`` times the
    speed the paper prints (a timing's noise grows with it). A CPU measurement cannot decide a
    GPU's speed, so it is marked unusable there; without a timing at that batch the claim is not
    run, and its *tested on* says why."""
    bench = target.inputs.get("bench")
    if bench is None:
        return None
    subject = target.claim["subject"]
    row = bench_row(bench, subject)
    speeds = [s for s in row["speed"] if s["mode"] == "eager" and s["batch"] == batch]
    if not speeds:
        return {"reproduced": {}, "run": "handlib bench", "tested_on": (
            f"not measured: the bench on {bench['device_name']} timed {subject} at no batch "
            f"of {batch} (bench.speed_runs {bench['settings']['speed_runs']}, batch_sizes "
            f"{bench['settings']['batch_sizes']})")}
    paper = papers.claim_values(target.claim)["subject_value"]
    on_gpu = str(row["device"]).startswith("cuda")
    return {"reproduced": {subject: speeds[0]["infer_img_s"]}, "run": "handlib bench",
            "margin": relative_margin * paper,
            "tested_on": f"{bench['device_name']}, batch {batch}, eager fp32, "
                         f"{bench['settings']['input_size']}² input",
            "unusable": None if on_gpu else (
                f"measured on a CPU ({bench['device_name']}); the paper's speed is one GPU's "
                "(RTX 2080 Ti)")}


def table2_values(column: str, evaluations: list | None = None) -> tuple[dict, list[str]]:
    """Method -> its Table 2 error on ``column``: recomputed from the published predictions
    (``evaluations``, ``depth_eval.table2_evaluations``) where a file stands for the cell, the
    printed value otherwise (those methods are returned second). Methods whose printed value
    sits in the wrong column (the metrics chapter: Feedback and Lie-X under MSRA are NYU
    results) are left out."""
    printed = papers.table(PAPER, "2")[column]
    misplaced = {e["row"] for e in depth_eval.published_predictions()
                 if e["row"] and depth_eval.BENCHMARKS[e["dataset"]].title != e["column"]}
    recomputed = {entry["row"]: result.mean_error for entry, result in evaluations or []
                  if entry["row"] and depth_eval.BENCHMARKS[entry["dataset"]].title == column}
    values, as_printed = {}, []
    for method, value in printed.items():
        if np.isnan(value) or method in misplaced:
            continue
        values[method] = recomputed.get(method, float(value))
        if method not in recomputed:
            as_printed.append(method)
    return values, as_printed


def _frame_errors(evaluations: list, column: str) -> dict[str, Record]:
    """Method -> ``{"index", "errors"}`` (per frame, per joint, mm) of its full-test-set file."""
    return {entry["row"]: {"index": np.arange(result.frames), "errors": result.errors}
            for entry, result in evaluations if entry["row"] and result.subset is None
            and depth_eval.BENCHMARKS[entry["dataset"]].title == column}


def _bootstrap_margin(evaluations: list, column: str, subject: str,
                      reference: str) -> float | None:
    """The paired-bootstrap margin of ``subject`` against ``reference`` over the test frames, when
    both files cover the full test set (None otherwise: the default margin applies)."""
    records = _frame_errors(evaluations, column)
    if subject not in records or reference not in records:
        return None
    return report.paired_bootstrap_margin(lambda r: float(r["errors"].mean()), records[subject],
                                          records[reference])


def _table2_column(target: claims.Target, column: str,
                   source: str) -> tuple[dict, list[str], list] | None:
    """Table 2's ``column`` as a claim declares it read (``source``): ``published``, recomputed
    from the published predictions (``target.inputs["evaluations"]``) where a file stands for
    the cell, else as printed; ``printed``, the paper's own table as printed (MSRA: no data or
    prediction files here). Returns the values and the methods read as printed
    (:func:`table2_values`) and the evaluations read; None (the claim is left out) for
    ``published`` without evaluations or without a published CrossInfoNet file for the column
    (nothing to recompute)."""
    evaluations = (target.inputs.get("evaluations") or []) if source == "published" else []
    if source == "published" and not evaluations:
        return None
    values, as_printed = table2_values(column, evaluations)
    if source == "published" and PAPER_ROW in as_printed:
        return None
    return values, as_printed, evaluations


def _table2_source(column: str, source: str, as_printed: list[str], used: set) -> dict:
    """The verdict inputs that say where a Table 2 claim's values come from: its *tested on*
    (naming the ``used`` methods read as printed for want of a file) and its run."""
    if source == "printed":
        return {"tested_on": f"the paper's own Table 2 as printed (no {column} data here), "
                             f"{column} test set", "profile": None, "run": "paper Table 2"}
    no_file = [method for method in as_printed if method in used]
    note = f"; {', '.join(no_file)} as printed (no file)" if no_file else ""
    return {"tested_on": f"published predictions{note}, {column} test set", "profile": None,
            "run": "published predictions"}


def table2_errors(target: claims.Target, column: str, source: str) -> dict | None:
    """The Table 2 measurement (``measure: {name: table2_errors, column, source}``): the
    claim's methods' errors (mm) on ``column`` as ``source`` reads them (:func:`_table2_column`),
    with the paired-bootstrap margin of the subject against its strongest reference when both
    have a full-test-set file (else None: the declared noise or the default margin applies)."""
    found = _table2_column(target, column, source)
    if found is None:
        return None
    values, as_printed, evaluations = found
    labels = [target.claim["subject"], *papers.claim_references(target.claim)]
    reproduced = {label: values.get(label, np.nan) for label in labels}
    strongest = min(labels[1:], key=lambda label: reproduced[label])  # every error: lower
    return {**_table2_source(column, source, as_printed, set(labels)), "reproduced": reproduced,
            "margin": _bootstrap_margin(evaluations, column, labels[0], strongest)}


def table2_share_beaten(target: claims.Target, column: str, source: str,
                        reference_share: float) -> dict | None:
    """Section 5's "outperform most of previous works" (``measure: {name:
    table2_share_beaten, ...}``): the share of Table 2's other methods with a value on
    ``column`` (read as ``source`` says, :func:`_table2_column`) whose error is higher than the
    subject's, against ``reference_share`` (the claim's reference: "half" is 0.5)."""
    found = _table2_column(target, column, source)
    if found is None:
        return None
    values, as_printed, _ = found
    subject = target.claim["subject"]
    others = [value for method, value in values.items() if method != subject]
    beaten = float(np.mean([values[subject] < value for value in others]))
    return {**_table2_source(column, source, as_printed, set(values)),
            "reproduced": {subject: beaten, target.claim["reference"]: reference_share}}


#: CrossInfoNet's own scorer and measurements, named by the ``test`` blocks of its claims in
#: ``paper.yaml`` (``handlib.claims``).
SCORERS = {"mean_3d_error": mean_3d_error}
MEASUREMENTS = {"bench_speed": bench_speed, "table2_errors": table2_errors,
                "table2_share_beaten": table2_share_beaten}


def claim_results(study: Study, floor_records: dict[str, Record] | None = None,
                  bench: dict | None = None, evaluations: list | None = None) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs of every claim this profile tests, from the
    ``test`` blocks of ``paper.yaml`` (``handlib.claims.evaluate``).

    Table 1's claims compare its four variants' mean 3D error on the data of their column (the
    real dataset on the ``paper`` profile, its stand-in otherwise; a column absent from
    ``data_root`` is not run), the ablations the paper makes without a run compare them with the
    ablated models on NYU over all, palm or finger joints; each has the constant offset's error
    (``floor_records``, :func:`floors`) by the same score as its floor. With ``bench`` the
    own-speed claim (:func:`bench_speed`); with ``evaluations`` (``depth_eval.
    table2_evaluations``) Table 2's ICVL and NYU claims from the published predictions
    (:func:`table2_errors`, :func:`table2_share_beaten`); the MSRA ones always, from the paper's
    printed table. The verdicts on runs name how their crops were centred (:func:`centre_text`)."""
    found = claims.evaluate(study, papers.claims(PAPER), SCORERS, measurements=MEASUREMENTS,
                            floor_records=floor_records,
                            inputs={"bench": bench, "evaluations": evaluations})
    for claim in papers.claims(PAPER):  # the runs' verdicts rest on the crops' centre: name it
        test, inputs = claim.get("test", {}), found.get(claim["id"], {})
        dataset = study.dataset_for(test["dataset"]) if test.get("compare") == "runs" else None
        if dataset and inputs.get("tested_on"):
            inputs["tested_on"] += f", {centre_text(study, dataset)}"
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


def msra_stand_in_pose(study: Study) -> np.ndarray | None:
    """(21, 2) pixels in MSRA's joint order: among the full model's test frames of the Table 1
    columns that were run, in order, with all 21 canonical joints labelled (ICVL labels five),
    the one whose joints span the largest box (the most open, frontal hand), to draw Fig. 4's
    MSRA panel on the canonical layout; None when no such frame exists."""
    for column in present_columns(study):
        p = study.first(study.dataset_for(column), study.group("1")["Cross+HM"])
        full = np.flatnonzero(np.asarray(p["labelled"], bool).all(axis=1))
        if len(full):
            kp2d = np.asarray(p["kp2d"])[full]
            canonical = kp2d[int(np.argmax(np.ptp(kp2d, axis=1).prod(axis=-1)))]
            msra = np.empty_like(canonical)
            msra[list(CANONICAL_FROM_MSRA)] = canonical
            return msra
    return None


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


def figure_network_input(study: Study) -> Figure:
    """What the network is given and supervised by, for the first test item of each Table 1
    column that was run (:func:`present_columns`; the real dataset's test split on the ``paper``
    profile, its stand-in otherwise, as each row's title says), as the ``depth_crop`` codec
    encodes every item (training items also pass the augmentation): the crop with depth
    normalised to the cube ([-1, 1]), and the maxima over the palm and over the finger joints of
    the heat-map targets (eqs. 1-3)."""
    columns = present_columns(study)
    fig, axes = plt.subplots(len(columns), 3, figsize=(9.6, 3.3 * len(columns)), squeeze=False)
    for row, column in enumerate(columns):
        dataset = study.dataset_for(column)
        run = next(r for r in study.runs if r.dataset == dataset)
        split = engine.resolve_config(run.config)["eval"]["test_split"]
        item = build_dataset(run.config["data"], split).item(0)
        shown = axes[row, 0].imshow(item["depth"][0], cmap="gray_r", vmin=-1, vmax=1)
        fig.colorbar(shown, ax=axes[row, 0], fraction=0.046)
        axes[row, 0].set_title(f"{data_text(study, dataset)}, item 0:\nnormalised depth crop",
                               fontsize=7, wrap=True)
        for ax, part in zip(axes[row, 1:], ("palm", "finger")):
            ax.imshow(item[f"heatmaps_{part}"].max(axis=0), cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"{part} heat maps (max over joints)", fontsize=9)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- Figs. 7 and 8


#: Fig. 8's rule: the test frames at these quantiles of the full model's per-frame mean error.
FIG8_QUANTILES = (0.1, 0.5, 0.9)


def frame_errors(study: Study, p: Record) -> np.ndarray:
    """(N, J) camera-mm distance of every joint of a prediction record (NaN where unscored)."""
    errors, _ = metrics.joint_errors(np.asarray(p["kp3d_pred"], np.float64),
                                     np.asarray(p["kp3d"], np.float64),
                                     mask=metrics.mask_3d(p, study.cfg["eval"]))
    return errors


def success_curve(study: Study, p: Record, thresholds) -> np.ndarray:
    """Fractions of frames whose worst scored joint is within each threshold (mm)."""
    errors = frame_errors(study, p)
    return metrics.success_frames(np.nan_to_num(errors), thresholds, mask=np.isfinite(errors))


def figure_success(study: Study, evaluations: list, thresholds,
                   floor_records: dict[str, Record]) -> Figure:
    """Fig. 7 for ICVL and NYU: success frames (top) and per-joint mean errors (bottom) of every
    published prediction file (``evaluations``), and, in a third column on its own data (each
    Table 1 column that was run: the stand-in, or the real dataset on the ``paper`` profile,
    named in the title), Table 1's four variants (first seeds) and the constant offset."""
    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5), gridspec_kw={"height_ratios": [1.1, 1]})
    for col, dataset in enumerate(("icvl", "nyu")):
        curves, per_joint, names = depth_eval.fig7_series(evaluations, dataset, thresholds)
        title = f"{depth_eval.BENCHMARKS[dataset].title}: published predictions"
        viz.plot_success_frames(thresholds, curves, axes[0, col], title=title,
                                highlight=[PAPER_ROW])
        viz.plot_per_joint_errors(per_joint, names, axes[1, col], legend=False,
                                  highlight=[PAPER_ROW])
    ours, per_joint = {}, {}
    columns = present_columns(study)
    for column in columns:
        dataset = study.dataset_for(column)
        for label, name in study.group("1").items():
            records = study.of(dataset, name)
            if records:
                ours[f"{label}, {dataset}"] = success_curve(study, records[0], thresholds)
        if dataset in floor_records:
            ours[f"constant offset, {dataset}"] = success_curve(study, floor_records[dataset],
                                                                thresholds)
        full = study.of(dataset, study.group("1")["Cross+HM"])
        if full:
            per_joint[f"Cross+HM, {dataset}"] = np.nanmean(frame_errors(study, full[0]), axis=0)
    viz.plot_success_frames(thresholds, ours, axes[0, 2], highlight=[
        k for k in ours if k.startswith("Cross+HM")],
        title="ours, canonical 21-joint layout, on\n" + "\n".join(
            column_data(study, column) for column in columns))
    if per_joint:
        viz.plot_per_joint_errors(per_joint, JOINT_NAMES, axes[1, 2], legend=True)
        axes[1, 2].tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    return fig


def qualitative_frames(study: Study, dataset: str, name: str,
                       quantiles=FIG8_QUANTILES) -> list[tuple[int, float]]:
    """Fig. 8's rule: the test frames (position in the record, mean error in mm) of ``name``'s
    first seed whose mean joint error sits at each of ``quantiles`` of its test set."""
    per_frame = np.nanmean(frame_errors(study, study.first(dataset, name)), axis=1)
    order = np.argsort(per_frame, kind="stable")
    picks = [int(order[round(q * (len(order) - 1))]) for q in quantiles]
    return [(i, float(per_frame[i])) for i in picks]


def figure_qualitative(study: Study, name: str = "cross_hm",
                       quantiles=FIG8_QUANTILES) -> Figure:
    """Fig. 8: for each Table 1 column that was run (the stand-in, or the real dataset on the
    ``paper`` profile, named in each title), test depth frames at fixed quantiles of ``name``'s
    error (:func:`qualitative_frames`), cropped around the hand's labelled joints, with the true
    (green) and the predicted (red) skeleton on them (ICVL labels only the five fingertips of
    the canonical layout: the other joints are neither drawn nor scored)."""
    columns = present_columns(study)
    fig, axes = plt.subplots(len(columns), len(quantiles),
                             figsize=(3.2 * len(quantiles), 3.4 * len(columns)), squeeze=False)
    for row, column in enumerate(columns):
        dataset = study.dataset_for(column)
        run = next(r for r in study.runs if r.dataset == dataset and r.name == name)
        p = study.first(dataset, name)
        picks = qualitative_frames(study, dataset, name, quantiles)
        frames = sample_images(run, [p["index"][i] for i, _ in picks])
        for ax, (i, error), depth, q in zip(axes[row], picks, frames, quantiles):
            labelled = np.asarray(p["labelled"][i], bool)[:, None]
            truth = np.where(labelled, p["kp2d"][i], np.nan)
            pred = np.where(labelled, p["kp2d_pred"][i], np.nan)
            box = np.concatenate([truth, pred])
            lo, hi = np.nanmin(box, axis=0) - 12, np.nanmax(box, axis=0) + 12
            hand = np.where(depth > 0, depth, np.nan)
            ax.imshow(hand, cmap="gray_r")
            viz.draw_skeleton(ax, truth, colour="tab:green")
            viz.draw_skeleton(ax, pred, colour="tab:red")
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(hi[1], lo[1])
            ax.set_title(f"{data_text(study, dataset, name)}\n{round(100 * q)}th pct: "
                         f"{error:.1f} mm", fontsize=6, wrap=True)
            ax.axis("off")
    fig.tight_layout()
    return fig
