"""The Hypothesis example database: a campaign retries what an earlier campaign found first."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.example_db import example_database
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase
from tests.planted import DroppedBias


class RareBug(DroppedBias):
    """Drops the bias only in a conv with bias and exactly three groups: met now and then."""

    name = "rare_bug"

    def run(self, case: ConvCase) -> FloatArray:
        cfg = case.config
        if cfg.groups == 3:
            return super().run(case)
        return ReferenceOracle().run(case)


def first_discrepancy(seed: int, database: str | None) -> int | None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "other": ReferenceOracle(), "rare_bug": RareBug()}
    settings_ = CampaignSettings(seed=seed, max_examples=150, ops=("conv1d",), dtypes=("float64",), database=database)
    return Campaign(oracles, settings_).run().first_discrepancy_at


@pytest.mark.campaign
def test_a_later_campaign_starts_with_what_an_earlier_one_found(tmp_path: Path) -> None:
    database = str(tmp_path / "db")
    without = first_discrepancy(1, None)
    assert without is not None and without > 50  # seed 1 alone meets the bug late (example 105)
    assert first_discrepancy(2, database) is not None  # another campaign meets it and saves it
    assert any((tmp_path / "db").rglob("*")), "the failing example was saved"
    # Seed 1 with that database replays the saved examples before generating: the bug shows among the first
    # few (the failing example sorts among the target's saved best cases), not at example 105.
    again = first_discrepancy(1, database)
    assert again is not None and again <= 20


def test_database_specs() -> None:
    assert example_database(None) is None and example_database("none") is None
    assert isinstance(example_database("some/folder"), DirectoryBasedExampleDatabase)
    with pytest.raises(ValueError, match="not a folder"):
        example_database("pyproject.toml")


def test_a_redis_spec_without_the_redis_package_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None  # what `import redis` meets where it is not installed\n"
        "from convfuzz.fuzz.campaign.example_db import example_database\n"
        "try:\n    example_database('redis://127.0.0.1:1')\nexcept ValueError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert "--database redis://127.0.0.1:1: needs the redis package (pip install redis)" in done.stdout, (
        done.stdout + done.stderr
    )


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of this test's own, on 127.0.0.1, with its data in `folder` and nothing saved to disk; yields
    its redis:// address once it answers a PING, and stops it at the end. A port another process took between
    choosing and binding it is met by choosing again."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/test installs Debian's redis-server where apt-get is root)")
    redis = pytest.importorskip("redis")
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        if server.poll() is None and time.monotonic() < deadline:
            try:
                yield f"redis://127.0.0.1:{port}/0"
            finally:
                server.terminate()
                server.wait(timeout=60)
            return
        server.kill()
        output = server.communicate()[0]
        if "Address already in use" not in output:
            raise AssertionError(f"redis-server did not start: {output}")
    raise AssertionError("no free port for redis-server in five tries")


@pytest.mark.campaign
def test_campaigns_share_what_they_found_through_a_real_redis(tmp_path: Path) -> None:
    """The example database on a redis-server: a campaign saves its failing example there, and a campaign of
    another seed (another machine, as far as Redis can tell) replays it first."""
    with redis_server(tmp_path) as address:
        assert first_discrepancy(2, address) is not None  # one campaign meets the bug and saves it
        import redis

        saved = redis.Redis.from_url(address).keys("*")
        assert saved, "nothing was saved in Redis"
        again = first_discrepancy(1, address)  # seed 1 alone meets it at example 105 (test above)
        assert again is not None and again <= 20


def test_cli_refuses_an_unusable_database_before_running(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(tmp_path / "f"), "--database", "pyproject.toml",
         "--max-examples", "5"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2 and "--database pyproject.toml" in result.stderr, result.stderr
    assert not (tmp_path / "f").exists()
