"""Prediction records and validation metrics for every model (the prediction half of the engine).

:func:`predict` runs a model over a dataset and decodes its outputs with the dataset's codec
(``data.codec``, ``handlib.codecs``) into one *prediction record* for every kind of model:
predicted and true keypoints in the samples' own frames (``kp2d`` in original-image pixels,
``kp3d`` in camera mm), hand type and root depth when predicted, the masks, visibility kinds and
sample ids (``handlib.metrics.records`` documents every key). :func:`evaluate` scores a record with the
metrics named by ``eval.metric`` over the joints ``eval.joints`` selects;
:func:`validation_loss` averages a loss's terms over a validation split.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from handlib import metrics
from handlib.codecs import geometry
from handlib.losses import LossFn
from handlib.profiles import deep_merge
from handlib.runconfig import DEFAULTS
from handlib.runtime import (
    all_reduce_mean,
    autocast,
    distributed_info,
    eval_loader,
    model_input,
    resolve_device,
    to_device,
)

#: The labels a prediction record keeps from each batch (when the dataset provides them); the
#: keypoints among them are brought back into the samples' own frames like the predictions.
RECORD_LABELS: tuple[str, ...] = (
    "index", "kp2d", "labelled", "in_frame", "visible", "visibility_kind", "norm_size", "kp3d",
    "hand_valid", "root_depth", "rel_root", "crop", "mirrored",
)


def _numpy(value) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    value = value.detach().cpu()
    return (value.float() if value.dtype in (torch.bfloat16, torch.float16) else value).numpy()


def predict(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 64,
    device: str | torch.device = "auto", num_workers: int = 0, amp: bool = False,
    loader: DataLoader | None = None,
) -> dict[str, np.ndarray]:
    """Run ``model`` over ``dataset`` (eval mode, no gradients) and return its prediction record.

    The dataset's codec (``dataset.codec``) decodes the model's outputs into the samples' own
    frames (``handlib.codecs.Codec.decode``); each predicted quantity ``q`` is stored as
    ``q_pred`` (``kp2d_pred``, ``kp3d_pred``, ``kp3d_rel_pred``, ``hand_type_pred``,
    ``root_depth_pred``, ``rel_root_pred``) beside ``confidence`` where the codec gives one, and
    the labels of :data:`RECORD_LABELS` are kept beside them, their keypoints brought into the
    same frames (``kp2d`` in original-image pixels, ``norm_size`` in those pixels too). All are
    stacked in dataset order. Under torchrun each process predicts its shard and every process
    returns the whole dataset's record. The outputs are decoded where the model ran (the codec
    reads its tensors there; ``handlib.codecs.heatmap3d`` copies only each joint's peak to the
    host). ``loader``: a loader of ``dataset`` made by ``handlib.runtime.eval_loader`` (the
    training loop passes the one it keeps for the whole fit, whose workers persist); it then
    sets the batch size and the workers.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    _, world_size = distributed_info()
    loader = _loader_of(dataset, loader, batch_size, device, num_workers)
    positions = list(loader.sampler)
    codec = dataset.codec
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), autocast(device, amp):
        for batch in loader:
            outputs = model(model_input(batch).to(device, non_blocking=True))
            outputs = {key: value.float() for key, value in outputs.items()}
            found = {("confidence" if key == "confidence" else f"{key}_pred"): value
                     for key, value in codec.decode(outputs, batch).items()}
            labels = {key: _numpy(batch[key]) for key in RECORD_LABELS if key in batch}
            found |= geometry.to_sample_frame(labels, batch)
            found["norm_size"] = labels["norm_size"] / geometry.crop_scale(labels["crop"])
            for key, value in found.items():
                parts.setdefault(key, []).append(_numpy(value))
    model.train(was_training)
    stacked = {key: np.concatenate(values) for key, values in parts.items()}
    if world_size == 1:
        return stacked
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, (positions, stacked))
    all_positions = np.concatenate([np.asarray(p) for p, _ in gathered])
    _, first = np.unique(all_positions, return_index=True)  # sorted, padding duplicates dropped
    return {key: np.concatenate([s[key] for _, s in gathered])[first] for key in stacked}


def _loader_of(dataset: Dataset, loader: DataLoader | None, batch_size: int,
               device: torch.device, num_workers: int) -> DataLoader:
    """``loader`` when given (it must read ``dataset``), else a new one (``eval_loader``)."""
    if loader is None:
        return eval_loader(dataset, batch_size, device=device, num_workers=num_workers)
    if loader.dataset is not dataset:
        raise ValueError("the loader given reads another dataset than the one to predict or "
                         "score: pass a loader made by handlib.runtime.eval_loader(dataset, ...)")
    return loader


def evaluate(
    model: nn.Module, dataset: Dataset, eval_config: dict | None = None, *,
    device: str | torch.device = "auto", num_workers: int = 0, amp: bool = False,
    loader: DataLoader | None = None,
) -> dict[str, float]:
    """The ``eval_config`` metrics (default :data:`DEFAULTS` ``eval``) of ``model`` on
    ``dataset`` (pass the validation or test split, never the training split); ``loader`` as
    :func:`predict`."""
    spec = deep_merge(DEFAULTS["eval"], eval_config or {})
    metrics.check_metric_names(spec["metric"])
    record = predict(
        model, dataset, batch_size=spec["batch_size"], device=device, num_workers=num_workers,
        amp=amp, loader=loader,
    )
    return metrics.evaluate_record(record, spec)


def validation_loss(
    model: nn.Module, dataset: Dataset, loss_fn: LossFn, *, batch_size: int = 64,
    device: torch.device, num_workers: int = 0, amp: bool = False,
    loader: DataLoader | None = None,
) -> dict[str, float]:
    """The mean over ``dataset``'s samples of each loss term and of their sum ``loss``, in eval
    mode and without gradients (pass the validation split); ``loader`` as :func:`predict`. The
    sums stay on the device (float64) until the end: one copy to the host per call."""
    _, world_size = distributed_info()
    loader = _loader_of(dataset, loader, batch_size, device, num_workers)
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    with torch.inference_mode(), autocast(device, amp):
        for batch in loader:
            batch = to_device(batch, device, torch.contiguous_format)
            terms = loss_fn(model(model_input(batch)), batch)
            terms["loss"] = torch.stack([value.float() for value in terms.values()]).sum()
            count = len(model_input(batch))
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.double() * count
    model.train(was_training)
    totals = torch.stack(list(sums.values())).tolist() if sums else []
    return all_reduce_mean({name: total / len(dataset) * world_size
                             for name, total in zip(sums, totals)}, device)
