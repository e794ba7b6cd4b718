"""Every setting typed and checked before a run is built: a wrong value anywhere is one line naming the
key, the value and what is allowed (exit 2); every optional group is switched off with GROUP=none (or
GROUP=null), on the command line and in a sweep."""

import inspect
import json
import re
import sys

import numpy as np
import pytest
import torch
from conftest import TINY_NET, dip, write_png
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf

from dip_lightning.build import _input_errors
from dip_lightning.config.command_line import checked_arguments, command_line, composable
from dip_lightning.config.composition import check_composes
from dip_lightning.config.location import config_dir
from dip_lightning.config.schema import BY_TARGET, check_config, limits_of, refused
from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, declared_limits, number
from dip_lightning.losses.loss import Loss
from dip_lightning.nets.skip import Skip
from dip_lightning.train import EXIT_BAD_INPUT

OPTIONAL_GROUPS = ("scheduler", "stopping", "logger", "callbacks", "experiment")
TINY = [
    "image.max_size=32",
    *TINY_NET,
]


@pytest.fixture(scope="module")
def composed():
    """composed('task=sr', ...) -> the composed config (no Hydra run settings), many per initialisation."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        yield lambda *overrides: compose("config", overrides=list(overrides))
    GlobalHydra.instance().clear()


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml") if not path.stem.startswith("_"))


@pytest.mark.parametrize(
    "group",
    ["task", "prior", "arch", "loss", "optimizer", "scheduler", "stopping", "image", "mask", "trainer", "logger"],
)
def test_every_option_of_every_group_passes_as_shipped(composed, group):
    for option in options(group):
        assert refused(composed(f"{group}={option}")) == [], option


def test_every_preset_passes_as_shipped(composed):
    presets = options("experiment")
    for preset in presets:
        if f"{preset}_mini" not in presets:  # a mini preset includes its full one
            assert refused(composed(f"experiment={preset}")) == [], preset


@pytest.mark.parametrize(
    "overrides, message",
    [
        # a wrong type, or a value out of range, for each key of the top level
        (["seed=abc"], "seed must be an integer in 0..4294967295, got 'abc'"),
        (["seed=-1"], "seed must be an integer in 0..4294967295, got -1"),
        (["restarts=two"], "restarts must be an integer >= 1, got 'two'"),
        (["restarts=0"], "restarts must be an integer >= 1, got 0"),
        (["restarts_batched=1"], "restarts_batched must be auto | true | false, got 1"),
        (["threads=0"], "threads must be null or an integer >= 1, got 0"),
        (["check_fit=yes"], "check_fit must be true or false, got 'yes'"),
        (["observed=3"], "observed must be null or a PATH, got 3"),
        (["ground_truth=[a,b]"], "ground_truth must be null or a PATH, got ['a', 'b']"),
        (["save_every=0"], "save_every must be null or an integer >= 1, got 0"),
        (["checkpoint_every=1.5"], "checkpoint_every must be null or an integer >= 1, got 1.5"),
        (["resume=true"], "resume must be null or a PATH, got true"),
        (["optimized_metric=3"], "optimized_metric must be null or a string, got 3"),
        # out of range in each group
        (["task.num_iter=0"], "task.num_iter must be an integer >= 1, got 0"),
        (["task.sigma=-5"], "task.sigma must be a finite number >= 0, got -5"),
        (["task.exp_weight=1"], "task.exp_weight must be null or a finite number in [0, 1), got 1"),
        (["prior.reg_noise_std=inf"], "prior.reg_noise_std must be a finite number >= 0, got inf"),
        (["task.eval_every=0"], "task.eval_every must be an integer >= 1, got 0"),
        (["prior.input_type=pixels"], "prior.input_type must be noise | meshgrid | image | observation, got 'pixels'"),
        (["task=sr", "task.factor=1"], "task.factor must be an integer >= 2, got 1"),
        (["task=jpeg", "task.quality=101"], "task.quality must be an integer in 1..100, got 101"),
        (["task=deblur", "task.blur_sigma=0"], "task.blur_sigma must be a finite number > 0, got 0"),
        (["prior.activation_checkpointing=some"], "prior.activation_checkpointing must be null or all or an integer"),
        (["arch.num_channels_down=[0,8]"], "arch.num_channels_down must be a list of entries, each an integer >= 1"),
        (["arch.upsample_mode=deconv"], "arch.upsample_mode must be nearest | bilinear | bicubic, or a list of those"),
        (["arch=unet", "arch.upsample_mode=bicubic"], "arch.upsample_mode must be deconv | nearest | bilinear, got"),
        (["arch=resnet", "arch.num_blocks=0"], "arch.num_blocks must be an integer >= 1, got 0"),
        (["arch.pad=same"], "arch.pad must be zero | reflection, got 'same'"),
        (["arch.need_bias=1"], "arch.need_bias must be true or false, got 1"),
        (["loss=mse_tv", "loss.weight=-1"], "loss.weight must be a finite number >= 0, got -1"),
        (["loss=mse_tv", "loss.regularizer.beta=0"], "loss.regularizer.beta must be a finite number > 0, got 0"),
        (["optimizer.lr=nan"], "optimizer.lr must be a finite number > 0, got nan"),
        (["optimizer.betas=[0.9]"], "optimizer.betas must be a list of 2 entries, each a finite number in [0, 1)"),
        (["optimizer=lbfgs", "optimizer.history_size=0"], "optimizer.history_size must be an integer >= 1, got 0"),
        (["scheduler=step", "scheduler.gamma=0"], "scheduler.gamma must be a finite number > 0, got 0"),
        (["scheduler=warmup", "scheduler.start_factor=0"], "scheduler.start_factor must be a finite number in (0, 1]"),
        (["stopping=wmv", "stopping.detector.patience=-5"], "stopping.detector.patience must be an integer >= 1"),
        (["stopping=wmv", "stopping.detector.window=1"], "stopping.detector.window must be an integer >= 2, got 1"),
        (["stopping=emv", "stopping.detector.alpha=1"], "stopping.detector.alpha must be a finite number in (0, 1)"),
        (["stopping=wmv", "stopping.average_lag=soon"], "stopping.average_lag must be auto or an integer >= 0"),
        (["stopping=oracle", "stopping.metric=ssim"], "stopping.metric must be psnr_avg | psnr, got 'ssim'"),
        (["image.max_size=0"], "image.max_size must be null or an integer >= 1, got 0"),
        (["mask=bernoulli", "mask.missing_fraction=1"], "mask.missing_fraction must be a finite number in [0, 1)"),
        (["trainer.precision=fp8"], "trainer.precision must be auto | 32-true | bf16-mixed | 16-mixed"),
        (["trainer.accelerator=tpu"], "trainer.accelerator must be auto | cpu | gpu | cuda | mps, got 'tpu'"),
        (["callbacks.progress_bar.refresh_rate=-1"], "callbacks.progress_bar.refresh_rate must be an integer >= 0"),
        (["callbacks.images.every_n_steps=0"], "callbacks.images.every_n_steps must be null or an integer >= 1, got 0"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(composed, overrides, message):
    with pytest.raises(InputError) as error:
        check_config(composed(*overrides))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_every_bad_setting_is_named_in_the_one_line(composed):
    with pytest.raises(InputError) as error:
        check_config(composed("restarts=two", "task.num_iter=0", "optimizer.lr=-1"))
    assert str(error.value) == (
        "restarts must be an integer >= 1, got 'two'; task.num_iter must be an integer >= 1, got 0; "
        "optimizer.lr must be a finite number > 0, got -1"
    )


def test_a_value_that_refers_to_another_is_checked_where_it_points(composed):
    problems = refused(composed("task.num_iter=0", "scheduler=cosine"))  # trainer.max_steps, T_max: ${task.num_iter}
    assert [key for key, *_ in problems] == ["task.num_iter"]


class RenamedSkip(Skip):
    """The skip network under a name of the user's: it inherits Skip's limits."""


class GainLoss(Loss):
    """A loss of the user's with one more argument, whose limits extend Loss's."""

    limits = {**Loss.limits, "gain": number(above=0)}

    def __init__(self, data_term, regularizer, weight: float, gain: float):
        check_limits(self, gain=gain)
        super().__init__(data_term, regularizer, weight)
        self.gain = gain


class PatientAdam(torch.optim.Adam):
    """A subclass of a third-party target: it keeps BY_TARGET's entry for Adam."""


