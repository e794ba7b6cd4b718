"""Will this fit: the memory estimate against measured peaks, the free memory, the largest size that fits."""

import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import make_net
from torch._subclasses.fake_tensor import FakeTensorMode

from dip_lightning.config.location import config_dir
from dip_lightning.hardware import memory
from dip_lightning.hardware.memory import (
    FitMemory,
    TensorPeak,
    available_bytes,
    cgroup_headroom,
    check_fits,
    fit_memory,
    largest_fitting_size,
    meminfo_available,
    step_peak_bytes,
)
from dip_lightning.nets.checkpointing import build_network

SMALL = {"num_channels_down": [16] * 3, "num_channels_up": [16] * 3, "num_channels_skip": [4] * 3}


def skip_factory(**overrides):
    """make_net(num_input_channels=, num_output_channels=) as priors/deep.py calls it."""
    return lambda num_input_channels, num_output_channels: make_net(
        "skip", num_input_channels, num_output_channels, **overrides
    )


def test_tensor_peak_counts_what_is_alive_at_once():
    with TensorPeak() as peak:
        a = torch.empty(1000)  # 4000 bytes
        b = torch.empty(2000)
        view = b[:10]  # the same storage: not counted again
        del a
        c = torch.empty(500, dtype=torch.float64)
    assert peak.peak == 12_000 and peak.bytes == 12_000
    del b, view, c
    assert peak.bytes == 0


def test_fake_tensors_measure_what_real_tensors_take():
    torch.manual_seed(0)
    real = step_peak_bytes(make_net("skip", 8, 3, **SMALL), 8, 3, 64, 96, torch.float32)
    with FakeTensorMode():
        fake = step_peak_bytes(make_net("skip", 8, 3, **SMALL), 8, 3, 64, 96, torch.float32)
    assert fake == pytest.approx(real, rel=0.02)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_step_peak_is_linear_in_pixels(dtype):
    """The estimate extrapolates two measured sizes; a third, larger one lands on the line."""
    fitted = fit_memory(skip_factory(), 3, 32, dtype)
    with FakeTensorMode():
        net = make_net("skip", 32, 3)
        parameters = sum(p.numel() * p.element_size() for p in net.parameters())
        measured = step_peak_bytes(net, 32, 3, 512, 768, dtype)
    expected = (
        memory.RUNTIME_BYTES
        + measured
        + memory.PARAMETER_COPIES * parameters
        + memory.IMAGE_BUFFERS * 3 * 4 * 512 * 768
    )
    assert fitted(512, 768) == pytest.approx(expected, rel=0.01)
    assert fitted.stride == 32 and fitted.min_size == 64 and fitted.dtype == dtype


def test_bf16_and_checkpointing_need_less():
    fp32 = fit_memory(skip_factory(), 3, 32)
    assert fit_memory(skip_factory(), 3, 32, torch.bfloat16).bytes_per_pixel < 0.7 * fp32.bytes_per_pixel
    assert fp32.checkpointed_levels == 0
    checkpointed = fit_memory(functools.partial(build_network, skip_factory(), "all"), 3, 32)
    assert checkpointed.checkpointed_levels > 0 and checkpointed.bytes_per_pixel < 0.8 * fp32.bytes_per_pixel


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures the peak resident memory on Linux")
def test_the_estimate_covers_the_measured_peak_of_a_real_step():
    """A fresh process fits the default network for 2 steps at 256 x 256; its resident memory grows by
    less than the estimate, and not by much less."""
    script = textwrap.dedent(
        """
        import sys
        import torch
        from hydra.utils import instantiate
        from omegaconf import OmegaConf
        from dip_lightning.hardware.memory import peak_rss, reset_peak_rss
        torch.set_num_threads(1)
        before = reset_peak_rss()
        net = instantiate(OmegaConf.load(sys.argv[1]))(num_input_channels=32, num_output_channels=3)
        z, observed = torch.rand(1, 32, 256, 256), torch.rand(1, 3, 256, 256)
        optimizer = torch.optim.Adam(net.parameters())
        for _ in range(2):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(net(z + torch.randn_like(z)), observed).backward()
            optimizer.step()
        print(peak_rss() - before)
        """
    )
    arch = config_dir() / "arch" / "skip.yaml"
    grown = int(subprocess.run([sys.executable, "-c", script, arch], capture_output=True, check=True).stdout)
    estimate = fit_memory(skip_factory(), 3, 32)(256, 256)
    assert grown < estimate < 1.6 * grown


