"""A photo in overlapping tiles: the grid covers every pixel, the blend's weights sum to one (an identity
"fit" of every tile gives the photo back), a tiled run restores the whole photo at its size above the noisy
input, a run started again fits only the tiles that had not finished, and tile=auto tiles only what cannot
fit whole."""

import json

import numpy as np
import pytest
import torch
from conftest import noisy_photo

from dip_lightning import restore
from dip_lightning.build import plan_tiles
from dip_lightning.config.composition import composed
from dip_lightning.data.tiles import ALIGN, TileGrid, aligned
from dip_lightning.hardware import preflight

SMALL = ["arch.num_channels_down=[16,16,16]", "arch.num_channels_up=[16,16,16]", "arch.num_channels_skip=[4,4,4]"]
FAST = [*SMALL, "check_fit=false", "~logger", "save_every=null", "callbacks.progress_bar.refresh_rate=0"]
GRIDS = [(1, 1, 64, 16), (17, 9, 8, 2), (100, 60, 32, 8), (130, 130, 128, 32), (256, 384, 128, 32), (75, 300, 40, 0)]


@pytest.mark.parametrize("height, width, tile, overlap", GRIDS)
def test_tiles_cover_every_pixel_overlap_their_neighbours_and_start_aligned(height, width, tile, overlap):
    grid = TileGrid(height, width, tile, overlap)
    covered = torch.zeros(height, width)
    for box in grid.tiles:
        box(covered).add_(1)
        assert box.top % aligned(tile, overlap) == 0 and box.left % aligned(tile, overlap) == 0
        assert min(box.height, height) <= max(tile, min(height, tile)) + ALIGN - 1
    assert covered.min() >= 1
    rows = sorted({(box.top, box.height) for box in grid.tiles})
    for (top, size), (next_top, _) in zip(rows, rows[1:], strict=False):
        assert top + size - next_top >= overlap  # neighbours share at least the overlap


