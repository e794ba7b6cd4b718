"""results.json as one type (run/results.py's RunRecord): what a real run writes is exactly the record's
JSON, field for field and in order; a record goes to JSON and back unchanged; a broken file is refused in
one clear error; the sweep's reader writes nothing."""

import json
from dataclasses import fields

import numpy as np
import pytest
from conftest import TINY_NET, noisy_photo, write_png
from sweep_jobs import finished, make_job

from dip_lightning import train
from dip_lightning.errors import InputError
from dip_lightning.reporting.paper_table import build_table
from dip_lightning.reporting.summary import summarize
from dip_lightning.reporting.sweep import read_sweep
from dip_lightning.run.results import RunRecord, TileEntry

DECLARED = {each.name for each in fields(RunRecord)}
TILE_DECLARED = {each.name for each in fields(TileEntry)}
DESCRIPTION = ["task", "prior", "arch", "image", "seed"]


def as_written(folder) -> dict:
    return json.loads((folder / "results.json").read_text())


def assert_read_back_as_written(folder) -> dict:
    """The folder's results.json holds declared fields only, and reading it gives back the same JSON, in order."""
    written = as_written(folder)
    assert set(written) <= DECLARED, set(written) - DECLARED
    for entry in written.get("tiles", []):
        assert set(entry) <= TILE_DECLARED, set(entry) - TILE_DECLARED
    again = RunRecord.read(folder).to_json()
    assert again == written and list(again) == list(written)
    return written


@pytest.fixture
def pictures(tmp_path):
    clean, noisy = noisy_photo(40, 48)
    to_png = {name: (image * 255).round().astype(np.uint8) for name, image in (("clean", clean), ("noisy", noisy))}
    return {name: write_png(tmp_path / f"{name}.png", image) for name, image in to_png.items()}


def test_a_fit_with_restarts_and_a_stopping_rule_writes_declared_fields(fit, pictures, tmp_path):
    overrides = [f"observed={pictures['noisy']}", f"ground_truth={pictures['clean']}", "restarts=2"]
    results = fit(*TINY_NET, *overrides, "task.num_iter=3")
    written = assert_read_back_as_written(tmp_path / "run")
    assert written == results  # what train.run returns is what results.json holds
    assert list(written)[:8] == [*DESCRIPTION, "profile", "memory_format", "status"] and list(written)[-1] == "files"
    assert written["stopping"] == "held-out validation" and len(written["stop_step"]) == 2
    assert len(written["psnr_restarts"]) == 2 and written["gap_to_best"] is not None


def test_a_tiled_photo_without_ground_truth_writes_declared_fields(fit, pictures, tmp_path):
    results = fit(*TINY_NET, f"observed={pictures['noisy']}", "task.num_iter=2", "tile=32", "tile_overlap=8")
    written = assert_read_back_as_written(tmp_path / "run")
    assert written == results and len(written["tiles"]) == 4 and "psnr" not in written  # no truth: no score
    assert list(written["tiles"][0])[:6] == ["index", "top", "left", "height", "width", "status"]
    for index in range(4):
        tile = assert_read_back_as_written(tmp_path / "run" / "tiles" / f"{index:03d}")
        assert tile["psnr"] is None and tile["psnr_observed"] is not None  # a fit writes its unknown scores null


def test_a_run_that_failed_before_its_first_step_writes_what_it_is_and_why(configure, tmp_path):
    cfg = configure("task.num_iter=2")
    (tmp_path / "run").mkdir()
    train.record_failure(cfg, InputError("the picture is too small"))
    written = assert_read_back_as_written(tmp_path / "run")
    assert list(written) == [*DESCRIPTION, "profile", "status"]
    assert written["status"] == "failed: InputError: the picture is too small" and written["arch"] == "skip"


def test_a_record_goes_to_json_and_back_unchanged(tmp_path):
    box = {"top": 0, "left": 8, "height": 32, "width": 32}
    tiles = [
        TileEntry(index=1, **box, status="finished", steps=5, stop_step=[3, 4], seconds=1.5, psnr_observed=30.0),
        TileEntry(index=2, **box, status="failed: InputError: no"),
    ]
    record = RunRecord(task="denoise", status="finished", seconds=2.5, size=[40, 48], tile=32, tiles=tiles, files=["a"])
    fitted = RunRecord(task="sr", status="running", steps=3, psnr=27.5, psnr_restarts=[27.0, None], crop=box)
    for each in (record, fitted, RunRecord()):
        assert RunRecord.from_json(json.loads(json.dumps(each.to_json()))) == each
        each.write(tmp_path)
        assert RunRecord.read(tmp_path) == each
    assert list(record.to_json()) == [*DESCRIPTION, "status", "seconds", "size", "tile", "tiles", "files"]
    assert list(record.to_json()["tiles"][1]) == ["index", *box, "status"]  # a failed tile: no scores
    assert fitted.to_json()["psnr_avg"] is None and fitted.to_json()["best_psnr_step"] is None  # a fit's: null
    assert "psnr_avg" not in record.to_json() and "memory_format" not in fitted.to_json()


@pytest.mark.parametrize(
    "text, error, message",
    [
        ("{not json", json.JSONDecodeError, "Expecting property name"),
        ("[1, 2]", ValueError, "results.json holds a JSON list, not an object"),
        ('{"status": "finished", "psnr_max": 30}', ValueError, "fields that are not RunRecord's: psnr_max"),
        ('{"tiles": {"index": 0}}', ValueError, "results.json's tiles is a JSON dict, not a list"),
        ('{"tiles": [{"index": 0, "status": "finished"}]}', ValueError, "a tile of results.json lacks top, left"),
    ],
)
def test_a_broken_results_json_is_refused_in_one_clear_error(tmp_path, text, error, message):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(error, match=message):
        RunRecord.read(tmp_path)


def test_a_missing_results_json_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        RunRecord.read(tmp_path)


def test_reading_a_sweep_writes_nothing_and_gives_the_summarys_rows(tmp_path):
    sweep = tmp_path / "sweep"
    make_job(sweep, "0", "0.01", {**finished(psnr=26.0, psnr_avg=27.0), "task": "jpeg"})
    make_job(sweep, "1", "0.1", {**finished(psnr=25.0, psnr_avg=28.0, stop_step=20), "task": "jpeg"})
    make_job(sweep, "2", "1.0", None)
    for job in "012":  # the paper table's notes read the image's crop
        with (sweep / job / ".hydra" / "config.yaml").open("a") as config:
            config.write("image:\n  center_crop: null\n")
    before = sorted(sweep.rglob("*"))
    read = read_sweep(sweep)
    table = build_table(sweep)  # the paper table reads the jobs so too (a task without baselines: no config needed)
    assert sorted(sweep.rglob("*")) == before  # neither wrote a file
    assert [row["job"] for row in read.rows] == ["1", "0", "2"] and read.rows[0]["stop_step"] == 20
    assert [row["run"] for row in table.rows] == [
        "optimizer.lr=0.01",
        "optimizer.lr=0.1",
        "optimizer.lr=1.0 (failed: no results.json)",
    ]
    summary = summarize(sweep)
    assert summary.rows == read.rows and summary.columns == read.columns and summary.metric == read.metric
    assert {path.name for path in summary.files} == {"summary.md", "summary.csv", "summary_grid.png"}
    with pytest.raises(InputError, match="does not exist"):
        read_sweep(tmp_path / "nowhere")
