"""Checks that need a CUDA device; skipped without one."""

import math

import pytest
import torch
from conftest import TINY_NET

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_denoising_runs_on_the_gpu(fit, precision):
    results = fit("trainer.accelerator=gpu", f"trainer.precision={precision}", "task.num_iter=30")
    assert results["device"] == "cuda:0" and results["precision"] == precision
    assert math.isfinite(results["psnr_avg"]) and results["steps"] == 30


@pytest.fixture
def exact_float32(monkeypatch):
    """fp32 convolutions and products without TF32's 10-bit mantissa, for comparisons between runs."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


def test_gpu_runs_are_repeatable_but_not_bitwise(fit, tmp_path, exact_float32):
    """The same seed gives the same observation, z and weights; the backward passes of reflection padding
    and bilinear upsampling add with atomics on CUDA, in any order, so the fits differ in the last bits
    (CPU runs are bitwise repeatable: tests/test_reliability.py)."""
    from dip_lightning.data.images import read_image
    from dip_lightning.fitting.metrics import psnr

    runs = []
    for _ in range(2):
        runs.append(
            fit("trainer.accelerator=gpu", "trainer.precision=32-true", *TINY_NET, "task.num_iter=10", "seed=3")
        )
        runs[-1]["picture"] = read_image(tmp_path / "run" / "restored_avg.png")
    assert runs[0]["psnr_input"] == runs[1]["psnr_input"]
    assert psnr(runs[0]["picture"][None], runs[1]["picture"][None]) > 40  # the same restoration, to the eye


def test_auto_precision_picks_bf16_on_a_gpu_that_has_it(fit):
    results = fit("trainer.accelerator=gpu", "trainer.precision=auto", "task.num_iter=3")
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "32-true"
    assert results["precision"] == expected


def test_batched_restarts_match_sequential_ones_on_the_gpu(configure, exact_float32):
    import pytorch_lightning as pl

    from dip_lightning.build import build_module

    outputs = []
    for batched in (True, False):
        overrides = ["trainer.accelerator=gpu", "restarts=2", f"restarts_batched={batched}", "task.num_iter=3"]
        module = build_module(configure(*overrides, *TINY_NET, "prior.reg_noise_std=0"))
        quiet = dict(logger=False, enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
        pl.Trainer(max_steps=3, accelerator="gpu", devices=1, precision="32-true", **quiet).fit(module)
        outputs.append(module.outputs.output.cpu())
    # the same fit, up to the atomics of the padding's and upsampling's backward (as two runs of one mode)
    from dip_lightning.fitting.metrics import psnr

    assert psnr(outputs[0], outputs[1]) > 40


def test_the_memory_check_reads_the_gpus_free_memory(configure, caplog):
    import logging

    from dip_lightning.build import build_module

    with caplog.at_level(logging.INFO):
        build_module(configure("trainer.accelerator=gpu", "check_fit=true"))
    assert "on cuda" in caplog.text and "estimated:" in caplog.text
