"""The restorations of a folder sweep (`observed_dir=FOLDER`) gathered in one folder under the photos' own
names, `<sweep>/restored/<photo>.png`, so that a folder of photos in gives a folder of photos out."""

import logging
from collections import Counter
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from dip_lightning.atomic import write_atomically
from dip_lightning.reporting.summary import RESTORATIONS
from dip_lightning.reporting.sweep import find_jobs, read_job

log = logging.getLogger(__name__)

RESTORED_DIR = "restored"


def output_names(images: list[str]) -> list[str]:
    """photo.jpg -> photo.png; two photos of one stem (a.jpg, a.png) keep their suffixes apart (a_jpg.png)."""
    stems = Counter(Path(image).stem for image in images)
    names = []
    for image in images:
        path = Path(image)
        names.append(f"{path.stem}.png" if stems[path.stem] == 1 else f"{path.stem}_{path.suffix.lstrip('.')}.png")
    return names


def gather_restorations(sweep_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Copy each finished job's restoration (its average where it has one, as the summary shows) to
    `<sweep_dir>/restored/<photo>.png`; return the files written and the photos without one (failed or
    unfinished jobs)."""
    jobs = [read_job(folder) for folder in find_jobs(Path(sweep_dir))]
    jobs = [job for job in jobs if job.record.image]
    missing = [Path(job.record.image).name for job in jobs if not job.finished]
    written = []
    finished = [job for job in jobs if job.finished]
    for job, name in zip(finished, output_names([job.record.image for job in finished]), strict=True):
        source = next((job.folder / file for file in RESTORATIONS if (job.folder / file).is_file()), None)
        if source is None:
            missing.append(Path(job.record.image).name)
            continue
        data = source.read_bytes()
        target = Path(sweep_dir) / RESTORED_DIR / name
        write_atomically(target, lambda handle, data=data: handle.write(data))
        written.append(target)
    return written, missing


class GatherRestored(Callback):
    """Hydra callback: in a folder sweep, gathers the restorations after each job (on any launcher, where
    the job runs) and when the sweep ends; never raises: the sweep's result stands."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        self._gather(config, log.debug)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self._gather(config, log.info)

    @staticmethod
    def _gather(config: DictConfig, report) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN or not OmegaConf.select(config, "observed_dir"):
            return
        sweep_dir = Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)
        try:
            written, missing = gather_restorations(sweep_dir)
        except Exception as error:
            log.warning("restored images not gathered: %s: %s", type(error).__name__, error)
            return
        failed = f"; not restored: {', '.join(missing)} (summary.md says why)" if missing else ""
        report(
            "restored images: %s (%d of %d photos%s)",
            sweep_dir / RESTORED_DIR,
            len(written),
            len(written) + len(missing),
            failed,
        )
