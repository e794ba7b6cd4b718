"""The allowed values of a setting, declared once, by the class that takes it.

`Allowed` is what one setting may hold, as a test and the words an error message says it in:
`integer(1)` is "an integer >= 1", `optional(number(0, below=1))` is "null or a finite number in [0, 1)".

A class that the config builds declares the allowed values of its constructor's arguments in a class
attribute, and its constructor checks what it is given with that same declaration:

    class BernoulliMask:
        limits = {"missing_fraction": number(0, below=1)}

        def __init__(self, missing_fraction: float):
            check_limits(self, missing_fraction=missing_fraction)

config/schema.py reads `limits` from the class a `_target_` names (`declared_limits`), so the composed
config is checked before anything is built, in the same words, and a renamed class or a subclass (which
inherits `limits`, or extends them: `limits = {**Base.limits, "depth": integer(1)}`) keeps its checks.
To move a class onto this: give it `limits`, call `check_limits` at the top of its constructor in
place of its own range checks, and take its entry out of schema.py's BY_TARGET.

This module is the bottom layer (beside errors.py): every layer may declare limits."""

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dip_lightning.errors import InputError


@dataclass(frozen=True)
class Allowed:
    """`a | b` allows what either allows."""

    accepts: Callable[[Any], bool]
    words: str

    def __or__(self, other: "Allowed") -> "Allowed":
        return Allowed(lambda value: self.accepts(value) or other.accepts(value), f"{self.words} or {other.words}")


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML's true is not the integer 1


def _is_number(value) -> bool:
    return (_is_integer(value) or isinstance(value, float)) and math.isfinite(value)


def integer(low: int | None = None, high: int | None = None) -> Allowed:
    def accepts(value) -> bool:
        return _is_integer(value) and (low is None or value >= low) and (high is None or value <= high)

    if low is not None and high is not None:
        return Allowed(accepts, f"an integer in {low}..{high}")
    return Allowed(accepts, "an integer" + (f" >= {low}" if low is not None else ""))


def number(
    low: float | None = None, *, above: float | None = None, high: float | None = None, below: float | None = None
) -> Allowed:
    """A finite number (an integer will do) with low <= value, above < value, value <= high, value < below."""

    def accepts(value) -> bool:
        return (
            _is_number(value)
            and (low is None or value >= low)
            and (above is None or value > above)
            and (high is None or value <= high)
            and (below is None or value < below)
        )

    lower = ("[", ">=", low) if low is not None else ("(", ">", above) if above is not None else None
    upper = ("]", "<=", high) if high is not None else (")", "<", below) if below is not None else None
    if lower and upper:
        return Allowed(accepts, f"a finite number in {lower[0]}{lower[2]}, {upper[2]}{upper[0]}")
    if lower or upper:
        bound = lower or upper
        return Allowed(accepts, f"a finite number {bound[1]} {bound[2]}")
    return Allowed(accepts, "a finite number")


def one_of(*choices) -> Allowed:
    """Exactly one of `choices`: the string "true" is not the boolean true, nor 1 the boolean true."""

    def accepts(value) -> bool:
        return any(type(value) is type(choice) and value == choice for choice in choices)

    return Allowed(accepts, " | ".join(_typed(choice) for choice in choices))


def list_of(item: Allowed, length: int | None = None) -> Allowed:
    def accepts(value) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            return False
        return (length is None or len(value) == length) and all(item.accepts(entry) for entry in value)

    size = f"{length} " if length is not None else ""
    return Allowed(accepts, f"a list of {size}entries, each {item.words}")


def per_level(item: Allowed) -> Allowed:
    """One value for every level of a network, or a list with one per level."""
    return Allowed(
        lambda value: item.accepts(value) or list_of(item).accepts(value), f"{item.words}, or a list of those per level"
    )


def optional(item: Allowed) -> Allowed:
    return Allowed(lambda value: value is None or item.accepts(value), f"null or {item.words}")


BOOLEAN = Allowed(lambda value: isinstance(value, bool), "true or false")
TEXT = Allowed(lambda value: isinstance(value, str), "a string")
# a config holds a path as a string; Python callers may give a pathlib.Path
PATH = Allowed(lambda value: isinstance(value, os.PathLike) or isinstance(value, str) and value != "", "a PATH")


def _typed(value) -> str:
    """A value as it is typed on the command line: true, null, 0.5, 'two'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def shown(value) -> str:
    """A value in an error message: strings quoted, so that 'two' reads as the text it is."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(shown(entry) for entry in value) + "]"
    return _typed(value)


Limits = Mapping[str, Allowed]


def declared_limits(owner) -> Limits:
    """The `limits` that `owner` (a class, an instance, a function) declares, or {} where it declares none
    (a third-party class; an unrelated attribute of that name)."""
    limits = getattr(owner, "limits", None)
    if isinstance(limits, Mapping) and all(isinstance(allowed, Allowed) for allowed in limits.values()):
        return limits
    return {}


def check_limits(owner, prefix: str = "", /, **arguments) -> None:
    """Raise InputError, one line naming each refused argument (`; ` between), where `owner`'s declared
    limits (a class or an instance: its `limits`; or the limits themselves, a mapping) refuse any of
    `arguments`. `prefix` goes before each name ("stopping.", "JPEG "). A constructor passes `self`, so
    that a subclass's limits are the ones its constructor checks, as the schema does."""
    limits = owner if isinstance(owner, Mapping) else declared_limits(owner)
    undeclared = sorted(set(arguments) - set(limits))
    if undeclared:
        owner_name = getattr(owner, "__qualname__", type(owner).__qualname__)  # (a mapping: its type's)
        raise TypeError(f"{owner_name} declares no limits for {', '.join(undeclared)}")
    problems = [
        f"{prefix}{name} must be {limits[name].words}, got {shown(value)}"
        for name, value in arguments.items()
        if not limits[name].accepts(value)
    ]
    if problems:
        raise InputError("; ".join(problems))
