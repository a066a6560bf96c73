"""Releases of a numpy-only "framework", each installed in a Python environment of its own, for the tests of
environments, version-differential campaigns, bisect and replay elsewhere (real torch or JAX wheels cost minutes
to install; these take a second).

`toyrel` is a library with one function, toyrel.conv: tests/toy_framework.py's direct convolution, with its
planted bias bug (the first group's bias only) in release 1.1 and without it in 1.0 and 1.2. make_release builds a
venv (no pip) holding that release as an installed distribution and this interpreter's numpy, linked. TOYREL is
its convfuzz descriptor, registered as a user registers one: $CONVFUZZ_FRAMEWORKS=tests.toy_releases:TOYREL.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from convfuzz.oracles.base import Oracle
from convfuzz.oracles.framework import Variant
from convfuzz.strategies.case import ConvConfig
from tests.toy_framework import TOY_SOURCE, ToyFramework, ToyOracle, ToyVariant

REGISTRATION = "tests.toy_releases:TOYREL"
PLANTED_LINE = next(line for line in TOY_SOURCE.splitlines() if "the planted bug" in line)
CORRECT_LINE = "        out += b.reshape(-1, *[1] * rank)"
BUGGY_RELEASES = ("1.1",)


def release_source(version: str) -> str:
    """toyrel/__init__.py of `version`: the planted bug in BUGGY_RELEASES, the correct bias elsewhere."""
    source = TOY_SOURCE if version in BUGGY_RELEASES else TOY_SOURCE.replace(PLANTED_LINE, CORRECT_LINE)
    return f'"""toyrel {version}."""\n\n' + source.replace("def toy_conv(", "def conv(")


def _link_numpy(site: Path, folder: Path) -> None:
    """Make this interpreter's numpy (and its distribution metadata) importable in the environment at `site`."""
    import numpy

    source = Path(numpy.__file__).parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name == "numpy" or entry.name.startswith(("numpy.", "numpy-")):
            (folder / entry.name).symlink_to(entry)
    (site / "numpy-link.pth").write_text(f"{folder}\n")


def make_release(root: Path, name: str, version: str, extra_site: Path | None = None) -> Path:
    """A venv `root/name` holding toyrel `version` and numpy (and, with `extra_site`, that folder's packages too,
    through a .pth line); its python."""
    env = root / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    _link_numpy(site, root / f"{name}-numpy")
    package = site / "toyrel"
    package.mkdir()
    (package / "__init__.py").write_text(release_source(version))
    metadata = site / f"toyrel-{version}.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toyrel\nVersion: {version}\n")
    if extra_site is not None:
        (site / "shared-site.pth").write_text(f"{extra_site}\n")
    return python


def this_site() -> Path:
    """This interpreter's site-packages (where torch and JAX are installed)."""
    return Path(sysconfig.get_paths()["purelib"])


class ToyReleaseFramework(ToyFramework):
    """toyrel's descriptor: the toy's cases and calls, computed by whichever toyrel release the interpreter has."""

    name = "toyrel"
    title = "ToyRel"
    module = "toyrel"
    packages = ("toyrel",)
    tracker = "https://toyrel.invalid/issues/new"

    @property
    def variants(self) -> Mapping[str, Variant]:
        return {"toyrel": ToyVariant()}

    def build(self, variant: str) -> Oracle:
        import toyrel  # type: ignore[import-not-found]  # installed only in the environments make_release builds

        return ToyOracle(variant, toyrel.conv)

    def preamble(self) -> str:
        return "    import numpy as np\n    import toyrel\n\n"

    def call_name(self, cfg: ConvConfig) -> str:
        return "toyrel.conv"


TOYREL = ToyReleaseFramework()
