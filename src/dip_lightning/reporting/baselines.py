"""Classical restorations of the same observation DIP is fitted to, for the tables beside the paper's numbers.

Each baseline takes the run's observation, a float32 (C, H, W) tensor in [0, 1] with C = 1 or 3, and what
the physics knows (the noise level, the factor, the mask), and returns its restoration in the same form,
at the ground truth's size. Nothing is tuned on the ground truth of the test images.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import median_filter
from scipy.special import digamma, polygamma
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, inpaint_biharmonic

from dip_lightning.losses.data_terms import AnscombeSquaredError
from dip_lightning.physics.kernels import bicubic

# TV weight per unit of noise (sigma / 255); see tv_denoise for where 0.7 comes from.
TV_WEIGHT_PER_SIGMA = 0.7


def _to_array(image: torch.Tensor) -> np.ndarray:
    """(H, W) for gray, (H, W, C) for colour: the layouts scikit-image and bm3d take."""
    array = image.detach().float().cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor.clamp(0, 1).contiguous()


def _channel_axis(image: torch.Tensor) -> int | None:
    return None if image.shape[0] == 1 else -1


def tv_denoise(observed: torch.Tensor, sigma: float) -> torch.Tensor:
    """Chambolle's total-variation denoising with weight 0.7 * sigma / 255 (sigma in 0-255 units), per channel.

    The ratio was calibrated once on scikit-image's astronaut, chelsea and coffee photographs (RGB and the
    gray astronaut and coffee; none is a test image of the paper), one clipped Gaussian noise draw each at
    sigma 10, 25 and 50, over ratios 0.5 to 1.2: the best ratio of the mean PSNR is 0.6 at sigma 10
    (33.17 dB), 0.7 at 25 (28.34 dB) and 0.8 at 50 (24.74 dB); 0.7 costs at most 0.11 dB of that mean at
    any of the three and 0.3 dB on any single image. The tolerance is tighter than scikit-image's default
    (eps 2e-4, 200 iterations), which sometimes stops early and made the calibration curves jump by 1 dB.
    """
    denoised = denoise_tv_chambolle(
        _to_array(observed),
        weight=TV_WEIGHT_PER_SIGMA * sigma / 255,
        eps=1e-5,
        max_num_iter=1000,
        channel_axis=_channel_axis(observed),
    )
    return _to_tensor(denoised)


def nlm_denoise(observed: torch.Tensor, sigma: float) -> torch.Tensor:
    """Non-local means with scikit-image's recipe for a known noise level: h = 0.8 sigma with sigma passed in
    (the expected patch distance is subtracted), fast mode, 5 x 5 patches searched 6 pixels around.
    Colour patches are compared over all three channels at once."""
    sigma_unit = sigma / 255
    denoised = denoise_nl_means(
        _to_array(observed),
        patch_size=5,
        patch_distance=6,
        h=0.8 * sigma_unit,
        sigma=sigma_unit,
        fast_mode=True,
        channel_axis=_channel_axis(observed),
    )
    return _to_tensor(denoised)


def bm3d_denoise(observed: torch.Tensor, sigma: float) -> torch.Tensor:
    """BM3D for gray images, CBM3D (BM3D in the opponent colour space) for colour, with the known sigma."""
    return _to_tensor(_bm3d(_to_array(observed), sigma / 255))


def _bm3d(array: np.ndarray, sigma_psd: float) -> np.ndarray:
    try:
        import bm3d
    except ImportError as error:
        raise ImportError("the BM3D baseline needs the bm3d package: pip install 'dip-lightning[baselines]'") from error
    denoised = bm3d.bm3d(array, sigma_psd) if array.ndim == 2 else bm3d.bm3d_rgb(array, sigma_psd)
    return np.reshape(denoised, array.shape)


def anscombe_bm3d_denoise(observed: torch.Tensor, gain: float, sigma: float) -> torch.Tensor:
    """Poisson(-Gaussian) noise (gain per photon; read-out sigma in 0-255 units, 0 for Poisson alone): BM3D
    of unit noise after the generalised Anscombe transform, inverted by the exact unbiased inverse (Makitalo
    & Foi 2013: the inverse of m(f) = E[GAT(y) | f], which AnscombeSquaredError tabulates). BM3D runs on
    each channel's transform (the opponent colour transform of CBM3D would mix their variances)."""
    term = AnscombeSquaredError(gain, sigma)
    transformed = term.transform(observed.detach().double().cpu()).float()
    denoised = torch.stack([torch.from_numpy(_bm3d(channel.numpy(), 1.0)).float() for channel in transformed])
    grid = torch.linspace(-0.1, 1.5, 16001)  # the intensities the inverse is looked up among
    expected = term.expected_transform(grid).double().numpy()
    restored = np.interp(denoised.double().numpy(), expected, grid.double().numpy())
    return torch.from_numpy(restored).float().clamp(0, 1)


def median_denoise(observed: torch.Tensor) -> torch.Tensor:
    """The 3 x 3 median of each channel: the classical filter for impulse (salt and pepper) noise."""
    array = observed.detach().float().cpu().numpy()
    return torch.from_numpy(np.stack([median_filter(channel, size=3, mode="reflect") for channel in array]))


def log_bm3d_denoise(observed: torch.Tensor, looks: float) -> torch.Tensor:
    """Speckle (y = x n, n ~ Gamma(looks, 1 / looks)) by the homomorphic route: BM3D of log y, whose noise
    log n has the variance trigamma(looks) and the mean digamma(looks) - log(looks), taken off before
    exp (each channel on its own)."""
    logs = np.log(np.maximum(observed.detach().double().cpu().numpy(), 1e-4))
    bias, spread = digamma(looks) - np.log(looks), np.sqrt(polygamma(1, looks))
    denoised = np.stack([_bm3d(channel, spread) for channel in logs])
    return torch.from_numpy(np.exp(denoised - bias)).float().clamp(0, 1)


def biharmonic_inpaint(observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting of the missing pixels; `mask` is (1, H, W) with 1 = known pixel."""
    missing = mask.detach().cpu()[0].numpy() < 0.5
    filled = inpaint_biharmonic(_to_array(observed), missing, channel_axis=_channel_axis(observed))
    return _to_tensor(filled)


@dataclass(frozen=True)
class Baseline:
    """A classical method as a table shows it: `label` heads its column; calling it with everything the run
    knows (observed, sigma, factor, mask) passes on the arguments its function names."""

    label: str
    restore: Callable[..., torch.Tensor]

    def __call__(self, **known) -> torch.Tensor:
        needed = list(inspect.signature(self.restore).parameters)
        missing = [name for name in needed if name not in known]
        if missing:
            raise TypeError(f"the {self.label} baseline needs {', '.join(missing)}")
        return self.restore(**{name: known[name] for name in needed})


# Task (conf/task name) -> baselines; the keys are the method keys of paper_numbers.yaml where the paper has them.
BASELINES: dict[str, dict[str, Baseline]] = {
    "denoise": {
        "tv": Baseline("TV", tv_denoise),
        "nlm": Baseline("NLM", nlm_denoise),
        "bm3d": Baseline("(C)BM3D", bm3d_denoise),
    },
    "sr": {"bicubic": Baseline("Bicubic", bicubic)},
    "inpaint": {"biharmonic": Baseline("Biharmonic", biharmonic_inpaint)},
}


def baselines_for(task: str) -> dict[str, Baseline]:
    """The baselines of a task, none for a task without any (jpeg, deblur, flash)."""
    return BASELINES.get(task, {})