def test_available_memory_is_the_tighter_of_the_kernel_and_the_cgroup(monkeypatch):
    for kernel, cgroup, expected in [(10**9, 5 * 10**8, 5 * 10**8), (10**9, None, 10**9), (None, None, None)]:
        monkeypatch.setattr(memory, "meminfo_available", lambda kernel=kernel: kernel)
        monkeypatch.setattr(memory, "cgroup_headroom", lambda cgroup=cgroup: cgroup)
        assert available_bytes("cpu") == expected


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux")
def test_available_memory_on_this_machine():
    """What the kernel says it can give (MemAvailable), or less under a cgroup limit; never more than it has."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = {name: int(fields[name].split()[0]) * 1024 for name in ("MemTotal", "MemAvailable")}
    available = available_bytes("cpu")
    assert 0 < available <= kib["MemTotal"]
    assert available <= kib["MemAvailable"] * 1.05  # read a moment apart: the kernel's estimate moves


def test_meminfo(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:  8000 kB\nMemFree:  1000 kB\nMemAvailable:  3000 kB\n")
    assert meminfo_available(tmp_path / "meminfo") == 3000 * 1024
    assert meminfo_available(tmp_path / "absent") is None


def write(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def test_cgroup_v2_limit_counts_the_page_cache_as_free(tmp_path):
    membership = tmp_path / "cgroup"
    membership.write_text("0::/job/step\n")
    write(tmp_path / "root", memory_max="max", memory_current="9", memory_stat="inactive_file 0\n")
    write(tmp_path / "root/job", memory_max="1000", memory_current="600", memory_stat="anon 1\ninactive_file 100\n")
    write(tmp_path / "root/job/step", memory_max="max", memory_current="500", memory_stat="inactive_file 0\n")
    assert cgroup_headroom(tmp_path / "root", membership) == 1000 - (600 - 100)
    membership.write_text("0::/\n")
    assert cgroup_headroom(tmp_path / "root", membership) is None


def test_cgroup_v1_limit(tmp_path):
    membership = tmp_path / "cgroup"
    membership.write_text("5:cpu,cpuacct:/job\n4:memory:/job\n")
    write(tmp_path / "root/memory", memory_limit_in_bytes=str(2**63 - 4096), memory_usage_in_bytes="7")
    write(
        tmp_path / "root/memory/job",
        memory_limit_in_bytes="5000",
        memory_usage_in_bytes="3000",
        memory_stat="inactive_file 5\ntotal_inactive_file 1000\n",
    )
    assert cgroup_headroom(tmp_path / "root", membership) == 5000 - (3000 - 1000)


def test_largest_fitting_size_keeps_the_aspect_ratio_and_the_stride():
    def pixels(height, width):
        return height * width

    height, width = largest_fitting_size(pixels, 600, 400, budget=100_000, stride=32)
    assert height % 32 == 0 and width % 32 == 0 and height * width <= 100_000
    assert (height, width) == (384, 256)  # 416 x 256 would fit but 416 / 256 strays from 600 / 400
    assert largest_fitting_size(pixels, 400, 600, 100_000, 32) == (256, 384)
    assert largest_fitting_size(pixels, 600, 400, budget=100, stride=32) is None
    assert largest_fitting_size(pixels, 600, 400, budget=5000, stride=32, min_size=64) is None


TOY = FitMemory(fixed_bytes=0, bytes_per_pixel=1000, stride=32, min_size=64, dtype=torch.float32, checkpointed_levels=0)


def test_a_fit_that_fits_passes():
    assert check_fits(TOY, 256, 256, available=10**9) is None
    assert check_fits(TOY, 4096, 4096, available=None) is None


def test_a_fit_too_large_says_what_fits_and_how():
    message = check_fits(TOY, 2048, 3072, available=10**9)
    largest = largest_fitting_size(TOY, 2048, 3072, int(0.9 * 10**9), 32, 64)
    assert f"{largest[1]} x {largest[0]} fits" in message and f"image.max_size={max(largest)}" in message
    assert "6.3 GB (fp32)" in message and "1.0 GB free" in message
    assert "bf16-mixed" in message and "activation checkpointing" in message and "smaller network" in message
    assert "\n" not in message


def test_options_already_taken_are_not_offered():
    taken = FitMemory(0, 1000, 32, 64, torch.bfloat16, checkpointed_levels=5)
    message = check_fits(taken, 2048, 2048, available=10**8)
    assert "bf16-mixed" not in message and "checkpointing" not in message and "(bf16)" in message
    assert "not even the smallest image fits" in check_fits(TOY, 2048, 2048, available=10**6)
