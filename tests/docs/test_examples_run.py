"""Every command line of the README and of the manual runs as a reader types it: `python -m dip_lightning
...` in a real process, in a folder that holds the pictures, kernel, mask and folders it names (made here,
32 px), with tiny settings added where the example does not set them itself (4 steps, 64 px at most,
its own network). A sweep runs its first job, here, without its cluster launcher (the launchers are
make test-cluster's business); `summary` runs on a sweep a tiny fit made first; a line for a GPU is
skipped without one, a paper preset's without the paper's images (../shared/data). Left out: `resume`, which
needs a run killed half way (tests/test_reliability.py kills one and resumes it), and `paper-table`, which
reads a whole paper preset's sweep over ../shared's datasets (make test-sweeps runs it). Marked `docs`:
make test-docs runs them, two at a time."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAST, dip
from PIL import Image
from test_examples import NOT_CONFIG, command_lines, first_job

pytestmark = pytest.mark.docs

TINY = [*FAST, "task.num_iter=4"]  # the example's own network, 4 steps
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # the paper's images, for a paper preset's line
PLACEHOLDER = re.compile(r"<[^>]+>")  # `summary multirun/<date>`
LAUNCHER = ("hydra/launcher=", "hydra.launcher.")
SIZES = {"small.png": 16, "large.png": 64}  # task.factor=4 of each other; every other picture 32 px
PICTURE = re.compile(r"[\w./-]+\.(?:png|jpg)")
LEFT_OUT = ("resume", "paper-table")
LINES = [(where, words) for where, words in command_lines() if words[0] not in LEFT_OUT]


def test_every_command_line_is_run_but_resume_and_paper_table():
    left_out = [words for _, words in command_lines() if words[0] in LEFT_OUT]
    assert len(LINES) >= 50 and len(left_out) == 3


@pytest.mark.parametrize("words", [words for _, words in LINES], ids=[where for where, _ in LINES])
def test_every_command_line_example_runs(words, tmp_path):
    line = " ".join(words)
    if "trainer.accelerator=gpu" in words and not torch.cuda.is_available():
        pytest.skip("a line for a GPU, and this machine has none")
    paper = any(word.startswith("experiment=paper") for word in words)
    if paper and not DATA.is_dir():
        pytest.skip(f"a paper preset's line: the paper's images are not in {DATA}")
    for value in (word.split("=")[-1] for word in words):
        if value.endswith("/"):  # a folder of photos or masks
            for name in ("a.png", "b.png"):
                make(tmp_path / value / name)
        elif PICTURE.fullmatch(value):
            make(tmp_path / value)
    if words[0] == "summary":
        arguments = ["summary", swept(tmp_path, words[1]), *words[2:]]
    else:
        arguments = tiny(words)
    done = dip(*arguments, cwd=tmp_path, env={"DIP_DATA": str(DATA)} if paper else None)
    assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
    if words[0] not in ("--help", "--cfg", "summary"):
        assert list(tmp_path.glob("**/results.json")), f"{line}: no results.json written"


def tiny(words: list[str]) -> list[str]:
    """The line's overrides, a sweep as its first job, with the tiny settings it does not set itself."""
    if words[:1] == ["--help"]:
        return words
    sweep = "-m" in words or "--multirun" in words
    kept = [first_job(word) if sweep else word for word in words if word not in NOT_CONFIG]
    kept = [word for word in kept if not word.startswith(LAUNCHER)]
    keys = {word.split("=")[0] for word in kept}
    return [*kept, *(override for override in TINY if override.lstrip("~").split("=")[0] not in keys)]


def swept(folder: Path, name: str) -> str:
    """The sweep folder `summary` is given (a placeholder made a name), made by a tiny sweep of two seeds."""
    target = PLACEHOLDER.sub("sweep", name)
    fitted = dip("-m", "seed=0,1", *TINY, f"hydra.sweep.dir={target}", cwd=folder)
    assert fitted.returncode == 0, fitted.stderr[-3000:]
    return target


def make(path: Path) -> None:
    """A picture under a name an example gives: a mask, a blur kernel or a photo (noise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = SIZES.get(path.name, 32)
    rng = np.random.default_rng(len(path.name))
    if "mask" in str(path):
        Image.fromarray(np.where(rng.uniform(size=(size, size)) < 0.7, 255, 0).astype(np.uint8)).save(path)
    elif path.name == "kernel.png":
        kernel = np.exp(-((np.arange(5) - 2) ** 2) / 2)
        Image.fromarray((255 * np.outer(kernel, kernel)).astype(np.uint8)).save(path)
    else:
        Image.fromarray(rng.uniform(0, 255, (size, size, 3)).astype(np.uint8)).save(path)


if __name__ == "__main__":  # the lines this file runs
    sys.exit(print("\n".join(" ".join(tiny(words)) for _, words in LINES)))
