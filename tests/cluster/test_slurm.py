"""Sweeps through hydra/launcher=slurm on a real SLURM: a one-node cluster started by tests/cluster/slurm.sh
(munged, slurmctld and slurmd from Debian's slurm-wlm and munge packages, no accounting storage), as on a
login node. `make test-cluster`; skipped where SLURM is not installed."""

import csv
import os
import socket
import subprocess
from pathlib import Path

import pytest
from cluster_sweep import SCORES, cluster, finish, results, sweep, tiled_sweep, uninterrupted, wait_for

pytestmark = pytest.mark.cluster

SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """The environment that reaches the test cluster (SLURM_CONF)."""
    if os.geteuid() != 0:
        pytest.skip("the test SLURM runs its daemons as root")
    yield from cluster(
        "slurm.sh",
        tmp_path_factory.mktemp("slurm"),
        ["munged", "slurmctld", "slurmd", "sbatch"],
        "apt-get install slurm-wlm munge",
    )


def test_a_sweep_is_one_job_array_whose_rows_are_its_jobs_results(slurm, tmp_path):
    process = sweep(
        tmp_path,
        slurm,
        *SLURM,
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.array_parallelism=2",
        "task.sigma=-5,25,50",
    )
    output = finish(process, tmp_path, timeout=600)
    folder = tmp_path / "sweep"
    [script] = folder.glob(".submitit/*/*_submission.sh")
    assert "#SBATCH --array=0-2%2" in script.read_text() and "#SBATCH --requeue" in script.read_text()
    array = script.parent.name
    rows = {row["job"]: row for row in csv.DictReader((folder / "summary.csv").open())}
    assert sorted(rows) == ["0_sigma=-5", "1_sigma=25", "2_sigma=50"]
    failed = results(folder / "0_sigma=-5")
    assert failed["status"].startswith("failed: InputError: ") and "sigma" in failed["status"]
    assert rows["0_sigma=-5"]["status"] == failed["status"]
    for job in ("1_sigma=25", "2_sigma=50"):
        record = results(folder / job)
        assert record["status"] == "finished" and record["steps"] == 20
        for name in ("steps", "psnr", "psnr_avg", "ssim", "psnr_input"):
            assert float(rows[job][name]) == record[name], (job, name)
        log = (folder / job / "dip_lightning.log").read_text()
        assert f"running as SLURM job {array}_{job[0]} on node {socket.gethostname().split('.')[0]}" in log
    # no accounting storage here: said once, and the jobs' states come from squeue
    assert output.count("sacct does not answer on this cluster (Slurm accounting storage is disabled)") == 1
    assert output.count("accounting storage is disabled") == 1 and "Bypassing sacct error" not in output


