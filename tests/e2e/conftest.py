"""End-to-end fixtures: a real JupyterLab on loopback, driven by Playwright with Debian's Chromium.

Recipe (WIDGETS.md §6.4): ``jupyter lab`` with no token on 127.0.0.1, a fresh
workspace, user settings that turn off notebook windowing (off-screen outputs
would stay blank) and the news toast; Chromium from ``/usr/bin/chromium``
(never ``playwright install``). One server and one browser per session.

Skipped, with the reason, when Chromium, Playwright or JupyterLab is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("AGENTLAB_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; do not run `playwright install`)"
    if shutil.which("jupyter") is None and not _has_module("jupyterlab"):
        return "jupyterlab is not installed (pip install jupyterlab)"
    if not (ROOT / "agentlab" / "static" / "tree.js").exists():
        return "the widget bundle is missing: run `npm ci && npm run build` in widgets/"
    return None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A running ``jupyter lab``: its URL, notebook folder and log."""

    def __init__(self, base: str, root: Path, log: Path, proc: subprocess.Popen[bytes], out: Any) -> None:
        self.base, self.root, self.log, self.proc, self._out = base, root, log, proc, out

    def notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code cells into the server's folder; returns its name."""
        nb = {
            "cells": [
                {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                 "outputs": [], "source": src}
                for i, src in enumerate(cells)
            ],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(nb))
        return name

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_lab(tmp: Path) -> Lab:
    """Start JupyterLab on a free loopback port (the benchmark uses this too)."""
    root, settings = tmp / "notebooks", tmp / "settings"
    root.mkdir(parents=True, exist_ok=True)
    for ext, name, value in [
        ("@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"}),
        ("@jupyterlab/apputils-extension", "notification", {"fetchNews": "false"}),
    ]:
        d = settings / ext
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port = _free_port()
    log = tmp / "lab.log"
    out = log.open("wb")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
         f"--LabApp.user_settings_dir={settings}", "--LabApp.expose_app_in_browser=True",
         "--allow-root"],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                out.close()
                raise RuntimeError(f"jupyter lab did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.25)
    return Lab(base, root, log, proc, out)


def stop_lab(lab: Lab) -> None:
    lab.proc.terminate()
    try:
        lab.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        lab.proc.kill()
        lab.proc.wait()
    lab._out.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = _missing()
    if reason:
        if os.environ.get("AGENTLAB_REQUIRE_E2E"):  # CI installs the browser stack: never skip
            pytest.fail(f"end-to-end tests required (AGENTLAB_REQUIRE_E2E) but {reason}")
        pytest.skip(reason)
    server = start_lab(tmp_path_factory.mktemp("lab"))
    yield server
    stop_lab(server)


@pytest.fixture(scope="session")
def browser(lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_notebook(browser: Any, lab: Lab, name: str, viewport: tuple[int, int] = (1440, 1900)) -> Any:
    """Open ``name`` in JupyterLab, wait for an idle kernel, run every cell."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{lab.base}/lab/tree/{name}?reset")
    page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext", timeout=60_000)
    page.wait_for_function(
        """async () => { const w = window.jupyterapp.shell.currentWidget;
           await w.sessionContext.ready; const k = w.sessionContext.session?.kernel;
           return !!k && k.status === 'idle'; }""",
        timeout=60_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page


def wait_idle(page: Any, timeout: float = 60_000) -> None:
    """Wait until the notebook's kernel is idle (the cells ran)."""
    page.wait_for_function(
        """() => { const k = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
           return !!k && k.status === 'idle'; }""",
        timeout=timeout,
    )


def shot(page: Any, name: str, locator: Any = None) -> Path:
    """Save a screenshot into artifacts/screenshots/ (of ``locator`` if given)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path
