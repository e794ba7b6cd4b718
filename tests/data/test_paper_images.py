"""Slow tests on the paper's images (../shared/data): the reference's crops, masks and networks on
its own files, and a real denoising run. Skipped where the data is absent; run with `make test-slow`."""

import pytest
from conftest import shared_image

from dip_lightning.build import build_module

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name, known_fraction",
    [("kate", 0.957), ("vase", 0.973), ("library", 0.814)],  # original-dip.md, section 2.4
)
def test_reference_inpainting_masks_load_with_their_known_fraction(configure, name, known_fraction):
    image = shared_image("dip", "inpainting", f"{name}.png")
    mask = shared_image("dip", "inpainting", f"{name}_mask.png")
    module = build_module(
        configure(
            "task=inpaint",
            "image=file",
            f"image.source={image}",
            "image.max_size=null",
            "mask=file",
            f"mask.path={mask}",
        )
    )
    assert module.physics.operator.mask.mean().item() == pytest.approx(known_fraction, abs=0.002)
    assert module.observed.shape[1] == 3


def test_snail_jpeg_is_cropped_as_the_reference(configure):
    snail = shared_image("dip", "denoising", "snail.jpg")  # 400 x 261 -> 384 x 256
    module = build_module(configure("task=jpeg", f"observed={snail}"))
    assert module.observed.shape == (1, 3, 256, 384)
    assert module.num_params == 572_827


def test_zebra_super_resolution_sizes_match_the_reference(configure):
    zebra = shared_image("dip", "sr", "zebra_GT.png")  # 584 x 388 -> HR 576 x 384, LR 144 x 96
    module = build_module(configure("task=sr", "image=file", f"image.source={zebra}", "image.max_size=null"))
    assert module.ground_truth.shape == (1, 3, 384, 576)
    assert module.observed.shape == (1, 3, 96, 144)
    assert module.num_params == 2_217_831


def test_barbara_runs_with_one_channel(configure):
    barbara = shared_image("dip", "restoration", "barbara.png")
    module = build_module(
        configure(
            "task=inpaint",
            "mask=bernoulli",
            "image=file",
            f"image.source={barbara}",
            "image.max_size=null",
            "arch.num_channels_skip=[4,4,4,4,4]",
            "arch.upsample_mode=bilinear",
        )
    )
    assert module.num_params == 2_217_573
    assert 1 - module.physics.operator.mask.mean().item() == pytest.approx(0.5, abs=0.01)


def test_f16_denoising_gains_over_5_db(fit):
    f16 = shared_image("dip", "denoising", "F16_GT.png")
    results = fit("task=denoise", "image=file", f"image.source={f16}", "image.max_size=128", "task.num_iter=800")
    assert results["psnr_input"] == pytest.approx(20.5, abs=0.5)
    assert results["psnr_avg"] > results["psnr_input"] + 5


def test_flash_no_flash_cave_pair_is_cropped_as_the_reference(configure):
    flash = shared_image("dip", "flash_no_flash", "cave01_00_flash.jpg")  # 774 x 706 -> 768 x 704
    no_flash = shared_image("dip", "flash_no_flash", "cave01_01_noflash.jpg")
    module = build_module(configure("task=flash", f"observed={no_flash}", f"prior.input_image={flash}"))
    assert module.observed.shape == (1, 3, 704, 768)
    assert module.prior.z.shape == (1, 3, 704, 768)
    assert module.num_params == 2_184_307
