"""The study machinery every paper chapter shares: runs x datasets x seeds, test predictions,
the runs table, the bench cache, the claim inputs, and the map from the paper's tables to runs.

A chapter's profile file (``handlib/papers/<paper>/profiles.yaml``) declares, besides the run
sections and ``runs`` (``handlib.profiles``), a ``study`` section::

    study:
      datasets:            # the profile's datasets: name -> settings merged over `data`
        STB: {source: stb, folder: STB}     # `folder`: its sub-folder of the notebook's data_root
        RHD: {source: rhd, splits: {train: rcsf_train, val: rcsf_val, test: rcsf_test}}
                           # `splits`: the dataset's own split names (default train/val/test)
        STB: {families: {internet_plus: {train: {epochs: 45}}}}
                           # `families`: run sections of a family's runs on this dataset only
      seeds: [0]           # the training seeds (the notebook's `seed` parameter shifts them)
      groups:              # named sets of runs, label (as the paper prints it) -> run name
        main: {seeds: all, runs: {CPN50: cpn50, Ours: rcsf}}
        design: {seeds: first, runs: {"Models in (1)": rcsf_global_only, ours: rcsf}}
        ohkm: {datasets: [STB], runs: {9: rcsf_m9, 13: null}}  # its own datasets; null: a
                                                              # row this profile does not train
      tables:              # the paper's table -> the group of runs behind it, on which datasets
        "3": {group: main, datasets: [STB, RHD]}

From that map everything derives: which runs are trained (:func:`study_runs`: each group's runs
on each profile dataset, over every seed for ``seeds: all`` or the first seed only), the label of
the run behind each table row (:func:`run_labels`) and the runs a claim about a table compares
(:func:`claim_inputs`). The datasets a paper table names (STB, RHD, ...) are the profile's
datasets of that name, or, on the synthetic profiles, its stand-in (:meth:`Study.dataset_for`).

One run-configuration builder (:func:`run_config`, :func:`run_id`) serves the notebooks and
``handlib train --chapter``, so the command line and the book train the same configuration into
the same results folder. Each run is trained (or reused) by ``handlib.engine.load_or_train`` and
scored once on its test split (``eval.test_split``); its prediction record is saved next to its
results (``handlib.results.write_predictions``) with the configuration hash, so that tables and
figures can be rebuilt without the checkpoint, e.g. from committed gpu results on a CPU.

Length: the machinery every chapter shares (runs, predictions, tables, claim inputs, the
bench cache) in one module, so that a chapter imports one place; the claim inputs move to the
claims evaluator (``handlib.claims``) as the papers' claims become declarations.
"""
from __future__ import annotations

import functools
import math

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from handlib import engine, models, papers, report, results, viz
from handlib.bench import (H100_DENSE_BF16_PEAK_TFLOPS, H100_SUSTAINED_TFLOPS, benchmark_configs,
                           forward_gflops, model_input_size)
from handlib.data import presets
from handlib.data.pipeline import build_dataset, split_size
from handlib.profiles import deep_merge, load_profile, resolve_run

Record = dict[str, np.ndarray]


@dataclass(frozen=True)
class Run:
    """One trained model: dataset, run name in the profile, seed, results folder, engine config."""

    dataset: str
    name: str
    seed: int
    run_id: str
    config: dict = field(compare=False, repr=False)


# ----------------------------------------------------------------------------- configuration


def real_datasets(cfg: dict) -> list[str]:
    """The profile's datasets that are read from disk (not the synthetic stand-in)."""
    return [name for name, spec in cfg["study"]["datasets"].items()
            if spec.get("source", cfg["data"]["source"]) != "synthetic"]


def apply_parameters(cfg: dict, *, data_root: str | Path | None = None, seed: int = 0,
                     device: str = "auto", overrides: dict | None = None) -> dict:
    """A chapter's settings (``load_profile(chapter, profile)``) with a notebook's parameters
    applied, as a new dict: ``overrides`` (nested settings merged over the profile), ``device``,
    ``seed`` (shifts every training seed of ``study.seeds``) and ``data_root``: the folder that
    holds one sub-folder per real dataset of the profile (named by each dataset's ``folder``),
    needed by profiles that read real data and refused by the synthetic ones. A dataset whose
    folder is not under ``data_root`` is left out of the study and listed in
    ``study.absent`` (:func:`missing_names`); only a ``data_root`` holding none of them is
    refused. A dataset no study group trains on is set aside the same way
    (:func:`set_aside_untrained`)."""
    cfg = deep_merge(cfg, overrides or {})
    if device != "auto":
        cfg = deep_merge(cfg, {"train": {"device": device}})
    cfg["study"]["seeds"] = [seed + s for s in cfg["study"]["seeds"]]
    real = real_datasets(cfg)
    folders: dict[str, list[str]] = {}  # folder -> the datasets read from it (MSRA's nine folds)
    for name in real:
        folders.setdefault(cfg["study"]["datasets"][name].get("folder", name), []).append(name)
    expected = ", ".join(f"{folder}/ ({', '.join(names)})" for folder, names in folders.items())
    if real and data_root is None:
        raise ValueError(
            f"profile {cfg['profile']!r} trains on {', '.join(real)}: set data_root to the "
            f"folder that holds {expected}; `handlib datasets list` shows each layout and "
            "`handlib datasets check NAME --root ...` validates a copy"
        )
    if not real and data_root is not None:
        raise ValueError(
            f"profile {cfg['profile']!r} trains on synthetic data and does not read data_root; "
            "use the profile 'paper' to train on the real datasets"
        )
    cfg["study"]["absent"] = {}
    if real:
        missing = [folder for folder in folders if not (Path(data_root) / folder).is_dir()]
        if len(missing) == len(folders):
            raise ValueError(
                f"data_root {data_root} lacks {', '.join(f'{m}/' for m in missing)}: it must be "
                f"the folder that holds {expected} (one sub-folder per dataset, not a dataset's "
                "own folder)"
            )
        for folder in missing:
            for name in folders[folder]:
                cfg["study"]["absent"][name] = f"{folder}/ is not under data_root {data_root}"
                del cfg["study"]["datasets"][name]
    cfg["data"]["data_root"] = None if data_root is None else str(data_root)
    set_aside_untrained(cfg)
    return cfg


