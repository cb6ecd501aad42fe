"""Helpers for the tests of the command-line tools, importable from every test folder
(``tests/`` is on ``sys.path``: pytest puts it there for ``tests/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def into_a_closed_pipe(
    module: str, *args: str, timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` (in the repository) printing into a pipe whose reader is
    gone (``| head -0``); its stderr is captured."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *args], stdout=write, stderr=subprocess.PIPE,
            text=True, timeout=timeout, env=env, cwd=ROOT, check=False,
        )
    finally:
        os.close(write)
