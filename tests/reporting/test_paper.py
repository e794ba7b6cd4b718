"""The paper's presets: each composes and runs on a tiny crop; a preset swept over a folder of images gives
a table beside the paper's numbers and the baselines on the same inputs."""

import csv
import json
import subprocess
import sys

import pytest
from conftest import SHARED_DATA

from dip_lightning.cli import paper_table
from dip_lightning.data.folders import dataset_files, image_files
from dip_lightning.data.images import load_image, to_pil
from dip_lightning.errors import InputError
from dip_lightning.reporting.paper_table import ORACLE

PRESETS = [
    "paper_denoise",
    "paper_sr_x4_set5",
    "paper_sr_x4_set14",
    "paper_sr_x8_set5",
    "paper_sr_x8_set14",
    "paper_inpaint_table1",
    "paper_inpaint",
    "paper_architectures",
    "paper_jpeg",
    "paper_flash",
    "paper_prior_effect",
    "paper_noise_impedance",
]


def test_a_dataset_folder_becomes_the_values_of_a_sweep(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in image_files(tmp_path)] == ["a.jpg", "b.png"]
    assert dataset_files(str(tmp_path)) == f"'{tmp_path / 'a.jpg'}','{tmp_path / 'b.png'}'"
    with pytest.raises(InputError, match="dataset folder .* not found"):
        image_files(tmp_path / "missing")


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_composes_and_runs_two_steps_on_a_tiny_crop(fit, preset):
    if not SHARED_DATA.is_dir():
        pytest.skip("the paper's images live in ../shared/data")
    results = fit(f"experiment={preset}_mini", "image.max_size=null", "task.num_iter=2")  # on its own crop
    assert results["status"] == "finished" and results["steps"] == 2


@pytest.mark.sweeps
def test_a_preset_swept_over_a_folder_is_tabled_beside_the_paper_and_the_baselines(tmp_path):
    data = tmp_path / "data" / "cbm3d9"
    data.mkdir(parents=True)
    for name, source in (("F16", "astronaut"), ("baboon", "chelsea")):  # stand-ins, named as the paper's images
        to_pil(load_image(source, center_crop=128)).save(data / f"{name}.png")  # the mini preset's crop
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "dip_lightning", "-m", "experiment=paper_denoise_mini", "task.num_iter=3"]
    command += [f"dataset_dir={tmp_path / 'data'}", f"hydra.sweep.dir={sweep}", "callbacks.progress_bar.refresh_rate=0"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=600)
    table = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "paper-table", str(sweep)], capture_output=True, text=True, timeout=600
    )
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader((sweep / "paper_table.csv").open()))
    assert [row["image"] for row in rows] == ["F16", "baboon", "average (2 runs)"]
    f16 = rows[0]
    assert float(f16["paper [R] DIP"]) == 33.69 and float(f16["paper [R] CBM3D"]) == 32.67  # per image
    assert float(f16["TV"]) > 21 and float(f16["(C)BM3D"]) > float(f16["TV"]) - 3  # run on the same input
    ours = [float(row["DIP averaged over 2 runs"]) for row in rows[:2]]
    assert float(rows[2]["DIP averaged over 2 runs"]) == pytest.approx(sum(ours) / 2, abs=1e-3)
    assert float(rows[2]["paper [P] DIP, 2 runs averaged"]) == 31.00  # the paper's own average
    (f16_record,) = [json.loads(path.read_text()) for path in sweep.glob("*F16*/results.json")]
    assert float(f16[ORACLE]) == pytest.approx(f16_record["best_psnr_avg"], abs=0.01)  # its best step, by the truth
    text = (sweep / "paper_table.md").read_text()
    assert "PSNR in dB" in text and "2 runs of at most 3 steps" in text  # the mini preset's rule on a synthetic image
    assert "- Stopping: held-out validation: the runs ended after " in text


def test_a_sweep_without_a_finished_job_is_reported_in_its_place(tmp_path):
    (tmp_path / "paper_flash").mkdir()
    report = tmp_path / "RESULTS.md"
    assert paper_table.main([str(tmp_path / "paper_flash"), "--report", str(report), "--header", "# head"]) == 2
    assert report.read_text().startswith("# head") and "### paper_flash\n\nNo table: " in report.read_text()