def test_a_target_of_any_name_is_checked_by_the_limits_its_class_declares_or_inherits(composed):
    here = "test_config_schema"
    cfg = composed(
        f"arch._target_={here}.RenamedSkip",
        "arch.pad=same",
        f"loss._target_={here}.GainLoss",
        "loss.weight=-1",
        "+loss.gain=0",
        f"optimizer._target_={here}.PatientAdam",
        "optimizer.lr=0",
    )
    assert [(key, value) for key, value, _ in refused(cfg)] == [
        ("arch.pad", "same"),
        ("loss.weight", -1),
        ("loss.gain", 0),
        ("optimizer.lr", 0),
    ]
    with pytest.raises(InputError) as error:
        check_config(cfg)
    assert str(error.value).startswith("arch.pad must be zero | reflection, got 'same'; loss.weight must be a finite")
    with pytest.raises(InputError) as error:  # the constructor, in the same words, from the same declaration
        GainLoss(None, None, 0.0, gain=0)
    assert str(error.value) == "gain must be a finite number > 0, got 0"
    assert refused(composed("arch._target_=nowhere.Net", "arch.pad=same")) == []  # left to instantiate to say


def test_every_name_in_by_target_imports():
    """An entry whose class was renamed or moved would silently check nothing."""
    for name in BY_TARGET:
        assert get_object(name) is not None, name


