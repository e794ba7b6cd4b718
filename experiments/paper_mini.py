"""Every paper preset at mini scale (128 px centre crops, a few hundred steps), as sweeps over the paper's
images in ../shared/data, two jobs at a time; then one table per preset into experiments/RESULTS.md.
Meant to finish in about 30 minutes on 2 CPU cores.

    python experiments/paper_mini.py [--presets paper_denoise,paper_jpeg] [--jobs 2] [--report PATH]
"""

import argparse
import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

from dip_lightning.hardware.machine import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parents[1]
# every preset that has a mini version, e.g. paper_denoise for conf/experiment/paper_denoise_mini.yaml
PRESETS = sorted(path.name.removesuffix("_mini.yaml") for path in (ROOT / "conf/experiment").glob("paper_*_mini.yaml"))
SWEEPS = ROOT / "multirun" / "paper-mini"


def run(preset: str, jobs: int) -> Path:
    folder = SWEEPS / preset
    command = [
        sys.executable,
        "-m",
        "dip_lightning",
        "-m",
        f"experiment={preset}_mini",
        f"hydra.sweep.dir={folder}",
        "callbacks.progress_bar.refresh_rate=0",
        "save_every=null",
        "checkpoint_every=null",
    ]
    if jobs > 1:
        command += ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={jobs}"]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"{preset}: {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once (joblib), each with its share of the cores")
    parser.add_argument("--report", type=Path, default=ROOT / "experiments" / "RESULTS.md")
    parser.add_argument("--rerun", default="", help="with --table-only: these presets run again first")
    parser.add_argument("--table-only", action="store_true", help="table the sweeps already in multirun/paper-mini")
    args = parser.parse_args()
    started = time.perf_counter()
    presets = args.presets.split(",")
    if args.table_only:
        to_run = args.rerun.split(",") if args.rerun else []
    else:
        to_run = presets
    for preset in to_run:
        if (SWEEPS / preset).exists():
            subprocess.run(["rm", "-rf", str(SWEEPS / preset)], check=True)
        run(preset, args.jobs)
    folders = [SWEEPS / preset for preset in presets]
    minutes = (time.perf_counter() - started) / 60
    timing = f"all presets in {minutes:.0f} min" if not args.table_only else "tables of the sweeps run before"
    if args.table_only and args.rerun:
        timing += f", {args.rerun} run again ({minutes:.0f} min)"
    header = "\n".join(
        [
            "# Paper presets at mini scale",
            "",
            f"- Machine: {cpu_name()} ({cpu_flags()}), {platform.system()}, Python {platform.python_version()}",
            f"- Date: {datetime.date.today()}; {timing}, {args.jobs} jobs at a time",
            f"- Command: `make paper-mini` (python experiments/paper_mini.py --jobs {args.jobs})"
            + (f"; then `{' '.join(['python', *sys.argv])}`" if args.table_only else ""),
            "- Scale: the central 128 x 128 pixels of each image (192 x 192 for the inpainting pictures) and a",
            "  few hundred steps (each preset's _mini file): far below the paper's budgets, so the numbers are",
            "  not the paper's; they show the method on the paper's images and settings, against classical",
            "  baselines on the same inputs.",
            "",
        ]
    )
    table = [sys.executable, "-m", "dip_lightning.paper_table", *map(str, folders), "--report", str(args.report)]
    sys.exit(subprocess.run([*table, "--header", header], cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
