"""Every paper preset at mini scale (128 px centre crops; the noisy tasks stopped by the default rule, the
others 300 to 1000 steps), as sweeps over the paper's images in ../shared/data, two jobs at a time; then
one table per preset into experiments/RESULTS.md and the figures the paper's experiments are about into
experiments/figures/. About 90 minutes on 2 CPU cores.

    python experiments/paper_mini.py [--presets paper_denoise,paper_jpeg] [--jobs 2] [--report PATH]

With --presets, only those run again: the report keeps the other presets' tables (each says its date) and
the hand-written reading at its end.
"""

import argparse
import datetime
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dip_lightning.hardware.machine import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parents[1]
# every preset that has a mini version, e.g. paper_denoise for conf/experiment/paper_denoise_mini.yaml
PRESETS = sorted(path.name.removesuffix("_mini.yaml") for path in (ROOT / "conf/experiment").glob("paper_*_mini.yaml"))
SWEEPS = ROOT / "multirun" / "paper-mini"
FIGURES = ROOT / "experiments" / "figures"
# what each preset's experiment is about, copied from its sweep (a pattern under the sweep folder)
FIGURE_FILES = {
    "paper_noise_impedance": ["loss_curves.png"],
    "paper_prior_effect": ["summary_grid.png"],
    "paper_architectures": ["summary_grid.png"],
    "paper_inpaint": ["*/comparison.png"],
    "paper_denoise": ["summary_curves.png"],
    "paper_jpeg": ["*/comparison.png"],
    "paper_flash": ["*/comparison.png"],
}
READING = "## Reading"


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


def copy_figures(preset: str) -> list[Path]:
    copied = []
    for pattern in FIGURE_FILES.get(preset, []):
        for source in sorted((SWEEPS / preset).glob(pattern)):
            parts = source.relative_to(SWEEPS / preset).parts
            named = [re.sub(r"^\d+_", "", part) for part in parts]  # "0_source=F16" -> "source=F16"
            name = "-".join([preset, *(part for part in named if not part.isdigit())])  # one job's "0": no name
            FIGURES.mkdir(parents=True, exist_ok=True)
            copied.append(Path(shutil.copyfile(source, FIGURES / name.replace("=", "-"))))
    return copied


def kept_sections(report: Path) -> tuple[dict[str, str], str]:
    """The report's table of each preset ("### ... (preset)" up to the next heading) and its reading."""
    if not report.exists():
        return {}, ""
    text = report.read_text()
    text, _, reading = text.partition(READING)
    sections = {}
    for section in re.split(r"(?m)^(?=### )", text)[1:]:
        match = re.match(r"### .*\((\w+)\)\n", section)
        if match:
            sections[match.group(1)] = section.rstrip() + "\n"
    return sections, READING + reading if reading else ""


def table(preset: str) -> str:
    command = [sys.executable, "-m", "dip_lightning", "paper-table", str(SWEEPS / preset)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr, file=sys.stderr)
    return done.stdout.rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS), help="the presets to run (and table)")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once (joblib), each with its share of the cores")
    parser.add_argument("--report", type=Path, default=ROOT / "experiments" / "RESULTS.md")
    parser.add_argument("--table-only", action="store_true", help="table the sweeps already in multirun/paper-mini")
    args = parser.parse_args()
    started = time.perf_counter()
    presets = args.presets.split(",")
    if not args.table_only:
        for preset in presets:
            if (SWEEPS / preset).exists():
                subprocess.run(["rm", "-rf", str(SWEEPS / preset)], check=True)
            run(preset, args.jobs)
    minutes = (time.perf_counter() - started) / 60
    sections, reading = kept_sections(args.report)
    presets = [preset for preset in presets if (SWEEPS / preset).exists()]
    for preset in presets:
        sections[preset] = table(preset)
        for figure in copy_figures(preset):
            print(f"{preset}: {figure.relative_to(ROOT)}")
    ran = "all presets" if set(presets) >= set(PRESETS) else ", ".join(presets)
    timing = f"{ran} in {minutes:.0f} min" if not args.table_only else f"{ran} tabled from their sweeps"
    if set(presets) < set(sections):
        timing += "; the other tables are kept from earlier runs (each says its date)"
    command = " ".join(["python", *sys.argv])
    header = "\n".join(
        [
            "# Paper presets at mini scale",
            "",
            f"- Machine: {cpu_name()} ({cpu_flags()}), {platform.system()}, Python {platform.python_version()}",
            f"- Date: {datetime.date.today()}; {timing}, {args.jobs} jobs at a time",
            f"- Command: `make paper-mini` or `{command}`",
            "- Scale: the central 128 x 128 pixels of each image (192 x 192 for the inpainting pictures). The noisy",
            "  tasks (denoising, JPEG) run the paper's budget and the default stopping rule (held-out validation,",
            "  no ground truth) ends them at their best; the noiseless ones run 300 to 1000 steps (each preset's",
            "  _mini file), below the paper's budgets, so those numbers are not the paper's. Every table has",
            "  classical baselines on the same inputs. Figures: experiments/figures/.",
            "",
        ]
    )
    body = "\n".join(sections[preset] for preset in PRESETS if preset in sections)
    args.report.write_text(header + "\n" + body + ("\n" + reading if reading else ""))
    print(f"report: {args.report}")


if __name__ == "__main__":
    main()