def set_aside_untrained(cfg: dict) -> None:
    """Move each profile dataset that no study group trains on (a cheap profile keeping a
    dataset's stand-in settings but spending its budget elsewhere) to ``study.absent`` with the
    reason, as a dataset absent from ``data_root`` is: its columns, figures and claims then say
    "not run" instead of falling back to another dataset's runs. The names stay in
    ``study.untrained``."""
    trained = {dataset for group in cfg["study"]["groups"] for dataset in
               trained_datasets(cfg, group)}
    untrained = [name for name in cfg["study"]["datasets"] if name not in trained]
    cfg["study"]["untrained"] = [*cfg["study"].get("untrained", []), *untrained]
    for name in untrained:
        cfg["study"]["absent"][name] = f"not trained on the {cfg.get('profile')} profile"
        del cfg["study"]["datasets"][name]


def missing_names(cfg: dict) -> dict[str, str]:
    """The profile's datasets that :func:`apply_parameters` found absent under ``data_root``, or
    that no run of the profile trains on -> why: a chapter runs on the datasets that are present
    and trained on and shows these columns as not run."""
    return cfg["study"].get("absent", {})


def run_id(cfg: dict, dataset: str, name: str, seed: int) -> str:
    """The results folder name of a run: ``[<dataset>-]<name>[-seed<k>]`` (the dataset only
    when the profile has several, whether or not all are under ``data_root``, so a run keeps
    its folder; the seed only when it is not the profile's first)."""
    parts = [name]
    if seed != cfg["study"]["seeds"][0]:
        parts.append(f"seed{seed}")
    if len(cfg["study"]["datasets"]) + len(missing_names(cfg)) > 1:  # absent ones count too
        parts.insert(0, dataset)
    return "-".join(parts)


def run_config(cfg: dict, dataset: str, name: str, seed: int) -> dict:
    """The engine config of run ``name`` on ``dataset`` with training seed ``seed``: the run's
    sections (``handlib.profiles.resolve_run``), the dataset's settings merged over ``data``
    (its ``folder`` joined to ``data.data_root``), the dataset's settings of the run's family
    (``families``: a paper that trains each dataset for its own number of epochs), the
    profile's ``every_run`` settings (last, so a toy-size overlay wins over any nesting) and the
    seed."""
    if name not in cfg["runs"]:
        raise ValueError(f"chapter {cfg.get('chapter')!r} defines no run {name!r}; its runs are "
                         f"{', '.join(cfg['runs'])}")
    datasets = cfg["study"]["datasets"]
    if dataset not in datasets:
        raise ValueError(f"profile {cfg.get('profile')!r} has no dataset {dataset!r}; its "
                         f"datasets are {', '.join(datasets)}")
    config = resolve_run(cfg, name)
    overrides = dict(datasets[dataset])
    folder = overrides.pop("folder", None)
    splits = overrides.pop("splits", {})
    family = cfg["runs"][name].get("family")
    config = deep_merge(config, overrides.pop("families", {}).get(family, {}))
    unknown = sorted(set(splits) - set(DATASET_SPLITS))
    if unknown:
        raise ValueError(f"dataset {dataset!r}: `splits` names {unknown}; it maps "
                         f"{', '.join(DATASET_SPLITS)} to the dataset's split names")
    config["data"] = deep_merge(config["data"], overrides)
    if folder is not None and config["data"].get("data_root") is not None:
        config["data"]["data_root"] = str(Path(config["data"]["data_root"]) / folder)
    config = deep_merge(config, cfg.get("every_run") or {})
    config["train"] = {**config["train"], "seed": seed}
    for role, (section, key) in DATASET_SPLITS.items():
        if role in splits:
            config[section] = {**config.get(section, {}), key: splits[role]}
    return config


#: A dataset's ``splits`` entry: its split names for training, validation and test, and the
#: run settings they set.
DATASET_SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train", "split"), "val": ("eval", "split"), "test": ("eval", "test_split")}


def _group_seeds(cfg: dict, group: dict) -> list[int]:
    seeds = cfg["study"]["seeds"]
    choice = group.get("seeds", "first")
    if choice not in ("all", "first"):
        raise ValueError(f"a study group's seeds must be 'all' or 'first', got {choice!r}")
    return list(seeds) if choice == "all" else seeds[:1]


def group_datasets(cfg: dict, group_name: str) -> list[str]:
    """The profile datasets study group ``group_name`` covers (its ``datasets``, default all),
    those absent from ``data_root`` included: a chapter names them as not run."""
    datasets = [*cfg["study"]["datasets"], *missing_names(cfg)]
    chosen = cfg["study"]["groups"][group_name].get("datasets", datasets)
    unknown = sorted(set(chosen) - set(datasets))
    if unknown:
        raise ValueError(f"study group {group_name!r} names dataset(s) {unknown} that profile "
                         f"{cfg.get('profile')!r} does not have; it has {', '.join(datasets)}")
    return [d for d in datasets if d in chosen]


def trained_datasets(cfg: dict, group_name: str) -> list[str]:
    """The datasets group ``group_name`` trains on: those of :func:`group_datasets` present."""
    return [d for d in group_datasets(cfg, group_name) if d not in missing_names(cfg)]


