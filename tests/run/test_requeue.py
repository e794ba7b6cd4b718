"""A job its scheduler stops and starts again (src/dip_lightning/run/requeue.py), without a scheduler:
the signals SLURM sends are sent to the test's own process at a chosen step. tests/cluster/ does the
same on a real SLURM."""

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from conftest import FAST, TINY_NET, compose_config

from dip_lightning.errors import InputError
from dip_lightning.run.placement import placement
from dip_lightning.run.requeue import CONFIG_KEY, run_config
from dip_lightning.train import EXIT_SIGTERM, run

TINY = [
    "image.max_size=32",
    *TINY_NET,
    "task.num_iter=20",
    "checkpoint_every=1000",  # no periodic checkpoint in 20 steps: the ones here are saved on the signal
]
SCORES = ("status", "steps", "psnr", "psnr_avg", "ssim", "ssim_avg", "psnr_observed", "best_psnr_avg")


class SignalAt(pl.Callback):
    """Sends `signum` to this process after step `step`, as SLURM would."""

    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class FakeSubmitit:
    """Stands for submitit's handler of the time-limit signal: records what the run had saved when it
    was called, then ends the process as submitit does after requeueing the job."""

    def __init__(self, checkpoint):
        self.checkpoint, self.calls = checkpoint, []

    def __call__(self, signum, frame):
        saved = torch.load(self.checkpoint, weights_only=True) if self.checkpoint.is_file() else {}
        self.calls.append((signum, saved.get("global_step")))
        raise SystemExit(-1)


@pytest.fixture
def keep_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR2)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_job_stopped_at_its_time_limit_goes_on_by_itself_to_the_uninterrupted_result(tmp_path, keep_signal_handlers):
    folder = tmp_path / "job"
    configure = lambda *extra: compose_config(folder, *FAST, *TINY, *extra)  # noqa: E731
    whole = run(compose_config(tmp_path / "whole", *FAST, *TINY))

    # the time-limit warning: the fit stops after step 7 with a checkpoint, then submitit's handler runs
    submitit = FakeSubmitit(folder / "checkpoint.ckpt")
    signal.signal(signal.SIGUSR2, submitit)
    with pytest.raises(SystemExit) as stopped:
        run(configure(), extra_callbacks=[SignalAt(7, signal.SIGUSR2)])
    assert stopped.value.code == EXIT_SIGTERM
    assert submitit.calls == [(signal.SIGUSR2, 7)]  # called once, after the checkpoint of step 7
    assert signal.getsignal(signal.SIGUSR2) is submitit  # handed back
    checkpoint = torch.load(folder / "checkpoint.ckpt", weights_only=True)
    assert checkpoint[CONFIG_KEY] == run_config(configure()) and checkpoint[CONFIG_KEY]["task"]["sigma"] == 25

    # started again with another config: refused, the checkpoint kept
    with pytest.raises(
        InputError,
        match=r"holds the checkpoint of a run with other settings \(seed=0, .* there\): start that run again",
    ):
        run(configure("seed=1"))
    assert (folder / "checkpoint.ckpt").is_file()

    # started again as it was (SLURM's requeue): goes on from step 7 (SIGTERM, SLURM's preemption
    # signal, is tests/test_reliability.py's and tests/cluster/'s)
    resumed = run(configure())
    assert resumed["resumed_from"] == [7]
    assert {key: resumed[key] for key in SCORES} == {key: whole[key] for key in SCORES}
    assert not (folder / "checkpoint.ckpt").exists()


def test_placement_names_the_slurm_job_and_its_requeues(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT"):
        monkeypatch.delenv(name, raising=False)
    assert placement() is None
    monkeypatch.setenv("SLURM_JOB_ID", "40")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "38")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURMD_NODENAME", "gpu07")
    assert placement() == "SLURM job 38_2 on node gpu07"
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert placement() == "SLURM job 38_2 on node gpu07 (requeued 2 times)"
