"""A user's photo comes back as it went in: its exact size (no crop: the network draws a canvas around it),
its mode and its depth, through restore() and the command line, with a two-step fit.

Every size meets two of the modes and every mode three of the sizes in the fits (the fit depends on the
mode only through its channel count; data/photo.py's own tests round-trip every mode without a fit)."""

from pathlib import Path

import numpy as np
import png
import pytest
import torch
from conftest import run_together
from PIL import Image, ImageCms

from dip_lightning import restore
from dip_lightning.data.canvas import Canvas

# A five-level skip network (stride 32, at least 64 px a side) of few channels: the default's shape, cheap
NET = ["arch.num_channels_down=[8,8,8,8,8]", "arch.num_channels_up=[8,8,8,8,8]", "arch.num_channels_skip=[4,4,4,4,4]"]
FAST = [*NET, "check_fit=false", "~logger", "save_every=null", "checkpoint_every=null"]
SIZES = [(1, 1), (1, 64), (17, 9), (37, 41), (63, 65), (100, 60), (130, 130), (200, 136), (1025, 3)]  # W x H
# mode -> what restored.png holds: (planes, bits per plane); a palette picture comes back as 8-bit RGB
MODES = {"L": (1, 8), "RGB": (3, 8), "RGBA": (4, 8), "I;16": (1, 16), "RGB;16": (3, 16), "P": (3, 8)}
PAIRS = [(size, list(MODES)[(2 * i + k) % len(MODES)]) for i, size in enumerate(SIZES) for k in range(2)]
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def write_picture(path: Path, mode: str, width: int, height: int) -> Path:
    """A random picture of `mode` (PIL's, or "RGB;16": 16 bits per colour channel, which PIL cannot write)."""
    rng = np.random.default_rng(width * 1000 + height)
    if mode in ("I;16", "RGB;16"):
        planes = 1 if mode == "I;16" else 3
        values = rng.integers(0, 65536, (height, width * planes), dtype=np.uint16)
        with path.open("wb") as handle:
            png.Writer(width, height, greyscale=planes == 1, bitdepth=16).write(handle, values.tolist())
        return path
    colour = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    picture = Image.fromarray(colour, "RGBA")
    if mode == "P":
        picture = picture.convert("RGB").quantize(16)
    elif mode != "RGBA":
        picture = picture.convert(mode)
    picture.save(path, icc_profile=SRGB if mode == "RGB" else None)
    return path


def png_layout(path: Path) -> tuple[int, int, int, int]:
    """(width, height, planes, bits per plane) as the PNG stores them."""
    width, height, _, info = png.Reader(filename=str(path)).read()
    return width, height, info["planes"], info["bitdepth"]


def alpha_of(path: Path) -> bytes:
    return Image.open(path).getchannel("A").tobytes()


@pytest.mark.parametrize("size, mode", PAIRS, ids=[f"{w}x{h}-{mode}" for (w, h), mode in PAIRS])
def test_restore_gives_the_photo_back_at_its_size_mode_and_depth(tmp_path, size, mode):
    width, height = size
    photo = write_picture(tmp_path / "photo.png", mode, width, height)
    result = restore(str(photo), "denoise", steps=2, overrides=FAST, output_dir=tmp_path / "run", progress=False)
    planes, bits = MODES[mode]
    assert result.record["size"] == [height, width] and result.restored.shape[-2:] == (height, width)
    for name in ("restored.png", "restored_avg.png"):
        assert png_layout(tmp_path / "run" / name) == (width, height, planes, bits)
    if mode == "RGBA":
        assert alpha_of(tmp_path / "run" / "restored.png") == alpha_of(photo)
    if mode == "RGB":
        assert Image.open(tmp_path / "run" / "restored.png").info["icc_profile"] == SRGB


