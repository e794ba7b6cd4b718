"""How a sweep on SLURM learns the states of its jobs where `sacct` does not answer. submitit (the SLURM
launcher) asks sacct every few seconds; on a cluster without job accounting (many small ones) each call
prints "Slurm accounting storage is disabled" and a warning, and a job that ends without a result (killed,
out of memory, cancelled) is never seen to end, so the sweep waits for it forever. Where sacct fails, the
sweep says so once and asks squeue instead, which every cluster has: it knows the jobs that are pending,
running and recently ended, and a job it no longer lists has ended."""

import getpass
import logging
import subprocess

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
ENDED = "ENDED"  # the state of a job squeue no longer lists (past the cluster's MinJobAge)


def sacct_problem() -> str | None:
    """Why sacct cannot tell the jobs' states here (its error), or None where it answers."""
    try:
        subprocess.run(
            ["sacct", "--noheader", "--allocations", "--starttime", "now", "--format", "JobID"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        return " ".join((error.stderr or error.stdout or f"exit status {error.returncode}").split())
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{type(error).__name__}: {error}"
    return None


def squeue_watcher():
    """A submitit job watcher that reads squeue instead of sacct (built here: submitit is imported lazily)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class SqueueWatcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            if not self._registered - self._finished:
                return None
            # the user's jobs, one line per array task, whatever their state (not --jobs: squeue fails
            # on a job id it has forgotten)
            return ["squeue", "--noheader", "--array", "--states=all", f"--user={getpass.getuser()}"] + [
                "--format=%i|%T|%N"
            ]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            text = string.decode() if isinstance(string, bytes) else string
            info = {}
            for line in text.splitlines():
                job_id, state, nodes = (line.split("|") + ["", ""])[:3]
                info[job_id.strip()] = {"JobID": job_id.strip(), "State": state.strip(), "NodeList": nodes.strip()}
            for job_id in self._registered - self._finished - set(info):
                info[job_id] = {"JobID": job_id, "State": ENDED, "NodeList": ""}
            return info

    return SqueueWatcher(delay_s=60)


class SlurmJobStates(Callback):
    """Hydra callback of hydra/launcher=slurm: before the jobs are submitted, checks sacct once and,
    where it fails, says so and has submitit follow the jobs with squeue."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if OmegaConf.select(config, "hydra.launcher._target_") != SLURM_LAUNCHER:
            return
        problem = sacct_problem()
        if problem is None:
            return
        from submitit.slurm.slurm import SlurmJob

        SlurmJob.watcher = squeue_watcher()
        log.info(f"sacct does not answer on this cluster ({problem}): the sweep follows its jobs with squeue")
