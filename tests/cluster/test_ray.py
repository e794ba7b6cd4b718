"""Sweeps through hydra/launcher=ray_cluster on a real two-node Ray cluster (a head and a worker node
started by tests/cluster/ray.sh on this machine, one CPU each). `make test-cluster`; skipped where Ray
is not installed."""

import csv
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cluster_sweep import HERE, cluster, finish, results, sweep, tiled_sweep, wait_for

pytestmark = pytest.mark.cluster

RAY = ["hydra/launcher=ray_cluster", "hydra.launcher.ray.remote.num_cpus=1"]  # one job per node at a time
NODE = re.compile(r"running as Ray node (\w+)")


@pytest.fixture(scope="session")
def ray_cluster():
    """The environment that reaches the test cluster (RAY_ADDRESS)."""
    ray = Path(sys.executable).parent / "ray"
    if not ray.is_file():
        pytest.skip(f"{ray} not found: pip install 'dip-lightning[ray]'")
    with tempfile.TemporaryDirectory(prefix="dip-ray-", dir="/tmp") as folder:  # short: Ray's socket paths
        for environment in cluster("ray.sh", Path(folder), [], "", RAY=str(ray)):
            yield {**environment, "DIP_RAY_DIR": folder}


def nodes(job: Path) -> list[str]:
    """The Ray nodes a job ran on, in order (one per start)."""
    return NODE.findall((job / "dip_lightning.log").read_text())


def test_a_sweep_spreads_over_both_nodes_and_its_rows_are_its_jobs_results(ray_cluster, tmp_path):
    output = finish(sweep(tmp_path, ray_cluster, *RAY, "task.sigma=-5,25,50"), tmp_path, timeout=600)
    folder = tmp_path / "sweep"
    rows = {row["job"]: row for row in csv.DictReader((folder / "summary.csv").open())}
    assert sorted(rows) == ["0_sigma=-5", "1_sigma=25", "2_sigma=50"]
    failed = results(folder / "0_sigma=-5")
    assert failed["status"].startswith("failed: InputError: ") and rows["0_sigma=-5"]["status"] == failed["status"]
    used = set()
    for job in ("1_sigma=25", "2_sigma=50"):
        record = results(folder / job)
        assert record["status"] == "finished" and record["steps"] == 20
        for name in ("steps", "psnr", "psnr_avg", "ssim", "psnr_input"):
            assert float(rows[job][name]) == record[name], (job, name)
        used.update(nodes(folder / job))
    assert len(used) == 2, output  # two jobs at once, one CPU per node: one on each node
    assert "Connected to Ray cluster" in output


def test_a_photo_in_tiles_spreads_its_tiles_over_both_nodes_stitched_as_in_one_run(ray_cluster, tmp_path):
    jobs, _ = tiled_sweep(tmp_path, ray_cluster, *RAY)
    used = {node for job in jobs for node in nodes(tmp_path / "sweep" / job)}
    assert len(used) == 2  # four tiles, one CPU per node: both nodes fitted some


# last: it kills the worker node of the session's cluster
def test_a_job_whose_node_dies_goes_on_elsewhere_from_its_checkpoint(ray_cluster, tmp_path):
    fit = ["task.num_iter=1000", "save_every=10", "checkpoint_every=100", "seed=3,4"]
    process = sweep(tmp_path, ray_cluster, *RAY, *fit)
    jobs = [tmp_path / "sweep" / name for name in ("0_seed=3", "1_seed=4")]
    for job in jobs:
        wait_for(job, lambda record: record["steps"] >= 150, process)
    subprocess.run([str(HERE / "ray.sh"), "kill-worker", ray_cluster["DIP_RAY_DIR"]], check=True, timeout=60)
    output = finish(process, tmp_path, timeout=600)

    starts = {job.name: nodes(job) for job in jobs}
    moved = [name for name, ran_on in starts.items() if len(ran_on) == 2]
    assert len(moved) == 1 and len(set(starts[moved[0]])) == 2, starts  # the worker's job, on the head after
    record = results(tmp_path / "sweep" / moved[0])
    assert record["status"] == "finished" and record["steps"] == 1000
    assert len(record["resumed_from"]) == 1 and record["resumed_from"][0] >= 100  # its last checkpoint
    assert "the node it was running on is dead" in output and "the task will be retried" in output
    rows = list(csv.DictReader((tmp_path / "sweep" / "summary.csv").open()))
    assert sorted(row["status"] for row in rows) == ["finished", "finished"]
