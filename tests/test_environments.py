"""Frameworks of other Python environments as oracles: named environments, version-differential campaigns,
`convfuzz bisect` and `convfuzz replay --environment`, on real venvs built here (tests/toy_releases.py: releases
1.0 and 1.2 of a numpy-only library are correct, 1.1 has a planted bias bug) and on this interpreter's JAX seen
from another environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.bisect import CRASHES, GONE, SHOWN, Step, ordered, summary
from convfuzz.fuzz.cli import main
from convfuzz.fuzz.judge.consensus import minimal_suspects
from convfuzz.oracles.environments import (
    BadEnvironment,
    Environment,
    configured,
    parts,
    qualified,
)
from convfuzz.oracles.framework import FRAMEWORKS_ENV
from convfuzz.oracles.isolation import IsolatedOracle
from convfuzz.oracles.wire import dumps
from tests.helpers import make_case, naive_conv
from tests.toy_releases import REGISTRATION, make_release, this_site

RELEASES = {"r10": "1.0", "r11": "1.1", "r12": "1.2"}


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three environments, one per toyrel release, and 'same': release 1.0 beside this interpreter's packages."""
    root = tmp_path_factory.mktemp("environments")
    built = {name: make_release(root, name, version) for name, version in RELEASES.items()}
    built["same"] = make_release(root, "same", "1.0", extra_site=this_site())
    return built