def test_what_each_shipped_target_declares_is_an_argument_of_it():
    targets = {
        target for path in config_dir().rglob("*.yaml") for target in re.findall(r"_target_: *(\S+)", path.read_text())
    }
    declaring = [target for target in sorted(targets) if declared_limits(get_object(target))]
    assert len(declaring) >= 15, declaring  # the networks, losses, masks, physics, prior, optimizer, callbacks
    for target in declaring:
        parameters = inspect.signature(get_object(target)).parameters
        assert set(limits_of(target)) <= set(parameters), target


def test_the_choices_a_yaml_comment_lists_are_those_its_target_allows():
    """`pad: reflection  # reflection | zero`: the comment is for the reader, the class's limits decide;
    each choice the comment names must be one they allow (a capitalised word is a placeholder: N, PATH)."""
    listed = re.compile(r"^(\w+): \S+\s+# ([\w.-]+(?: \([^)]*\))?(?: \| [\w.-]+(?: \([^)]*\))?)+)")
    checked = 0
    for path in sorted(config_dir().rglob("*.yaml")):
        target = OmegaConf.load(path).get("_target_")
        for line in path.read_text().splitlines():
            match = listed.match(line)
            if target is None or match is None:
                continue
            key, choices = match.groups()
            allowed = limits_of(target)[key]
            for choice in re.sub(r" \([^)]*\)", "", choices).split(" | "):
                if not choice.isupper():
                    assert allowed.accepts(OmegaConf.create(f"v: {choice}").v), (path.name, key, choice)
                    checked += 1
    assert checked >= 20


@pytest.mark.parametrize("group", OPTIONAL_GROUPS)
def test_each_optional_group_is_switched_off_by_none_or_null(composed, group):
    assert checked_arguments([f"{group}=null"]) == [f"{group}=none"]
    cfg = composed(f"{group}=none")
    assert refused(cfg) == []
    if group == "experiment":
        assert cfg == composed()  # the default: no preset
    else:
        assert not cfg[group]


def test_null_in_a_sweep_is_the_off_switch_too():
    assert checked_arguments(["-m", "stopping=null,wmv", "seed=0,1"]) == ["-m", "stopping=none,wmv", "seed=0,1"]
    assert checked_arguments(["-m", "logger=null,[csv,wandb]"]) == ["-m", "logger=none,[csv,wandb]"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["arch=foo"], "arch=foo is not an option: arch is one of encoder_decoder | resnet | skip | unet"),
        (["-m", "arch=skip,foo"], "arch=foo is not an option"),
        (["logger=[csv,foo]"], "logger=foo is not an option: logger is one of csv | none | tensorboard | wandb"),
        (["task=null"], "task cannot be switched off: choose one of deblur | denoise | fit | flash | inpaint"),
        (["task.num_iter=[1"], "cannot read the override 'task.num_iter=[1': no viable alternative at input '[1'"),
    ],
)
def test_a_bad_override_is_one_line_before_hydra_composes(arguments, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("|", r"\|")):
        checked_arguments(arguments)


def test_what_the_command_line_does_not_know_is_left_to_hydra():
    arguments = ["--cfg", "job", "~logger", "hydra/launcher=parallel", "seed=3", "arch=glob(*)", "+experiment=quick"]
    assert checked_arguments(arguments) == arguments
    assert checked_arguments(["-cd", "/elsewhere", "arch=mine"]) == ["-cd", "/elsewhere", "arch=mine"]