def study_runs(cfg: dict) -> list[Run]:
    """Every run the chapter trains under the profile ``cfg``: each group's runs on each of its
    datasets (a group's ``datasets``, default all the profile's), with the group's seeds; a run
    in several groups is trained once. A label mapped to ``null`` (a profile dropping a sweep
    point) trains nothing: its table row shows the paper's value only."""
    groups = cfg["study"]["groups"]
    trained_on = {name: trained_datasets(cfg, name) for name in groups}
    wanted: dict[tuple[str, str, int], None] = {}
    for dataset in cfg["study"]["datasets"]:
        for group_name, group in groups.items():
            if dataset not in trained_on[group_name]:
                continue
            for seed in _group_seeds(cfg, group):
                for name in group["runs"].values():
                    if name is not None:
                        wanted[(dataset, name, seed)] = None
    return [Run(dataset, name, seed, run_id(cfg, dataset, name, seed),
                run_config(cfg, dataset, name, seed))
            for dataset, name, seed in wanted]


def find_runs(cfg: dict, dataset: str | None, name: str, seed: int | None) -> list[Run]:
    """The run ``name`` with ``seed`` (default: the profile's first) on ``dataset``, or on every
    profile dataset the study trains it on when ``dataset`` is None, as the notebook builds it."""
    datasets = list(cfg["study"]["datasets"])
    if dataset is not None and dataset not in datasets:
        raise ValueError(f"profile {cfg.get('profile')!r} has no dataset {dataset!r}; its "
                         f"datasets are {', '.join(datasets)}")
    seed = cfg["study"]["seeds"][0] if seed is None else seed
    if name not in cfg["runs"]:
        raise ValueError(f"chapter {cfg.get('chapter')!r} defines no run {name!r}; its runs are "
                         f"{', '.join(cfg['runs'])}")
    known = [r for r in study_runs(cfg) if r.name == name and r.seed == seed
             and dataset in (None, r.dataset)]
    if not known:
        trained = sorted({(r.dataset, r.seed) for r in study_runs(cfg) if r.name == name})
        where = ", ".join(f"{d} seed {s}" for d, s in trained)
        raise ValueError(f"the chapter's profile {cfg['profile']!r} trains no run {name!r} on "
                         f"{dataset or 'any dataset'} with seed {seed}; it trains {name!r} on "
                         f"{where or 'nothing (not in any study group)'}")
    return known


# ----------------------------------------------------------------------------- predictions


def has_test_predictions(run: Run, experiment: str, profile: str) -> bool:
    """Whether the run's records on its test split and on every ``eval.also_test_on`` split are
    saved, made by its current configuration (code included)."""
    folder = results.run_dir(experiment, profile, run.run_id)
    digest = engine.config_hash(run.config)
    also = engine.resolve_config(run.config)["eval"]["also_test_on"]
    return all(results.read_predictions(folder, digest, split) is not None
               for split in [None, *also])


def predict_test_split(run: Run, experiment: str, profile: str, *, train: bool = True,
                       progress: bool = True, batch_size: int = 64) -> Record | None:
    """The run's prediction record on its test split (``eval.test_split``): read from its
    results folder when this configuration made it, else (``train=True``) trained or reused
    and predicted, together with its records on the splits of ``eval.also_test_on``
    (:func:`split_predictions`); ``None`` when absent and ``train=False``."""
    folder = results.run_dir(experiment, profile, run.run_id)
    digest = engine.config_hash(run.config)
    if not train or has_test_predictions(run, experiment, profile):
        return results.read_predictions(folder, digest)
    trained = engine.load_or_train(run.config, experiment=experiment, profile=profile,
                                   run=run.run_id, progress=progress)
    model = trained.model
    cfg = engine.resolve_config(run.config)
    for split in [None, *cfg["eval"]["also_test_on"]]:
        record = engine.predict(
            model, build_dataset(run.config["data"], split or cfg["eval"]["test_split"]),
            batch_size=batch_size, device=next(model.parameters()).device,
            num_workers=cfg["train"]["num_workers"], amp=cfg["train"]["amp"])
        results.write_predictions(folder, record, digest, split)
    # the record as stored (compact), so that a first build and a rebuild from the files agree
    return results.read_predictions(folder, digest)


def split_predictions(study: "Study", split: str) -> dict[str, Record | None]:
    """Run id -> the run's saved record on ``split``, one of its ``eval.also_test_on`` splits
    (``None`` where the run has none: not trained, or not scored on that split)."""
    found = {}
    for run in study.runs:
        folder = results.run_dir(study.experiment, study.profile, run.run_id)
        found[run.run_id] = results.read_predictions(folder, engine.config_hash(run.config),
                                                     split)
    return found


