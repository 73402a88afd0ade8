"""``handlib train``: a chapter's run (or all of them), or a YAML config, trained from the command line.

The top of the engine's layers: the only engine module that imports the chapters' study
machinery (``handlib.study``). Several GPUs: ``torchrun --nproc_per_node=N -m handlib train ...``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch.distributed as dist
import yaml

from handlib import engine, results, study
from handlib.profiles import RUN_SECTIONS, deep_merge, load_profile, resolve_run, tiny_overrides
from handlib.runconfig import resolve_config
from handlib.runtime import distributed_info, init_distributed


def _parse_override(text: str) -> dict:
    """``"train.epochs=5"`` → ``{"train": {"epochs": 5}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"--set expects KEY=VALUE (e.g. train.epochs=5), got {text!r}")
    key, value = text.split("=", 1)
    override: Any = yaml.safe_load(value)
    for part in reversed(key.split(".")):
        override = {part: override}
    return override


def _overrides(texts: list[str]) -> dict:
    merged: dict = {}
    for text in texts:
        merged = deep_merge(merged, _parse_override(text))
    return merged


def for_every_run(overrides: dict) -> dict:
    """A chapter profile's ``--set`` settings with those of a run section (``train.epochs=5``)
    moved under ``every_run``, which ``handlib.study.run_config`` merges into each run last:
    merged into the shared sections instead, a family's or a dataset's own value (InterNet+'s
    families set their epochs) would silently win over what was asked for on the command line."""
    run_sections = {key: value for key, value in overrides.items() if key in RUN_SECTIONS}
    rest = {key: value for key, value in overrides.items() if key not in RUN_SECTIONS}
    return deep_merge(rest, {"every_run": run_sections}) if run_sections else rest


def _train_study(args: argparse.Namespace, overrides: dict, data_root: str | None) -> int:
    """``handlib train --chapter`` for a chapter with a study: the notebook's configuration of a
    run (or of all of them with ``--all``), trained, scored on its test split and written where
    the chapter reads it."""
    cfg = study.apply_parameters(
        load_profile(args.chapter, args.profile), data_root=data_root, seed=args.seed,
        device=args.device or "auto", overrides=overrides,
    )
    if args.all:
        runs = study.study_runs(cfg)
    elif args.run is None:
        raise ValueError(f"choose a run with --run (or --all); chapter {args.chapter!r} defines "
                         f"{', '.join(cfg['runs'])}")
    else:
        runs = study.find_runs(cfg, args.dataset, args.run, args.training_seed)
    init_distributed(resolve_config(runs[0].config)["train"]["device"])
    try:
        for run in runs:
            study.predict_test_split(run, args.chapter, args.profile,
                                     progress=not args.no_progress)
            if distributed_info()[0] == 0:
                found = results.load_run(args.chapter, args.profile, run.run_id)
                print(f"{args.chapter}/{args.profile}/{run.run_id} -> "
                      f"{results.run_dir(args.chapter, args.profile, run.run_id)}")
                print(json.dumps(found["metrics"], indent=2))
        if args.all and cfg.get("bench") and distributed_info()[0] == 0:
            study.bench_study(cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def _train_command(args: argparse.Namespace) -> int:
    overrides = _overrides(args.set)
    tiny = {}
    if args.tiny:
        if args.chapter is None:
            raise ValueError("--tiny shrinks a chapter's profile: use it with --chapter")
        tiny = tiny_overrides(args.chapter)
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file {args.config} does not exist")
        config = yaml.safe_load(args.config.read_text())
        experiment = args.experiment or args.config.stem
    else:
        config = load_profile(args.chapter, args.profile)
        if "study" in config:
            data_root = overrides.get("data", {}).pop("data_root", args.data_root)
            return _train_study(args, deep_merge(tiny, for_every_run(overrides)), data_root)
        experiment = args.experiment or args.chapter
    config = deep_merge(resolve_run(config, args.run), deep_merge(tiny, overrides))
    if args.device is not None:
        config = deep_merge(config, {"train": {"device": args.device}})
    run = args.run or config["model"]["name"]
    init_distributed(resolve_config(config)["train"]["device"])
    rank = distributed_info()[0]
    try:
        trained = engine.load_or_train(
            config, experiment=experiment, profile=args.profile, run=run,
            progress=not args.no_progress,
        )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        state = "reused" if trained.reused else "trained"
        print(f"{state} {experiment}/{args.profile}/{run} -> {trained.run_dir}")
        print(json.dumps(trained.metrics, indent=2))
    return 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model (reusing a finished run); runs under torchrun for several GPUs",
        description="Train the run a chapter profile or a YAML config describes, write its results "
        "under book/results/<experiment>/<profile>/<run>/. Several GPUs: "
        "torchrun --nproc_per_node=N -m handlib train ...",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--chapter", help="chapter whose profiles to use (handlib/papers/<paper>/"
                        "profiles.yaml or handlib/configs/<chapter>.yaml)")
    source.add_argument("--config", type=Path, help="a YAML file with the config sections")
    parser.add_argument(
        "--profile", default="smoke",
        help="smoke, cpu, gpu or paper: the chapter's profile and the results folder name",
    )
    parser.add_argument("--run", help="run name (selects from a config's runs:; default: model)")
    parser.add_argument("--all", action="store_true",
                        help="a chapter with a study: every run of the profile, and its bench")
    parser.add_argument("--dataset", help="a chapter with a study: which of the profile's "
                        "datasets (default: its only one)")
    parser.add_argument("--seed", type=int, default=0,
                        help="as the notebook's `seed` parameter: shifts the profile's seeds")
    parser.add_argument("--training-seed", type=int, help="which of the (shifted) training "
                        "seeds of the profile to train (default: the first)")
    parser.add_argument("--data-root", help="as the notebook's `data_root`: the folder holding "
                        "the profile's real datasets (also read from --set data.data_root=...)")
    parser.add_argument("--experiment", help="results folder (default: chapter or config name)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.epochs=5 (repeatable; value parsed as YAML); "
        "a run section's setting (model, data, loss, optimizer, scheduler, train, eval) applies "
        "to every run of a chapter over its family's and its dataset's own",
    )
    parser.add_argument("--device", help="auto, cpu, cuda (default: the config's train.device)")
    parser.add_argument("--tiny", action="store_true",
                        help="a chapter's profile at toy size (its `tiny` block: a few steps of "
                        "narrow models), to check that a profile runs end to end; --set wins")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_train_command)
