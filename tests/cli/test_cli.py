"""The command line as a user types it: `python -m dip_lightning ...`."""

import json
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import dip, run_together

from dip_lightning.config.command_line import shown_overrides
from dip_lightning.config.composition import composed
from dip_lightning.config.schema import check_config
from dip_lightning.errors import InputError
from dip_lightning.run import wandb_logger as loggers
from dip_lightning.run.wandb_logger import wandb_mode

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.cli
def test_cfg_job_shows_the_composed_config(tmp_path):
    result = dip("task=inpaint", "arch=unet", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "_target_: dip_lightning.physics.mask.Mask" in result.stdout
    assert "_target_: dip_lightning.nets.unet.UNet" in result.stdout
    assert "lr: 0.001" in result.stdout  # the reference's learning rate for the inpainting U-Net
    assert "_target_: dip_lightning.data.masks.TextMask" in result.stdout


# Started together (each is mostly its imports): a device the machine does not have, and --cfg with a bad
# value and with a good one. None gets as far as a fit.
REQUESTS = {
    "gpu": ("experiment=smoke", "trainer.accelerator=gpu", "task.num_iter=2"),
    "mps": ("experiment=smoke", "trainer.accelerator=mps", "task.num_iter=2"),
    "cfg bad": ("--cfg", "job", "task.sigma=-1"),
    "cfg good": ("--cfg", "job", "task.sigma=30"),
}
SERVED = {"gpu": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}


@pytest.fixture(scope="module")
def requests(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    folders = {name: tmp_path_factory.mktemp(name.replace(" ", "_")) for name in REQUESTS if not SERVED.get(name)}
    commands = {
        name: ([*REQUESTS[name], *([] if "--cfg" in REQUESTS[name] else [f"hydra.run.dir={folder / 'out'}"])], folder)
        for name, folder in folders.items()
    }
    return {name: (done, folders[name]) for name, done in run_together(commands).items()}


def one_error_line(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "Error" in line]
    assert len(errors) == 1 and "InputError: " in errors[0], output
    return errors[0].split("InputError: ", 1)[1]


@pytest.mark.cli
@pytest.mark.parametrize(
    "name, words",
    [
        ("gpu", ["trainer.accelerator=gpu asks for a CUDA GPU, but torch sees none", "CPU build"]),
        ("mps", ["trainer.accelerator=mps", "this machine has no Apple MPS device"]),
    ],
)
def test_a_device_the_machine_does_not_have_is_one_line_exit_2_and_recorded(requests, name, words):
    if SERVED[name]:
        pytest.skip(f"this machine has {name}")
    if name == "gpu" and torch.version.cuda is not None:
        words = [words[0], "no CUDA device is visible"]
    result, folder = requests[name]
    message = one_error_line(result)
    assert all(word in message for word in words), message
    assert message.endswith("use trainer.accelerator=auto or cpu")
    assert "has no native bf16" not in result.stdout + result.stderr  # refused before a precision is chosen
    record = json.loads((folder / "out" / "results.json").read_text())
    assert record["status"] == f"failed: InputError: {message}"


@pytest.mark.cli
def test_cfg_job_refuses_what_a_run_refuses_in_the_same_words(requests):
    result, _ = requests["cfg bad"]
    message = one_error_line(result)
    assert message == "task.sigma must be a finite number >= 0, got -1"
    with composed(["task.sigma=-1"]) as cfg, pytest.raises(InputError) as run_says:
        check_config(cfg)  # what train.main checks before a run
    assert message == str(run_says.value)
    assert "_target_" not in result.stdout  # nothing of the config printed


@pytest.mark.cli
def test_cfg_job_prints_a_good_config(requests):
    result, _ = requests["cfg good"]
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "  sigma: 30\n" in result.stdout and "Error:" not in said and "Traceback" not in said  # no error raised


@pytest.mark.parametrize(
    "arguments, shown",
    [
        (["--cfg", "job", "task.sigma=1"], ["task.sigma=1"]),
        (["task.sigma=1", "-c", "all", "--resolve", "-p", "task"], ["task.sigma=1"]),
        (["--cfg=hydra", "seed=2"], ["seed=2"]),
        (["task.sigma=1"], None),  # a run: checked by the run
        (["--cfg", "job", "--config-dir", "elsewhere"], None),  # configs of its own: Hydra's to check
        (["--info", "config"], None),
    ],
)
def test_what_cfg_shows_is_checked_first(arguments, shown):
    assert shown_overrides(arguments) == shown


def test_cfg_with_a_run_or_a_sweep_is_one_line():
    with pytest.raises(
        InputError, match="--cfg job prints the config instead of running it: it does not combine with -m"
    ):
        shown_overrides(["-m", "--cfg", "job", "seed=1,2"])


@pytest.mark.cli
def test_a_run_from_the_command_line_leaves_its_record(tmp_path):
    result = dip("experiment=smoke", "task=sr", "task.num_iter=10", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["task"] == "sr" and results["steps"] == 10
    assert (tmp_path / "out" / "comparison.png").is_file()
    assert (tmp_path / "out" / "csv" / "metrics.csv").is_file()


@pytest.mark.cli
def test_wandb_runs_offline_without_an_account(tmp_path):
    env = {"HOME": str(tmp_path), "NETRC": str(tmp_path / "none")}  # no key anywhere
    result = dip(
        "experiment=smoke",
        "logger=wandb",
        "task.num_iter=3",
        f"hydra.run.dir={tmp_path / 'out'}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "out" / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize(
    "env, netrc, expected",
    [
        ({}, None, "offline"),
        ({"WANDB_API_KEY": "k" * 40}, None, "online"),
        ({}, "machine api.wandb.ai\n  login user\n  password " + "k" * 40, "online"),
        ({"WANDB_API_KEY": "k" * 40, "WANDB_MODE": "disabled"}, None, "disabled"),
    ],
)
def test_wandb_mode_is_online_only_with_a_key(monkeypatch, tmp_path, env, netrc, expected):
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    netrc_path = tmp_path / "netrc"
    if netrc is not None:
        netrc_path.write_text(netrc)
    monkeypatch.setenv("NETRC", str(netrc_path))
    monkeypatch.setattr(loggers, "_server_answers", lambda: True)  # no network here: pretend the server answers
    assert wandb_mode() == expected