@dataclass
class Study:
    """The runs of a chapter's profile and their test prediction records (``None`` where a run
    has none)."""

    cfg: dict
    runs: list[Run]
    predictions: dict[str, Record | None]

    @property
    def profile(self) -> str:
        return self.cfg["profile"]

    @property
    def experiment(self) -> str:
        return self.cfg["chapter"]

    @property
    def complete(self) -> bool:
        return all(p is not None for p in self.predictions.values())

    @property
    def available(self) -> bool:
        return any(p is not None for p in self.predictions.values())

    def seeds(self, dataset: str, name: str) -> list[int]:
        """The seeds of run ``name`` on ``dataset`` that have test predictions."""
        return [r.seed for r in self.runs if r.dataset == dataset and r.name == name
                and self.predictions[r.run_id] is not None]

    def of(self, dataset: str, name: str, seeds: list[int] | None = None) -> list[Record]:
        """The prediction records of run ``name`` on ``dataset``, one per seed that has them
        (only ``seeds`` when given), in seed order."""
        return [self.predictions[r.run_id] for r in self.runs
                if r.dataset == dataset and r.name == name
                and self.predictions[r.run_id] is not None
                and (seeds is None or r.seed in seeds)]

    def first(self, dataset: str, name: str) -> Record:
        """The record of the first seed of run ``name`` on ``dataset``."""
        found = self.of(dataset, name)
        if not found:
            raise ValueError(f"run {name!r} on {dataset!r} has no test predictions")
        return found[0]

    def dataset_for(self, paper_dataset: str) -> str | None:
        """The profile's dataset compared with the paper's ``paper_dataset``: the dataset of
        that name, ``None`` when it is absent from ``data_root`` (:meth:`absent`), else
        (synthetic profiles) the profile's first dataset."""
        if paper_dataset in missing_names(self.cfg):
            return None
        datasets = list(self.cfg["study"]["datasets"])
        return paper_dataset if paper_dataset in datasets else datasets[0]

    def absent(self, paper_dataset: str) -> str | None:
        """Why the paper's ``paper_dataset`` was not run (its folder is not under
        ``data_root``), or ``None`` when it was."""
        reason = missing_names(self.cfg).get(paper_dataset)
        return None if reason is None else f"not run: {reason}"

    def tested_on(self, dataset: str | None) -> str:
        """How the data of ``dataset`` is named in tables and verdicts (``None``: a dataset
        absent from ``data_root``, named as not run). An RGB crop is cut around the hand's true
        box (the annotated box, or the labelled joints' tight box), an oracle no method in the
        papers' tables is given at test time: the text says so (:data:`RGB_CROP_ORACLE`)."""
        if dataset is None:
            return absent_text(self)
        entry = dict(self.cfg["study"]["datasets"][dataset])
        split = entry.pop("splits", {}).get(
            "test", engine.resolve_config(self.cfg)["eval"]["test_split"])
        spec = deep_merge(self.cfg["data"], entry)
        oracle = f", {RGB_CROP_ORACLE}" if spec.get("modality") == "rgb" else ""
        if spec["source"] == "synthetic":
            size = spec["n"][split] if spec.get("n") else "?"
            preset = (spec.get("synthetic") or {}).get("preset")
            kind = (f"{presets.get(preset).label} synthetic stand-in (preset {preset}, "
                    if preset else "synthetic stand-in (")
            return (f"{kind}{size} test images at {spec['input_size']}², {self.profile} "
                    f"profile){oracle}")
        return f"{dataset} {split} split ({self.profile} profile){oracle}"

    def table(self, table_id: str) -> dict:
        """The ``study.tables`` entry of a paper table: ``group`` and ``datasets``."""
        tables = self.cfg["study"]["tables"]
        if str(table_id) not in tables:
            raise ValueError(f"study.tables maps no runs to table {table_id!r}; it maps "
                             f"{', '.join(tables)}")
        return tables[str(table_id)]

    def group(self, table_id: str) -> dict:
        """Label -> run name of the runs behind a paper table (``study.groups``)."""
        return self.cfg["study"]["groups"][self.table(table_id)["group"]]["runs"]


#: How an RGB chapter's numbers name the oracle behind its crops (``Study.tested_on``).
RGB_CROP_ORACLE = "crops from the true hand box (oracle)"


def run_study(cfg: dict, *, progress: bool = True) -> Study:
    """Train (or reuse) every run of the profile and collect its test predictions."""
    batch = cfg["study"].get("predict_batch_size", 64)
    runs = study_runs(cfg)
    predictions = {run.run_id: predict_test_split(run, cfg["chapter"], cfg["profile"],
                                                  progress=progress, batch_size=batch)
                   for run in runs}
    return Study(cfg, runs, predictions)


def load_study(cfg: dict) -> Study:
    """The profile's saved test predictions, training nothing (missing runs are ``None``)."""
    runs = study_runs(cfg)
    predictions = {run.run_id: predict_test_split(run, cfg["chapter"], cfg["profile"],
                                                  train=False)
                   for run in runs}
    return Study(cfg, runs, predictions)


def sample_images(run: Run, indices) -> list[np.ndarray]:
    """The test samples at dataset ``indices`` as their source gives them (RGB uint8 image, or
    depth map): the frame in which a prediction record's keypoints lie (``kp2d`` in
    original-image pixels), so figures draw predictions on the images they belong to."""
    test_split = engine.resolve_config(run.config)["eval"]["test_split"]
    source = build_dataset(run.config["data"], test_split).source
    key = "depth" if run.config["data"].get("modality") == "depth" else "image"
    return [source[int(index)][key] for index in indices]


# ----------------------------------------------------------------------------- tables


def absent_text(study: Study) -> str:
    """What a table cell or verdict of a dataset absent from ``data_root``, or trained on by no
    run of the profile (:func:`set_aside_untrained`), says instead."""
    untrained = study.cfg["study"].get("untrained", [])
    from_root = [name for name in missing_names(study.cfg) if name not in untrained]
    parts = [f"absent from data_root ({', '.join(from_root)})"] if from_root else []
    if untrained:
        parts.append(f"not trained on the {study.profile} profile ({', '.join(untrained)})")
    return "not run: " + "; ".join(parts)


def figure_for(study: Study, paper_dataset: str, draw: Callable[..., Any], *args) -> Any:
    """``draw(study, dataset, *args)`` for the profile's dataset compared with the paper's
    ``paper_dataset``, or, when that dataset is absent from ``data_root``, a figure saying so."""
    dataset = study.dataset_for(paper_dataset)
    if dataset is None:
        return viz.note_figure(f"{paper_dataset}: {study.absent(paper_dataset)}")
    return draw(study, dataset, *args)


