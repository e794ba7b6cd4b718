"""The profiles: `profile=paper` composes to exactly the config every run had before profiles existed (the
configs in paper_profile.json, written by `python tests/config/test_profiles.py` at the commit before them:
the defaults, a user's photo per task, every preset), `profile=fast` is what a user's photo gets
(`profile=auto`), and the presets, synthetic, stay on the paper's settings."""

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dip_lightning.build import describe
from dip_lightning.config.command_line import checked_arguments
from dip_lightning.config.composition import composed
from dip_lightning.config.location import config_dir
from dip_lightning.config.profiles import with_profile

GOLDEN = Path(__file__).with_name("paper_profile.json")
PRESETS = sorted(path.stem for path in (config_dir() / "experiment").glob("*.yaml") if not path.stem.startswith("_"))
PHOTO = ["observed=photo.png"]
CASES = {  # name -> overrides
    "defaults": [],
    **{f"{task} photo": [f"task={task}", *PHOTO] for task in ("denoise", "deblur", "jpeg", "sr")},
    "inpaint photo": ["task=inpaint", *PHOTO, "mask=file", "mask.path=mask.png"],
    "flash photo": ["task=flash", *PHOTO, "prior.input_image=flash.png"],
    "poisson photo": [*PHOTO, "noise=poisson", "noise.peak=auto", "loss=poisson"],
    "unet photo": [*PHOTO, "arch=unet"],
    "wmv photo": [*PHOTO, "stopping=wmv"],
    "folder": ["observed_dir=photos/"],
    **{f"experiment={preset}": [f"experiment={preset}"] for preset in PRESETS},
}


def config(overrides: list[str]) -> dict:
    """The composed config as written (interpolations unresolved), without Hydra's own node."""
    with composed(overrides) as cfg:
        return OmegaConf.to_container(cfg, resolve=False)


def job(cfg: dict) -> dict:
    return {key: value for key, value in cfg.items() if key != "hydra"}


def chosen(arguments: list[str]) -> list[str]:
    """The arguments as the command line and restore() hand them to Hydra."""
    return with_profile(checked_arguments(arguments))


def flat(node: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a config's leaves (lists are values)."""
    leaves = {}
    for key, value in node.items():
        leaves.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return leaves


def declared(*files: str) -> set[str]:
    """The keys the profile's files set, with those of the files they include (their `defaults`)."""
    keys = set()
    for name in files:
        content = OmegaConf.to_container(OmegaConf.load(config_dir() / name))
        included = [f"{Path(name).parent}/{entry}.yaml" for entry in content.pop("defaults", [])]
        keys |= set(flat(content)) | declared(*included)
    return keys


@pytest.mark.parametrize("name", CASES)
def test_the_paper_profile_is_the_config_before_profiles(name):
    assert job(config([*CASES[name], "profile=paper"])) == json.loads(GOLDEN.read_text())[name]


@pytest.mark.parametrize("name", [name for name in CASES if "photo" not in name and name != "folder"])
def test_a_synthetic_run_and_every_preset_get_the_paper_profile(name):
    arguments = chosen(CASES[name])
    assert arguments[-1] == "profile=paper"
    assert job(config(arguments)) == json.loads(GOLDEN.read_text())[name]


@pytest.mark.parametrize(
    ("arguments", "profile"),
    [
        (["observed=photo.png"], "fast"),
        (["-m", "observed=a.png,b.png"], "fast"),
        (["observed_dir=photos/"], "fast"),
        (["observed=photo.png", "profile=auto"], "fast"),
        (["observed=photo.png", "profile=paper"], "paper"),
        (["observed=null"], "paper"),
        (["task=sr", "image=camera"], "paper"),
        (["profile=fast"], "fast"),
    ],
)
def test_auto_is_fast_for_a_photo_of_yours_and_paper_otherwise(arguments, profile):
    assert [argument for argument in chosen(arguments) if argument.startswith("profile=")] == [f"profile={profile}"]


@pytest.mark.parametrize(
    ("arguments", "handed"),
    [
        (["task=inpaint", "--cfg", "job"], ["task=inpaint", "profile=paper", "--cfg", "job"]),
        (
            ["-m", "observed=a.png,b.png", "--cfg", "job"],
            ["-m", "observed=a.png,b.png", "profile=fast", "--cfg", "job"],
        ),
        (["--cfg", "job"], ["profile=paper", "--cfg", "job"]),
    ],
)
def test_the_profile_is_handed_beside_the_other_overrides(arguments, handed):
    assert with_profile(arguments) == handed  # Hydra's parser refuses an override after a flag's value


@pytest.mark.parametrize("task", ["denoise", "deblur", "jpeg", "sr"])
def test_the_fast_profile_changes_its_own_settings_only(task):
    paper = flat(json.loads(GOLDEN.read_text())[f"{task} photo"])
    fast = flat(job(config([f"task={task}", *PHOTO, "profile=fast"])))
    changed = {key for key in paper.keys() | fast.keys() if paper.get(key) != fast.get(key)}
    files = ["profile/fast.yaml", f"profile_task_arch/fast_{task}_skip.yaml", "profile_stopping/fast_auto.yaml"]
    assert changed == declared(*(name for name in files if (config_dir() / name).is_file()))


def test_the_fast_profile_sets_the_same_patience_and_smoothing_for_either_held_out_rule():
    for rule in ("auto", "validation"):
        stopping = config([*PHOTO, f"stopping={rule}", "profile=fast"])["stopping"]
        assert (stopping["patience"], stopping["smoothing"]) == (100, 0.1)


def test_the_run_records_its_profile():
    with composed(chosen(PHOTO)) as cfg:
        assert describe(cfg)["profile"] == "fast"
    with composed(chosen(["task=sr"])) as cfg:
        assert describe(cfg)["profile"] == "paper"


if __name__ == "__main__":  # write the golden configs (only at the commit before the profiles)
    GOLDEN.write_text(json.dumps({name: job(config(overrides)) for name, overrides in CASES.items()}, indent=0))
    sys.exit(0)
