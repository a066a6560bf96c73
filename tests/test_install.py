"""Installed, convfuzz takes one top-level name, its own: a wheel holds `convfuzz` and nothing else, and a user's
project with packages of its own named `fuzz`, `strategies` and `oracles` keeps them (convfuzz's pytest plugin loads
in every pytest run of the environment, so a collision there would break the user's whole test suite)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Local state of a checkout that a build must not see (and that is large).
NOT_COPIED = (".git", ".venv", "build", "findings", "bench", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
USER_TEST = '''
import fuzz
import oracles
import strategies


def test_my_own_packages_are_mine():
    assert (fuzz.OWNER, strategies.OWNER, oracles.OWNER) == ("user", "user", "user")
'''


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def built_wheel(tmp_path: Path) -> Path:
    """convfuzz's wheel, built from a copy of this checkout (links kept as links, as git keeps them)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                 "--disable-pip-version-check", "--wheel-dir", str(wheels), str(source)], tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("convfuzz-*.whl")
    return wheel


def test_the_wheel_holds_one_top_level_package_named_convfuzz(tmp_path: Path) -> None:
    with zipfile.ZipFile(built_wheel(tmp_path)) as wheel:
        names = wheel.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        declared = wheel.read(entry_points).decode()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"convfuzz"}, tops
    # The three folders are inside it, with their sub-packages: the links were followed, not stored as links.
    for module in ("convfuzz/fuzz/cli.py", "convfuzz/fuzz/judge/bounds.py", "convfuzz/oracles/reference.py",
                   "convfuzz/strategies/conv.py", "convfuzz/__main__.py", "convfuzz/py.typed"):
        assert module in names, module
    assert "convfuzz = convfuzz.fuzz.pytest_plugin" in declared and "convfuzz = convfuzz.fuzz.cli:main" in declared


def test_installed_beside_a_users_own_fuzz_package_pytest_and_the_command_work(tmp_path: Path) -> None:
    wheel = built_wheel(tmp_path)
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    python = venv / "bin" / "python"
    constraints = ROOT / "constraints-cpu.txt"
    # What the plugin and `convfuzz --help` need; the frameworks are not needed for either.
    installed = run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c",
                     str(constraints), "pytest", "numpy", "hypothesis"], tmp_path)
    if installed.returncode != 0 and "connection" in installed.stderr.lower():
        pytest.skip(f"the package index cannot be reached to fill a fresh venv: {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr
    own = run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               str(wheel)], tmp_path)
    assert own.returncode == 0, own.stderr

    project = tmp_path / "project"
    for package in ("fuzz", "strategies", "oracles"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("OWNER = 'user'\n")
    (project / "test_mine.py").write_text(USER_TEST)
    tested = run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q"], project)
    assert tested.returncode == 0 and "1 passed" in tested.stdout, tested.stdout + tested.stderr
    # convfuzz's plugin was loaded in that run (its option is there), under names that say convfuzz.
    plugin = run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "--help"], project)
    assert "--convfuzz-findings=DIR" in plugin.stdout and "\n  --findings" not in plugin.stdout, plugin.stdout
    command = run([str(venv / "bin" / "convfuzz"), "run", "--help"], project)
    assert command.returncode == 0 and "--time-budget" in command.stdout, command.stdout + command.stderr
