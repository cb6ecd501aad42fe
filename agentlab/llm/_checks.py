"""Checks of numeric options, made when an option is set, not when it is first used.

A pacing or retry number that makes no sense (NaN, a negative gap, a string)
would otherwise surface much later, as a wait that never ends or a
``TypeError`` deep in a replay. :func:`check_number` refuses it at once, with
the option's name, the rule and what was given::

    >>> check_number("speed", float("nan"), "> 0", lambda v: v > 0)
    Traceback (most recent call last):
    ...
    ValueError: speed must be a number > 0, not nan

:func:`check_count` does the same for an ``int`` with a minimum,
:func:`check_amount` for a finite amount (the agents' budgets and timeouts),
and :class:`Checked` makes an attribute run a check every time it is set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["Checked", "check_amount", "check_count", "check_number"]


def check_number(
    name: str, value: Any, rule: str, ok: Callable[[float], bool], hint: str = ""
) -> float:
    """``value`` as a float if it is an ``int`` or ``float`` (not a ``bool``) for which
    ``ok`` holds; else a ``TypeError`` (not a number) or ``ValueError`` (out of range)
    naming ``name`` and ``rule``, followed by ``hint`` (what to pass instead).

    NaN fails every comparison, so a rule written as comparisons refuses it.
    """
    tail = f"; {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number {rule}, not {value!r}{tail}")
    number = float(value)
    if not ok(number):
        raise ValueError(f"{name} must be a number {rule}, not {value!r}{tail}")
    return number


def check_count(name: str, value: Any, minimum: int, meaning: str = "") -> int:
    """``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``; else a
    ``TypeError`` or ``ValueError`` naming ``name``, the rule and ``meaning``."""
    what = f"{name} must be an int >= {minimum}" + (f" ({meaning})" if meaning else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}, not {value!r}")
    if value < minimum:
        raise ValueError(f"{what}, not {value!r}")
    return value


def check_amount(name: str, value: Any, meaning: str, *, positive: bool = False) -> None:
    """Raise unless ``value`` is a finite number (not a ``bool``), ``> 0`` if ``positive``
    else ``>= 0``."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number {bound} ({meaning}), not {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {bound} ({meaning}), not {value!r}")


class Checked:
    """A setting checked every time it is set (in ``__init__`` or later): ``check(owner,
    name, value)``, given the owner's class name and the setting's, returns the value to
    keep or raises."""

    def __init__(self, check: Callable[[str, str, Any], Any]) -> None:
        self._check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._slot = "_checked_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj, self._slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self._slot, self._check(type(obj).__name__, self._name, value))