def describe(study: Study, dataset: str | None, name: str) -> str:
    """A run as a table's *run* column names it: run, seed(s), data (``dataset`` ``None``: a
    dataset absent from ``data_root``)."""
    if dataset is None:
        return absent_text(study)
    seeds = study.seeds(dataset, name)
    if not seeds:
        command = training_command(study.experiment, dataset, name, study.profile)
        return f"not trained on the {study.profile} profile" + (
            f" (the {command[0]} profile trains it: `{command[1]}`)" if command else "")
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of seeds {seeds}"
    return f"{name}, {seed_text}, {study.tested_on(dataset)}"


#: The profiles :func:`training_command` looks in, cheapest first (``smoke`` numbers mean nothing;
#: ``paper`` needs the real data).
PROFILES_THAT_TRAIN = ("cpu", "gpu")


@functools.lru_cache(maxsize=None)
def _trained_by(chapter: str, profile: str) -> frozenset:
    """The ``(dataset, run name)`` pairs the chapter's ``profile`` trains."""
    return frozenset((run.dataset, run.name) for run in study_runs(load_profile(chapter, profile)))


def training_command(chapter: str, dataset: str, name: str, profile: str) -> tuple | None:
    """``(profile, command)`` of the first other profile of :data:`PROFILES_THAT_TRAIN` that
    trains run ``name`` on ``dataset`` (the command line that trains it), or ``None``."""
    for other in PROFILES_THAT_TRAIN:
        if other != profile and (dataset, name) in _trained_by(chapter, other):
            return other, (f"handlib train --chapter {chapter} --profile {other} --run {name} "
                           f"--dataset {dataset}")
    return None


def dropped_row_run(study: Study, group_name: str, label: str) -> str | None:
    """The run behind row ``label`` of study group ``group_name`` in the first other profile of
    :data:`PROFILES_THAT_TRAIN` that trains one (this profile maps the label to null), so that
    the row can name the command that trains it; ``None`` if none does."""
    for other in PROFILES_THAT_TRAIN:
        if other != study.profile:
            name = load_profile(study.experiment, other)["study"]["groups"][group_name][
                "runs"].get(label)
            if name is not None:
                return name
    return None


def run_labels(study: Study, table_id: str) -> dict:
    """Row label -> the run(s) behind it, for a table's *run* column. Rows of a table over
    several datasets name the run on each (rows with two index levels, dataset then label, as
    RCSF's Table 3, name the run of their own dataset)."""
    entry, group = study.table(table_id), study.group(table_id)
    datasets = entry["datasets"]
    if entry.get("rows_by_dataset"):
        return {(paper_dataset, label): (study.absent(paper_dataset)
                                         or describe(study, study.dataset_for(paper_dataset), name))
                for paper_dataset in datasets for label, name in group.items()}
    labels = {}
    for label, name in group.items():
        if name is None:  # a row this profile drops: the run another profile trains for it
            name = dropped_row_run(study, entry["group"], label)
        used = dict.fromkeys(study.dataset_for(d) for d in datasets)
        if len(used) == 1:
            labels[label] = describe(study, next(iter(used)), name)
        else:
            labels[label] = "; ".join(
                f"{d}: {study.absent(d) or describe(study, study.dataset_for(d), name)}"
                for d in datasets)
    return labels


def validation_curves(study: Study, dataset: str, runs: dict, column: str,
                      by: str = "epoch") -> pd.DataFrame:
    """Epoch x label: the validation ``column`` per epoch (from each run's ``history.csv``) of the
    first seed of each run in ``runs`` (label -> run name) on ``dataset``, to show how far
    training got; runs without results are left out. ``by="steps"`` indexes each curve by the
    optimiser steps taken by the end of each epoch instead (:func:`steps_by_epoch`)."""
    curves = {}
    for label, name in runs.items():
        found = [r for r in study.runs if r.dataset == dataset and r.name == name]
        saved = results.read_run(results.run_dir(study.experiment, study.profile,
                                                 found[0].run_id)) if found else None
        if saved is not None and column in saved["history"]:
            history = saved["history"]
            index = (steps_by_epoch(history, found[0].config["train"]["batch_size"])
                     if by == "steps" else history["epoch"])
            curves[label] = pd.Series(history[column].to_numpy(), index=index.to_numpy())
    frame = pd.DataFrame(curves)
    frame.index.name = "optimiser steps" if by == "steps" else "epoch"
    return frame


