"""A folder of photos in one command (`observed_dir=FOLDER`): one job per image, the restorations gathered
under the photos' names, a summary row per photo, a damaged photo reported while the others go on; masks
matched by name (`mask_dir=FOLDER`)."""

import csv
import logging
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_NET, write_png
from omegaconf import OmegaConf

from dip_lightning.data.folders import folder_mask, folder_sweep, quoted, sweep_mode
from dip_lightning.errors import InputError
from dip_lightning.reporting.restored import output_names
from dip_lightning.run.folder import job_dirname


@pytest.fixture
def photos(tmp_path, photo):
    """b.jpg and a.png (two small photos), c.png (damaged: cut short) and notes.txt (not an image)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_png(folder / "a.png", photo[:32, :32])
    write_png(folder / "b.jpg", photo[-32:, -48:])
    (folder / "c.png").write_bytes((folder / "a.png").read_bytes()[:100])
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_a_folder_becomes_one_job_per_image_sorted_and_other_files_are_skipped_with_a_line(photos, caplog):
    with caplog.at_level(logging.WARNING):
        params = folder_sweep(str(photos), None)
    assert params == {"observed": ",".join(quoted(str(photos / name)) for name in ("a.png", "b.jpg", "c.png"))}
    assert "skipped 1 that is not images: notes.txt" in caplog.text
    assert folder_sweep(None, None) == {} and sweep_mode(None) is None and sweep_mode(str(photos)) == "MULTIRUN"
    with pytest.raises(InputError, match="observed_dir .*missing not found"):
        folder_sweep(str(photos / "missing"), None)
    with pytest.raises(InputError, match="give observed_dir too"):
        folder_sweep(None, str(photos))


def test_each_photo_gets_the_mask_of_its_name(tmp_path, photos):
    masks = tmp_path / "masks"
    masks.mkdir()
    write_png(masks / "b.png", np.full((32, 48), 255, np.uint8))
    assert folder_sweep(str(photos), str(masks))["mask"] == "folder"
    assert folder_mask(str(masks), str(photos / "b.jpg"), None, None).path == (masks / "b.png").resolve()
    with pytest.raises(InputError, match="no mask named a in"):
        folder_mask(str(masks), str(photos / "a.png"), None, None)


def test_an_inpainting_job_of_a_folder_sweep_fits_with_its_mask(tmp_path, photos, photo, fit_logged):
    masks = tmp_path / "masks"
    masks.mkdir()
    known = np.full((32, 32), 255, np.uint8)
    known[8:16, 4:28] = 0
    write_png(masks / "a.png", known)
    picture = photo[:32, :32].copy()
    picture[known == 0] = 0
    write_png(photos / "a.png", picture)
    overrides = [f"observed={quoted(str(photos / 'a.png'))}", "mask=folder", f"mask_dir={masks}"]  # as the sweep gives
    results = fit_logged("task=inpaint", *overrides, *TINY_NET, "task.num_iter=2")
    assert results["status"] == "finished" and "mask.png" in results["files"]


def test_a_jobs_name_is_the_photo_it_restores(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    OmegaConf.save(
        {"hydra": {"overrides": {"task": ["observed_dir=photos", "check_fit=false"]}}}, sweep / "multirun.yaml"
    )
    params = {"observed": "'/data/photos/a.png','/data/photos/b.jpg'", "mask": "folder"}
    job = ["observed='/data/photos/b.jpg'", "mask=folder", "observed_dir=photos", "check_fit=False"]
    assert job_dirname(1, job, str(sweep), params) == "1_observed=b"


def test_restored_photos_keep_their_names_and_two_of_one_stem_stay_apart():
    assert output_names(["/x/a.png", "/x/b.jpg"]) == ["a.png", "b.png"]
    assert output_names(["/x/a.jpg", "/x/a.png", "/x/c.tif"]) == ["a_jpg.png", "a_png.png", "c.png"]


@pytest.mark.sweeps
def test_a_folder_in_one_command_restores_each_photo_and_reports_the_damaged_one(tmp_path, photos):
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "dip_lightning", "task=denoise", f"observed_dir={photos}"]  # no -m needed
    command += TINY_NET
    command += [
        "task.num_iter=3",
        "check_fit=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"hydra.sweep.dir={sweep}",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "skipped 1 that is not images: notes.txt" in output and "Traceback" not in output

    restored = sweep / "restored"
    assert sorted(path.name for path in restored.iterdir()) == ["a.png", "b.png"]
    jobs = {path.name: path for path in sweep.iterdir() if path.name[0].isdigit()}
    assert sorted(jobs) == ["0_observed=a", "1_observed=b", "2_observed=c"]
    assert (restored / "b.png").read_bytes() == (jobs["1_observed=b"] / "restored_avg.png").read_bytes()

    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 3
    assert [row["status"] for row in rows].count("finished") == 2
    (failed,) = [row for row in rows if row["status"].startswith("failed")]
    assert "c.png is truncated or damaged" in failed["status"]
    assert "not restored: c.png" in output
