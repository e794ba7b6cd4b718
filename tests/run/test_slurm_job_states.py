"""How a sweep on SLURM follows its jobs where sacct does not answer (src/dip_lightning/run/slurm_job_states.py),
without a cluster: squeue's answer read as submitit reads sacct's, and the one-line reason sacct gives.
tests/cluster/test_slurm.py runs it on a real SLURM."""

import os
import stat

from dip_lightning.run.slurm_job_states import ENDED, sacct_problem, squeue_watcher


def test_squeue_says_which_jobs_run_and_a_job_it_forgot_has_ended():
    watcher = squeue_watcher()
    for job in ("12_0", "12_1", "12_2", "13"):
        watcher.register_job(job)
    command = watcher._make_command()
    assert command[:4] == ["squeue", "--noheader", "--array", "--states=all"] and command[-1] == "--format=%i|%T|%N"
    info = watcher.read_info(b"12_0|RUNNING|node3\n12_1|PENDING|\n13|COMPLETED|node1\n99|RUNNING|node2\n")
    assert {job: info[job]["State"] for job in ("12_0", "12_1", "12_2", "13")} == {
        "12_0": "RUNNING",
        "12_1": "PENDING",
        "12_2": ENDED,  # past MinJobAge: squeue no longer lists it
        "13": "COMPLETED",
    }
    watcher._info_dict.update(info)
    assert [watcher.is_done(job, mode="cache") for job in ("12_0", "12_1", "12_2", "13")] == [False, False, True, True]


def test_sacct_problem_is_its_error_in_one_line(tmp_path, monkeypatch):
    sacct = tmp_path / "sacct"
    sacct.write_text("#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n")
    sacct.chmod(sacct.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert sacct_problem() == "Slurm accounting storage is disabled"
    sacct.write_text("#!/bin/sh\nexit 0\n")
    assert sacct_problem() is None
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert sacct_problem().startswith("FileNotFoundError")