@pytest.mark.parametrize("height, width, tile, overlap", GRIDS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_an_identity_fit_of_every_tile_stitches_back_the_photo(height, width, tile, overlap, channels):
    grid = TileGrid(height, width, tile, overlap)
    photo = torch.rand(channels, height, width, dtype=torch.float64)
    assert torch.allclose(grid.stitch([box(photo) for box in grid.tiles]), photo, atol=1e-12)
    ones = grid.stitch([torch.ones(1, box.height, box.width) for box in grid.tiles])
    assert torch.allclose(ones, torch.ones(1, height, width))  # the blend's weights sum to one everywhere


def test_a_photo_scale_times_larger_stitches_from_its_tiles_of_the_low_resolution_grid():
    grid = TileGrid(20, 30, 16, 4)
    large = torch.rand(3, 80, 120)
    assert torch.allclose(grid.stitch([box(large, 4) for box in grid.tiles], scale=4), large, atol=1e-6)


def test_the_blend_passes_smoothly_from_one_tile_to_the_next():
    grid = TileGrid(8, 64, 40, 16)
    left, right = grid.tiles
    weights = grid.weight(left)[0]
    assert weights[0] == 1 and weights[-1] < 0.01 and torch.all(weights[1:] <= weights[:-1])  # falls to ~0 at its end
    assert grid.weight(right)[0, 0] < 0.01 and grid.weight(right)[0, -1] == 1


def test_a_tiled_run_restores_the_whole_photo_above_the_noisy_input_and_goes_on_where_it_stopped(tmp_path):
    clean, noisy = noisy_photo(40, 48)
    settings = dict(task="denoise", ground_truth=clean, steps=80, stopping="none", progress=False)
    overrides = [*FAST, "tile=32", "tile_overlap=8", "task.exp_weight=0.9"]  # an average of few steps
    first = restore(noisy, **settings, overrides=overrides, output_dir=tmp_path / "run")
    record = first.record
    assert record["status"] == "finished" and record["size"] == [40, 48] and first.restored_avg.shape == (3, 40, 48)
    assert len(record["tiles"]) == 4 and all(tile["status"] == "finished" for tile in record["tiles"])
    assert record["psnr_avg"] > record["psnr_input"] + 3
    assert {"restored.png", "restored_avg.png", "tiles.png", "comparison.png"} <= set(record["files"])
    # a run killed during its fourth tile: the fourth tile is fitted again, the first three kept
    tiles = tmp_path / "run" / "tiles"
    (tiles / "003" / "restoration.pt").unlink()
    kept = {index: (tiles / f"{index:03d}" / "results.json").read_text() for index in (0, 1, 2)}
    again = restore(noisy, **settings, overrides=overrides, output_dir=tmp_path / "run")
    assert all((tiles / f"{index:03d}" / "results.json").read_text() == kept[index] for index in kept)
    assert json.loads((tiles / "003" / "results.json").read_text())["updated"] != json.loads(kept[2])["updated"]
    assert torch.equal(again.restored_avg, first.restored_avg)  # each tile's fit is its seed's


def configured(*overrides: str):
    with composed(["observed=photo.png", *overrides]) as cfg:
        return cfg


def test_tile_auto_keeps_a_photo_that_fits_whole_and_tiles_one_that_does_not(monkeypatch):
    photo = {"observed": (torch.zeros(3, 300, 400), None)}
    assert plan_tiles(configured(), photo, torch.float32) is None  # 400 x 300 fits this machine
    monkeypatch.setattr(preflight, "available_bytes", lambda device: 600 * 10**6)
    grid, scale = plan_tiles(configured(), photo, torch.float32)
    assert scale == 1 and 1 < len(grid) and 64 <= grid.tile < 300 and grid.overlap == 32
    assert plan_tiles(configured("tile=none"), photo, torch.float32) is None
    sr_grid, sr_scale = plan_tiles(configured("task=sr"), {"observed": (torch.zeros(3, 75, 100), None)}, torch.float32)
    assert sr_scale == 4 and sr_grid.tile * 4 <= grid.tile + 32  # tiles of the low-resolution photo
    assert sr_grid.overlap == sr_grid.tile // 4  # the overlap shrunk with them


def test_a_phone_photo_is_planned_in_tiles_with_an_estimate_instead_of_refused(caplog):
    with caplog.at_level("INFO"):
        grid, _ = plan_tiles(configured(), {"observed": (torch.zeros(3, 3000, 4000), None)}, torch.float32)
    assert len(grid) > 1 and "tile=auto: the whole photo does not fit in memory" in caplog.text
    assert f"restored in {len(grid)} tiles of {grid.tile} px" in caplog.text and "estimated:" in caplog.text


def test_tiles_of_a_clean_image_or_an_overlap_as_large_as_the_tile_are_refused():
    from dip_lightning.errors import InputError

    with composed(["tile=64"]) as cfg, pytest.raises(InputError, match="tile=64 restores a photo of yours in tiles"):
        plan_tiles(cfg, {"image": (torch.zeros(3, 100, 100), None)}, torch.float32)
    with pytest.raises(InputError, match=r"tile_overlap must be in \[0, tile\)"):
        plan_tiles(
            configured("tile=64", "tile_overlap=64"), {"observed": (torch.zeros(3, 100, 100), None)}, torch.float32
        )


def test_a_tile_that_fails_ends_the_run_with_its_record_and_the_way_on(tmp_path):
    from dip_lightning.errors import InputError

    _, noisy = noisy_photo(40, 48)
    known = np.ones((40, 48), bool)
    known[:36, :36] = False  # the first tile (rows and columns 0-32) has no known pixel
    with pytest.raises(InputError, match=r"tile 1 of 4 did not finish .*no pixel as known.* go on with python -m"):
        restore(
            noisy, "inpaint", mask=known, steps=5, overrides=[*FAST, "tile=32", "tile_overlap=8"], output_dir=tmp_path
        )
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"].startswith("failed: tile 0: failed: InputError") and len(record["tiles"]) == 1


@pytest.mark.sweeps
def test_a_sweep_over_the_tiles_gives_the_tiled_runs_photo_and_goes_on_without_refitting(tmp_path):
    """-m observed=PATH tile=N: one job per tile on the joblib launcher, stitched into <sweep>/restored/
    when the last one ends, equal to the tiles fitted one after another in one run; the same command in the
    same sweep folder fits only the tile that had not finished."""
    import subprocess
    import sys

    from PIL import Image

    clean, noisy = noisy_photo(40, 48)
    photo = tmp_path / "photo.png"
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(photo)
    settings = [*FAST, "tile=32", "tile_overlap=8", "task.num_iter=20", "stopping=none", "threads=1"]
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "dip_lightning", "-m", f"observed={photo}", *settings]
    command += ["hydra/launcher=parallel", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    jobs = sorted(path for path in sweep.iterdir() if path.name[0].isdigit())
    assert [job.name.split(",")[0] for job in jobs] == [f"{index}_tile_index={index}" for index in range(4)]
    stitched = torch.load(sweep / "restored" / "photo.pt", weights_only=True)["restored_avg"]
    assert Image.open(sweep / "restored" / "photo.png").size == (48, 40)
    in_one_run = restore(str(photo), "denoise", overrides=settings, output_dir=tmp_path / "run", progress=False)
    assert torch.allclose(stitched, in_one_run.restored_avg, atol=1e-4)
    # the third job killed before it finished: the same command fits it alone, and stitches again
    (jobs[2] / "restoration.pt").unlink()
    (sweep / "restored" / "photo.png").unlink()
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    log = again.stdout + again.stderr
    assert again.returncode == 0 and log.count("had finished in") == 3, log
    assert (sweep / "restored" / "photo.png").is_file()
