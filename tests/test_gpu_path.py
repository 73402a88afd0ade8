"""The gpu profiles' code path rehearsed on the CPU: bf16 autocast (``train.amp``) and
``torch.compile`` (``train.compile``) through ``engine.fit``, as a gpu profile trains; and, where
CUDA is present, the same path on the GPU without host syncs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_training import TinyHeatmapSet, TinyNet, config, two_term_loss

from handlib import engine, losses, runtime
from handlib.codecs.heatmap3d import decode_volumes


def tiny_model() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(0.3)


def test_amp_trains_in_bf16_autocast_on_the_cpu_in_the_contiguous_layout():
    """Two steps with ``amp`` and ``channels_last`` on the CPU: the convolutions run in bf16,
    the loss is finite, and the model stays contiguous (bf16 channels-last backward corrupts
    the CPU heap: ``runtime.memory_format``)."""
    model, dtypes = tiny_model(), []
    model.conv1.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    history = engine.fit(model, config(epochs=1, amp=True, channels_last=True),
                         TinyHeatmapSet(16), loss_fn=two_term_loss, progress=False)
    assert dtypes == [torch.bfloat16] * 2
    assert np.isfinite(history["loss"]).all() and history["loss"].iloc[0] > 0
    assert model.conv1.weight.dtype == torch.float32 and model.conv1.weight.is_contiguous()


@pytest.mark.slow
def test_a_compiled_bf16_run_trains_and_resumes_on_the_cpu(tmp_path, monkeypatch):
    """``train.compile`` with ``amp`` through ``fit`` (inductor on the CPU): an interrupted run
    resumed from its checkpoint ends with the uninterrupted run's weights (on a fixed number
    of threads: inductor's kernels split their sums by thread)."""
    monkeypatch.setenv(runtime.THREADS_VARIABLE, "1")
    cfg = config(epochs=2, amp=True, compile=True, checkpoint_every=2)
    train_set = TinyHeatmapSet(32)
    reference = tiny_model()
    expected = engine.fit(reference, cfg, train_set, loss_fn=two_term_loss,
                          checkpoint=tmp_path / "a.pt", progress=False)
    calls = 0

    def dies_at_step_6(outputs, batch):
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt
        return two_term_loss(outputs, batch)

    with pytest.raises(KeyboardInterrupt):
        engine.fit(tiny_model(), cfg, train_set, loss_fn=dies_at_step_6,
                   checkpoint=tmp_path / "b.pt", progress=False)
    assert engine.load_checkpoint(tmp_path / "b.pt")["state"]["global_step"] == 4
    torch.manual_seed(123)
    resumed_model = TinyNet(0.3)
    resumed = engine.fit(resumed_model, cfg, train_set, loss_fn=two_term_loss,
                         checkpoint=tmp_path / "b.pt", resume=True, progress=False)
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert np.allclose(expected["loss"], resumed["loss"], rtol=1e-6)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_volumes_decoded_on_the_gpu_equal_the_cpu_decoder():
    volumes = torch.rand(2, 42, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    volumes[0, 3, 2, 5, 7] = volumes[0, 3, 4, 1, 1] = 2.0  # a tie: the first maximum wins
    on_cpu = decode_volumes(volumes, 64, 400.0)
    for found, expected in zip(decode_volumes(volumes.cuda(), 64, 400.0), on_cpu, strict=True):
        np.testing.assert_array_equal(found, expected)


@needs_cuda
def test_the_internet_loss_never_syncs_with_the_gpu():
    generator = torch.Generator().manual_seed(0)
    batch = {"joint_hm": torch.rand(2, 42, 3, generator=generator) * 8,
             "joint_weight": torch.ones(2, 42), "volume_sigma": torch.full((2,), 2.5),
             "root_depth_target": torch.full((2,), 2.0), "root_depth_weight": torch.ones(2),
             "hand_type": torch.ones(2, 2), "hand_type_weight": torch.ones(2)}
    outputs = {"heatmaps3d": torch.rand(2, 42, 8, 8, 8, generator=generator),
               "root_depth": torch.rand(2, generator=generator),
               "hand_type": torch.rand(2, 2, generator=generator)}
    batch, outputs = ({key: value.cuda() for key, value in found.items()}
                      for found in (batch, outputs))
    loss = losses.build("internet")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        terms = loss(outputs, batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(value).item() for value in terms.values())


@needs_cuda
def test_a_run_resumes_on_the_gpu(tmp_path):
    """The checkpoint's RNG states are read to the CPU (``torch.set_rng_state`` takes only a
    CPU byte tensor): a finished CUDA run resumed returns its history."""
    cfg = config(device="cuda", amp=True, channels_last=True)
    first = engine.fit(tiny_model(), cfg, TinyHeatmapSet(16), loss_fn=two_term_loss,
                       checkpoint=tmp_path / "c.pt", progress=False)
    again = engine.fit(tiny_model(), cfg, TinyHeatmapSet(16), loss_fn=two_term_loss,
                       checkpoint=tmp_path / "c.pt", resume=True, progress=False)
    assert again.equals(first)
