"""Checks that need a CUDA device; skipped without one."""

import math

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_denoising_runs_on_the_gpu(fit, precision):
    results = fit("trainer.accelerator=gpu", f"trainer.precision={precision}", "task.num_iter=30")
    assert results["device"] == "cuda:0" and results["precision"] == precision
    assert math.isfinite(results["psnr_avg"]) and results["steps"] == 30


def test_gpu_runs_are_repeatable(fit):
    first = fit("trainer.accelerator=gpu", "task.num_iter=10", "seed=3")
    second = fit("trainer.accelerator=gpu", "task.num_iter=10", "seed=3")
    assert first["psnr_input"] == second["psnr_input"]
    assert first["psnr"] == pytest.approx(second["psnr"], abs=0.05)  # cuDNN is not bitwise deterministic
