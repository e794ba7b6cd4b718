"""Every task with every network, through the same composed config the command line uses."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import write_png
from PIL import Image

from dip_lightning.build import build_module
from dip_lightning.config.location import config_dir
from dip_lightning.data.images import read_image
from dip_lightning.errors import InputError
from dip_lightning.physics.kernels import bicubic
from dip_lightning.run.comparison import comparison_panels
from dip_lightning.run.record import evaluate

SMALL_NET = ["arch.num_channels_down=[32,32,32]", "arch.num_channels_up=[32,32,32]", "arch.num_channels_skip=[4,4,4]"]
# every task and network as shipped (a new one is tested by adding its yaml), but the two that restore
# nothing: `fit` fits a target and `flash` needs its flash / no-flash pair (their presets:
# tests/reporting/test_paper.py)
NOT_RESTORATIONS = {"fit", "flash"}
TASKS = sorted(path.stem for path in (config_dir() / "task").glob("[!_]*.yaml") if path.stem not in NOT_RESTORATIONS)
ARCHS = sorted(path.stem for path in (config_dir() / "arch").glob("*.yaml"))
RESULT_FIELDS = {
    "task",
    "arch",
    "image",
    "seed",
    "num_params",
    "steps",
    "seconds",
    "psnr",
    "psnr_avg",
    "ssim",
    "ssim_avg",
    "psnr_observed",
    "psnr_input",
    "status",
}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("task", TASKS)
def test_every_task_runs_with_every_network(fit, tmp_path, task, arch):
    results = fit(f"task={task}", f"arch={arch}", "task.num_iter=3")
    assert RESULT_FIELDS <= results.keys()
    assert (results["task"], results["arch"], results["image"], results["seed"]) == (task, arch, "astronaut", 0)
    assert results["steps"] == 3 and results["status"] == "finished"
    assert results["size"] == [64, 64]
    assert all(results[key] is not None for key in ("psnr", "psnr_avg", "ssim", "psnr_observed", "psnr_input"))
    run = tmp_path / "run"
    assert json.loads((run / "results.json").read_text()) == results
    for name in results["files"]:
        assert (run / name).is_file()
    restored = read_image(run / "restored.png")
    assert restored.shape == (3, 64, 64)
    observation = read_image(run / "observation.png")
    assert observation.shape == ((3, 16, 16) if task == "sr" else (3, 64, 64))
    comparison = Image.open(run / "comparison.png")
    panels = 5 if task == "sr" else 4  # observation, (bicubic), restored, averaged, ground truth
    assert comparison.width == panels * 256 and comparison.height > 256  # 64 px panels zoomed 4x


def test_a_short_denoising_run_rises_above_the_noisy_input(fit):
    results = fit(
        "task=denoise",
        "task.num_iter=400",
        "arch.num_channels_down=[32,32,32]",
        "arch.num_channels_up=[32,32,32]",
        "arch.num_channels_skip=[4,4,4]",
    )
    assert results["psnr_input"] == pytest.approx(20.6, abs=0.5)  # sigma 25 on a [0, 1] image
    assert results["psnr"] > results["psnr_input"] + 2.0
    assert results["psnr_avg"] > results["psnr_input"] + 2.0


def test_a_short_inpainting_run_fills_the_holes(fit):
    results = fit(
        "task=inpaint",
        "mask=bernoulli",
        "task.num_iter=60",
        "arch.num_channels_down=[32,32,32]",
        "arch.num_channels_up=[32,32,32]",
        "arch.num_channels_skip=[32,32,32]",
    )
    assert results["psnr_input"] < 12  # half the pixels are black
    assert results["psnr"] > results["psnr_input"] + 6


def test_super_resolution_fits_and_improves(fit, tmp_path, photo):
    path = write_png(tmp_path / "smooth.png", photo)
    common = ["task=sr", "image=file", f"image.source={path}", *SMALL_NET]
    start = fit(*common, "task.num_iter=1")
    results = fit(*common, "task.num_iter=150")
    assert results["psnr_observed"] > 30  # the downsampled output matches the observation
    assert results["psnr"] > start["psnr"] + 10


def test_results_are_repeatable_with_a_seed(fit, tmp_path):
    first = fit("task.num_iter=4", "seed=7")
    first_image = (tmp_path / "run" / "restored_avg.png").read_bytes()
    second = fit("task.num_iter=4", "seed=7")
    assert (tmp_path / "run" / "restored_avg.png").read_bytes() == first_image
    assert {k: first[k] for k in ("psnr", "psnr_avg", "psnr_input")} == {
        k: second[k] for k in ("psnr", "psnr_avg", "psnr_input")
    }
    other = fit("task.num_iter=4", "seed=8")
    assert other["psnr_input"] != first["psnr_input"]


def test_grayscale_images_run_with_one_channel(fit, tmp_path):
    results = fit("task=inpaint", "image=camera", "mask=bernoulli", "task.num_iter=2")
    assert read_image(tmp_path / "run" / "restored.png").shape == (1, 64, 64)
    assert results["num_params"] > 0


def test_images_are_restored_whole_on_a_canvas_the_network_can_take(fit, tmp_path, photo):
    path = write_png(tmp_path / "photo.png", photo)  # 72 x 100: the network draws 96 x 128, centred
    results = fit("image=file", f"image.source={path}", "image.max_size=null", "task.num_iter=2")
    assert results["size"] == [72, 100] and results["crop"]["height"] == 72 and results["crop"]["width"] == 100
    assert read_image(tmp_path / "run" / "restored.png").shape == (3, 72, 100)


def test_fit_size_crop_centre_crops_to_the_network_stride_as_the_reference(fit, tmp_path, photo):
    path = write_png(tmp_path / "photo.png", photo)  # 72 x 100
    results = fit("image=file", f"image.source={path}", "image.max_size=null", "task.num_iter=2", "fit_size=crop")
    assert results["size"] == [64, 96]
    assert results["crop"] == {"top": 4, "left": 2, "height": 64, "width": 96, "source_height": 72, "source_width": 100}


def test_an_image_too_small_to_crop_for_the_network_is_refused(configure, tmp_path, photo):
    path = write_png(tmp_path / "small.png", photo[:40, :40])
    with pytest.raises(InputError, match="restored image would be 32x32 pixels, but this network needs at least 64"):
        build_module(configure("image=file", f"image.source={path}", "fit_size=crop"))
    assert build_module(configure("image=file", f"image.source={path}")).outputs.output_avg.shape == (1, 3, 40, 40)


# ----- the user's own files --------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["denoise", "jpeg"])
def test_users_observation_without_ground_truth(fit, tmp_path, photo, task):
    path = tmp_path / ("noisy.png" if task == "denoise" else "photo.jpg")
    Image.fromarray(photo).save(path)
    results = fit(f"task={task}", f"observed={path}", "task.num_iter=3")
    assert results["image"] == str(path)
    assert results["psnr"] is None and results["psnr_avg"] is None and results["ssim"] is None
    assert results["psnr_observed"] is not None
    assert results["size"] == [72, 100]
    assert "ground_truth.png" not in results["files"]


def test_users_observation_with_ground_truth_is_scored_but_not_fitted(fit, tmp_path, photo):
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    observed = write_png(tmp_path / "noisy.png", noisy)
    truth = write_png(tmp_path / "clean.png", photo)
    results = fit("task=denoise", f"observed={observed}", f"ground_truth={truth}", "task.num_iter=3")
    assert results["psnr_input"] == pytest.approx(20.4, abs=0.6)
    assert results["psnr"] is not None and "ground_truth.png" in results["files"]


def test_users_low_resolution_photo_is_super_resolved(fit, tmp_path, photo):
    low = write_png(tmp_path / "low.png", photo)
    results = fit("task=sr", f"observed={low}", "task.num_iter=2", "task.factor=4", *SMALL_NET)
    assert results["size"] == [288, 400]  # 3 levels: stride 8, so the 72 x 100 observation needs no crop
    assert read_image(tmp_path / "run" / "restored.png").shape == (3, 288, 400)
    assert results["psnr"] is None


def test_super_resolution_ground_truth_must_be_factor_times_larger(configure, tmp_path, photo):
    low = write_png(tmp_path / "low.png", photo)
    with pytest.raises(ValueError, match="ground truth is .* but the restoration .* will be"):
        build_module(configure("task=sr", f"observed={low}", f"ground_truth={low}"))


def test_users_damaged_photo_and_mask(fit, tmp_path, photo):
    mask = np.full(photo.shape[:2], 255, np.uint8)
    mask[10:20, 10:30] = 0
    observed = write_png(tmp_path / "damaged.png", photo)
    mask_path = write_png(tmp_path / "mask.png", mask)
    results = fit("task=inpaint", f"observed={observed}", "mask=file", f"mask.path={mask_path}", "task.num_iter=2")
    saved_mask = read_image(tmp_path / "run" / "mask.png")
    assert saved_mask.shape == (1, 72, 100)
    assert saved_mask.mean().item() == pytest.approx(1 - 10 * 20 / (72 * 100), abs=1e-6)
    assert results["psnr"] is None


def test_mask_file_of_another_size_is_refused(configure, tmp_path, photo):
    observed = write_png(tmp_path / "damaged.png", photo)
    mask_path = write_png(tmp_path / "mask.png", np.full((10, 10), 255, np.uint8))
    with pytest.raises(ValueError, match="must have the image's size"):
        build_module(configure("task=inpaint", f"observed={observed}", "mask=file", f"mask.path={mask_path}"))


def test_ground_truth_without_observation_is_refused(configure, tmp_path, photo):
    truth = write_png(tmp_path / "clean.png", photo)
    with pytest.raises(ValueError, match="give observed= too"):
        build_module(configure(f"ground_truth={truth}"))


def test_observation_is_the_degraded_ground_truth(configure):
    sr = build_module(configure("task=sr", "task.factor=4"))
    assert sr.observed.shape == (1, 3, 16, 16) and sr.ground_truth.shape == (1, 3, 64, 64)
    inpaint = build_module(configure("task=inpaint", "mask=bernoulli"))
    assert torch.equal(inpaint.observed, inpaint.ground_truth * inpaint.physics.operator.mask)
    denoise = build_module(configure("task=denoise", "task.sigma=25"))
    noise = denoise.observed - denoise.ground_truth
    assert noise.std().item() == pytest.approx(25 / 255, rel=0.15)
    assert denoise.observed.min() >= 0 and denoise.observed.max() <= 1  # clipped, as the reference


# ----- the two tasks added on the physics seams ------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def test_deblurring_is_one_python_file_and_one_yaml_under_80_lines():
    files = [ROOT / "src" / "dip_lightning" / "physics" / "blur.py", ROOT / "conf" / "task" / "deblur.yaml"]
    assert sum(len(path.read_text().splitlines()) for path in files) < 80


def test_deblurring_sharpens_above_the_blurred_input(fit):
    results = fit("task=deblur", "task.num_iter=400", *SMALL_NET)
    assert results["psnr_input"] < 19  # the blurred observation
    assert results["psnr"] > results["psnr_input"] + 1.0


def test_users_blurred_photo_with_their_kernel(fit, tmp_path, photo):
    kernel = np.zeros((7, 7), np.uint8)
    kernel[3, 1:6] = 255
    blurred = write_png(tmp_path / "blurred.png", photo)
    kernel_path = write_png(tmp_path / "k.png", kernel)
    results = fit("task=deblur", f"observed={blurred}", f"task.kernel={kernel_path}", "task.num_iter=3")
    assert results["task"] == "deblur" and results["size"] == [72, 100] and results["psnr"] is None


def test_flash_no_flash_feeds_the_flash_photo_to_the_network(configure, fit, tmp_path, photo):
    flash = write_png(tmp_path / "flash.png", np.clip(photo * 1.4 + 20, 0, 255).astype(np.uint8))
    no_flash = write_png(tmp_path / "noflash.png", (photo * 0.5).astype(np.uint8))
    overrides = ["task=flash", f"observed={no_flash}", f"prior.input_image={flash}", "task.num_iter=3"]
    assert configure(*overrides).optimizer.lr == 0.1  # the reference's
    results = fit(*overrides, "check_fit=true")  # the memory and time check reads a picture input too
    assert results["num_params"] == 2_184_307  # the default skip net with 3 input channels
    assert results["size"] == [72, 100] and "input.png" in results["files"]
    saved_input = read_image(tmp_path / "run" / "input.png")
    assert torch.allclose(saved_input, read_image(flash), atol=1 / 255)  # the photo's part of the canvas


def test_flash_no_flash_needs_the_flash_photo(configure, tmp_path, photo):
    no_flash = write_png(tmp_path / "noflash.png", photo)
    with pytest.raises(ValueError, match="input_type=image needs prior.input_image=PATH"):
        build_module(configure("task=flash", f"observed={no_flash}"))
    small = write_png(tmp_path / "small.png", photo[:40, :40])
    with pytest.raises(ValueError, match="the input image is 40x40 but the restoration's source is 100x72"):
        build_module(configure("task=flash", f"observed={no_flash}", f"prior.input_image={small}"))


# ----- one name, one number ------------------------------------------------------------------------
def test_the_logged_curve_and_results_json_agree(fit_logged, tmp_path):
    results = fit_logged("task.num_iter=20")
    rows = list(csv.DictReader((tmp_path / "run" / "csv" / "metrics.csv").open()))
    last = rows[-1]
    for name in ("psnr", "psnr_avg", "ssim", "ssim_avg", "psnr_observed"):
        assert round(float(last[name]), 4) == pytest.approx(results[name], abs=2e-4), name


def test_comparison_names_each_panel_and_the_runs_state(configure):
    module = build_module(configure("task=sr", "task.num_iter=3", *SMALL_NET))
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    pl.Trainer(max_steps=3, **quiet).fit(module)
    record = {**module.record(), **evaluate(module), "arch": "skip", "status": "interrupted"}
    title, panels = comparison_panels(module, record)
    assert title == "sr, skip: step 3 of 3, interrupted"
    captions = [caption.split("  ")[0] for caption, _ in panels]
    assert captions == ["observation", "bicubic", "restored", "averaged", "ground truth"]
    assert panels[1][0] == f"bicubic  {record['psnr_input']:.2f} dB"
    assert torch.equal(panels[1][1], bicubic(module.observed[0], 4))  # PIL's bicubic, the paper's row
    assert panels[0][1].shape == (3, 16, 16)  # the observation as it is (the picture enlarges it)
