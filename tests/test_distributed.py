"""DistributedDataParallel: 2 CPU processes (gloo) with a global batch of 8 (4 each) end with
the weights, losses and validation metrics of one process training with batch 8."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tiny_training import TinyHeatmapSet, TinyNet, config, two_term_loss

from handlib import engine

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")


def train_tiny():
    torch.manual_seed(0)
    model = TinyNet()
    history = engine.fit(
        model, config(epochs=2), TinyHeatmapSet(32), TinyHeatmapSet(10, seed=1),
        loss_fn=two_term_loss, progress=False,
    )
    return model, history


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        assert engine.distributed_info() == (rank, world_size)
        model, history = train_tiny()
        torch.save({"weights": model.state_dict(), "history": history}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    out = str(tmp_path / "ddp")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    model, history = train_tiny()
    ranks = [torch.load(f"{out}.{rank}", weights_only=False) for rank in range(2)]
    for name, value in model.state_dict().items():
        for rank in ranks:
            assert torch.allclose(rank["weights"][name], value, atol=1e-5), name
    columns = ["loss", "heatmap", "activity", "val_pck@0.1", "val_pck@0.2", "val_epe_px"]
    for rank in ranks:  # losses averaged and metrics reduced over both processes
        assert np.allclose(rank["history"][columns], history[columns], rtol=1e-4)
