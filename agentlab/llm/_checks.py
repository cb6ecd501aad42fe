"""Checks of numeric options, made when an option is set, not when it is first used.

A pacing or retry number that makes no sense (NaN, a negative gap, a string)
would otherwise surface much later, as a wait that never ends or a
``TypeError`` deep in a replay. :func:`check_number` refuses it at once, with
the option's name, the rule and what was given::

    >>> check_number("speed", float("nan"), "> 0", lambda v: v > 0)
    Traceback (most recent call last):
    ...
    ValueError: speed must be a number > 0, not nan
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["check_number"]


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
