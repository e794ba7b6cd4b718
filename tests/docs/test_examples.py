"""Every example of the README and of the manual (docs/*.md) holds: each command line `python -m
dip_lightning ...` composes into a config that passes every check a run makes before it builds anything
(its groups, keys, types and ranges; the other commands exist), and each Python block runs, with tiny
settings, on pictures made here. So a key renamed, a group removed or a value out of range in an example
fails here, not in a reader's hands. (The fits themselves are the other tests' business.)"""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, TINY_NET
from PIL import Image

from dip_lightning.cli.commands import COMMANDS
from dip_lightning.config.composition import composed
from dip_lightning.config.schema import check_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(bash|sh|python)\n(.*?)```", re.S)
NOT_CONFIG = {"-m", "--multirun", "--help", "-h", "--hydra-help"}  # flags, not overrides


def blocks(language: str) -> list[tuple[str, str]]:
    """(where, code) of every fenced block of `language` in the pages."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            if match.group(1) in ({"bash", "sh"} if language == "bash" else {language}):
                line = text[: match.start()].count("\n") + 1
                found.append((f"{page.relative_to(ROOT)}:{line}", match.group(2)))
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    """(where, arguments) of every `python -m dip_lightning ...` line of the shell blocks."""
    commands = []
    for where, code in blocks("bash"):
        for offset, line in enumerate(code.replace("\\\n", " ").splitlines()):
            words = shlex.split(line, comments=True)
            if words[:3] == ["python", "-m", "dip_lightning"]:
                commands.append((f"{where}+{offset + 1}", words[3:]))
    return commands


COMMAND_LINES = [(where, words) for where, words in command_lines() if not (words and words[0] in COMMANDS)]
# (resume, summary and paper-table take the reader's folders; a misspelt command is left in, and fails)


def test_the_pages_have_examples_to_check():
    assert len(COMMAND_LINES) >= 40 and len(blocks("python")) >= 3


@pytest.mark.parametrize("arguments", [words for _, words in COMMAND_LINES], ids=[where for where, _ in COMMAND_LINES])
def test_every_command_line_example_composes_and_passes_the_checks(arguments):
    if arguments[:1] == ["--cfg"]:
        arguments = arguments[2:]
    sweep = "-m" in arguments or "--multirun" in arguments
    overrides = [first_job(word) if sweep else word for word in arguments if word not in NOT_CONFIG]
    with composed(overrides) as cfg:
        check_config(cfg)


def first_job(override: str) -> str:
    """A sweep's override as its first job has it: `seed=0,1,2` -> `seed=0` (a list `[a,b]` stays)."""
    key, _, value = override.partition("=")
    if "," in value and not value.startswith(("[", "'", '"')) and "(" not in value:
        return f"{key}={value.split(',')[0]}"
    return override


@pytest.mark.parametrize("code", [code for _, code in blocks("python")], ids=[where for where, _ in blocks("python")])
def test_every_python_example_runs(code, tmp_path, monkeypatch):
    """Each block runs as written, in a folder holding the pictures it names, with restore() given tiny
    settings (a small network, a few steps) after the example's own."""
    from dip_lightning import api

    monkeypatch.chdir(tmp_path)
    picture = np.random.default_rng(0).uniform(0, 1, (24, 24, 3))
    Image.fromarray((picture * 255).astype(np.uint8)).save(tmp_path / "noisy.png")
    real = api.restore

    def tiny(*arguments, overrides=(), **settings):
        tiny_settings = [*(o for o in FAST if o != "~logger"), *TINY_NET, "task.num_iter=4"]  # the curve kept
        return real(*arguments, overrides=[*overrides, *tiny_settings], progress=False, **settings)

    monkeypatch.setattr(api, "restore", tiny)
    exec(compile(code, "example", "exec"), {})
