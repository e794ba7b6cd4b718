"""`profile=auto`, the default, made a profile before Hydra composes: `fast` for a photo of yours
(`observed=PATH`, or a folder of them, `observed_dir=`), `paper` otherwise (a clean image corrupted here: the
experiments and presets). Hydra's defaults list can choose a group by another group's choice, not by a
value such as `observed`, so the command line and restore() do it, after `checked_arguments`.

- `profile=paper`: the reference implementation's settings, exactly those every run had before profiles
  existed (the paper presets use them).
- `profile=fast`: the settings chosen on experiments/benchmarks/fast_profile.md's tune half for a user's
  photo: about the same quality in half the time (conf/profile/fast.yaml says what they are)."""

AUTO, FAST, PAPER = "auto", "fast", "paper"
PHOTO_KEYS = ("observed", "observed_dir")  # the settings that make a run restore a photo of yours


def with_profile(arguments: list[str]) -> list[str]:
    """`arguments` (overrides and flags) with `profile=auto`, given or the default, made fast or paper."""
    if any(flag in arguments for flag in ("-sc", "--shell-completion")):
        return arguments
    given = [argument for argument in arguments if _key(argument) == "profile"]
    if given and any(argument.split("=", 1)[1] != AUTO for argument in given):
        return arguments  # a profile chosen (or swept): as it is
    photo = any(
        _key(argument) in PHOTO_KEYS and argument.split("=", 1)[1] not in ("null", "") for argument in arguments
    )
    kept = [argument for argument in arguments if _key(argument) != "profile"]
    # Beside the other overrides: Hydra's parser takes them as one run of words, so one after a flag
    # (`task=inpaint --cfg job profile=paper`) would be refused.
    after_overrides = max((i + 1 for i, argument in enumerate(kept) if _key(argument) is not None), default=0)
    return [*kept[:after_overrides], f"profile={FAST if photo else PAPER}", *kept[after_overrides:]]


def _key(argument: str) -> str | None:
    """The key an override sets (`observed=a.png` -> observed, `+profile=x` -> profile); None for a flag."""
    if argument.startswith("-") or "=" not in argument:
        return None
    return argument.split("=", 1)[0].lstrip("+~")
