"""The command line, read before Hydra composes it, for what Hydra would answer with a traceback or a
page of text: an override it cannot parse, an option a group does not have (`arch=foo`), and
`GROUP=null`, which Hydra refuses for a group ("Config group override must be a string") and which means
`GROUP=none` here, the off switch of every optional group, on the command line and in a sweep alike.
Then the overrides but the swept ones are composed once (config/composition.py), for a key that does not
exist (`task.num_ite=3`: the nearest keys, one line) and, in a sweep, a jobs' list that cannot be made (a
preset's dataset folder that is missing); what is left (a swept key that does not exist...) Hydra still
reports, with exit code 2 (`command_line`). `--cfg job|hydra|all` prints the config without running the job,
so without the job's checks: they run here first (`check_shown`), and a setting a run refuses is refused
as a run refuses it, before anything is printed."""

import functools
import sys
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, OverrideType, ValueType
from hydra.errors import ConfigCompositionException, HydraException, OverrideParseException

from dip_lightning.config.composition import check_composes, composed
from dip_lightning.config.location import config_dir
from dip_lightning.config.profiles import with_profile
from dip_lightning.config.schema import check_config
from dip_lightning.errors import InputError

OFF = "none"  # the option that switches a group off: conf/<group>/none.yaml
# Flags that add or change where configs are found: the options of a group are then not only those of conf/.
MULTIRUN_FLAGS = ("-m", "--multirun")
OTHER_CONFIGS = ("--config-dir", "-cd", "--config-path", "-cp", "hydra.searchpath", "+hydra.searchpath")
# What Hydra ends on when the config cannot be composed: a key that does not exist, a bad override.
COMPOSITION_ERRORS = (ConfigCompositionException, OverrideParseException)
SHOW_FLAGS = ("--cfg", "-c")  # Hydra's: print the config (job | hydra | all) instead of running the job
SHOWN = ("job", "hydra", "all")
RUN_FLAGS = (*MULTIRUN_FLAGS, "--run", "-r")  # Hydra refuses them with --cfg, in a traceback


def command_line(bad_input_exit: int):
    """Decorate the Hydra main: check and rewrite sys.argv first (one line and `bad_input_exit` for what
    is wrong), and end a config that Hydra cannot compose with `bad_input_exit` rather than 1."""

    def decorate(hydra_main):
        @functools.wraps(hydra_main)
        def main(*args, **kwargs):
            if args or kwargs:  # a config handed over by a caller: no command line to read
                return hydra_main(*args, **kwargs)
            try:
                sys.argv[1:] = with_profile(checked_arguments(sys.argv[1:]))  # profile=auto made fast or paper
                if (before := composable(sys.argv[1:])) is not None:
                    check_composes(*before)  # a key that does not exist, a sweep's missing folder: one line
                elif (shown := shown_overrides(sys.argv[1:])) is not None:
                    check_shown(shown)  # --cfg job task.sigma=-1: refused as the run would be, not printed
            except InputError as error:
                print(f"InputError: {error}", file=sys.stderr)
                sys.exit(bad_input_exit)
            try:
                return hydra_main()
            except SystemExit as exit:  # Hydra printed why; the exception it ended on is the context
                if exit.code == 1 and isinstance(exit.__context__, COMPOSITION_ERRORS):
                    raise SystemExit(bad_input_exit) from None
                raise

        return main

    return decorate


def checked_arguments(arguments: list[str], conf: Path | None = None) -> list[str]:
    """`arguments` (sys.argv[1:]) with every `GROUP=null` made `GROUP=none`; InputError for an override
    that cannot be parsed or names an option its group does not have."""
    if any(flag in arguments for flag in ("-sc", "--shell-completion")):
        return arguments
    conf = conf or config_dir()
    elsewhere = any(argument.split("=")[0] in OTHER_CONFIGS for argument in arguments)
    parser = OverridesParser.create()
    checked = []
    for argument in arguments:
        if argument.startswith("-") or ("=" not in argument and not argument.startswith("~")):
            checked.append(argument)  # a flag or a flag's value
            continue
        try:
            override = parser.parse_override(argument)
        except HydraException as error:
            first_line = str(error).strip().splitlines()[-1]
            raise InputError(f"cannot read the override {argument!r}: {first_line}") from None
        group = override.key_or_group
        if override.type == OverrideType.DEL or not _is_group(conf, group):
            checked.append(argument)  # a key, a deletion (~logger), or Hydra's own groups (hydra/launcher=...)
            continue
        checked.append(_group_override(override, argument, conf / group, check_options=not elsewhere))
    return checked


