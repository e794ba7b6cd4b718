"""Time to a result: the default run on a user's 256 x 256 photo, until its result is final, against the
reference loop's fixed budget, in one run on one machine.

The photo: the embedded astronaut resized to 256 x 256 with Gaussian noise of sigma 25 added (seed 0),
saved as a PNG, restored as a user would: `python -m dip_lightning observed=PHOTO` with every default
(precision, layout and the stopping rule `stopping=auto` chooses for a user's photo), its ground truth
given only to score the result (`ground_truth=`). The run's wall time, from the command to its exit,
is the time to the result.

The reference loop: the reference implementation's step (framework_overhead.py's plain PyTorch loop:
fp32, NCHW, Adam, the output average), timed for --reference-steps steps in the same process before the
run, times its fixed budget for denoising (3000 steps, the reference notebook's num_iter). Running it
for the whole budget would take an hour here; its seconds per step are measured, the product is stated.
Writes time_to_result.md beside this script.

    python experiments/benchmarks/time_to_result.py [--reference-steps 15] [--note "..."]
"""

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from framework_overhead import WARMUP, plain_seconds_per_step, quick_config
from suite import report_header

from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.data.images import load_image, resize, save_png
from dip_lightning.run.results import RunRecord

SIGMA, REFERENCE_BUDGET = 25, 3000


def photos(folder: Path, size: int) -> tuple[Path, Path]:
    """The clean astronaut at size x size px and a noisy copy of it (sigma 25, seed 0), as PNG files."""
    clean = resize(load_image("astronaut"), size, size)
    generator = torch.Generator().manual_seed(0)
    noisy = (clean + SIGMA / 255 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    save_png(clean, folder / "clean.png")
    save_png(noisy, folder / "noisy.png")
    return folder / "noisy.png", folder / "clean.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-steps", type=int, default=15, help=f"timed steps + {WARMUP} untimed")
    parser.add_argument("--size", type=int, default=256, help="the photo's side, px")
    parser.add_argument("--note", help="a line for the report's header, e.g. whether the machine was shared")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_suffix(".md"))
    parser.add_argument("overrides", nargs="*", help="overrides of the default run (none for the benchmark)")
    args = parser.parse_args()
    register_resolvers()
    started = datetime.datetime.now().astimezone()
    folder = Path(tempfile.mkdtemp(prefix="dip-time-to-result-"))
    noisy, clean = photos(folder, args.size)

    cfg = quick_config(folder / "reference", args.reference_steps)
    cfg.image.source, cfg.image.max_size = str(clean), None
    reference_step = plain_seconds_per_step(cfg, args.reference_steps + WARMUP)
    reference = reference_step * REFERENCE_BUDGET
    print(f"the reference loop: {reference_step:.4f} s/step", flush=True)  # kept if the run below is cut short

    command = [sys.executable, "-m", "dip_lightning", f"observed={noisy}", f"ground_truth={clean}", *args.overrides]
    command.append(f"output_dir={folder / 'run'}")
    clock = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - clock
    record = RunRecord.read(folder / "run").to_json()

    lines = report_header(
        f"Time to a result: the default run on a user's {args.size} px photo against the reference loop's budget",
        started,
        args.note,
        f"- Photo: the astronaut at {args.size} x {args.size} px with Gaussian noise of sigma {SIGMA} (seed 0); run as "
        "`python -m dip_lightning observed=noisy.png ground_truth=clean.png` (the ground truth scores only)",
    )
    lines += [
        "",
        "| | steps | seconds | seconds a step | psnr_avg of the result |",
        "|---|---|---|---|---|",
        f"| the reference loop (fp32, NCHW), its fixed budget | {REFERENCE_BUDGET} | {reference:.0f} "
        f"({reference_step:.4f} s/step measured over {args.reference_steps} steps, times {REFERENCE_BUDGET}) | "
        f"{reference_step:.4f} | not run |",
        f"| the default run (`stopping={record['stopping']}`, {record['precision']}, {record['memory_format']}) | "
        f"{record['steps']} | {seconds:.0f} (the command, start to exit) | {record['seconds'] / record['steps']:.4f} "
        f"(its fit) | {record['psnr_avg']:.2f} (best within its steps {record.get('best_psnr_avg', float('nan')):.2f})"
        " |",
        "",
        f"The default run's result was final after {seconds:.0f} s: {reference / seconds:.1f} times sooner than the "
        f"reference loop's budget. It stopped at step {record['steps']} ({record.get('stop_reason')}), kept the "
        f"output of step {record.get('stop_step')} and the average of step {record.get('stop_step_avg')}.",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
