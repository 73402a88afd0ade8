"""Training, evaluation and prediction for every model in the book, in plain PyTorch.

This module is the engine's public face: it re-exports the names a chapter, a test or a notebook
uses, from five modules with one concern each, in layers that import only downwards:

- ``handlib.runconfig``: the configuration's sections and defaults, its hash (code included)
  and its checks (splits, device);
- ``handlib.runtime``: devices, processes, seeds, precision, the sample order and data loaders;
- ``handlib.evaluation``: :func:`predict` (prediction records), :func:`evaluate`, the
  validation loss;
- ``handlib.training``: the loop, :func:`fit`, with optimisers, schedulers and checkpoints;
- ``handlib.runs``: the run cache, :func:`load_or_train`.

``handlib train`` (the command line on top, ``handlib.train_cli``) is the only one of them that
reads the chapters' study machinery. What follows describes the engine as a whole.

One loop, :func:`fit`, trains any model whose ``forward`` takes the input batch (``image``, or
``depth`` for depth models) and returns a dict of tensors, against a loss that returns a dict of
named scalar terms (``handlib.losses``): their sum is minimised and each term is logged on its
own. A run is configured by data, a dict with these sections::

    model:     {name, **kwargs}            handlib.models.build (dropout etc. are model kwargs)
    data:      the build_dataset spec      handlib.data.pipeline.build_dataset
    loss:      {name, **kwargs}            handlib.losses.build
    optimizer: {name: adam|adamw|sgd, lr, weight_decay, **torch kwargs (momentum, betas, ...)}
    scheduler: {name: constant|step|multistep|halve_at|exponential|cosine_warm_restarts, ...}
    train:     {epochs, batch_size, grad_clip, seed, device, amp, channels_last, compile,
                num_workers, checkpoint_every, early_stopping, log_every}
    eval:      {metric, joints, thresholds, ..., split, test_split, also_test_on, loss, every,
                batch_size}

Missing keys take the values in :data:`DEFAULTS`. Schedulers step once per epoch, as the papers
state them: ``step`` (StepLR: step_size, gamma), ``multistep`` (milestones, gamma), ``halve_at``
(epochs: the lr halves at each), ``exponential`` (gamma, e.g. InterNet+'s ×0.96 per epoch),
``cosine_warm_restarts`` (T_0, T_mult, eta_min: InterNet+'s period 2, factor 3).
``train.batch_size`` is the global batch: under ``torchrun`` each of N processes takes 1/N of it,
so a run gives the same result on any number of processes (up to BatchNorm statistics, which
stay per process as in the papers' multi-GPU training). ``train.early_stopping`` is ``null`` or
``{metric: "pck@0.2", mode: max|min, patience, min_delta}`` on the validation metrics; it stops
training and keeps the last weights.

Speed. ``amp`` runs the forward pass and loss under bf16 autocast, on CUDA and on the CPU (where
it rehearses the gpu profiles' path; off unless a profile asks); ``channels_last`` stores images
and weights channels-last (kept contiguous on the CPU under bf16, ``runtime.memory_format``);
``compile`` wraps the training model in ``torch.compile``. DataLoaders pin memory and use
``num_workers`` workers, started once per :func:`fit` for the training set and once for the
validation set and kept for every epoch (persistent workers). The step never waits for the
device: loss terms stay on it and are copied to the host once every ``log_every`` steps, when the
progress bar (``tqdm.auto``: loss, learning rate, samples/s) is updated; 3D heat maps are decoded
on the device, and only the decoded joints come to the host.

A non-finite loss stops training with ``FloatingPointError`` naming the loss term, the step and
the epoch (found at the next log point, from the per-step values kept on the device).

Reproducibility. :func:`seed_everything` seeds Python, numpy and torch; each epoch's sample order
is a function of (seed, epoch); DataLoader workers are seeded from a generator seeded by (seed,
the epoch the fit starts at). Checkpoints (every ``checkpoint_every`` optimiser steps and at the
end) hold the model, optimiser, scheduler, loop position, history so far and every random-number
generator's state; they are always loaded to the CPU (the RNG states must be CPU tensors) and
the weights then moved to the model's device, so ``resume=True`` continues an interrupted run
exactly where it stopped (mid-epoch too, on any device) and ends with the weights an
uninterrupted run ends with. A dataset with ``set_epoch(epoch)`` (as ``handlib.data.pipeline``'s)
is told each item's epoch in whichever process reads the item (the sampler yields (epoch, index)
pairs, ``runtime.EpochSampler``), so that its augmentation depends on (seed, epoch, index) only,
with persistent workers too.

Evaluation. :func:`predict` runs a model over a dataset and decodes its outputs with the
dataset's codec (``data.codec``, ``handlib.codecs``) into one *prediction record* for every kind
of model: predicted and true keypoints in the samples' own frames (``kp2d`` in original-image
pixels, ``kp3d`` in camera mm), hand type and root depth when predicted, the masks, visibility
kinds and sample ids (``handlib.metrics.records`` documents every key). :func:`evaluate` scores a record
with the metrics named by ``eval.metric`` (one name or a list, from ``handlib.metrics.METRICS``)
over the joints ``eval.joints`` selects (``handlib.metrics.joint_mask``: the one rule for which
joints count, for validation and test alike). ``eval.split`` is the validation split (monitoring,
early stopping) and ``eval.test_split`` the split a study scores the run on, with
``eval.also_test_on`` more held-out splits it is scored on too (the synthetic ``hard`` split);
with ``eval.loss`` the loss and its terms are also computed on the validation split after each
validated epoch (``val_loss``, ``val_<term>``: a validation loss curve, ResUnet Fig. 3(b)); a
configuration that trains or validates on a split it is tested on, or validates on its training
split, is refused (:func:`check_splits`).

Devices. A profile that expects a GPU (``train.expects_gpu``) refuses to run where there is none
unless ``train.device`` is set explicitly (e.g. ``--device cpu``), and no data loader starts more
worker processes than the machine has cores.

Reuse (:func:`load_or_train`). Results (``book/results/...``, committed) are the record and
checkpoints (``handlib.paths.cache_dir()/checkpoints/<config hash>.pt``, never committed) are a
cache. A run is reused, not retrained, when its results and its finished checkpoint both carry
the configuration's hash. When the results exist but the checkpoint does not (a fresh clone),
``load_or_train`` retrains, because the caller asked for a model; callers that only need the
numbers pass ``need_model=False`` (or read them with ``handlib.results.load_run``) and no
training happens. The hash covers everything that changes the result (model, data spec, loss,
optimiser, scheduler, train settings incl. seed, eval settings, the synthetic generator's
version) and nothing that does not (:data:`NON_RESULT_KEYS`: device, workers, logging and
checkpoint frequency, evaluation batch size, the data's location on disk), **and the code**:
``handlib.code_version.code_hash`` of the modules behind the run (:func:`code_modules`: its
model's, its loss's and its codecs' modules, the data pipeline and this training loop, with
everything they import in handlib), so changing a model's default or a loss retrains instead of
silently reusing stale results and checkpoints.

Distributed. Under ``torchrun --nproc_per_node=N -m handlib train ...`` (see
``handlib.train_cli``), :func:`init_distributed` joins the process group (NCCL on CUDA, gloo on
CPU), the model is wrapped in DistributedDataParallel, every process trains on its shard of each
global batch, epoch losses are averaged and predictions gathered across processes (so validation
metrics are those of the whole split), and only rank 0 writes checkpoints and results.
"""
from __future__ import annotations