def composable(arguments: list[str]) -> tuple[list[str], bool] | None:
    """What to compose before Hydra does: the overrides but the swept ones (a=1,2), and whether the command is
    a sweep (-m, or a swept override); None where another flag (--cfg, --config-dir, ...) changes the job."""
    flags = [argument for argument in arguments if argument.startswith("-")]
    if any(flag not in MULTIRUN_FLAGS for flag in flags):
        return None
    overrides = [argument for argument in arguments if not argument.startswith("-")]
    parsed = OverridesParser.create().parse_overrides(overrides)
    kept = [argument for argument, override in zip(overrides, parsed, strict=True) if not override.is_sweep_override()]
    return kept, bool(flags) or len(kept) < len(overrides)


def shown_overrides(arguments: list[str]) -> list[str] | None:
    """The overrides of a command that prints its config (--cfg job|hydra|all) instead of running it; None
    for any other command, and where another flag (--config-dir, --info, ...) changes what Hydra does."""
    shown, run, overrides, rest = None, None, [], iter(arguments)
    for argument in rest:
        if argument in SHOW_FLAGS:
            shown = next(rest, None)
        elif argument.startswith("--cfg="):
            shown = argument.removeprefix("--cfg=")
        elif argument in ("--package", "-p"):
            next(rest, None)  # the flag's value
        elif argument in RUN_FLAGS:
            run = argument
        elif not argument.startswith("-"):
            overrides.append(argument)
        elif argument != "--resolve" and not argument.startswith("--package="):
            return None
    if shown not in SHOWN:
        return None
    if run is not None:
        raise InputError(f"--cfg {shown} prints the config instead of running it: it does not combine with {run}")
    return overrides


def check_shown(overrides: list[str]) -> None:
    """InputError where the config `overrides` compose (the swept ones left to Hydra) holds a setting that
    a run refuses (config/schema.py), with the run's very words."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    kept = [argument for argument, override in zip(overrides, parsed, strict=True) if not override.is_sweep_override()]
    with composed(kept) as cfg:
        check_config(cfg)


def _group_override(override: Override, argument: str, folder: Path, check_options: bool) -> str:
    """`argument` as Hydra should get it: null made `none`, every option checked."""
    value = override.value()
    if isinstance(value, ChoiceSweep):  # a sweep: stopping=none,wmv
        choices = list(value.list)
    elif override.value_type == ValueType.ELEMENT:
        choices = [value]
    else:  # glob(...), range(...): Hydra says what is wrong with those
        return argument
    group, options = folder.name, _options(folder)
    for choice in choices:
        if choice is None and OFF not in options:
            raise InputError(f"{group} cannot be switched off: choose one of {' | '.join(options)}")
        for option in choice if isinstance(choice, list) else [choice]:  # logger=[csv,wandb]: several at once
            known = isinstance(option, str) and (folder / f"{option}.yaml").is_file()
            if option is not None and check_options and not known:
                raise InputError(f"{group}={option} is not an option: {group} is one of {' | '.join(options)}")
            if option is None and isinstance(choice, list):
                raise InputError(f"{argument}: a list of {group} options cannot hold null ({group}={OFF} is off)")
    if None not in choices:
        return argument
    return f"{override.get_key_element()}={','.join(_typed(choice) for choice in choices)}"


def _typed(choice: str | list | None) -> str:
    """A choice as it is typed: null as the off switch, a list in brackets."""
    if choice is None:
        return OFF
    return f"[{','.join(choice)}]" if isinstance(choice, list) else choice


def _is_group(conf: Path, name: str) -> bool:
    return "/" not in name and name != "hydra" and (conf / name).is_dir()


def _options(folder: Path) -> list[str]:
    """A group's options, as `conf/<group>/*.yaml` (those named `_...` are parts of others)."""
    return sorted(path.stem for path in folder.glob("*.yaml") if not path.stem.startswith("_"))
