"""Image quality metrics, as the reference computes them: over all channels and pixels, peak 1."""

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of a (N, C, H, W) prediction, clipped to [0, 1], as the reference's `compare_psnr`."""
    return peak_signal_noise_ratio(prediction.float().clamp(0, 1), target.float(), data_range=1.0).item()


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM with peak 1, in fp32 even inside a bf16 step (its Gaussian window is a convolution, which
    autocast would otherwise run in bf16, so that the logged value would differ from the recorded one)."""
    with torch.autocast(prediction.device.type, enabled=False):
        return structural_similarity_index_measure(
            prediction.float().clamp(0, 1), target.float(), data_range=1.0
        ).item()


def psnr_from_mse(mse: float) -> float:
    """PSNR with peak 1 of a mean squared error: inf for 0, nan for nan."""
    return math.inf if mse == 0 else -10 * math.log10(mse)