from handlib.evaluation import RECORD_LABELS, evaluate, predict, validation_loss
from handlib.runconfig import (DEFAULTS, NON_RESULT_KEYS, check_device, check_splits, code_hash,
                               code_modules, config_hash, resolve_config, split_roles)
from handlib.runs import TrainedRun, build_model, checkpoint_path, load_or_train
from handlib.runtime import (autocast, distributed_info, epoch_indices, init_distributed,
                             memory_format, model_input, resolve_device, seed_everything,
                             usable_workers)
from handlib.training import (OPTIMIZERS, SCHEDULERS, LoopState, build_optimizer,
                              build_scheduler, fit, load_checkpoint, save_checkpoint)

__all__ = [
    "DEFAULTS", "NON_RESULT_KEYS", "OPTIMIZERS", "RECORD_LABELS", "SCHEDULERS", "LoopState",
    "TrainedRun", "autocast", "build_model", "build_optimizer", "build_scheduler",
    "check_device", "check_splits", "checkpoint_path", "code_hash", "code_modules",
    "config_hash", "distributed_info", "epoch_indices", "evaluate", "fit", "init_distributed",
    "load_checkpoint", "load_or_train", "memory_format", "model_input", "predict",
    "resolve_config", "resolve_device", "save_checkpoint", "seed_everything", "split_roles",
    "usable_workers", "validation_loss",
]
