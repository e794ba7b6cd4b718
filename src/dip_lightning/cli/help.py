"""`python -m dip_lightning --help`: what the product does, the groups a user picks with their options
(read from conf/, so a new option shows by itself; the private presets `_*` and the groups the others
compose by themselves are left out), the most useful commands and where the manual is. Hydra's own page
is `--hydra-help`."""

import textwrap
from pathlib import Path

from dip_lightning.config.location import config_dir

GROUPS = {  # the groups a user picks, in the order a run is thought of, and what each chooses
    "task": "the restoration: its physics and the reference's settings",
    "noise": "the noise of denoise and deblur",
    "image": "the clean image a synthetic run corrupts (or observed=PATH: a photo of yours)",
    "mask": "the known pixels of task=inpaint",
    "prior": "the parametrisation of the image",
    "arch": "the deep prior's network",
    "loss": "what the fit minimises",
    "optimizer": "the optimiser",
    "scheduler": "a learning-rate schedule",
    "stopping": "when to stop without ground truth",
    "profile": "the settings: auto (fast on a photo of yours, the paper's otherwise) | fast | paper",
    "logger": "where the curves go",
    "callbacks": "progress bar and pictures",
    "hydra/launcher": "where a sweep's jobs run (-m)",
    "experiment": "presets: the paper's experiments and quick runs",
}
COMMANDS = [
    ("python -m dip_lightning observed=noisy.png", "restore a photo of yours (denoising; stops by itself)"),
    ("python -m dip_lightning task=inpaint observed=photo.png mask=file mask.path=mask.png", "fill in the holes"),
    ("python -m dip_lightning -m observed_dir=photos/", "a folder of photos, one job each"),
    ("python -m dip_lightning -m experiment=paper_denoise", "reproduce a table of the paper"),
    ("python -m dip_lightning resume RUN_DIR", "go on with a run that was killed half way"),
    ("python -m dip_lightning summary multirun/DATE", "a sweep's table, grid and curves"),
    ("python -m dip_lightning --cfg job task=sr", "print the composed config of a run"),
]


def options(group: str) -> list[str]:
    """The options of a conf group, without the private ones (`_mini`, `_common`...); a preset's small
    version beside it (`paper_denoise_mini`) is shown with it, as `paper_denoise[_mini]`."""
    folder = Path(config_dir()) / group
    names = sorted(path.stem for path in folder.glob("*.yaml") if not path.stem.startswith("_"))
    return [f"{name}[_mini]" if f"{name}_mini" in names else name for name in names if name[:-5] not in names]


def help_page() -> str:
    lines = [
        "dip-lightning: Deep Image Prior (Ulyanov, Vedaldi, Lempitsky 2018) as an experiment framework. A randomly",
        "initialised network, fed fixed noise, is fitted to one corrupted image; stopped early, it restores it:",
        "denoising, super-resolution, inpainting, JPEG artifacts, deblurring, flash / no-flash. No training data.",
        "",
        "usage: python -m dip_lightning [GROUP=OPTION] [KEY=VALUE]...     one run (add -m for a sweep)",
        "       python -m dip_lightning resume | summary | paper-table ...  the other commands (each with --help)",
        "",
        "groups (GROUP=OPTION; GROUP=none switches an optional one off):",
    ]
    width = max(len(group) for group in GROUPS) + 4
    for group, what in GROUPS.items():
        lines.append(f"  {group:<{width - 2}}{what}")
        lines += textwrap.wrap(
            " | ".join(options(group)), 104, initial_indent=" " * width, subsequent_indent=" " * width
        )
    lines += ["", "commands you will use most:"]
    for command, what in COMMANDS:
        lines += [f"  {what}:", f"    {command}"]
    lines += [
        "",
        "every key: python -m dip_lightning --cfg job; Hydra's own help: --hydra-help",
        "the manual: docs/ (make docs-serve, http://127.0.0.1:8000), README.md its front door; from Python: restore",
    ]
    return "\n".join(lines)