def steps_by_epoch(history: pd.DataFrame, batch_size: int) -> pd.Series:
    """The optimiser steps taken by the end of each epoch of a ``history.csv`` (its ``samples``
    column counts the training samples of each epoch, full batches only)."""
    return (history["samples"] // batch_size).cumsum()


def runs_table(study: Study, val_metric: str, learned: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run: what it trains, the optimiser steps its configuration takes (the scale
    of every number it produces), its validation ``val_metric``, training time and device,
    whether its test predictions exist, and its parameter count; with ``learned``
    (``handlib.learning.learning_table``) also its test score, its floor, its margin below the
    floor with that margin's interval, and whether it learned."""
    rows = []
    for run in study.runs:
        saved = results.read_run(results.run_dir(study.experiment, study.profile, run.run_id))
        found = saved["metrics"] if saved else {}
        rows.append({
            "run": run.run_id,
            "dataset": run.dataset,
            "model": run.config["model"]["name"],
            "loss": run.config["loss"]["name"],
            "seed": run.seed,
            "parameters (M)": parameter_count(run.config["model"]) / 1e6,
            "optimiser steps": optimiser_steps(run.config, saved["history"] if saved else None),
            f"val {val_metric}": found.get(val_metric, np.nan),
            "train time (s)": saved["provenance"]["wall_time_s"] if saved else np.nan,
            "device": saved["provenance"]["device_name"] if saved else None,
            "test predictions": study.predictions[run.run_id] is not None,
        })
    table = pd.DataFrame(rows).set_index("run")
    if learned is not None:
        table = table.join(learned.drop(columns=["dataset", "name", "seed"]))
    return table


def optimiser_steps(config: dict, history: pd.DataFrame | None = None) -> float:
    """The optimiser steps a run took (its ``history``: the training samples of each epoch over
    the batch size) or, before it ran, the steps its configuration trains (full batches of a
    synthetic training split, times the epochs; NaN for a real split, whose size the files set)."""
    batch = config["train"]["batch_size"]
    if history is not None and "samples" in history:
        return float(steps_by_epoch(history, batch).iloc[-1])
    size = (config["data"].get("n") or {}).get("train")
    return float(size // batch * config["train"]["epochs"]) if size else math.nan


def parameter_count(model_spec: dict) -> int:
    """Parameter count of a model spec ({name, **kwargs}), built on the meta device."""
    kwargs = {key: value for key, value in model_spec.items() if key != "name"}
    with torch.device("meta"):
        return sum(p.numel() for p in models.build(model_spec["name"], **kwargs).parameters())


def _split_samples(run: Run, split: str) -> int:
    """The samples of ``split`` of the run's data; a clear error when its size is not set."""
    size = split_size(run.config["data"], split)
    if size is None:
        raise ValueError(f"run {run.run_id!r}: no sample count for split {split!r} (data.n."
                         f"{split}); the estimate counts the samples each split holds")
    return size


def estimate_runs(cfg: dict) -> pd.DataFrame:
    """The model compute of every run the profile ``cfg`` trains (:func:`study_runs`), one row
    per run (index ``run``, its results folder name): its ``name`` in the profile, ``model``,
    ``input size``, ``GFLOPs/sample`` (one forward pass, ``handlib.bench.forward_gflops``),
    ``training samples``, ``predicted samples``, ``training PFLOP``, ``PFLOP`` and ``H100 minutes`` at
    ``handlib.bench.H100_SUSTAINED_TFLOPS``.

    Training costs 3 x the forward FLOPs per sample: the backward pass computes the gradients
    of both the activations and the weights, about twice the forward work. Training samples
    are the full batches of the training split (the loop drops a last partial batch) over every
    epoch, early stopping ignored (an upper bound). Predictions cost one forward pass per
    sample: the validation split at each validated epoch (every ``eval.every`` epochs and the
    last), once more for ``eval.loss``, and once after training (the run's metrics); the test
    split and each ``eval.also_test_on`` split once. Data generation, the data pipeline and
    element-wise work are not counted (``handlib.bench.count`` counts matrix products and
    convolutions)."""
    rows = {}
    for run in study_runs(cfg):
        config = engine.resolve_config(run.config)
        train, evaluation = config["train"], config["eval"]
        train_size = _split_samples(run, train["split"])
        training = train_size // train["batch_size"] * train["batch_size"] * train["epochs"]
        validated = train["epochs"] // evaluation["every"] + bool(
            train["epochs"] % evaluation["every"])
        validations = validated * (2 if evaluation["loss"] else 1) + 1
        tested = [evaluation["test_split"], *evaluation["also_test_on"]]
        predicted = (validations * _split_samples(run, evaluation["split"])
                     + sum(_split_samples(run, split) for split in tested))
        gflops = forward_gflops(config)
        training_pflop = gflops * 3 * training / 1e6
        pflop = training_pflop + gflops * predicted / 1e6
        rows[run.run_id] = {
            "name": run.name, "model": config["model"]["name"],
            "input size": model_input_size(config)[0], "GFLOPs/sample": gflops,
            "training samples": training, "predicted samples": predicted,
            "training PFLOP": training_pflop, "PFLOP": pflop,
            "H100 minutes": pflop * 1e3 / H100_SUSTAINED_TFLOPS / 60}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    return table


def training_estimate(cfg: dict) -> dict:
    """What the profile ``cfg`` costs on one H100, from its models' FLOPs (:func:`estimate_runs`)
    at the stated sustained rate ``handlib.bench.H100_SUSTAINED_TFLOPS`` (an assumption, not a
    measurement): the gpu profiles are sized by it before a GPU has run them.

    Returns ``{"runs", "training samples", "training PFLOP" (3 x forward over the training
    samples), "prediction PFLOP" (forward over validation and test), "sustained TFLOP/s",
    "H100 minutes", "costliest run" (the profile run name, over its datasets and seeds, with
    the largest share), "costliest share", "text"}``; ``text`` is the sentence a chapter
    shows, naming the rate."""
    runs = estimate_runs(cfg)
    training = float(runs["training PFLOP"].sum())
    total = float(runs["PFLOP"].sum())
    by_name = runs.groupby("name")["PFLOP"].sum()
    minutes = float(runs["H100 minutes"].sum())
    estimate = {"runs": len(runs), "training samples": int(runs["training samples"].sum()),
                "training PFLOP": training, "prediction PFLOP": total - training,
                "sustained TFLOP/s": H100_SUSTAINED_TFLOPS, "H100 minutes": minutes,
                "costliest run": by_name.idxmax(),
                "costliest share": float(by_name.max() / total)}
    share_of_peak = H100_SUSTAINED_TFLOPS / H100_DENSE_BF16_PEAK_TFLOPS
    estimate["text"] = (
        f"The {cfg['profile']} profile trains {len(runs)} runs, "
        f"{estimate['training samples']:,} training samples in all: {training:,.1f} PFLOP of "
        f"training (3 × each model's counted forward FLOPs per sample) and "
        f"{total - training:,.1f} PFLOP of validation and test predictions, "
        f"**{minutes:.1f} minutes on one H100** at an assumed sustained "
        f"{H100_SUSTAINED_TFLOPS:.0f} TFLOP/s ({share_of_peak:.0%} of its "
        f"{H100_DENSE_BF16_PEAK_TFLOPS:.0f} TFLOP/s dense bf16 peak: an estimate until a GPU run "
        f"measures the rate). Run `{estimate['costliest run']}`, over its datasets and seeds, is "
        f"{estimate['costliest share']:.0%} of it. Data generation, the data pipeline and the "
        "bench come on top.")
    return estimate


def first_records_floors(study: Study,
                         floor_of: Callable[[Record, str], Record]) -> dict[str, Record]:
    """Dataset -> ``floor_of(record, dataset)`` for the test record of the dataset's first run
    that has one: a chapter's floor (a prediction that ignores the input, ``handlib.floors``) on
    the same test samples and labels as its models'. Only the choice of record lives here; the
    floors themselves are ``handlib.floors``' (which knows records, not studies)."""
    found = {}
    for dataset in study.cfg["study"]["datasets"]:
        records = [study.predictions[r.run_id] for r in study.runs if r.dataset == dataset
                   and study.predictions[r.run_id] is not None]
        if records:
            found[dataset] = floor_of(records[0], dataset)
    return found


def seed_mean(values: list) -> Any:
    """The mean over seeds of per-seed values (arrays or numbers); NaN when there is none."""
    return np.mean(values, axis=0) if values else np.nan


# ----------------------------------------------------------------------------- claims


def seed_spread(values: list[float]) -> float | None:
    """The sample standard deviation of one model's score across its seeds (``None`` with fewer
    than two seeds)."""
    values = [v for v in values if not math.isnan(v)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def claim_inputs(study: Study, claim: dict, dataset: str, score: Callable[[Record], float], *,
                 floor: float | None = None,
                 floor_interval: Callable[[Record], float] | None = None, note: str = "",
                 group: dict | None = None, spread_from: dict | None = None,
                 samples: int = report.BOOTSTRAP_SAMPLES) -> dict:
    """``handlib.report.verdict_table`` inputs for a claim comparing runs of one table.

    The subject and references are the claim's row labels, looked up in the table's group (or
    in ``group``, label -> run name, for a claim without a table). Like
    is compared with like: every value is a list with one ``score`` per seed, over the seeds that
    the subject and all its references share (so a three-seed model is never compared with a
    one-seed variant's single value), and the verdict's noise is the larger of the seed-to-seed
    spread and the test-set sampling noise of the difference (``report.paired_bootstrap_margin``
    on the first shared seed, against the strongest reference).

    The seed spread is the largest of the compared models' own, each over all the seeds it was
    trained on; when none has two seeds it is borrowed from ``spread_from`` (label -> run, the
    study's main group: groups trained on fewer seeds share its spread), and with none there
    either the verdict is inconclusive ("one seed", ``report.claim_verdict``'s ``needs_seeds``).
    Each compared model's interval against the ``floor`` is the larger of ``floor_interval``
    (its first shared seed's record -> the test-set noise of its score against the floor's) and
    that seed spread."""
    group = study.group(claim["table"]) if group is None else group
    labels = [claim["subject"], *papers.claim_references(claim)]
    if dataset is None:
        return absent_inputs(study, labels)
    missing = [label for label in labels if label not in group]
    if missing:
        raise ValueError(f"claim {claim['id']!r} names {missing}, which the runs behind it "
                         f"({', '.join(map(str, group))}) do not include")
    trained = {label: set(study.seeds(dataset, group[label])) for label in labels}
    # over the seeds every trained label shares; an untrained label stays empty ("not run")
    shared = sorted(set.intersection(*(seeds for seeds in trained.values() if seeds))
                    if any(trained.values()) else set())
    reproduced = {label: [score(p) for p in study.of(dataset, group[label], shared)]
                  for label in labels}
    spreads = [seed_spread([score(p) for p in study.of(dataset, group[label])])
               for label in labels if len(trained[label]) > 1]
    spread, spread_note = max((s for s in spreads if s is not None), default=None), ""
    if spread is None and spread_from:
        borrowed = [seed_spread([score(p) for p in study.of(dataset, name)])
                    for name in spread_from.values() if len(study.seeds(dataset, name)) > 1]
        spread = max((s for s in borrowed if s is not None), default=None)
        spread_note = ", seed spread of the main group's runs" if spread is not None else ""
    margins, floor_margins = [], {}
    if shared and all(trained.values()):
        first = {label: study.of(dataset, group[label], shared[:1])[0] for label in labels}
        margins = [report.paired_bootstrap_margin(score, first[labels[0]], first[r],
                                                  samples=samples) for r in labels[1:]]
        if floor is not None and floor_interval is not None:
            floor_margins = {label: max(floor_interval(first[label]), spread or 0.0)
                             for label in labels}
    return {
        "reproduced": reproduced,
        "margin": max(margins) if margins else None,
        "seeds_std": spread,
        "needs_seeds": bool(papers.claim_references(claim)),
        "tested_on": study.tested_on(dataset) + note
        + (f", seeds {shared}" if len(shared) > 1 else "") + spread_note,
        "profile": study.profile,
        "run": f"{study.experiment}/{study.profile}",
        "floor": floor,
        "floor_margins": floor_margins or None,
    }


def contrast_inputs(study: Study, claim: dict, dataset: str, name: str,
                    scores: dict[Any, Callable[[Record], float]], *,
                    floor_record: Record | None = None, note: str = "",
                    samples: int = report.BOOTSTRAP_SAMPLES) -> dict:
    """``handlib.report.verdict_table`` inputs for a claim that compares two scores of ONE run
    (its error on fingertips against palm joints, on interacting against single-hand frames):
    ``scores`` maps the claim's subject and reference labels to a score each. Values are per
    seed; the margin is the paired bootstrap of the difference of the two scores over the same
    resampled test images of the first seed.

    A prediction that ignores the input (``floor_record``, the constant mean pose) usually shows
    the same order (fingertips are further from the mean pose than palm joints), so a model
    that learnt nothing would "hold" such a claim: each of the two scores is judged against the
    same score of the floor record (``floor``, label -> value), with the interval of the
    model's score against the floor's (a paired bootstrap, and the seed spread), and the
    verdict's reason says the floor's own difference. The book's contrasts are on errors
    (``floor_better: lower``)."""
    labels = [claim["subject"], *papers.claim_references(claim)]
    if dataset is None:
        return absent_inputs(study, labels)
    missing = [label for label in labels if label not in scores]
    if missing or len(labels) != 2:
        raise ValueError(f"claim {claim['id']!r} compares {labels}: give one score for each of "
                         f"the two labels (got scores for {', '.join(map(str, scores))})")
    records = study.of(dataset, name)
    reproduced = {label: [scores[label](p) for p in records] for label in labels}
    margin = (report.paired_bootstrap_margin(scores[labels[0]], records[0], records[0],
                                             reference_score=scores[labels[1]], samples=samples)
              if records else None)
    floor, floor_margins = None, None
    if floor_record is not None and records:
        floor = {label: float(scores[label](floor_record)) for label in labels}
        floor_margins = {label: max(report.paired_bootstrap_margin(
            scores[label], records[0], floor_record, samples=samples),
            seed_spread(reproduced[label]) or 0.0) for label in labels}
    seeds = study.seeds(dataset, name)
    return {
        "reproduced": reproduced, "margin": margin,
        "tested_on": study.tested_on(dataset) + note
        + (f", seeds {seeds}" if len(seeds) > 1 else ""),
        "profile": study.profile, "run": f"{study.experiment}/{study.profile}", "floor": floor,
        "floor_margins": floor_margins, "floor_better": "lower",
    }


def absent_inputs(study: Study, labels: list) -> dict:
    """Verdict inputs of a claim whose dataset is absent from ``data_root`` (``dataset_for``
    gave ``None``): no reproduced value, so the verdict is "not run", and the data column says
    which dataset was missing."""
    return {"reproduced": {label: [] for label in labels}, "margin": None,
            "tested_on": absent_text(study), "profile": study.profile,
            "run": f"{study.experiment}/{study.profile}", "floor": None}


# ----------------------------------------------------------------------------- speed and size


def bench_study(cfg: dict, *, measure: bool = True) -> dict | None:
    """The chapter's speed and size table (``bench`` section: ``runs`` to count, of which
    ``speed_runs`` are also timed, at ``input_size`` and ``batch_sizes``, training steps at
    ``train_batch_sizes`` when given; with ``fast_path: true`` also, on CUDA, on the fast path
    of bf16 + channels-last + compile), measured with
    ``handlib.bench`` on this machine. Each model is built as the chapter's run of that name
    configures it (``bench.runs``: label -> run name) so that channels and size come from its
    model and codec: the run under this profile, or under the profile ``bench.models_of`` names
    (``paper``: the paper-size models, whatever this profile trains).

    The result is saved as ``bench.json`` in the profile's results folder and reused when it
    holds the same settings measured on a device of the same name; ``measure=False`` only reads
    it (``None`` when absent)."""
    settings = cfg["bench"]
    models_cfg = load_profile(cfg["chapter"], settings["models_of"]) if settings.get(
        "models_of") else cfg
    path = results.results_root() / cfg["chapter"] / cfg["profile"] / results.BENCH_FILE
    device = str(engine.resolve_device(cfg["train"]["device"]))
    if path.is_file():
        saved = results.read_json(path)
        if not measure or bench_is_current(cfg, saved):
            return saved
    if not measure:
        return None
    configs = {}
    for label, name in settings["runs"].items():
        config = resolve_run(models_cfg, name)
        config["data"] = deep_merge(config["data"], {"input_size": settings["input_size"]})
        if "input_size" in config["model"]:  # a model whose layers depend on it (FcaNet's DCT)
            config["model"] = {**config["model"], "input_size": settings["input_size"]}
        configs[label] = config
    # the timed models in interleaved rounds (A, B, A, B, ...), so that a load hits them alike
    found = benchmark_configs(configs, settings["batch_sizes"], device,
                              timed=settings["speed_runs"],
                              fast=None if settings.get("fast_path") else False,
                              warmup=settings["warmup"], repeats=settings["repeats"],
                              train_batch_sizes=settings.get("train_batch_sizes"))
    measured = [{"label": label, "run": name, **found[label]}
                for label, name in settings["runs"].items()]
    saved = {"settings": settings, "device_name": results.device_name(device),
             "models": measured}
    results.write_json_atomic(path, saved)
    return saved


def bench_is_current(cfg: dict, saved: dict | None) -> bool:
    """Whether a saved bench (:func:`bench_study`) holds the profile's bench settings measured
    on a device of the name this profile's device has."""
    device = str(engine.resolve_device(cfg["train"]["device"]))
    return (saved is not None and saved["settings"] == cfg["bench"]
            and saved["device_name"] == results.device_name(device))


def bench_row(bench: dict, label: str) -> dict:
    """The bench result of the model labelled ``label``."""
    for row in bench["models"]:
        if row["label"] == label:
            return row
    raise ValueError(f"the bench results hold no model labelled {label!r}; they hold "
                     f"{', '.join(r['label'] for r in bench['models'])}")
