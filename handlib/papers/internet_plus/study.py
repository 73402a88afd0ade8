"""Chapter 12, InterNet+ (Liu et al. 2021): what ``notebooks/12_internet_plus.ipynb`` computes
from its runs.

The runs, their test predictions, the runs table, the bench cache and the claim machinery are
the shared ``handlib.study``; scores, the GT S / GT H protocols and the constant-mean-pose floor
are the InterNet family's (``handlib.study3d``). What is InterNet+'s own lives here.

**Scoring.** Tables 2, 6 and 7 print EPE (eq. 5: the mean 3D joint error in mm after aligning the
prediction's root with the truth's) with GT S = N and GT H = N: each run is scored by
``study3d.epe_under(study, run, gt_scale=False, gt_hand=False)``, the hand slot its own hand-type
head names and the pose as back-projected with the true wrist depth. Table 5 is InterNet's
InterHand2.6M MPJPE on single-hand and interacting frames. Fig. 5's 3D PCK uses the same errors
as Table 2, with the AUC over 20-50 mm (Zimmermann & Brox's range; the paper states none).
Whether each run learned is judged by the family's score, MPJPE over every labelled joint of the
true hand's slot, against the constant mean pose (``study3d.learning_table``): a wrong hand-type
guess does not hide a pose that was learnt.

**Size and speed (Tables 3-4).** Table 3 counts the extractors alone (its InterNet row is the
bare ResNet-50 trunk, 23.51 M), counted here on the paper-size models; its time per training
iteration and Table 4's frames per second are measured by ``handlib bench`` on the whole
networks (extractor + PoseNet) on the machine that builds the chapter: the paper does not say
which it timed, and a training iteration trains the whole network. Each speed claim compares
InterNet+ with InterNet on that one machine (never our numbers with the paper's RTX 2080 Ti),
timed in interleaved rounds; it is inconclusive unless the rounds agree on the order by the rule
its declaration states (``handlib.bench.rounds_disagree``).

**Convergence (Fig. 7).** Each run's validation EPE per epoch (``history.csv``, on the validation
split, never the test split). Training stops at a cycle end, so the final epoch is the learning
rate's last dip to zero: every rule below leaves it out (:func:`before_final_epoch`), or "best at
a cycle end" and "settled to the final value" would hold by construction. A curve *settles* at
the first epoch from which it stays within :data:`SETTLING_TOLERANCE` (a relative gap) of its
level, the median of its last quarter of epochs; two seeds' gap is relative to the error level
of each epoch (:func:`seed_gap`), since early errors, and with them absolute gaps, are larger
whatever the seeds do. The warm-restart cycles end where the learning rate is about to return
to its maximum (:func:`cycle_ends`).

**Feature maps (Fig. 6).** The mean over channels of the absolute extractor output (8 × 8 at
256², 2 × 2 on the 64² cheap profiles), bilinearly upsampled to the crop; its *background share*
is the part of that map's mass outside the box of the hand's labelled joints
(:func:`background_share`). Fig. 6's images are chosen by rule: evenly spaced test images.

**The data behind each number.** Tables, figures and verdicts name their data from the runs' own
data spec (``Study.tested_on``: the real dataset and split, or the synthetic stand-in), by
:func:`data_of`. On the ``paper`` profile a dataset whose folder is not under ``data_root`` is
not run: its table columns stay empty with the reason in the caption, its figure panels say so,
and the claims on it are *not run* (``handlib.study.claim_inputs``).

**Claims.** Each claim is tested as its ``test`` block in ``paper.yaml`` declares
(``handlib.claims.evaluate``), and checklist items 7, 24 and 25 are the ``composites`` there
(``handlib.claims.composite_verdicts``). What the chapter registers is its own: Table 5's MPJPE
and the no-learning EPE (:data:`SCORERS`), and the measurements of sizes, speeds, validation
curves and feature maps (:data:`MEASUREMENTS`).

Length: everything the InterNet+ chapter computes beyond the shared machinery: seven tables,
the convergence rules of Fig. 7, the feature maps of Fig. 6 and the scorers and measurements of
its 34 claims, which read all of these.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from handlib import (
    bench as benchmarks,
    claims,
    engine,
    learning,
    metrics,
    papers,
    report,
    results,
    study3d,
    viz,
)
from handlib.data.pipeline import build_dataset
from handlib.data.transforms import denormalise_image
from handlib.floors import box_centre_record
from handlib.models.layers import AconC
from handlib.papers.internet_plus.models import EXPANSIONS, TABLE_1, Extractor
from handlib.skeleton import JOINT_FINGER, NUM_JOINTS
from handlib.study import Record, Run, Study, bench_row, parameter_count, run_labels, seed_mean
from handlib.study3d import HANDS, epe_under, protocol_epe, seed_mean_score

PAPER = "internet_plus"
PAPER_INPUT = 256
#: Fig. 5's AUC range (mm) and the convergence rule of Fig. 7.
AUC_RANGE = (20.0, 50.0)
SETTLING_TOLERANCE = 0.05
#: The share of a validation curve's last epochs (before the final one) whose median is the level
#: it settles to (:func:`settling_epoch`).
SETTLING_LEVEL_SHARE = 0.25
_STATED = papers.settings(PAPER)
#: Section 5.2's restart schedule, (first period, multiplier), as printed.
PRINTED_SCHEDULE = (_STATED["schedule_T0"], _STATED["schedule_T_mult"])
#: Its two readings: as printed, and with the two numbers swapped (which ends cycles at the
#: epochs Section 5.2 reports its results at).
SCHEDULES = {f"as printed: period {PRINTED_SCHEDULE[0]}, multiplier {PRINTED_SCHEDULE[1]}":
             PRINTED_SCHEDULE,
             f"as the reported epochs imply: period {PRINTED_SCHEDULE[1]}, multiplier "
             f"{PRINTED_SCHEDULE[0]}": PRINTED_SCHEDULE[::-1]}
#: The epochs Section 5.2 takes its results at.
REPORTED_EPOCHS = {"STB": _STATED["epochs_stb"], "RHD": _STATED["epochs_rhd"]}
#: Table 3's extractors: the registered model behind each row (the paper-size trunks).
EXTRACTORS = {"InterNet": "resnet50", "InterNet+": "internet_plus_extractor"}


def data_of(study: Study, paper_dataset: str) -> str:
    """How tables, figures and verdicts name the data behind the paper's ``paper_dataset``: the
    profile's dataset and test split (``Study.tested_on``), or why it was not run (its folder is
    not under ``data_root``: ``Study.absent``)."""
    return study.absent(paper_dataset) or study.tested_on(study.dataset_for(paper_dataset))


def validated_on(study: Study, run: Run) -> str:
    """How Fig. 7 and its claims name the data of a validation curve: the run's validation split
    (``eval.split``) of its dataset, with the data that dataset is tested on."""
    split = engine.resolve_config(run.config)["eval"]["split"]
    return f"validation split {split} of {run.dataset} (test: {study.tested_on(run.dataset)})"


# ----------------------------------------------------------------------------- Table 1


def table_1() -> pd.DataFrame:
    """Table 1 beside our extractor at 256²: for every row the paper's kernel, attention,
    activation and output, and ours as ``torchinfo`` reports them (output shape, parameters),
    with the attention and activation modules actually built."""
    extractor = Extractor()
    summary = benchmarks.module_table(extractor, PAPER_INPUT, depth=2)
    paper = papers.table(PAPER, "1")
    rows = {}
    for row in TABLE_1:
        label = row.name
        module = extractor.layers[row.key]
        found = summary.loc[row.key] if row.key in summary.index else None
        attention_used = getattr(module, "attention", None)
        rows[label] = {
            **{f"paper: {c}": "-" if pd.isna(paper.loc[label, c]) else paper.loc[label, c]
               for c in ("Kernel", "Attention", "Activation", "Dimensionality")},
            "ours: output": " × ".join(map(str, found["output"][1:])) if found is not None
            else "",
            "ours: attention": (type(attention_used).__name__ if attention_used is not None
                                and not isinstance(attention_used, torch.nn.Identity)
                                else ("MultiSpectralAttention" if row.kind == "fcanet" else "-")),
            "ours: activation": _activation_name(module),
            "ours: params (M)": float(found["params (M)"]) if found is not None else 0.0,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Name"
    frame.attrs = {"total_params_m": sum(p.numel() for p in extractor.parameters()) / 1e6}
    return frame


def _activation_name(module: torch.nn.Module) -> str:
    """The activation a Table 1 row applies last (its block's nonlinearity, not those inside its
    attention module), by class name."""
    known = (torch.nn.ReLU, torch.nn.Hardswish, torch.nn.LeakyReLU, AconC)
    names = [type(m).__name__ for name, m in module.named_modules()
             if isinstance(m, known) and not name.startswith("attention")
             and "excitation" not in name]
    return names[-1] if names else "-"


# ----------------------------------------------------------------------------- tables 2, 5, 6, 7


def models_by_label(study: Study) -> dict[str, str]:
    """Label -> run of every model the chapter trains (the main comparison first)."""
    found: dict[str, str] = {}
    for group in study.cfg["study"]["groups"].values():
        found.update({label: name for label, name in group["runs"].items() if name})
    return found


def epe(study: Study, name: str):
    """``record -> EPE`` (mm) of run ``name`` as Tables 2, 6 and 7 print it (GT S = N, GT H = N)."""
    return epe_under(study, name, gt_scale=False, gt_hand=False)


def epe_table(study: Study, table_id: str, columns: dict[str, str]) -> pd.DataFrame:
    """A reproduced EPE table (Tables 2, 6, 7): one row per run of the table's group, one
    column per paper dataset (``columns``: column -> paper dataset, kept as the frame's
    ``datasets`` attribute), mean over seeds."""
    rows = {label: {column: seed_mean_score(study, study.dataset_for(dataset), name,
                                            epe(study, name))
                    for column, dataset in columns.items()}
            for label, name in study.group(table_id).items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table(PAPER, table_id).index.name
    frame.attrs = {"tested_on": "; ".join(f"{c}: {data_of(study, d)}"
                                          for c, d in columns.items()),
                   "profile": study.profile, "datasets": columns}
    return frame


def table_2(study: Study) -> pd.DataFrame:
    return epe_table(study, "2", {"EPE (STB)": "STB", "EPE (RHD)": "RHD"})


def table_6(study: Study) -> pd.DataFrame:
    return epe_table(study, "6", {"STB": "STB", "RHD": "RHD"})


def table_7(study: Study) -> pd.DataFrame:
    return epe_table(study, "7", {"STB": "STB", "RHD": "RHD"})


def mpjpe_of(frames: str):
    """``record -> MPJPE`` (mm) on ``single`` or ``interacting`` frames (InterNet's protocol)."""
    key = {"single": "mpjpe_single_mm", "interacting": "mpjpe_interacting_mm"}[frames]

    def score(p: Record, eval_spec: dict) -> float:
        return metrics.evaluate_record(p, {**eval_spec, "metric": "mpjpe"})[key]
    return score


def table_5(study: Study) -> pd.DataFrame:
    """Table 5: MPJPE (mm) on single-hand and interacting frames of the InterHand2.6M data."""
    dataset = study.dataset_for("InterHand2.6M")
    spec = study.cfg["eval"]
    rows = {label: {column: seed_mean_score(study, dataset, name,
                                            lambda p, f=frames: mpjpe_of(f)(p, spec))
                    for column, frames in (("Single Hand", "single"),
                                           ("Interacting Hands", "interacting"))}
            for label, name in study.group("5").items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.attrs = {"tested_on": data_of(study, "InterHand2.6M"), "profile": study.profile,
                   "datasets": {column: "InterHand2.6M" for column in frame.columns}}
    return frame


# ----------------------------------------------------------------------------- tables 3 and 4


def expansion_choice() -> dict[str, float]:
    """The expansion ratios Table 1 does not print (``models.EXPANSIONS``): MobileNetV2's ratio
    in every block, the last block's raised ratio, and the parameters (M) of the paper-size
    extractor with the first in every block and with ours."""
    uniform = (EXPANSIONS[0],) * len(EXPANSIONS)
    extractor = {"name": EXTRACTORS["InterNet+"]}
    return {"uniform ratio": EXPANSIONS[0], "last ratio": EXPANSIONS[-1],
            "uniform params (M)": parameter_count({**extractor, "expansions": uniform}) / 1e6,
            "ours params (M)": parameter_count(extractor) / 1e6}


def extractor_counts() -> dict[str, dict[str, float]]:
    """Table 3's first two columns for our paper-size extractors: parameters (M), fp32 MiB."""
    counts = {}
    for label, name in EXTRACTORS.items():
        n = parameter_count({"name": name})
        counts[label] = {"Total Parameters (M)": n / 1e6, "Parameters Size (MB)": n * 4 / 2**20}
    return counts


def train_entry(bench: dict, label: str, mode: str = "eager") -> dict | None:
    """The bench's speed entry of model ``label`` at its training batch (the first with a timed
    training step), or ``None``."""
    return next((s for s in bench_row(bench, label)["speed"]
                 if s["mode"] == mode and not math.isnan(s.get("train_step_s", math.nan))), None)


def train_step_seconds(bench: dict, label: str, mode: str = "eager") -> float:
    """Seconds per training iteration of model ``label`` at the bench's training batch."""
    entry = train_entry(bench, label, mode)
    return math.nan if entry is None else entry["train_step_s"]


def table_3(bench: dict) -> pd.DataFrame:
    """Table 3: extractor parameters and size, and seconds per training iteration."""
    counts = extractor_counts()
    rows = {label: {**counts[label], "Time Per Iteration (s)": train_step_seconds(bench, label)}
            for label in EXTRACTORS}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    batch = bench["settings"].get("train_batch_sizes", bench["settings"]["batch_sizes"])
    frame.attrs = {"tested_on": f"{bench['device_name']}, eager fp32, {bench['settings']['input_size']}² "
                                f"input, training batch {batch[0]}"}
    return frame


def table_4(bench: dict, mode: str = "eager") -> pd.DataFrame:
    """Table 4: inference frames per second at each of its batch sizes the bench measured
    (``mode`` eager or fast)."""
    printed = list(papers.table(PAPER, "4").columns)
    rows = {}
    for label in EXTRACTORS:
        speeds = {s["batch"]: s["infer_img_s"] for s in bench_row(bench, label)["speed"]
                  if s["mode"] == mode}
        rows[label] = {batch: speeds.get(batch, np.nan) for batch in bench["settings"]["batch_sizes"]
                       if batch in printed}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    frame.columns.name = "Batch Size"
    frame.attrs = {"tested_on": f"{bench['device_name']}, {mode}, "
                                f"{bench['settings']['input_size']}² input"}
    return frame


def has_fast_path(bench: dict) -> bool:
    return any(s["mode"] == "fast" for row in bench["models"] for s in row["speed"])


def table_whole_networks(bench: dict) -> pd.DataFrame:
    """Beyond Table 3: the whole networks (extractor + PoseNet) as the bench built them."""
    rows = {row["label"]: {"parameters (M)": row["params_m"], "size (MB)": row["size_mb"],
                           "GMACs": row["gmacs"]} for row in bench["models"]}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Model"
    return frame


def activation_counts(input_size: int = PAPER_INPUT) -> dict[str, float]:
    """Millions of values the paper-size InterNet+ extractor and its residual-block variant
    output in one training-mode forward pass of one image (what backpropagation keeps)."""
    return {"InterNet+": benchmarks.activation_count(Extractor(), input_size) / 1e6,
            "InterNet+ (residual blocks)": benchmarks.activation_count(
                Extractor(block="residual"), input_size) / 1e6}


# ----------------------------------------------------------------------------- Fig. 5


def pck3d_curve(p: Record, eval_spec: dict, thresholds: np.ndarray) -> np.ndarray:
    """3D PCK at ``thresholds`` (mm) under Table 2's protocol (the hand slot the model names)."""
    pred, gt, mask = metrics.aligned_3d(p, eval_spec)
    if "hand_type_pred" in p:
        pred, mask = metrics.predicted_hand_selection(pred, mask, p["hand_type_pred"])
    return metrics.pck_curve(pred.reshape(-1, NUM_JOINTS, 3), gt.reshape(-1, NUM_JOINTS, 3),
                             thresholds, mask=mask.reshape(-1, NUM_JOINTS))


def pck_thresholds(study: Study) -> np.ndarray:
    start, stop, count = study.cfg["study"]["pck_thresholds_mm"]
    return np.linspace(start, stop, int(count))


def figure_pck(study: Study, floor_records: dict[str, Record]) -> Figure:
    """Fig. 5: 3D PCK curves on the STB and RHD data (the datasets or their stand-ins, named in
    each panel's title) of every model trained there, with the constant mean pose; the legend
    gives each AUC over 20-50 mm. A dataset absent from ``data_root`` gets a panel that says so."""
    thresholds = pck_thresholds(study)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    spec = study.cfg["eval"]
    for ax, paper_dataset in zip(axes, ("STB", "RHD")):
        dataset = study.dataset_for(paper_dataset)
        title = f"{paper_dataset}: {data_of(study, paper_dataset)}"
        if dataset is None:
            ax.set_axis_off()
            ax.set_title(title, fontsize="x-small", wrap=True)
            continue
        curves = {label: seed_mean([pck3d_curve(p, spec, thresholds)
                                    for p in study.of(dataset, name)])
                  for label, name in models_by_label(study).items() if study.of(dataset, name)}
        if dataset in floor_records:
            curves["constant mean pose (floor)"] = pck3d_curve(floor_records[dataset], spec,
                                                               thresholds)
        viz.plot_pck_curves(thresholds, curves, ax=ax, xlabel="threshold (mm)",
                            ylabel="3D PCK", auc_range=AUC_RANGE, highlight=["InterNet+"],
                            title=title)
        ax.axvspan(*AUC_RANGE, color="0.92", zorder=0)
        ax.title.set_fontsize("x-small")
        ax.legend(fontsize="xx-small", loc="upper left")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- schedules, Fig. 7


def learning_rates(first_period: int, multiplier: int, epochs: int,
                   lr: float = 1.0) -> np.ndarray:
    """(epochs,) the learning rate of each epoch (1-based) under the engine's warm-restart
    scheduler, stepped once per epoch as ``handlib.engine.fit`` steps it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = engine.build_scheduler(optimizer, {"name": "cosine_warm_restarts",
                                                   "T_0": first_period, "T_mult": multiplier})
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def cycle_ends(first_period: int, multiplier: int, epochs: int) -> list[int]:
    """The epochs (1-based) that end a warm-restart cycle, up to ``epochs``."""
    ends, end, period = [], 0, first_period
    while end + period <= epochs:
        end += period
        ends.append(end)
        period *= multiplier
    return ends


def schedule_readings(epochs: int = 250) -> dict[str, dict]:
    """Each reading of :data:`SCHEDULES` (label -> ``period``, ``multiplier``, its cycle ends up
    to ``epochs``, the learning rate as a fraction of its maximum at each of
    :data:`REPORTED_EPOCHS`, and whether those epochs all end a cycle)."""
    readings = {}
    for label, (period, multiplier) in SCHEDULES.items():
        ends = cycle_ends(period, multiplier, epochs)
        rates = learning_rates(period, multiplier, max(REPORTED_EPOCHS.values()))
        readings[label] = {"period": period, "multiplier": multiplier, "cycle ends": ends,
                           "lr at reported": {d: float(rates[e - 1])
                                              for d, e in REPORTED_EPOCHS.items()},
                           "reported end cycles": all(e in ends
                                                      for e in REPORTED_EPOCHS.values())}
    return readings


def figure_schedules(epochs: int = 200) -> Figure:
    """Section 5.2's schedule as printed and as its reported epochs imply, learning rate per
    epoch, with the reported epochs (:data:`REPORTED_EPOCHS`) marked."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.8), sharex=True)
    for ax, (label, (period, multiplier)) in zip(axes, SCHEDULES.items()):
        ax.plot(np.arange(1, epochs + 1), learning_rates(period, multiplier, epochs),
                color="C0", linewidth=1.4)
        for end in cycle_ends(period, multiplier, epochs):
            ax.axvline(end, color="C0", linewidth=0.6, linestyle=":")
        for dataset, epoch in REPORTED_EPOCHS.items():
            ax.axvline(epoch, color="C3", linewidth=1.2)
            ax.text(epoch + 1, 0.9, f"{dataset}: epoch {epoch}", color="C3", fontsize="x-small")
        ax.set(ylabel="lr / lr₀", title=label, ylim=(0, 1.05))
        ax.title.set_fontsize("small")
    axes[-1].set_xlabel("epoch (dotted: cycle ends)")
    fig.tight_layout()
    return fig


def run_history(study: Study, run: Run) -> pd.DataFrame | None:
    saved = results.read_run(results.run_dir(study.experiment, study.profile, run.run_id))
    return None if saved is None else saved["history"].set_index("epoch")


def convergence_curves(study: Study, dataset: str | None = None,
                       column: str = "val_epe_mm_predicted_hand") -> pd.DataFrame:
    """Epoch x "label, seed k": the validation EPE (GT H = N, as Table 2) per epoch of every
    InterNet and InterNet+ training on the profile's ``dataset`` (by default the STB data, Fig.
    7's: the ``convergence`` group's InterNet seeds and the main comparison's InterNet+); empty
    when that data is absent."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    dataset = dataset or study.dataset_for("STB")
    curves = {}
    for label in ("InterNet", "InterNet+"):
        for run in (r for r in study.runs if r.dataset == dataset and r.name == main[label]):
            history = run_history(study, run)
            if history is not None and column in history:
                curves[f"{label}, seed {run.seed}"] = history[column]
    return pd.DataFrame(curves)


def trainings_of(curves: pd.DataFrame, model: str) -> list[str]:
    """The columns of :func:`convergence_curves` that are ``model``'s trainings, in the order of
    the study's runs (the first seed first)."""
    return [column for column in curves if column.split(",")[0] == model]


def main_run(study: Study, label: str, dataset: str | None = None) -> Run:
    """The first-seed run of the main comparison's ``label`` on the profile's ``dataset`` (by
    default the STB data, Fig. 7's)."""
    name = study.cfg["study"]["groups"]["main"]["runs"][label]
    dataset = dataset or study.dataset_for("STB")
    return next(r for r in study.runs if r.dataset == dataset and r.name == name)


def figure_convergence(study: Study) -> Figure:
    """Fig. 7: (a) InterNet's trainings, (b) InterNet+'s, validation EPE per epoch on the STB
    data's validation split (named in the title); the InterNet+ panel marks its warm-restart
    cycle ends. Without the STB data, a figure that says why."""
    if study.dataset_for("STB") is None:
        return viz.note_figure(f"STB: {study.absent('STB')}")
    curves = convergence_curves(study)
    run = main_run(study, "InterNet+")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, model in zip(axes, ("InterNet", "InterNet+")):
        for column in trainings_of(curves, model):
            ax.plot(curves.index, curves[column], marker="o", markersize=3, label=column)
        ax.set(title=f"({'a' if model == 'InterNet' else 'b'}) {model}", xlabel="epoch")
        ax.legend(fontsize="small")
    scheduler = run.config["scheduler"]
    for end in cycle_ends(scheduler["T_0"], scheduler["T_mult"], run.config["train"]["epochs"]):
        axes[1].axvline(end, color="0.6", linestyle=":", linewidth=1)
    axes[0].set_ylabel("validation EPE (mm)")
    fig.suptitle(validated_on(study, run), fontsize="small")
    fig.tight_layout()
    return fig


def before_final_epoch(curve: pd.Series) -> pd.Series:
    """``curve``'s epochs without its final one (and without missing values). Training stops at
    the end of a warm-restart cycle, where the learning rate reaches zero (and InterNet's at the
    end of its last step decay): the final epoch is a dip that the rules of Fig. 7 would
    otherwise read as the level a curve settles to, or as the best epoch at a cycle end."""
    values = curve.dropna()
    if len(values) < 2:
        raise ValueError(f"a validation curve needs at least two epochs, got {len(values)}")
    return values.iloc[:-1]


def settling_epoch(curve: pd.Series, tolerance: float = SETTLING_TOLERANCE) -> int:
    """The first epoch from which ``curve`` (:func:`before_final_epoch`) stays within
    ``tolerance`` of the level it settles to, the median of its last
    :data:`SETTLING_LEVEL_SHARE` of epochs, as a relative gap ``|value − level| / level``; the
    last epoch kept when it never does."""
    values = before_final_epoch(curve)
    tail = max(1, int(len(values) * SETTLING_LEVEL_SHARE))
    level = float(values.iloc[-tail:].median())
    outside = (values - level).abs() > tolerance * abs(level)
    if not outside.any():
        return int(values.index[0])
    last_outside = int(np.flatnonzero(outside.to_numpy())[-1])
    return int(values.index[min(last_outside + 1, len(values) - 1)])


def seed_gap(first: pd.Series, second: pd.Series) -> dict[str, float]:
    """Mean relative gap of two trainings' curves, ``|first − second|`` divided by their mean
    (the error level of that epoch), over the first and the second half of their epochs: early
    errors are larger, so absolute gaps would be larger early however alike the seeds train."""
    gap = ((first - second).abs() / ((first + second) / 2)).dropna()
    half = len(gap) // 2
    return {"first half of training": float(gap.iloc[:half].mean()),
            "second half of training": float(gap.iloc[half:].mean())}


def best_at_cycle_ends(curve: pd.Series, ends: list[int]) -> dict[str, float] | None:
    """The best (lowest) value of ``curve`` (:func:`before_final_epoch`, so that the final
    epoch, always a cycle end, is not counted for the cycle ends) at the epochs ``ends`` and at
    every other epoch; ``None`` without both kinds of epoch."""
    values = before_final_epoch(curve)
    at_ends, others = values[values.index.isin(ends)], values[~values.index.isin(ends)]
    if not (len(at_ends) and len(others)):
        return None
    return {"InterNet+": float(at_ends.min()), "other epochs": float(others.min())}


# ----------------------------------------------------------------------------- Fig. 6


def trained_model(study: Study, dataset: str, name: str) -> torch.nn.Module:
    """The first seed's trained model of run ``name`` on ``dataset`` (reused from its
    checkpoint), on the CPU in eval mode."""
    run = next(r for r in study.runs if r.dataset == dataset and r.name == name)
    trained = engine.load_or_train(run.config, experiment=study.experiment,
                                   profile=study.profile, run=run.run_id, progress=False)
    return trained.model.to("cpu").eval()


def test_items(study: Study, dataset: str, name: str, positions) -> list[dict]:
    """The model inputs of the test split at ``positions`` (numpy items of the data pipeline)."""
    run = next(r for r in study.runs if r.dataset == dataset and r.name == name)
    split = engine.resolve_config(run.config)["eval"]["test_split"]
    data = build_dataset(run.config["data"], split)
    return [data.item(int(i)) for i in positions]


@torch.no_grad()
def feature_maps(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """(N, H, W) the extractor's output, mean absolute value over channels, upsampled
    (bilinear) to the input size; ``images`` are normalised (N, 3, H, W) crops."""
    batch = torch.as_tensor(np.asarray(images, np.float32))
    features = model.backbone(batch)[-1].abs().mean(dim=1, keepdim=True)
    return F.interpolate(features, size=batch.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0].numpy()


def hand_box_mask(item: dict, size: int) -> np.ndarray:
    """(size, size) bool: the box of the labelled joints of the crop ``item``."""
    kp = np.asarray(item["kp2d"]).reshape(-1, 2)[np.asarray(item["labelled"], bool)]
    low, high = np.floor(kp.min(axis=0)), np.ceil(kp.max(axis=0))
    ys, xs = np.mgrid[0:size, 0:size]
    return (xs >= low[0]) & (xs <= high[0]) & (ys >= low[1]) & (ys <= high[1])


def background_share(maps: np.ndarray, items: list[dict]) -> float:
    """The mean over images of the share of each feature map's mass outside the hand's box."""
    shares = []
    for feature, item in zip(maps, items):
        inside = hand_box_mask(item, feature.shape[-1])
        shares.append(float(feature[~inside].sum() / max(feature.sum(), 1e-12)))
    return float(np.mean(shares))


def crop_keypoints(p: Record, positions) -> np.ndarray:
    """(k, 42, 2) the predictions ``kp2d_pred`` at ``positions`` in the crop's pixels (the record
    holds them in the original image's)."""
    kp = np.asarray(p["kp2d_pred"], np.float64)[positions]
    homogeneous = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], axis=-1)
    return np.einsum("nij,nkj->nki", np.asarray(p["crop"], np.float64)[positions],
                     homogeneous)[..., :2]


def qualitative_positions(p: Record, count: int) -> np.ndarray:
    """Evenly spaced test positions (the rule behind Fig. 6's images)."""
    return np.linspace(0, len(p["index"]) - 1, count).round().astype(int)


def figure_feature_maps(study: Study) -> Figure:
    """Fig. 6: for test images of the STB and RHD data (named in the title: the datasets or their
    stand-ins) the input crop, InterNet's and InterNet+'s feature maps, and their predicted
    skeletons (the ground-truth hand's slot). A dataset absent from ``data_root`` has no rows and
    the title says why; without either, a figure that says so."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    count = study.cfg["study"]["qualitative_samples"]
    columns = ["(a) input", "(b) InterNet features", "(c) InterNet+ features",
               "(d) InterNet output", "(e) InterNet+ output"]
    present = [d for d in ("STB", "RHD") if study.dataset_for(d) is not None]
    if not present:
        return viz.note_figure("; ".join(f"{d}: {study.absent(d)}" for d in ("STB", "RHD")))
    rows = []
    for paper_dataset in present:
        dataset = study.dataset_for(paper_dataset)
        records = {label: study.first(dataset, name) for label, name in main.items()}
        positions = qualitative_positions(records["InterNet+"], count)
        items = test_items(study, dataset, main["InterNet+"], positions)
        images = np.stack([item["image"] for item in items])
        maps = {label: feature_maps(trained_model(study, dataset, name), images)
                for label, name in main.items()}
        keypoints = {label: crop_keypoints(p, positions) for label, p in records.items()}
        for k, item in enumerate(items):
            rows.append((paper_dataset, item, {m: maps[m][k] for m in maps},
                         {m: keypoints[m][k] for m in keypoints}))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.3 * len(columns),
                                                               2.3 * len(rows)), squeeze=False)
    for r, (paper_dataset, item, maps, keypoints) in enumerate(rows):
        crop = denormalise_image(item["image"])
        valid = np.asarray(item["labelled"], bool).reshape(HANDS, NUM_JOINTS).any(axis=1)
        panels = [None, maps["InterNet"], maps["InterNet+"], keypoints["InterNet"],
                  keypoints["InterNet+"]]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(crop)
            ax.set_axis_off()
            if c in (1, 2):
                ax.imshow(panel, cmap="magma", alpha=0.6)
            elif c in (3, 4):
                hands = panel.reshape(HANDS, NUM_JOINTS, 2)
                for hand in np.flatnonzero(valid):
                    viz.draw_skeleton(ax, hands[hand], linewidth=1.2, markersize=2.5,
                                      joint_finger=JOINT_FINGER)
                ax.set_xlim(0, crop.shape[1])
                ax.set_ylim(crop.shape[0], 0)
            if r == 0:
                ax.set_title(columns[c], fontsize="x-small")
        axes[r, 0].text(-0.05, 0.5, f"{paper_dataset}, test {int(item['index'])}",
                        transform=axes[r, 0].transAxes, rotation=90, ha="right", va="center",
                        fontsize="x-small")
    fig.suptitle("; ".join(f"{d}: {data_of(study, d)}" for d in ("STB", "RHD")),
                 fontsize="small", wrap=True)
    fig.tight_layout()
    return fig


def background_shares(study: Study, dataset: str) -> dict[str, float]:
    """Each main model's :func:`background_share` over the whole test split of the profile's
    ``dataset`` (first seed)."""
    main = study.cfg["study"]["groups"]["main"]["runs"]
    positions = np.arange(len(study.first(dataset, main["InterNet+"])["index"]))
    items = test_items(study, dataset, main["InterNet+"], positions)
    images = np.stack([item["image"] for item in items])
    return {label: background_share(feature_maps(trained_model(study, dataset, name), images),
                                    items)
            for label, name in main.items()}


# ----------------------------------------------------------------------------- claims


def interhand_mpjpe(target: claims.Target, frames: str, measure: str
                    ) -> tuple[claims.Score, str]:
    """Table 5's score: InterNet's MPJPE (mm) on ``single`` or ``interacting`` frames
    (:func:`mpjpe_of`); with ``measure: 2d`` the normalised 2D error of all joints and frames,
    the score of every 2D re-test (as ``handlib.claims.protocol_error``)."""
    if measure == "2d":
        return study3d.scorer(target.study, measure="2d"), ", 2D error"
    spec = target.study.cfg["eval"]
    return (lambda p: mpjpe_of(frames)(p, spec)), f", {frames} frames"


def predicted_hand_epe(target: claims.Target) -> tuple[claims.Score, str]:
    """EPE (mm) as Tables 2, 6 and 7 print it (GT S = N, GT H = N) of any record, whichever run
    made it: the score of the no-learning rule of Figs. 6-7, which scores both main models and
    the constant mean pose (whose hand type is the true one, ``handlib.floors.mean_pose_record``)
    alike."""
    return (lambda p: protocol_epe(target.study, p, False, False)), ", GT S = N, GT H = N"


#: The chapter's own scorers (the protocol EPE of the model claims is a shared one,
#: ``handlib.claims.SCORERS``).
SCORERS = {"interhand_mpjpe": interhand_mpjpe, "predicted_hand_epe": predicted_hand_epe}


def extractor_size(target: claims.Target, column: str) -> dict:
    """Table 3's ``column`` (parameters or their size) of the paper-size extractors, a count
    that needs neither data nor a bench."""
    return {"reproduced": {label: counts[column] for label, counts in extractor_counts().items()},
            "tested_on": "the paper-size extractors (a count)", "profile": "real", "run": "bench"}


def extractor_activations(target: claims.Target) -> dict:
    """The forward activations per image of the paper-size extractor and its residual-block
    variant (:func:`activation_counts`), a count."""
    return {"reproduced": activation_counts(),
            "tested_on": f"the paper-size extractors at {PAPER_INPUT}² (a count)",
            "profile": "real", "run": "bench"}


def _bench_inputs(target: claims.Target, reproduced: dict[str, float],
                  rounds: dict[str, list[float]], sign_test_level: float) -> dict:
    """Verdict inputs of values measured by the chapter's bench (``target.inputs["bench"]``):
    both models on the one machine that ran it (the same hardware, which the data column says,
    with the paper's for contrast), inconclusive unless their interleaved ``rounds`` (label ->
    seconds per round) agree on which is faster (``handlib.bench.rounds_disagree`` at
    ``sign_test_level``, the claim's declared rule)."""
    bench = target.inputs["bench"]
    subject, reference = target.claim["subject"], papers.claim_references(target.claim)[0]
    return {"reproduced": reproduced, "run": "bench",
            "unusable": benchmarks.rounds_disagree(rounds[subject], rounds[reference],
                                                   sign_test_level, (subject, reference)),
            "tested_on": f"both on {bench['device_name']} (the same hardware; the paper's: "
                         f"{papers.settings(PAPER)['hardware']}), eager fp32, "
                         f"{bench['settings']['input_size']}² input, "
                         f"{target.study.profile} profile's bench"}


def training_iteration(target: claims.Target, sign_test_level: float) -> dict | None:
    """Table 3's seconds per training iteration of each model (:func:`train_step_seconds`) on
    the chapter's bench, judged only where their interleaved rounds agree at
    ``sign_test_level`` (:func:`_bench_inputs`); nothing without a bench."""
    bench = target.inputs.get("bench")
    if bench is None:
        return None
    entries = {label: train_entry(bench, label) for label in EXTRACTORS}
    return _bench_inputs(target, {label: train_step_seconds(bench, label) for label in EXTRACTORS},
                         {label: (entry or {}).get("train_step_rounds_s", [])
                          for label, entry in entries.items()}, sign_test_level)


def inference_fps(target: claims.Target, batch: int, sign_test_level: float) -> dict | None:
    """Table 4's eager frames per second at ``batch`` on the chapter's bench, judged only where
    the models' interleaved rounds of inference agree at ``sign_test_level``
    (:func:`_bench_inputs`); nothing without a bench or where it did not measure that batch
    size."""
    bench = target.inputs.get("bench")
    if bench is None:
        return None
    fps = table_4(bench)
    if batch not in fps.columns:
        return None
    rounds = {label: next((s.get("latency_rounds_ms", []) for s in bench_row(bench, label)["speed"]
                           if s["mode"] == "eager" and s["batch"] == batch), [])
              for label in EXTRACTORS}
    return _bench_inputs(target, fps[batch].to_dict(), rounds, sign_test_level)


def _validation_inputs(target: claims.Target, reproduced: dict) -> dict:
    """Verdict inputs of values read from the validation histories of Fig. 7's runs."""
    study = target.study
    return {"reproduced": reproduced, "run": f"{study.experiment}/{study.profile}",
            "tested_on": validated_on(study, main_run(study, "InterNet+", target.dataset))}


def _first_seeds(curves: pd.DataFrame) -> dict[str, pd.Series]:
    """Model -> the curve of its first seed among :func:`convergence_curves`, where it has the
    two epochs or more that the rules of Fig. 7 need (they leave the final one out)."""
    firsts = {model: curves[trainings_of(curves, model)[0]] for model in ("InterNet", "InterNet+")
              if trainings_of(curves, model)}
    return {model: curve for model, curve in firsts.items() if curve.dropna().size >= 2}


def settling_epochs(target: claims.Target) -> dict | None:
    """Fig. 7: the :func:`settling_epoch` of InterNet's and InterNet+'s first-seed validation
    curves; nothing without both."""
    firsts = _first_seeds(convergence_curves(target.study, target.dataset))
    if len(firsts) < 2:
        return None
    return _validation_inputs(target, {model: float(settling_epoch(curve))
                                       for model, curve in firsts.items()})


def early_seed_gap(target: claims.Target) -> dict | None:
    """Fig. 7(a): the relative :func:`seed_gap` of InterNet's first two trainings in the first
    and the second half of their epochs; nothing without two."""
    curves = convergence_curves(target.study, target.dataset)
    internet = trainings_of(curves, "InterNet")
    if len(internet) < 2:
        return None
    return _validation_inputs(target, seed_gap(curves[internet[0]], curves[internet[1]]))


def cycle_end_best(target: claims.Target) -> dict | None:
    """Section 5.2: InterNet+'s best validation EPE at the epochs that end a warm-restart cycle
    (:func:`cycle_ends` of its run's schedule) against its best at every other epoch, the final
    epoch left out (:func:`best_at_cycle_ends`); nothing without both kinds of epoch."""
    curve = _first_seeds(convergence_curves(target.study, target.dataset)).get("InterNet+")
    if curve is None:
        return None
    scheduler = main_run(target.study, "InterNet+", target.dataset).config["scheduler"]
    best = best_at_cycle_ends(curve, cycle_ends(scheduler["T_0"], scheduler["T_mult"],
                                                int(curve.dropna().index.max())))
    return None if best is None else _validation_inputs(target, best)


def feature_background(target: claims.Target) -> dict | None:
    """Fig. 6: each main model's :func:`background_shares` on the test split, from its trained
    extractor; nothing unless the chapter lets it load the trained models
    (``target.inputs["trained_models"]``) and both are trained."""
    study = target.study
    main = study.cfg["study"]["groups"]["main"]["runs"]
    if not (target.inputs.get("trained_models")
            and all(study.of(target.dataset, name) for name in main.values())):
        return None
    return {"reproduced": background_shares(study, target.dataset),
            "tested_on": study.tested_on(target.dataset) + ", first seeds",
            "run": f"{study.experiment}/{study.profile}"}


#: The chapter's measurements (``compare: measured`` in ``paper.yaml``).
MEASUREMENTS = {"extractor_size": extractor_size, "extractor_activations": extractor_activations,
                "training_iteration": training_iteration, "inference_fps": inference_fps,
                "settling_epochs": settling_epochs, "early_seed_gap": early_seed_gap,
                "cycle_end_best": cycle_end_best, "feature_background": feature_background}


def claim_results(study: Study, floor_records: dict[str, Record] | None = None,
                  bench: dict | None = None, measure: str = "3d",
                  with_models: bool = True) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs for every claim testable on this profile, from
    the ``test`` blocks of ``paper.yaml`` (``handlib.claims.evaluate``).

    The model claims (Tables 2, 5, 6, 7 and the ablations without a table) compare the shared
    seeds' scores with the constant mean pose as the floor (``floor_records``,
    ``study3d.floors``); the size and speed claims read the paper-size extractors and ``bench``
    (without one, the timings are left out); the convergence claims read the validation
    histories, and the feature-map claim (only ``with_models``) loads the trained extractors.
    While neither main model gets below the constant on the STB data, Figs. 6-7's claims are
    inconclusive (their ``unusable`` rule); so are the speed claims whose interleaved rounds
    disagree (:func:`_bench_inputs`) and an equivalence claim whose tolerance the paper does not
    give (``handlib.report.claim_verdict``).

    ``measure="2d"`` re-tests the model claims by the normalised 2D error with the box-centre
    floor (``handlib.floors.box_centre_record``), beyond the paper; the measured claims are left
    out of it."""
    floor_records = floor_records or {}
    if measure == "2d":
        floor_records = {d: box_centre_record(p) for d, p in floor_records.items()}
    declared = papers.claims(PAPER)
    found = claims.evaluate(study, declared, SCORERS, measurements=MEASUREMENTS,
                            floor_records=floor_records,
                            overrides=None if measure == "3d" else {"measure": measure},
                            inputs={"bench": bench, "trained_models": with_models})
    return found


def reproduced_with_runs(study: Study, table_id: str, reproduced: pd.DataFrame) -> pd.DataFrame:
    """``report.paper_vs_reproduced`` of a model table with its runs named; the caption names
    the scale the runs were trained at (``learning.scale_text``) and each reproduced column left
    empty because its dataset (the frame's ``datasets`` attribute: column -> paper dataset) is
    absent from ``data_root``, and why."""
    table = report.paper_vs_reproduced(papers.table(PAPER, table_id), reproduced,
                                       run_labels(study, table_id), profile=study.profile)
    table.attrs["caption"] = (f"{table.attrs['caption']} Reproduced on the "
                              f"{learning.scale_text(study)}.")
    datasets = reproduced.attrs["datasets"]
    empty = [f"{column}: {study.absent(datasets[column])}" for column in reproduced.columns
             if study.absent(datasets[column])]
    if empty:
        table.attrs["caption"] = (f"{table.attrs['caption']} Reproduced columns left empty: "
                                  f"{'; '.join(empty)}.")
    return table

