"""How many CPU threads a run takes (``handlib.runtime.cpu_threads``): every core on a quiet
machine, one fewer per core another process keeps busy, and the environment's fixed count."""
import os

import pytest
import torch

from handlib import runtime


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_VARIABLE, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(runtime, "_last_choice", {})  # no choice from an earlier test


def test_a_choice_is_reused_for_a_while_then_made_again(two_cores, monkeypatch):
    busy = iter([0.0, 1.0])
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: next(busy))
    assert runtime.cpu_threads() == 2
    assert runtime.cpu_threads() == 2  # reused: the machine is not sampled again
    runtime._last_choice["at"] -= runtime.THREADS_REUSE_S
    assert runtime.cpu_threads() == 1


@pytest.mark.parametrize("busy, threads", [(None, 2), (0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1),
                                           (2.0, 1), (3.7, 1)])
def test_threads_follow_the_cores_other_processes_keep_busy(two_cores, monkeypatch, busy,
                                                            threads):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: busy)
    assert runtime.cpu_threads() == threads


def test_the_environment_fixes_the_thread_count(two_cores, monkeypatch):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: 0.0)
    monkeypatch.setenv(runtime.THREADS_VARIABLE, "1")
    assert runtime.cpu_threads() == 1


def test_resolving_the_cpu_sets_the_chosen_threads(two_cores, monkeypatch):
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda window_s: 1.0)
    before = torch.get_num_threads()
    try:
        assert runtime.resolve_device("cpu") == torch.device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_busy_cores_are_read_from_proc_where_it_exists():
    busy = runtime.busy_cores_elsewhere(0.05)
    if not os.path.exists("/proc/stat"):
        assert busy is None
    else:
        assert 0.0 <= busy <= os.cpu_count() + 1  # ticks are coarse: allow one core of rounding


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_bad_fixed_thread_count_is_a_clear_error(two_cores, monkeypatch, value):
    monkeypatch.setenv(runtime.THREADS_VARIABLE, value)
    with pytest.raises(ValueError, match="positive whole number"):
        runtime.cpu_threads()


def test_amp_is_bf16_autocast_on_the_cpu_too():
    a, b = torch.ones(2, 2), torch.ones(2, 2)
    with runtime.autocast(torch.device("cpu"), True):
        assert (a @ b).dtype == torch.bfloat16
    with runtime.autocast(torch.device("cpu"), False):
        assert (a @ b).dtype == torch.float32


@pytest.mark.parametrize("channels_last, device, amp, layout", [
    (True, "cuda", True, torch.channels_last), (True, "cuda", False, torch.channels_last),
    (True, "cpu", False, torch.channels_last),
    (True, "cpu", True, torch.contiguous_format),  # bf16 channels-last backward: heap corruption
    (False, "cuda", True, torch.contiguous_format), (False, "cpu", False, torch.contiguous_format),
])
def test_one_rule_decides_the_memory_format(channels_last, device, amp, layout):
    assert runtime.memory_format(channels_last, torch.device(device), amp) == layout


class EpochRecorder(torch.utils.data.Dataset):
    def __init__(self):
        self.epoch = None

    def __len__(self):
        return 10

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, index):
        return (self.epoch, index)


def test_the_epoch_sampler_gives_each_epochs_order_from_a_position_with_its_epoch():
    sampler = runtime.EpochSampler(10, seed=3, rank=1, world_size=2)
    for epoch, start in [(0, 0), (4, 2), (4, 0)]:
        sampler.set_epoch(epoch, start)
        order = runtime.epoch_indices(10, seed=3, epoch=epoch, shuffle=True, rank=1,
                                      world_size=2)[start:]
        assert list(sampler) == [(epoch, index) for index in order]
        assert len(sampler) == len(order)
    items = runtime.EpochItems(EpochRecorder())
    assert [items[key] for key in [(0, 3), (2, 5)]] == [(0, 3), (2, 5)]
    assert items.dataset.epoch == 2 and len(items) == 10


def test_an_eval_loader_reads_every_sample_once_in_order():
    samples = [10 * index for index in range(10)]
    loader = runtime.eval_loader(samples, 4, device=torch.device("cpu"), num_workers=0)
    assert list(loader.sampler) == list(range(10))
    assert [value for batch in loader for value in batch.tolist()] == samples
