"""Chapter 10, RCSF (Guan et al. 2023): the study behind ``notebooks/10_rcsf.ipynb``.

What the chapter needs, computed here so that the notebook only orchestrates:

- **Runs** (:func:`study_runs`). ``handlib/configs/rcsf.yaml`` lists every trained model under
  ``runs`` (model + loss; merged over the shared data/optimiser/schedule sections by
  ``handlib.engine.run_config``) and, under ``study``, the datasets of the profile, the seeds of
  the main comparison and the OHKM sweep. The six models of Tables 1-3 (:data:`MAIN_MODELS`) are
  trained once per seed; the Table 4 variants (:data:`DESIGN_MODELS`) and the Table 5 sweep once.
  The sweep reuses runs where they coincide: m = 11 is "Ours", and m = 21 keeps every joint, so
  it is "Ours *" (OHKM with m = k is the plain L2 loss).
- **Test predictions** (:func:`run_study`, :func:`load_study`). Each run is trained or reused by
  ``handlib.engine.load_or_train`` (validation split for monitoring) and then predicts the
  *test* split once; the predictions (keypoints in input pixels plus the labels needed to score
  them) are saved next to the run's results as ``test_predictions.npz`` with the configuration
  hash, so tables and figures can be rebuilt, e.g. from committed ``gpu`` results on a machine
  without a GPU, without the checkpoint.
- **Tables** in the paper's layout (rows and columns named as in ``handlib.papers.table("rcsf",
  N)``), ready for ``handlib.report.paper_vs_reproduced``: per-joint PCK (Tables 1-2, at the
  threshold whose mean the paper's per-joint tables match, PCK@0.05), PCK@0.01-0.05 (Table 3),
  the design choices and the m sweep at PCK@0.02 (Tables 4-5), the comparison with other methods
  (Table 6, our reproduced rows added), speed and size (Table 7), plus what the paper does not
  measure: PCK of visible versus occluded joints, and mean ± std over seeds.
- **Figure selections** by rule, never by hand: Figures 4-5 show the test images with the most
  occluded joints (the paper's subject); Figure 6 the images where "Ours" has the largest mean
  normalised error.
- **Claims**: the inputs of ``handlib.report.verdict_table`` for every claim of
  ``handlib.papers.claims("rcsf")`` that can be tested here, each with a noise margin: twice the
  standard error of the PCK difference from a paired bootstrap over the test images, so that
  a difference the test set cannot resolve is called inconclusive.

Scoring: PCK (RCSF eq. 4) over the labelled joints inside the image (``in_frame``), with the
threshold a fraction of the hand's bounding-box size (``norm_size`` from the dataset; see
``handlib.metrics``). Where a profile has several seeds, tables show the mean over seeds.
Datasets: a paper table about STB or RHD is compared with the profile's dataset of that name
(``paper`` profile) or, on the synthetic profiles, with the synthetic stand-in, and every table
and verdict names the data it was measured on.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from handlib import engine, metrics, papers, results, viz
from handlib.profiles import deep_merge
from handlib.skeleton import FINGERS, JOINT_NAMES, NUM_JOINTS

EXPERIMENT = "rcsf"
PREDICTIONS_FILE = "test_predictions.npz"
#: What a run keeps of its test predictions: enough to score and draw them.
PREDICTION_KEYS: tuple[str, ...] = (
    "kp2d_pred", "confidence", "kp2d", "visible", "in_frame", "norm_size", "index",
)
BENCH_FILE = "bench.json"

#: Tables 1-3 column / row label -> run name in ``handlib/configs/rcsf.yaml``.
MAIN_MODELS: dict[str, str] = {
    "CPN50": "cpn50",
    "CPN101": "cpn101",
    "HRNet-W32": "hrnet_w32",
    "HRNet-W48": "hrnet_w48",
    "Ours *": "rcsf_no_ohkm",
    "Ours": "rcsf",
}
#: Table 4 row label -> run name.
DESIGN_MODELS: dict[str, str] = {
    "Models in (1)": "rcsf_global_only",
    "Models in (2)": "rcsf_high_res_first",
    "ours": "rcsf",
}
#: Table 7: registered model -> row label of our reproduced rows.
BENCH_LABELS: dict[str, str] = {
    "rcsf": "Ours",
    "cpn50": "CPN50 (ours)",
    "cpn101": "CPN101 (ours)",
    "hrnet_w32": "HRNet-W32 (ours)",
    "hrnet_w48": "HRNet-W48 (ours)",
}
#: The dataset each paper table is about (Table 5 names none; its values are STB's, see
#: handlib/papers/rcsf.yaml).
PAPER_DATASETS: tuple[str, ...] = ("STB", "RHD")
TABLE_DATASET: dict[str, str] = {"1": "STB", "2": "RHD", "5": "STB"}
#: Thresholds of Table 3 and the one of Tables 4-6.
TABLE3_THRESHOLDS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05)
MAIN_THRESHOLD = 0.02
#: Bootstrap resamples of the test set behind each claim's noise margin.
BOOTSTRAP_SAMPLES = 200


def pck_column(threshold: float) -> str:
    return f"PCK@{threshold:g}"


# ----------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """One trained model: dataset, run name in the config, seed, results folder, engine config."""

    dataset: str
    name: str
    seed: int
    run_id: str
    config: dict = field(compare=False, repr=False)


def sweep_runs(cfg: dict) -> dict[int, str]:
    """Table 5: m -> the run training RCSF with OHKM keeping m joints (m >= 21: no mining)."""
    found: dict[int, str] = {}
    for m in cfg["study"]["ohkm_sweep"]:
        for name, spec in cfg["runs"].items():
            loss, model = spec.get("loss", {}), spec.get("model", {})
            if model.get("name") != "rcsf" or loss.get("name") != "rcsf":
                continue
            kept = NUM_JOINTS if loss.get("m") is None else min(loss["m"], NUM_JOINTS)
            if kept == m:
                found[m] = name
                break
        else:
            raise ValueError(
                f"the OHKM sweep asks for m = {m}, but no entry of `runs` in rcsf.yaml trains "
                f"model rcsf with loss {{name: rcsf, m: {m}}}; add one"
            )
    return found


def _run_id(cfg: dict, dataset: str, name: str, seed: int) -> str:
    parts = [name]
    if seed != cfg["study"]["seeds"][0]:
        parts.append(f"seed{seed}")
    if len(cfg["study"]["datasets"]) > 1:
        parts.insert(0, dataset)
    return "-".join(parts)


def apply_parameters(cfg: dict, data_root: str | None = None, seed: int = 0) -> dict:
    """The chapter's settings ``cfg`` (from ``load_profile("rcsf", profile, ...)``) with the
    notebook's parameters applied, as a new dict.

    ``seed`` shifts the training seeds of the profile (``study.seeds``); ``data_root`` is the
    folder holding the real datasets (one sub-folder per dataset, named by ``folder`` in the
    profile: ``STB/`` and ``RHD_published_v2/``), needed by the ``paper`` profile and refused by
    the synthetic ones.
    """
    cfg = copy.deepcopy(cfg)
    profile = cfg["profile"]
    cfg["study"]["seeds"] = [seed + s for s in cfg["study"]["seeds"]]
    real = [name for name, spec in cfg["study"]["datasets"].items()
            if spec.get("source", cfg["data"]["source"]) != "synthetic"]
    if real and data_root is None:
        folders = ", ".join(f"{cfg['study']['datasets'][n]['folder']}/ ({n})" for n in real)
        raise ValueError(
            f"profile {profile!r} trains on {', '.join(real)}: set data_root to the folder that "
            f"holds {folders}; `handlib datasets list` shows each layout and `handlib "
            "datasets check stb --root ...` validates a copy"
        )
    if not real and data_root is not None:
        raise ValueError(
            f"profile {profile!r} trains on synthetic data and does not read data_root; use "
            "profile 'paper' to train on STB and RHD"
        )
    cfg["data"]["data_root"] = None if data_root is None else str(data_root)
    return cfg


def run_config(cfg: dict, dataset: str, name: str, seed: int) -> dict:
    """The engine config of run ``name`` on ``dataset`` with training seed ``seed``."""
    if name not in cfg["runs"]:
        raise ValueError(
            f"rcsf.yaml defines no run {name!r}; its runs are {', '.join(cfg['runs'])}"
        )
    merged = engine.run_config(cfg, name)
    config = {key: merged[key] for key in engine.RUN_SECTIONS if key in merged}
    overrides = dict(cfg["study"]["datasets"][dataset])
    folder = overrides.pop("folder", None)
    config["data"] = deep_merge(config["data"], overrides)
    if folder is not None and config["data"].get("data_root") is not None:
        config["data"]["data_root"] = str(Path(config["data"]["data_root"]) / folder)
    config["train"] = {**config["train"], "seed": seed}
    return config


def study_runs(cfg: dict) -> list[Run]:
    """Every run the chapter needs under the profile ``cfg`` (see the module docstring)."""
    seeds = cfg["study"]["seeds"]
    once = list(DESIGN_MODELS.values()) + list(sweep_runs(cfg).values())
    runs: list[Run] = []
    for dataset in cfg["study"]["datasets"]:
        wanted = [(name, seed) for seed in seeds for name in MAIN_MODELS.values()]
        wanted += [(name, seeds[0]) for name in once]
        for name, seed in dict.fromkeys(wanted):
            runs.append(
                Run(dataset, name, seed, _run_id(cfg, dataset, name, seed),
                    run_config(cfg, dataset, name, seed))
            )
    return runs


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """``np.savez_compressed`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(handle)
    try:
        np.savez_compressed(temporary, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _stored_predictions(path: Path, digest: str) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    if str(arrays.pop("config_hash", "")) != digest:
        return None  # written by another configuration: stale
    return arrays


def predict_test_split(
    run: Run, profile: str, test_split: str, *, train: bool = True, progress: bool = True,
    batch_size: int = 64,
) -> dict[str, np.ndarray] | None:
    """The run's predictions on the test split: read from its results folder when they were
    made by this configuration, else (``train=True``) trained/reused and predicted; ``None``
    when absent and ``train=False``."""
    from handlib.data.pipeline import build_dataset

    path = results.run_dir(EXPERIMENT, profile, run.run_id) / PREDICTIONS_FILE
    digest = engine.config_hash(run.config)
    stored = _stored_predictions(path, digest)
    if stored is not None or not train:
        return stored
    trained = engine.load_or_train(
        run.config, experiment=EXPERIMENT, profile=profile, run=run.run_id, progress=progress
    )
    model = trained.model
    found = engine.predict(
        model, build_dataset(run.config["data"], test_split), batch_size=batch_size,
        device=next(model.parameters()).device,
    )
    kept = {key: found[key] for key in PREDICTION_KEYS}
    _save_npz(path, {**kept, "config_hash": np.array(digest)})
    return kept


@dataclass
class Study:
    """The runs of a profile and their test predictions (``None`` where a run has none)."""

    cfg: dict
    runs: list[Run]
    predictions: dict[str, dict[str, np.ndarray] | None]

    @property
    def profile(self) -> str:
        return self.cfg["profile"]

    @property
    def complete(self) -> bool:
        return all(p is not None for p in self.predictions.values())

    @property
    def available(self) -> bool:
        return any(p is not None for p in self.predictions.values())

    def of(self, dataset: str, name: str) -> list[dict[str, np.ndarray]]:
        """The predictions of run ``name`` on ``dataset``, one per seed that has them."""
        return [
            self.predictions[r.run_id]
            for r in self.runs
            if r.dataset == dataset and r.name == name and self.predictions[r.run_id] is not None
        ]

    def dataset_for(self, paper_dataset: str) -> str:
        """The profile's dataset compared with the paper's ``paper_dataset`` (STB or RHD)."""
        datasets = list(self.cfg["study"]["datasets"])
        return paper_dataset if paper_dataset in datasets else datasets[0]

    def tested_on(self, dataset: str) -> str:
        """How the data of ``dataset`` is named in tables and verdicts."""
        spec = deep_merge(self.cfg["data"], self.cfg["study"]["datasets"][dataset])
        split = self.cfg["study"]["test_split"]
        if spec["source"] == "synthetic":
            size = spec["n"][split] if spec.get("n") else "?"
            return (f"synthetic stand-in ({size} test images at {spec['input_size']}², "
                    f"{self.profile} profile)")
        return f"{dataset} {split} split ({self.profile} profile)"


def run_study(cfg: dict, *, progress: bool = True) -> Study:
    """Train (or reuse) every run of the profile and collect its test predictions."""
    runs = study_runs(cfg)
    split, batch = cfg["study"]["test_split"], cfg["study"]["predict_batch_size"]
    predictions = {
        run.run_id: predict_test_split(
            run, cfg["profile"], split, progress=progress, batch_size=batch
        )
        for run in runs
    }
    return Study(cfg, runs, predictions)


def load_study(cfg: dict) -> Study:
    """The profile's saved test predictions, training nothing (missing runs are ``None``)."""
    runs = study_runs(cfg)
    split = cfg["study"]["test_split"]
    predictions = {
        r.run_id: predict_test_split(r, cfg["profile"], split, train=False) for r in runs
    }
    return Study(cfg, runs, predictions)


# ----------------------------------------------------------------------------- scores


def _scored(p: dict[str, np.ndarray]) -> np.ndarray:
    return p["in_frame"].astype(bool)


def pck_curve(p: dict[str, np.ndarray], thresholds) -> np.ndarray:
    """Mean PCK of one run's predictions at each threshold (fractions of the box size)."""
    return metrics.pck_curve(p["kp2d_pred"], p["kp2d"], thresholds, norm=p["norm_size"],
                             mask=_scored(p))


def per_joint_pck(p: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    return metrics.pck_per_joint(p["kp2d_pred"], p["kp2d"], threshold, norm=p["norm_size"],
                                 mask=_scored(p))


def sample_errors(p: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) mean normalised joint error of each test image over its scored joints."""
    errors, _ = metrics.joint_errors(p["kp2d_pred"], p["kp2d"], mask=_scored(p),
                                     norm=p["norm_size"])
    with np.errstate(invalid="ignore"):
        return np.nanmean(errors, axis=1)


def _seed_mean(values: list[np.ndarray]) -> np.ndarray | float:
    return np.mean(values, axis=0) if values else np.nan


def _paper_index(table_id: str) -> pd.Index:
    return papers.table("rcsf", table_id).index


# ----------------------------------------------------------------------------- tables


def table_per_joint(study: Study, table_id: str) -> pd.DataFrame:
    """Table 1 (STB) or 2 (RHD): per-joint PCK at ``study.per_joint_threshold`` per model."""
    dataset = study.dataset_for(TABLE_DATASET[table_id])
    threshold = study.cfg["study"]["per_joint_threshold"]
    columns = {
        label: _seed_mean([per_joint_pck(p, threshold) for p in study.of(dataset, name)])
        for label, name in MAIN_MODELS.items()
    }
    frame = pd.DataFrame(
        {label: np.broadcast_to(v, (NUM_JOINTS,)) for label, v in columns.items()},
        index=_paper_index(table_id),
    )
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile,
                   "threshold": threshold}
    return frame


def table_pck(study: Study) -> pd.DataFrame:
    """Table 3: PCK@0.01-0.05 of the six models, one block per paper dataset."""
    rows = {}
    for paper_dataset in PAPER_DATASETS:
        dataset = study.dataset_for(paper_dataset)
        for label, name in MAIN_MODELS.items():
            curve = _seed_mean([pck_curve(p, TABLE3_THRESHOLDS) for p in study.of(dataset, name)])
            rows[(paper_dataset, label)] = np.broadcast_to(curve, (len(TABLE3_THRESHOLDS),))
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=[pck_column(t) for t in TABLE3_THRESHOLDS]
    )
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=_paper_index("3").names)
    frame.attrs = {"profile": study.profile}
    return frame


def _pck_at(study: Study, dataset: str, name: str, threshold: float = MAIN_THRESHOLD) -> float:
    values = [float(pck_curve(p, [threshold])[0]) for p in study.of(dataset, name)]
    return float(np.mean(values)) if values else np.nan


def table_design(study: Study) -> pd.DataFrame:
    """Table 4: PCK@0.02 of GlobalNet only, the high-resolution-first variant and ours."""
    frame = pd.DataFrame(
        {
            paper_dataset: [_pck_at(study, study.dataset_for(paper_dataset), name)
                            for name in DESIGN_MODELS.values()]
            for paper_dataset in PAPER_DATASETS
        },
        index=pd.Index(list(DESIGN_MODELS), name=_paper_index("4").name),
    )
    frame.attrs = {"profile": study.profile}
    return frame


def table_ohkm(study: Study) -> pd.DataFrame:
    """Table 5: PCK@0.02 of RCSF trained with OHKM keeping m of the 21 joints."""
    dataset = study.dataset_for(TABLE_DATASET["5"])
    sweep = sweep_runs(study.cfg)
    frame = pd.DataFrame(
        {"PCK": [_pck_at(study, dataset, name) for name in sweep.values()]},
        index=pd.Index(list(sweep), name=_paper_index("5").name),
    )
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_comparison(study: Study) -> pd.DataFrame:
    """Table 6 rows we reproduce: PCK@0.02 of our six models ("Ours" matches the paper's row;
    the baselines are added as extra rows)."""
    pck = table_pck(study)[pck_column(MAIN_THRESHOLD)]
    frame = pd.DataFrame(
        {paper_dataset: [pck.loc[(paper_dataset, label)] for label in MAIN_MODELS]
         for paper_dataset in PAPER_DATASETS},
        index=pd.Index(list(MAIN_MODELS), name=_paper_index("6").name),
    )
    frame.attrs = {"profile": study.profile}
    return frame


def table_visibility(study: Study, dataset: str) -> pd.DataFrame:
    """Beyond the paper: PCK of visible and of occluded joints per model, with joint counts."""
    rows = {}
    for label, name in MAIN_MODELS.items():
        row: dict[Any, float] = {}
        for threshold in study.cfg["study"]["visibility_thresholds"]:
            splits = [
                metrics.split_by_visibility(
                    metrics.pck, p["kp2d_pred"], p["kp2d"], threshold, norm=p["norm_size"],
                    visible=p["visible"].astype(bool), mask=_scored(p),
                )
                for p in study.of(dataset, name)
            ]
            for part in ("visible", "occluded"):
                row[(pck_column(threshold), part)] = _seed_mean([s[part] for s in splits])
        if splits:
            row[("joints scored", "visible")] = splits[0]["n_visible"]
            row[("joints scored", "occluded")] = splits[0]["n_occluded"]
        rows[label] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def table_seeds(study: Study, dataset: str) -> pd.DataFrame:
    """Beyond the paper: mean and standard deviation over seeds of PCK@0.01-0.05 per model."""
    rows = {}
    for label, name in MAIN_MODELS.items():
        curves = np.array([pck_curve(p, TABLE3_THRESHOLDS) for p in study.of(dataset, name)])
        for t_index, threshold in enumerate(TABLE3_THRESHOLDS):
            values = curves[:, t_index] if len(curves) else np.array([])
            rows.setdefault(label, {})[(pck_column(threshold), "mean")] = (
                values.mean() if values.size else np.nan)
            rows[label][(pck_column(threshold), "std")] = (
                values.std(ddof=1) if values.size > 1 else np.nan)
        rows[label][("seeds", "")] = len(curves)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "Model"
    frame.attrs = {"tested_on": study.tested_on(dataset), "profile": study.profile}
    return frame


def run_labels(study: Study, table_id: str) -> dict:
    """Row (or, for Tables 1-2, column) -> the run behind it, for the *run* column."""
    def describe(dataset: str, name: str) -> str:
        seeds = [r.seed for r in study.runs if r.dataset == dataset and r.name == name
                 and study.predictions[r.run_id] is not None]
        seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of seeds {seeds}"
        return f"{name}, {seed_text}, {study.tested_on(dataset)}"

    if table_id == "3":
        return {(d, label): describe(study.dataset_for(d), name)
                for d in PAPER_DATASETS for label, name in MAIN_MODELS.items()}
    if table_id == "4":
        return {label: describe(study.dataset_for("STB"), name)
                for label, name in DESIGN_MODELS.items()}
    if table_id == "5":
        return {m: describe(study.dataset_for("STB"), name)
                for m, name in sweep_runs(study.cfg).items()}
    if table_id == "6":
        return {label: describe(study.dataset_for("STB"), name)
                for label, name in MAIN_MODELS.items()}
    raise ValueError(f"no run labels for table {table_id!r}")


# ----------------------------------------------------------------------------- claims


def difference_noise(subject: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                     threshold: float, samples: int = BOOTSTRAP_SAMPLES) -> float:
    """Twice the standard error of PCK(subject) - PCK(reference) at ``threshold``, from a
    paired bootstrap over the test images (both models are scored on the same images)."""
    rng = np.random.default_rng(0)
    count = len(subject["kp2d"])
    differences = []
    for _ in range(samples):
        rows = rng.integers(0, count, count)
        pick = [{key: value[rows] for key, value in p.items()} for p in (subject, reference)]
        differences.append(pck_curve(pick[0], [threshold])[0] - pck_curve(pick[1], [threshold])[0])
    return 2.0 * float(np.std(differences, ddof=1))


def _claim_runs(study: Study, table_id: str) -> dict:
    return {"3": MAIN_MODELS, "4": DESIGN_MODELS, "5": sweep_runs(study.cfg)}[table_id]


#: Below this PCK every compared model misses nearly every joint, so their order is an accident of
#: which few joints happen to land within the threshold, not a property of the architectures
#: (short CPU runs at 64² input sit there for PCK@0.01-0.05).
PCK_FLOOR = 0.05


def claim_results(study: Study, threshold: float | None = None) -> dict[str, dict]:
    """``handlib.report.verdict_table`` inputs for every claim testable on this profile's data.

    Claims about Table 3 compare per-seed values (the verdict also uses their spread); claims
    about Tables 4-5 the single-seed ablations. The margin of every claim is the test-set
    sampling noise of the difference (:func:`difference_noise`, against the strongest of the
    claim's references), so a difference smaller than the test set can resolve is
    inconclusive; so is a claim whose compared PCKs are all below :data:`PCK_FLOOR`. Claims
    marked ``not_here`` get no entry.

    ``threshold`` re-tests every claim at that PCK threshold instead of the paper's (beyond the
    paper: short runs that sit at the floor of PCK@0.01-0.05 can still be ordered at a coarser
    threshold); the paper's own values stay those of its threshold.
    """
    found: dict[str, dict] = {}
    for claim in papers.claims("rcsf"):
        table_id = str(claim["table"])
        if claim["testable_on"] == "not_here" or table_id not in ("3", "4", "5"):
            continue
        runs = _claim_runs(study, table_id)
        if table_id == "3":
            dataset = study.dataset_for(claim["within"])
            claim_threshold = float(str(claim["column"]).split("@")[1])
        else:
            dataset = study.dataset_for(claim["column"] if table_id == "4" else TABLE_DATASET["5"])
            claim_threshold = MAIN_THRESHOLD
        used = claim_threshold if threshold is None else threshold
        if table_id == "3" or threshold is not None:
            reproduced: Any = {
                label: [float(pck_curve(p, [used])[0]) for p in study.of(dataset, name)]
                for label, name in runs.items()
            }
        else:
            reproduced = table_design(study) if table_id == "4" else table_ohkm(study)
        references = claim["reference"]
        references = references if isinstance(references, list) else [references]
        subject = study.of(dataset, runs[claim["subject"]])
        noise = [difference_noise(subject[0], study.of(dataset, runs[r])[0], used)
                 for r in references if subject and study.of(dataset, runs[r])]
        found[claim["id"]] = {
            "reproduced": reproduced,
            "margin": max(noise) if noise else None,
            "tested_on": study.tested_on(dataset) + ("" if threshold is None
                                                     else f", at PCK@{threshold:g}"),
            "profile": study.profile,
            "run": f"{EXPERIMENT}/{study.profile}",
            "floor": PCK_FLOOR,
        }
    return found


# ----------------------------------------------------------------------------- figures


def figure_pck_curves(study: Study, dataset: str) -> Figure:
    """PCK curves of the six models (Table 3 as curves, over a wider threshold range)."""
    spec = study.cfg["study"]["curve_thresholds"]
    thresholds = np.linspace(spec["start"], spec["stop"], spec["num"])
    curves = {
        label: _seed_mean([pck_curve(p, thresholds) for p in study.of(dataset, name)])
        for label, name in MAIN_MODELS.items() if study.of(dataset, name)
    }
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    viz.plot_pck_curves(thresholds, curves, ax=ax, title=study.tested_on(dataset))
    for threshold in TABLE3_THRESHOLDS:
        ax.axvline(threshold, color="0.85", linewidth=0.8, zorder=0)
    fig.tight_layout()
    return fig


def figure_ohkm_sweep(study: Study) -> Figure:
    """Table 5 as a plot: PCK@0.02 against m, ours beside the paper's (STB)."""
    ours = table_ohkm(study)["PCK"]
    paper = papers.table("rcsf", "5")["PCK"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(paper.index, paper.values, "o--", color="0.5", label="paper (STB)")
    ax.plot(ours.index, ours.values, "o-", label=f"reproduced ({study.profile} profile)")
    ax.set(xlabel="m, hard keypoints kept by OHKM (of 21)", ylabel="PCK@0.02",
           xticks=list(ours.index))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def most_occluded(p: dict[str, np.ndarray], count: int) -> np.ndarray:
    """Positions of the ``count`` test images with the most occluded (in-frame) joints;
    ties go to the earlier image."""
    occluded = (_scored(p) & ~p["visible"].astype(bool)).sum(axis=1)
    return np.argsort(-occluded, kind="stable")[:count]


def largest_errors(p: dict[str, np.ndarray], count: int) -> np.ndarray:
    """Positions of the ``count`` test images with the largest mean normalised error."""
    errors = np.nan_to_num(sample_errors(p), nan=-np.inf)
    return np.argsort(-errors, kind="stable")[:count]


def display_images(study: Study, dataset: str, indices) -> list[np.ndarray]:
    """The test images at dataset ``indices`` as (H, W, 3) RGB arrays in [0, 1], rebuilt from the
    data spec and un-normalised (``handlib.data.transforms.normalise_image``'s inverse)."""
    from handlib.data.pipeline import build_dataset
    from handlib.data.transforms import denormalise_image

    run = next(r for r in study.runs if r.dataset == dataset and r.name == "rcsf")
    test_set = build_dataset(run.config["data"], study.cfg["study"]["test_split"])
    return [denormalise_image(test_set[int(index)]["image"].numpy()) for index in indices]


def figure_comparison(study: Study, dataset: str, positions: np.ndarray) -> Figure:
    """Figures 4-6 layout: ground truth, then each of the six models, one row per image."""
    reference = study.of(dataset, "rcsf")[0]
    predictions = {
        label: study.of(dataset, name)[0]["kp2d_pred"][positions]
        for label, name in MAIN_MODELS.items() if study.of(dataset, name)
    }
    indices = reference["index"][positions]
    return viz.comparison_grid(
        display_images(study, dataset, indices), predictions,
        ground_truth=reference["kp2d"][positions],
        visible=reference["visible"][positions].astype(bool),
        row_titles=[f"test image {int(i)}" for i in indices],
    )


def figure_qualitative(study: Study, dataset: str) -> Figure:
    """Figures 4-5: the test images with the most occluded joints."""
    reference = study.of(dataset, "rcsf")[0]
    positions = most_occluded(reference, study.cfg["study"]["qualitative_samples"])
    return figure_comparison(study, dataset, positions)


def figure_failures(study: Study, dataset: str) -> Figure:
    """Figure 6: the test images where "Ours" (first seed) has the largest error."""
    reference = study.of(dataset, "rcsf")[0]
    positions = largest_errors(reference, study.cfg["study"]["failure_samples"])
    return figure_comparison(study, dataset, positions)


def figure_joint_schematic(study: Study, dataset: str) -> Figure:
    """Figure 3: the 21 joints and their names, on the test hand with the most visible joints
    (ties: the largest hand)."""
    reference = study.of(dataset, "rcsf")[0]
    visible = (_scored(reference) & reference["visible"].astype(bool)).sum(axis=1)
    position = int(np.lexsort((-reference["norm_size"], -visible))[0])
    kp2d = reference["kp2d"][position]
    image = display_images(study, dataset, [reference["index"][position]])[0]
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    viz.show_image(ax, image)
    viz.draw_skeleton(ax, kp2d, linewidth=2.5, markersize=7)
    centre = kp2d.mean(axis=0)
    for joint, (x, y) in enumerate(kp2d):
        direction = np.array([x, y]) - centre
        offset = 8 * direction / (np.linalg.norm(direction) + 1e-6)
        ax.annotate(f"{joint} {JOINT_NAMES[joint]}", (x, y), xytext=tuple(offset),
                    textcoords="offset points", fontsize=7, color="black",
                    ha="left" if offset[0] >= 0 else "right", va="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
    viz.zoom_to(ax, kp2d, margin=0.5)
    ax.set_axis_off()
    ax.set_title("wrist, then " + ", ".join(FINGERS) + ": MCP, PIP, DIP, TIP", fontsize="small")
    fig.tight_layout()
    return fig


def runs_table(study: Study) -> pd.DataFrame:
    """One row per run: what it trains, whether it has test predictions, and its provenance."""
    rows = []
    for run in study.runs:
        saved = results.read_run(results.run_dir(EXPERIMENT, study.profile, run.run_id))
        found = saved["metrics"] if saved else {}
        rows.append({
            "run": run.run_id,
            "dataset": run.dataset,
            "model": run.config["model"]["name"],
            "loss": run.config["loss"]["name"],
            "OHKM m": run.config["loss"].get("m"),
            "seed": run.seed,
            "parameters (M)": _parameters(run.config["model"]) / 1e6,
            "val PCK@0.02": found.get(f"pck@{MAIN_THRESHOLD:g}", np.nan),
            "train time (s)": saved["provenance"]["wall_time_s"] if saved else np.nan,
            "device": saved["provenance"]["device_name"] if saved else None,
            "test predictions": study.predictions[run.run_id] is not None,
        })
    return pd.DataFrame(rows).set_index("run")


def _parameters(model_spec: dict) -> int:
    """Parameter count of a model spec ({name, **kwargs}), built on the meta device."""
    import torch

    from handlib import models

    kwargs = {key: value for key, value in model_spec.items() if key != "name"}
    with torch.device("meta"):
        return sum(p.numel() for p in models.build(model_spec["name"], **kwargs).parameters())


# ----------------------------------------------------------------------------- Table 7


def bench_study(cfg: dict, *, measure: bool = True) -> dict | None:
    """Table 7 and the fidelity check: ``handlib.bench`` counts (and speed) of the models in
    ``study.bench`` at the paper's input size, measured on this machine.

    The result is saved as ``bench.json`` in the profile's results folder and reused when it
    holds the same settings measured on a device of the same name; ``measure=False`` only reads
    it (``None`` when absent)."""
    from handlib.bench import benchmark
    from handlib.results import device_name

    settings = cfg["study"]["bench"]
    path = results.results_root() / EXPERIMENT / cfg["profile"] / BENCH_FILE
    device = str(engine.resolve_device(cfg["train"]["device"]))
    if path.is_file():
        saved = json.loads(path.read_text())
        if not measure or (saved["settings"] == settings
                           and saved["device_name"] == device_name(device)):
            return saved
    if not measure:
        return None
    measured = [
        benchmark(
            name, settings["input_size"], settings["batch_sizes"], device,
            counts_only=name not in settings["speed_models"], fast=False,
            warmup=settings["warmup"], repeats=settings["repeats"],
        )
        for name in settings["count_models"]
    ]
    saved = {"settings": settings, "device_name": device_name(device), "models": measured}
    results.write_json_atomic(path, saved)
    return saved


def table_speed(bench: dict) -> pd.DataFrame:
    """Table 7 rows for our models: FPS (single-image eager inference), size (MB) and the
    paper's "GFlops" column, which we fill with GMACs (see ``handlib.bench``)."""
    rows = {}
    for result in bench["models"]:
        single = [s for s in result["speed"] if s["mode"] == "eager" and s["batch"] == 1]
        rows[BENCH_LABELS.get(result["model"], result["model"])] = {
            "FPS": single[0]["infer_img_s"] if single else np.nan,
            "Size (MB)": result["size_mb"],
            "Calculations (GFlops)": result["gmacs"],
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = papers.table("rcsf", "7").index.name
    frame.attrs = {"device": bench["device_name"]}
    return frame


def fidelity_numbers(bench: dict) -> dict[str, float]:
    """RCSF at the paper's input size: our parameters (M), size (MB), GMACs and GFLOPs, the
    paper's Table 7 size and "GFlops" (read as GMACs), and our ratios to them."""
    ours = next(r for r in bench["models"] if r["model"] == "rcsf")
    paper = papers.table("rcsf", "7").loc["Ours"]
    return {
        "params_m": ours["params_m"],
        "size_mb": ours["size_mb"],
        "gmacs": ours["gmacs"],
        "gflops": ours["gflops"],
        "paper_size_mb": float(paper["Size (MB)"]),
        "paper_gmacs": float(paper["Calculations (GFlops)"]),
        "size_ratio": float(ours["size_mb"] / paper["Size (MB)"]),
        "gmacs_ratio": float(ours["gmacs"] / paper["Calculations (GFlops)"]),
    }


def fidelity_table(bench: dict) -> pd.DataFrame:
    """RCSF at the paper's input size: our parameters, size, GMACs and GFLOPs beside Table 7."""
    found = fidelity_numbers(bench)
    paper = papers.table("rcsf", "7").loc["Ours"]
    rows = {
        "parameters (M)": (np.nan, found["params_m"], np.nan),
        "size (MB, float32)": (paper["Size (MB)"], found["size_mb"], found["size_ratio"]),
        "GMACs (the paper's \"GFlops\", read as multiply-accumulates)": (
            paper["Calculations (GFlops)"], found["gmacs"], found["gmacs_ratio"]),
        "GFLOPs (2 per multiply-accumulate)": (np.nan, found["gflops"], np.nan),
    }
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["paper (Table 7)", "ours", "ours / paper"])
    frame.index.name = f"RCSF at {bench['settings']['input_size']}²"
    return frame