def test_the_entry_point_ends_bad_input_with_exit_2(monkeypatch, capsys):
    def composition_fails():  # what Hydra does with a key that does not exist: prints, then exit 1
        try:
            raise ConfigCompositionException("Could not override 'foo'.")
        except ConfigCompositionException:
            sys.exit(1)

    monkeypatch.setattr(sys, "argv", ["dip_lightning", "-m", "foo=1,2"])  # a sweep: Hydra composes each job
    with pytest.raises(SystemExit) as ended:
        command_line(EXIT_BAD_INPUT)(composition_fails)()
    assert ended.value.code == EXIT_BAD_INPUT
    answers = {
        "arch=foo": "arch=foo is not an option: arch is one of encoder_decoder | resnet | skip | unet",
        "task.num_ite=3": "task.num_ite is not a setting (did you mean task.num_iter or task.name?): to add a new "
        "key, write +task.num_ite=3",
    }
    for argument, message in answers.items():
        monkeypatch.setattr(sys, "argv", ["dip_lightning", "experiment=smoke", argument])
        with pytest.raises(SystemExit) as ended:
            command_line(EXIT_BAD_INPUT)(lambda: pytest.fail("Hydra must not be called"))()
        assert ended.value.code == EXIT_BAD_INPUT
        assert capsys.readouterr().err == f"InputError: {message}\n"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["foo=1"], r"foo is not a setting: to add a new key, write \+foo=1"),
        (["experiment=smoke", "task.sigm=3"], r"task.sigm is not a setting \(did you mean task.sigma\?\)"),
        (["trainer.max_stps=3"], r"\(did you mean trainer.max_steps or trainer.max_epochs\?\)"),
        (["+seed=3"], "Could not append to config. An item is already at 'seed'"),
    ],
)
def test_a_config_that_does_not_compose_is_one_line_with_the_nearest_keys(arguments, message):
    with pytest.raises(InputError, match=message):
        check_composes(arguments)


def test_what_is_composed_before_hydra_is_all_but_the_swept_overrides_and_no_other_flag():
    one_run = ["experiment=smoke", "task.num_iter=3", "+foo=1", "~logger", "hydra.run.dir=/tmp/x"]
    assert composable(one_run) == (one_run, False)
    assert composable(["-m", "experiment=smoke", "seed=1,2"]) == (["experiment=smoke"], True)
    assert composable(["task.sigma=10,25"]) == ([], True)
    assert composable(["--cfg", "job", "seed=3"]) is None and composable(["-cd", "/elsewhere", "seed=3"]) is None
    check_composes(one_run)


def test_a_sweep_whose_jobs_cannot_be_listed_is_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "dataset" / "cbm3d9").mkdir(parents=True)
    write_png(tmp_path / "dataset" / "cbm3d9" / "F16.png", np.zeros((8, 8, 3), np.uint8))
    cases = [
        (["experiment=paper_denoise", f"dataset_dir={tmp_path / 'no'}"], True, "dataset folder .*no/cbm3d9 not found"),
        ([f"observed_dir={tmp_path / 'photos'}"], False, "observed_dir .*photos holds no image"),
        (
            ["experiment=paper_denoise", f"dataset_dir={tmp_path / 'dataset'}", f"observed_dir={tmp_path}"],
            False,
            "observed_dir= sweeps your photos, and this config sweeps image.source instead",
        ),
    ]
    for arguments, sweep, message in cases:
        with pytest.raises(InputError, match=message):
            check_composes(arguments, sweep)
    check_composes(["experiment=paper_denoise", f"dataset_dir={tmp_path / 'dataset'}"], sweep=True)
    check_composes([f"observed_dir={tmp_path / 'dataset' / 'cbm3d9'}"])  # a folder of photos, no preset: a sweep


def builds(inner):
    """A constructor that instantiates a part itself, as a stopping rule builds its detector."""
    return instantiate(inner)


def test_the_projects_own_error_is_not_wrapped_by_hydra():
    detector = {"_target_": "dip_lightning.stopping.detectors.ExponentialVariance", "alpha": 0.1, "patience": -5}
    node = {"_target_": "test_config_schema.builds", "inner": {**detector, "start": 1}}
    with pytest.raises(InputError, match="^patience must be an integer >= 1, got -5$"), _input_errors():
        instantiate(node, _recursive_=False)


@pytest.mark.cli
def test_a_bad_setting_from_the_command_line_is_one_line_exit_2_and_recorded(tmp_path):
    result = dip("experiment=smoke", "restarts=two", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "Error" in line]
    assert len(errors) == 1 and errors[0].endswith("InputError: restarts must be an integer >= 1, got 'two'")
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["status"] == "failed: InputError: restarts must be an integer >= 1, got 'two'"


@pytest.mark.sweeps
def test_the_off_switches_run_in_a_sweep(tmp_path):
    off = ["scheduler=none", "logger=null", "callbacks=none", "stopping=null"]
    settings = ["experiment=smoke", *TINY, "task.num_iter=2", "check_fit=false", f"hydra.sweep.dir={tmp_path}"]
    result = dip("-m", *off, *settings, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    record = json.loads((tmp_path / "0" / "results.json").read_text())
    assert record["status"] == "finished" and record["steps"] == 2
    assert not (tmp_path / "0" / "csv").exists()  # logger=null: no logger at all
    composed = OmegaConf.load(tmp_path / "0" / ".hydra" / "config.yaml")
    assert [composed[group] for group in ("scheduler", "logger", "callbacks", "stopping")] == [{}, {}, {}, {}]
