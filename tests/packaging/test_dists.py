"""What a build from this tree gives a user: a wheel and an sdist that carry the widget
bundle (git-ignored, so only the build config puts it there), and an editable install
that runs npm only when the bundle is older than its sources, and that goes on
without Node.js.

The builds call hatchling's PEP 517 hooks in a subprocess, as pip would, without
network: the bundle must already be built (tests/ui/test_bundle.py says how), and npm
is never run for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("hatchling")
pytest.importorskip("hatch_jupyter_builder")

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ["tree", "stream", "timeline", "sequence"]
BUNDLE = [f"agentlab/static/{view}.{ext}" for view in VIEWS for ext in ("js", "css")]


def build(kind: str, source: Path, out: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run hatchling's ``build_<kind>`` hook in ``source``, writing into ``out``."""
    # the switches that would skip the very hook under test
    env = {k: v for k, v in os.environ.items()
           if k not in ("SKIP_JUPYTER_BUILDER", "HATCH_JUPYTER_BUILDER_SKIP_NPM")}
    if path is not None:
        env["PATH"] = path
    code = f"import sys\nfrom hatchling.build import build_{kind}\nprint(build_{kind}(sys.argv[1]))"
    return subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    missing = [name for name in BUNDLE if not (ROOT / name).exists()]
    if missing:
        pytest.fail(f"the widget bundle is not built ({missing[0]}): run `npm ci && npm run build` in widgets/")
    out = tmp_path_factory.mktemp("dist")
    no_programs = tmp_path_factory.mktemp("no-programs")
    names: dict[str, set[str]] = {}
    for kind in ("wheel", "sdist"):
        # no npm on PATH: with the bundle there, a build must not need it
        done = build(kind, ROOT, out, path=str(no_programs))
        assert done.returncode == 0, done.stderr
        made = out / done.stdout.strip().splitlines()[-1]
        if kind == "wheel":
            with zipfile.ZipFile(made) as z:
                names[kind] = set(z.namelist())
                names["entry_points"] = {z.read(n).decode() for n in z.namelist()
                                         if n.endswith(".dist-info/entry_points.txt")}
        else:
            with tarfile.open(made) as t:
                names[kind] = {n.partition("/")[2] for n in t.getnames()}
    return names


def test_the_wheel_has_the_bundle_and_every_module(dists):
    wheel = dists["wheel"]
    assert set(BUNDLE) <= wheel, sorted(set(BUNDLE) - wheel)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "agentlab").rglob("*.py")}
    assert modules <= wheel, sorted(modules - wheel)
    assert "agentlab/py.typed" in wheel  # users' type checkers read agentlab's hints
    assert not [n for n in wheel if n.startswith(("tests/", "widgets/", "notebooks/"))]


def test_the_wheel_installs_the_agentlab_command(dists):
    (entry_points,) = dists["entry_points"]
    assert "agentlab = agentlab.__main__:main" in entry_points


def test_the_sdist_has_the_bundle_and_what_rebuilds_it(dists):
    sdist = dists["sdist"]
    # an sdist with the bundle installs without Node.js (skip-if-exists)
    assert set(BUNDLE) <= sdist, sorted(set(BUNDLE) - sdist)
    for name in ("widgets/package.json", "widgets/package-lock.json", "widgets/build.mjs",
                 *(f"widgets/src/{view}.js" for view in VIEWS), "pyproject.toml", "README.md"):
        assert name in sdist, name
    assert not [n for n in sdist if "node_modules" in n]


# -- editable installs ----------------------------------------------------------------
FAKE_NPM = """#!/bin/sh
echo "$@" >> "{log}"
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what an editable build reads: the package, the widget sources, the config."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "agentlab", src / "agentlab",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    (src / "widgets").mkdir()
    shutil.copytree(ROOT / "widgets" / "src", src / "widgets" / "src")
    shutil.copy2(ROOT / "widgets" / "package.json", src / "widgets" / "package.json")
    return src


def fake_npm(tmp_path: Path) -> tuple[Path, Path]:
    """A folder holding an ``npm`` that only logs its arguments, and the log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(log=log))
    npm.chmod(0o755)
    return bin_dir, log


def set_mtime(paths: list[Path], t: float) -> None:
    for p in paths:
        os.utime(p, (t, t))


@pytest.mark.skipif(os.name != "posix", reason="the stand-in npm is a shell script")
def test_an_editable_install_runs_npm_only_when_the_bundle_is_older_than_its_sources(tree, tmp_path):
    bin_dir, log = fake_npm(tmp_path)
    static = tree / "agentlab" / "static"
    static.mkdir()
    for name in BUNDLE:
        (tree / name).write_text("export default {};\n")
    sources = list((tree / "widgets" / "src").rglob("*"))
    files = [p for p in sources if p.is_file()]
    set_mtime(files, 1_000_000)
    set_mtime([tree / n for n in BUNDLE], 2_000_000)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    done = build("editable", tree, tmp_path, path=path)
    assert done.returncode == 0, done.stderr
    assert not log.exists(), f"npm ran for a bundle newer than its sources: {log.read_text()}"

    set_mtime(files[:1], 3_000_000)  # a source edited after the last build
    done = build("editable", tree, tmp_path, path=path)
    assert done.returncode == 0, done.stderr
    assert log.read_text().split("\n")[:2] == ["install", "run build"]


def test_an_editable_install_goes_on_without_npm(tree, tmp_path):
    empty = tmp_path / "no-programs"
    empty.mkdir()
    done = build("editable", tree, tmp_path, path=str(empty))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / done.stdout.strip().splitlines()[-1]).exists()
    assert "npm" in done.stderr  # the warning says what was missing
