"""`restore(...)`, the Python API: the same record as the command line for the same settings, the command
line's errors as exceptions, pictures in memory, nothing left behind between two fits; and the example
notebook, every cell run in order (slow)."""

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_NET, dip, write_png
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from PIL import Image

from dip_lightning import Restoration, restore
from dip_lightning.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "restore.ipynb"
# A tiny fit, the same from Python and from the command line (one thread: the same sums on both sides).
SETTINGS = [
    *TINY_NET,
    "task.num_iter=6",
    "task.eval_every=2",
    "trainer.log_every_n_steps=2",
    "threads=1",
    "trainer.accelerator=cpu",
    "check_fit=false",
    "save_every=null",
]
QUIET = ["callbacks.progress_bar.refresh_rate=0"]


@pytest.fixture
def picture(tmp_path, photo) -> Path:
    return write_png(tmp_path / "photo.png", photo[:32, :48])


@pytest.mark.cli
def test_the_api_records_what_the_command_line_records_for_the_same_settings(tmp_path, picture):
    done = dip(
        "image=file", f"image.source={picture}", *SETTINGS, *QUIET, f"hydra.run.dir={tmp_path / 'cli'}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())

    result = restore(image=picture, overrides=SETTINGS, output_dir=tmp_path / "api", progress=False)
    assert result.folder == tmp_path / "api"
    assert json.loads((tmp_path / "api" / "results.json").read_text()) == result.record
    for key in ("psnr", "psnr_avg", "psnr_observed", "psnr_input", "ssim", "steps", "best_psnr", "num_params"):
        assert result.record[key] == cli[key], key
    assert result.record["steps"] == 6 and result.record["status"] == "finished"
    assert sorted(result.record["files"]) == sorted(cli["files"])
    # the curve as data: csv/metrics.csv by step, scored every eval_every steps and at the last
    assert sorted(result.curve["psnr_avg"]) == [2, 4, 6]
    assert result.curve["psnr_avg"][6] == pytest.approx(result.record["psnr_avg"], abs=1e-4)
    # the pictures as tensors, the restoration as the PNG the run saved
    assert result.restored.shape == result.observation.shape == (3, 32, 48)
    saved = np.asarray(Image.open(tmp_path / "api" / "restored_avg.png"))
    assert np.array_equal(np.asarray(result.to_pil()), saved)
    assert (tmp_path / "api" / ".hydra" / "overrides.yaml").is_file() and (
        tmp_path / "api" / "dip_lightning.log"
    ).stat().st_size


def test_two_fits_in_a_row_are_the_same_and_leave_the_caller_as_it_was(tmp_path, picture, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    hydra_before, hydra_config_before = GlobalHydra.instance().is_initialized(), HydraConfig.instance().cfg
    torch.manual_seed(123)
    random.seed(5)
    threads, expected_next = torch.get_num_threads(), torch.rand(3)
    torch.manual_seed(123)
    environment = dict(os.environ)
    fits = [restore(image=picture, seed=3, overrides=SETTINGS, output_dir=None, progress=False) for _ in range(2)]
    assert fits[0].record["psnr_avg"] == fits[1].record["psnr_avg"] and fits[0].record["seed"] == 3
    assert torch.equal(fits[0].restored, fits[1].restored) and torch.equal(fits[0].restored_avg, fits[1].restored_avg)
    assert fits[0].folder is None and not list((tmp_path / "temporary").iterdir())  # output_dir=None keeps none
    # the caller's generators, threads, environment and Hydra state, as before the fits
    assert torch.equal(torch.rand(3), expected_next) and random.random() == random.Random(5).random()
    assert torch.get_num_threads() == threads and dict(os.environ) == environment
    assert GlobalHydra.instance().is_initialized() == hydra_before
    assert HydraConfig.instance().cfg is hydra_config_before


def test_pictures_in_memory_are_fitted_as_the_same_picture_from_a_file(tmp_path, picture):
    from_file = restore(picture, overrides=SETTINGS, output_dir=None, progress=False)
    array = np.array(Image.open(picture))
    for given in (array, Image.open(picture), torch.from_numpy(array).permute(2, 0, 1)[None] / 255.0):
        fitted = restore(given, overrides=SETTINGS, output_dir=None, progress=False)
        assert fitted.record["psnr_observed"] == from_file.record["psnr_observed"]
        assert torch.equal(fitted.restored, from_file.restored)
    assert fitted.record["image"].startswith("in memory")


def test_bad_input_raises_the_command_lines_errors(tmp_path, picture):
    with pytest.raises(FileNotFoundError, match="image file not found: missing.png"):
        restore("missing.png", output_dir=tmp_path / "failed", progress=False)
    assert json.loads((tmp_path / "failed" / "results.json").read_text())["status"].startswith("failed: FileNotFound")
    cases = [
        (dict(overrides=["task.num_iter=0"]), "task.num_iter must be an integer >= 1, got 0"),
        (dict(overrides=["arch=foo"]), "arch=foo is not an option: arch is one of"),
        (dict(overrides=["task.nokey=1"]), "task.nokey is not a setting: to add a new key, write \\+task.nokey=1"),
        (dict(overrides="seed=1"), "overrides is a list of strings"),
        (dict(ground_truth=picture), "ground_truth= scores a user's observed= image; give observed= too"),
        (dict(overrides=[f"observed_dir={tmp_path}"]), "restore\\(\\) fits one picture"),
    ]
    for arguments, message in cases:
        with pytest.raises(InputError, match=message):
            restore(output_dir=None, progress=False, **arguments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_gpu_the_machine_does_not_have_raises_input_error_and_is_recorded(tmp_path, picture):
    with pytest.raises(InputError, match="trainer.accelerator=gpu asks for a CUDA GPU, but torch sees none") as refused:
        restore(
            image=picture, overrides=["trainer.accelerator=gpu"], steps=2, output_dir=tmp_path / "gpu", progress=False
        )
    assert "use trainer.accelerator=auto or cpu" in str(refused.value)
    record = json.loads((tmp_path / "gpu" / "results.json").read_text())
    assert record["status"] == f"failed: InputError: {refused.value}"


def test_an_inpainting_mask_in_memory_is_the_known_pixels(tmp_path, photo):
    picture = photo[:32, :32].copy()
    known = np.ones((32, 32), bool)
    known[8:16, 8:24] = False
    picture[~known] = 0
    result = restore(picture, "inpaint", mask=known, overrides=SETTINGS, output_dir=None, progress=False)
    assert torch.equal(result.images["mask"][0].bool(), torch.from_numpy(known))
    assert isinstance(result, Restoration) and result.to_pil("mask").size == (32, 32)


KILLED_HALF_WAY = """
import os, signal, sys, threading, time
import numpy as np
from dip_lightning import restore

def kill_at_the_first_checkpoint(folder):
    while not os.path.exists(os.path.join(folder, "checkpoint.ckpt")):
        time.sleep(0.005)
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=kill_at_the_first_checkpoint, args=(sys.argv[1],), daemon=True).start()
restore(np.load(sys.argv[2]), overrides=sys.argv[3:], output_dir=sys.argv[1], progress=False)
"""


@pytest.mark.sweeps
def test_a_fit_of_a_picture_in_memory_killed_half_way_goes_on_when_restore_is_called_again(tmp_path, photo):
    """No file holds a picture given as data: `python -m dip_lightning resume` says so in one line (exit 2)
    and how to go on, and restore() called again with the same picture and folder goes on from the
    checkpoint to the uninterrupted fit's result."""
    picture = photo[:32, :48].astype(np.float32) / 255
    np.save(tmp_path / "picture.npy", picture)
    settings = [*SETTINGS, "task.num_iter=400", "checkpoint_every=20", *QUIET]
    folder = tmp_path / "killed"
    script = [sys.executable, "-c", KILLED_HALF_WAY, str(folder), str(tmp_path / "picture.npy"), *settings]
    killed = subprocess.run(script, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9 and (folder / "checkpoint.ckpt").is_file(), killed.stderr
    command_line = [sys.executable, "-m", "dip_lightning", "resume", str(folder)]
    refused = subprocess.run(command_line, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "Traceback" not in said
    assert "InputError: observed was a picture given to restore() in Python (in memory: numpy ndarray)" in said
    assert "call restore() again with the same pictures and output_dir=its folder" in said
    resumed = restore(picture, overrides=settings, output_dir=folder, progress=False)
    whole = restore(picture, overrides=settings, output_dir=tmp_path / "whole", progress=False)
    assert resumed.record["resumed_from"] and resumed.record["steps"] == whole.record["steps"] == 400
    assert resumed.record["psnr_avg"] == whole.record["psnr_avg"]
    assert torch.equal(resumed.restored_avg, whole.restored_avg)


@pytest.mark.slow
def test_the_example_notebook_runs_every_cell(tmp_path, monkeypatch):
    """Each code cell in order, in one namespace, as a notebook kernel would (plain Python: no magics)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    namespace = {"__name__": "__main__"}
    for number, cell in enumerate(cells):
        source = "".join(cell["source"])
        assert not cell["outputs"] and not source.lstrip().startswith(("%", "!")), f"cell {number}"
        exec(compile(source, f"{NOTEBOOK.name}, code cell {number}", "exec"), namespace)
    result = namespace["result"]
    assert result.record["psnr_avg"] > result.record["psnr_input"]  # the restoration beats the noisy photo
    assert len(namespace["compared"]) == 2 and (tmp_path / "outputs").is_dir()