@pytest.mark.parametrize("arch", ["skip", "encoder_decoder", "unet", "resnet"])
def test_every_network_restores_a_37_by_41_photo(tmp_path, arch):
    photo = write_picture(tmp_path / "photo.png", "RGB", 37, 41)
    result = restore(
        str(photo), steps=2, overrides=[f"arch={arch}", "check_fit=false"], output_dir=None, progress=False
    )
    assert result.restored.shape == (3, 41, 37) and result.record["num_params"] > 0


def test_super_resolution_of_an_odd_photo_is_factor_times_its_size_with_its_alpha(tmp_path):
    photo = write_picture(tmp_path / "low.png", "RGBA", 17, 9)
    result = restore(str(photo), "sr", steps=2, overrides=[*FAST, "task.factor=4"], output_dir=tmp_path / "run")
    assert result.restored.shape == (3, 36, 68)
    assert png_layout(tmp_path / "run" / "restored.png") == (68, 36, 4, 8)  # the alpha resized with it


def test_the_canvas_holds_the_image_at_its_centre_at_a_size_the_network_takes():
    assert Canvas.around(41, 37, 32, 64) == Canvas(11, 13, 41, 37, 64, 64)
    assert Canvas.around(136, 200, 32, 64) == Canvas(12, 12, 136, 200, 160, 224)
    assert Canvas.around(64, 96, 32, 64).is_whole
    assert Canvas.around(1, 1, 1, 2).size == (2, 2)
    canvas = Canvas.around(3, 5, 4, 8)
    image = torch.arange(15.0).reshape(1, 1, 3, 5)
    extended, placed = canvas.extend(image), canvas.place(image)
    assert extended.shape == placed.shape == (1, 1, 8, 8)
    assert torch.equal(canvas.cut(extended), image) and torch.equal(canvas.cut(placed), image)
    assert extended.sum() > placed.sum() == image.sum()  # the margins: the border repeated, or zero


CLI_CASES = {  # (width, height, mode): what the command line's run gets
    (37, 41, "RGBA"): ["task=denoise"],
    (17, 9, "RGB;16"): ["task=jpeg"],
    (1, 64, "P"): ["task=denoise"],
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict:
    """The command line's runs, started together."""
    folders = {case: tmp_path_factory.mktemp("cli") for case in CLI_CASES}
    photos = {
        (width, height, mode): write_picture(folders[(width, height, mode)] / "photo.png", mode, width, height)
        for width, height, mode in CLI_CASES
    }
    quiet = ["task.num_iter=2", "callbacks.progress_bar.refresh_rate=0"]
    commands = {
        case: (
            [f"observed={photos[case]}", *quiet, f"hydra.run.dir={folders[case] / 'run'}", *FAST, *overrides],
            folders[case],
        )
        for case, overrides in CLI_CASES.items()
    }
    return {case: (done, folders[case], photos[case]) for case, done in run_together(commands).items()}


@pytest.mark.cli
@pytest.mark.parametrize("case", list(CLI_CASES), ids=[f"{w}x{h}-{mode}" for w, h, mode in CLI_CASES])
def test_the_command_line_gives_the_photo_back_at_its_size_mode_and_depth(cli_runs, case):
    done, folder, photo = cli_runs[case]
    output = done.stdout + done.stderr
    width, height, mode = case
    assert done.returncode == 0, output
    assert "Warning" not in output and "Traceback" not in output
    assert png_layout(folder / "run" / "restored_avg.png") == (width, height, *MODES[mode])
    if mode == "RGBA":
        assert alpha_of(folder / "run" / "restored_avg.png") == alpha_of(photo)


def test_sure_fed_an_odd_photo_probes_only_the_photos_pixels(tmp_path):
    """SURE feeds the observation to the network (extended to the canvas) and differentiates by it: its probe
    perturbs the photo's pixels only."""
    photo = write_picture(tmp_path / "photo.png", "RGB", 37, 41)
    overrides = ["experiment=denoise_sure", *NET, "check_fit=false"]
    result = restore(str(photo), "denoise", steps=2, overrides=overrides, output_dir=None, progress=False)
    assert result.restored.shape == (3, 41, 37) and result.record["status"] == "finished"