@pytest.fixture
def folder(tmp_path: Path, releases: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A findings folder with a convfuzz.toml beside it naming the environments; toyrel registered."""
    monkeypatch.setenv(FRAMEWORKS_ENV, REGISTRATION)
    lines = [f'{name} = "{python.parent.parent}"' for name, python in releases.items()]
    (tmp_path / "convfuzz.toml").write_text("[environments]\n" + "\n".join(lines) + "\n")
    return tmp_path / "findings"


def _run(folder: Path, oracles: str, *extra: str) -> int:
    return main(["run", "--findings", str(folder), "--oracles", oracles, "--ops", "conv2d", "--dtypes", "float64",
                 "--max-examples", "60", "--seed", "7", "--workers", "1", "--database", "none", *extra])


def _stored(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_oracle_names_say_environment_and_device() -> None:
    assert parts("torch@nightly@cuda") == ("torch", "nightly", "cuda")
    assert parts("torch@cuda@nightly") == ("torch", "nightly", "cuda")
    assert parts("jax-eager") == ("jax-eager", None, None)
    assert qualified("torch@cuda", "nightly") == "torch@nightly@cuda"
    assert qualified("torch@old", None) == "torch"
    for bad in ("torch@a@b", "torch@cpu@cuda", "torch@no/slash"):
        with pytest.raises(KeyError):
            parts(bad)


def test_bad_environments_are_named(tmp_path: Path) -> None:
    (tmp_path / "convfuzz.toml").write_text('[environments]\nold = "/no/such/python"\n')
    with pytest.raises(BadEnvironment, match="'/no/such/python' is not a Python interpreter"):
        configured(tmp_path / "findings")
    (tmp_path / "convfuzz.toml").write_text("[environments]\nold = 3\n")
    with pytest.raises(BadEnvironment, match="must be a path"):
        configured(tmp_path / "findings")
    with pytest.raises(BadEnvironment, match="'cuda' is not an environment name"):
        configured(tmp_path / "sub" / "findings", ["cuda=/usr/bin/python3"])


def test_usage_errors_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    findings = tmp_path / "findings"
    assert _run(findings, "reference,torch@nightly") == 2
    assert "environment 'nightly', which is not named" in capsys.readouterr().err
    assert _run(findings, "reference,torch", "--environment", "old=/no/python") == 2
    assert "'/no/python' is not a Python interpreter" in capsys.readouterr().err
    assert main(["bisect", "x", "--findings", str(findings), "--environments", "nowhere"]) == 2
    assert not findings.exists()


def test_bisect_summary_names_first_and_last_release_and_crashes() -> None:
    steps = [Step("a", "0.4.30", GONE), Step("b", "0.8.0", GONE), Step("c", "0.9.2", CRASHES),
             Step("d", "0.10.2", SHOWN), Step("e", "0.11.0", SHOWN), Step("f", "0.12.0", GONE)]
    assert summary("jax", ordered(list(reversed(steps)))) == (
        "present in jax 0.10.2-0.11.0, gone in 0.12.0; not in 0.8.0; the call crashes in 0.9.2"
    )
    assert summary("jax", steps[:2]) == "not reproduced in jax 0.4.30, 0.8.0"
    twice = [Step("numpy-1", "0.4.30", SHOWN), Step("numpy-2", "0.4.30", SHOWN)]  # one release, two environments
    assert summary("jax", twice) == "present in jax 0.4.30"


def test_portable_pickles_carry_arrays_as_bytes() -> None:
    """No numpy module path in the pickle: an array crosses between numpy 1 and numpy 2 environments."""
    data = dumps((np.arange(6.0).reshape(2, 3), np.complex128(1 + 2j), np.float32(0.5)))
    assert b"multiarray" not in data and b"numpy._core" not in data and b"numpy.core" not in data


def test_a_worker_in_another_environment_sees_only_its_own_packages(releases: dict[str, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FRAMEWORKS_ENV, REGISTRATION)
    oracle = IsolatedOracle("toyrel", environment=Environment("r12", releases["r12"]))
    try:
        assert oracle.name == "toyrel@r12"
        assert oracle.versions["toyrel"] == "1.2" and oracle.versions["executable"] == str(releases["r12"])
        assert "torch" not in oracle.versions and "jax" not in oracle.versions  # this interpreter's are not seen
        case = make_case("float64")
        assert np.allclose(oracle.run(case), naive_conv(case), rtol=1e-12, atol=1e-12)
    finally:
        oracle.close()


def test_two_releases_that_agree_outvote_the_reference_only_with_more_frameworks() -> None:
    names = ["reference", "torch", "torch@old"]
    releases_agree = {frozenset(("torch", "torch@old"))}
    assert minimal_suspects(names, lambda a, b: frozenset((a, b)) in releases_agree, {}) == ("torch", "torch@old")
    old_differs = {frozenset(("torch", "reference"))}
    assert minimal_suspects(names, lambda a, b: frozenset((a, b)) in old_differs, {}) == ("torch@old",)


@pytest.mark.campaign
def test_version_differential_campaign_blames_the_release_with_the_bug(
    folder: Path, releases: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(folder, "reference,toyrel@r10,toyrel@r11,toyrel@r12") == 1
    assert "the wrong release: toyrel@r11 is toyrel 1.1 (" in capsys.readouterr().out
    stored = _stored(folder)
    assert stored and all(f["suspects"] == ["toyrel@r11"] for f in stored)  # never 1.0, 1.2 or the reference
    finding = stored[0]
    sections = finding["environment"]["environments"]  # type: ignore[index]
    assert sections["r11"]["versions"]["toyrel"] == "1.1" and sections["r10"]["versions"]["toyrel"] == "1.0"
    script = folder / f"{finding['id']}.py"
    assert "FOUND_IN = {'toyrel': '1.1'}" in script.read_text()
    shown = {name: subprocess.run([str(releases[name]), str(script)], check=False, capture_output=True,
                                  text=True)
             for name in RELEASES}
    assert shown["r11"].returncode == 1, shown["r11"].stdout
    assert shown["r12"].returncode == 2 and "found with toyrel 1.1 (here 1.2)" in shown["r12"].stdout
    _bisect_and_replay(folder, str(finding["id"]))


def _bisect_and_replay(folder: Path, ident: str) -> None:
    """bisect over the three releases, --update, explain; then replay the folder in 1.1 and in 1.2."""
    # 'here' is this interpreter, which has no toyrel: it cannot tell, and comes last.
    places = f"here={sys.executable},r12,r10,r11"
    assert main(["bisect", ident, "--findings", str(folder), "--environments", places, "--update"]) == 0
    history = json.loads((folder / f"{ident}.json").read_text())["history"]["bisect"]
    assert [(s["version"], s["state"]) for s in history["steps"]] == [
        ("1.0", "gone"), ("1.1", "reproduces"), ("1.2", "gone"), (None, "cannot tell")
    ]
    assert "No module named 'toyrel'" in history["steps"][-1]["reason"]
    assert history["summary"] == "present in toyrel 1.1, gone in 1.2; not in 1.0"
    assert main(["replay", str(folder), "--environment", "r11"]) == 0
    assert main(["replay", str(folder), "--environment", "r12"]) == 1  # gone there: a changed status
    assert main(["replay", str(folder), "--environment", "r12", "--update"]) == 2


@pytest.mark.campaign
def test_explain_states_the_releases(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(folder, "reference,toyrel@r10,toyrel@r11", "--workers", "2") == 1
    assert "  toyrel@r11: toyrel 1.1, numpy " in capsys.readouterr().err  # as the pool's first worker reported it
    ident = str(_stored(folder)[0]["id"])
    assert main(["bisect", ident, "--findings", str(folder), "--environments", "r10,r11,r12", "--update"]) == 0
    capsys.readouterr()
    assert main(["explain", ident, "--findings", str(folder), "--no-replay"]) == 0
    text = capsys.readouterr().out
    assert "RELEASES: present in toyrel 1.1, gone in 1.2; not in 1.0 (bisected" in text
    assert "environment r11 (oracles NAME@r11): toyrel 1.1" in text


@pytest.mark.campaign
def test_jax_from_another_environment_agrees_with_jax_here(folder: Path) -> None:
    """This interpreter's JAX reached through another environment's worker: same answers, no finding."""
    pytest.importorskip("jax")
    assert _run(folder, "reference,jax,jax@same") == 0
    assert not _stored(folder)


@pytest.mark.campaign
def test_the_nightly_job_replays_in_another_environment(folder: Path) -> None:
    """scripts/nightly --replay-in r12: the open finding of release 1.1 is gone in 1.2, which the job reports without
    failing on it."""
    assert _run(folder, "reference,toyrel@r11") == 1
    done = subprocess.run(
        [str(Path(__file__).resolve().parent.parent / "scripts" / "nightly"), "--findings", str(folder),
         "--time-budget", "60", "--replay-in", "r12", "--", "--oracles", "reference,toyrel@r10,toyrel@r12",
         "--ops", "conv2d", "--dtypes", "float64", "--max-examples", "30", "--workers", "1", "--database", "none"],
        check=False, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replaying with the suspects in environment r12" in done.stdout
    assert ": fixed (open) - no longer reproduces" in done.stdout


def _running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie nobody reaped yet has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_worker_of_another_environment_ends_with_its_parent(releases: dict[str, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL leaves no cleanup to the parent: its worker, which no multiprocessing daemon flag covers, must see
    the pipe close and end by itself."""
    monkeypatch.setenv(FRAMEWORKS_ENV, REGISTRATION)
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from pathlib import Path\n"
        "from convfuzz.oracles.environments import Environment\n"
        "from convfuzz.oracles.isolation import IsolatedOracle\n"
        f"oracle = IsolatedOracle('toyrel', environment=Environment('r10', Path({str(releases['r10'])!r})))\n"
        "from convfuzz.oracles.interpreters import shim_folder\n"
        "print(oracle._process._popen.pid, shim_folder('toyrel'), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid, shim = parent.stdout.readline().split()
    worker = int(pid)
    assert _running(worker)
    parent.kill()
    parent.wait()
    shutil.rmtree(shim)  # the folder a killed parent could not remove at its exit
    deadline = time.monotonic() + 120  # the event is the worker's exit; the ceiling only bounds a failure
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)


@pytest.mark.campaign
def test_a_users_pytest_replays_a_finding_in_its_environment(
    pytester: pytest.Pytester, releases: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest --convfuzz-findings reads convfuzz.toml beside the folder: the finding of release 1.1 replays there
    (open, reproduces: xfail); a convfuzz.toml that does not read fails one item and names the problem."""
    monkeypatch.setenv(FRAMEWORKS_ENV, REGISTRATION)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))  # tests.toy_releases there
    (pytester.path / "convfuzz.toml").write_text(f'[environments]\nr11 = "{releases["r11"]}"\n')
    assert _run(pytester.path / "findings", "reference,toyrel@r11") == 1
    result = pytester.runpytest_subprocess("--convfuzz-findings", "findings", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(xfailed=1)
    (pytester.path / "convfuzz.toml").write_text("[environments]\nr11 = 11\n")
    result = pytester.runpytest_subprocess("--convfuzz-findings", "findings", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=1, skipped=1)
    assert "environments.r11 must be a path" in result.stdout.str()