def test_a_job_preempted_then_at_its_time_limit_ends_as_if_never_stopped(slurm, tmp_path):
    # no periodic checkpoint in 800 steps: the job goes on from the checkpoints it saves on the signals
    fit = ["task.num_iter=800", "save_every=10", "checkpoint_every=1000", "seed=3"]
    whole = uninterrupted(tmp_path / "whole", *fit)
    process = sweep(tmp_path, slurm, *SLURM, "hydra.launcher.cpus_per_task=2", "hydra.launcher.max_num_timeout=1", *fit)
    job = tmp_path / "sweep" / "0"
    wait_for(job, lambda record: record["steps"] >= 100, process)

    # preempted: a job of the urgent partition needs the whole node; SLURM sends SIGTERM and requeues it
    urgent = ["sbatch", "--partition=urgent", "--cpus-per-task=2", "--mem=100M", "--output=/dev/null", "--wrap=sleep 1"]
    subprocess.run(urgent, env=slurm, check=True, capture_output=True)
    wait_for(
        job,
        lambda record: len(record.get("resumed_from", [])) == 1 and record["steps"] >= record["resumed_from"][0] + 100,
        process,
    )

    # its time limit: the warning SLURM sends signal_delay_s before it (SIGUSR2), sent now by scancel
    [script] = (tmp_path / "sweep").glob(".submitit/*/*_submission.sh")  # in .submitit/<job id>/
    subprocess.run(["scancel", "--signal=USR2", script.parent.name], env=slurm, check=True, capture_output=True)
    finish(process, tmp_path, timeout=400)
    assert whole.wait(timeout=300) == 0

    got, expected = results(job), results(tmp_path / "whole")
    first, second = got["resumed_from"]
    assert first >= 100 and second >= first + 100  # the steps of the two signals: nothing was lost in between
    print(f"\npreempted at step {first}, timed out at step {second}; uninterrupted / requeued twice:")
    print({name: (expected[name], got[name]) for name in SCORES})
    assert {name: got[name] for name in SCORES} == {name: expected[name] for name in SCORES}
    for name in ("restored_avg.png", "csv/metrics.csv"):
        assert (job / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    log = (job / "dip_lightning.log").read_text()
    assert "(requeued 2 times)" in log and "SIGUSR2: the job's time is nearly up" in log
    assert not (job / "checkpoint.ckpt").exists()
    rows = list(csv.DictReader((tmp_path / "sweep" / "summary.csv").open()))
    assert [(row["status"], float(row["psnr_avg"])) for row in rows] == [("finished", expected["psnr_avg"])]


def test_a_photo_in_tiles_is_one_job_per_tile_stitched_as_the_same_tiles_in_one_run(slurm, tmp_path):
    launcher = [*SLURM, "hydra.launcher.cpus_per_task=1", "hydra.launcher.array_parallelism=2"]
    jobs, output = tiled_sweep(tmp_path, slurm, *launcher)
    [script] = (tmp_path / "sweep").glob(".submitit/*/*_submission.sh")
    assert "#SBATCH --array=0-3%2" in script.read_text(), output
    rows = list(csv.DictReader((tmp_path / "sweep" / "summary.csv").open()))
    assert sorted(row["job"] for row in rows) == jobs and {row["status"] for row in rows} == {"finished"}


def test_the_scripts_say_how_to_use_them():
    usage = subprocess.run([str(Path(__file__).parent / "slurm.sh")], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


@pytest.mark.slow  # about 6 minutes: the job runs up to its time limit at least once
def test_a_job_at_its_real_time_limit_goes_on_until_it_is_done(slurm, tmp_path):
    # a 2-minute limit and the warning 60 s before it (SLURM may send it up to a minute early): the job
    # fits about a minute a turn. Its steps are sized on this machine's speed, measured first, to need
    # about two minutes of fitting alone (more with the uninterrupted run beside it): at least one turn
    # runs out, on a fast machine or a slow one.
    calibration = tmp_path / "calibration"
    assert uninterrupted(calibration, "task.num_iter=300", "save_every=null", "seed=5").wait(timeout=600) == 0
    steps_per_second = 300 / results(calibration)["seconds"]
    steps = max(500, round(120 * steps_per_second / 50) * 50)
    fit = [f"task.num_iter={steps}", "save_every=50", "checkpoint_every=100000", "seed=5"]
    whole = uninterrupted(tmp_path / "whole", *fit)
    limits = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=8"]
    process = sweep(tmp_path, slurm, *SLURM, "hydra.launcher.cpus_per_task=2", *limits, *fit)
    finish(process, tmp_path, timeout=1500)
    assert whole.wait(timeout=600) == 0
    got, expected = results(tmp_path / "sweep" / "0"), results(tmp_path / "whole")
    print(f"\n{steps} steps, timed out at steps {got.get('resumed_from')}; uninterrupted / requeued:")
    print({name: (expected[name], got[name]) for name in SCORES})
    assert got.get("resumed_from") and {name: got[name] for name in SCORES} == {name: expected[name] for name in SCORES}
    [log] = (tmp_path / "sweep").glob(".submitit/*/*_0_log.err")
    assert log.read_text().count("this job is timed-out") == len(got["resumed_from"])
