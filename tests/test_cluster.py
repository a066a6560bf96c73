"""`convfuzz run --ray`: campaigns whose workers are Ray actors, on a real Ray runtime listening on the loopback.

The campaign tests start real Ray (a local runtime, or a `ray start --head` cluster joined by its address) and
run the planted DroppedBias against our reference. Each Ray runtime has its own session and ports, so two of
these tests may run at once on the suite's two test processes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign import parallel
from convfuzz.fuzz.campaign.cluster import LOCAL_RUNTIME, NO_CLUSTER_VARIABLE, ClusterError, on_loopback, placement
from convfuzz.fuzz.campaign.parallel import WORKER_MEMORY_BYTES, default_worker_count, merged_stats
from convfuzz.fuzz.campaign.record import load_campaign_records
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import FindingStore
from tests.helpers import process_parents

GIB = 2**30
PLANTED = ["--oracles", "reference,tests.planted:DroppedBias", "--ops", "conv1d,conv2d", "--dtypes", "float32"]


def test_one_actor_per_cpu_capped_by_memory() -> None:
    assert placement({"CPU": 8.0, "memory": 64.0 * GIB}, None, None).actors == 8
    assert placement({"CPU": 8.0, "memory": 3.0 * WORKER_MEMORY_BYTES}, None, None).actors == 3
    assert placement({"CPU": 8.0, "memory": 0.1 * GIB}, None, None).actors == 1  # one, however little memory
    assert placement({"CPU": 8.0}, 5, ("cpu",)).actors == 5
    assert not placement({"CPU": 8.0, "GPU": 2.0}, None, ("cpu",)).gpu_each


@pytest.mark.parametrize(
    ("memory", "workers"),
    [(64.0 * GIB, 8), (3.0 * WORKER_MEMORY_BYTES, 3), (5.5 * WORKER_MEMORY_BYTES, 5), (0.1 * GIB, 1)],
)
def test_local_workers_and_cluster_actors_share_one_memory_cap(
    memory: float, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 CPUs: one worker per CPU, at most one per WORKER_MEMORY_BYTES of memory, at least one; alike on both."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(8)), raising=False)
    monkeypatch.setattr(parallel, "_available_memory", lambda: int(memory))
    assert default_worker_count() == placement({"CPU": 8.0, "memory": memory}, None, None).actors == workers


def test_a_worker_that_sent_no_statistics_counts_as_lost() -> None:
    parts = [CampaignStats(seed=3, started=0.0), CampaignStats(seed=3, started=0.0)]
    parts[0].examples, parts[1].examples = 4, 5
    merged = merged_stats(parts, 3, seed=3, started=0.0, interrupted=True)
    assert (merged.examples, merged.workers_lost, merged.interrupted) == (9, 1, True)
    assert merged_stats(parts, 2, seed=3, started=0.0, interrupted=False).workers_lost == 0


def test_a_cuda_campaign_places_one_actor_per_gpu() -> None:
    assert placement({"CPU": 16.0, "GPU": 4.0}, None, None) == placement({"CPU": 1.0, "GPU": 4.0}, None, ("cuda",))
    where = placement({"CPU": 16.0, "GPU": 4.0}, None, ("cpu", "cuda"))
    assert where.actors == 4 and where.gpu_each
    assert placement({"CPU": 16.0, "GPU": 4.0}, 2, None).actors == 2


@pytest.mark.parametrize(
    ("resources", "workers", "devices", "named"),
    [
        ({"CPU": 2.0}, 3, None, "--workers 3"),
        ({"CPU": 8.0}, None, ("cuda",), "no GPU"),
        ({"CPU": 8.0, "GPU": 1.0}, 2, ("cuda",), "--workers 2"),
        ({"GPU": 1.0}, None, ("cpu",), "no CPU"),
    ],
)
def test_a_campaign_the_cluster_cannot_hold_is_refused(
    resources: dict[str, float], workers: int | None, devices: tuple[str, ...] | None, named: str
) -> None:
    with pytest.raises(ClusterError, match=named):
        placement(resources, workers, devices)


def test_loopback_addresses_are_told_apart_from_cluster_ones() -> None:
    assert on_loopback(LOCAL_RUNTIME) and on_loopback("127.0.0.1:6379") and on_loopback("ray://localhost:10001")
    assert not on_loopback("auto") and not on_loopback("10.0.0.5:6379") and not on_loopback("ray://head:10001")


def test_ray_missing_exits_2_with_the_install_line(tmp_path: Path) -> None:
    """Without Ray (its import fails), --ray is a usage error naming the extra to install; nothing is written."""
    program = (
        "import sys; sys.modules['ray'] = None\n"  # what `import ray` meets where Ray is not installed
        "from convfuzz.fuzz.cli import main\n"
        f"sys.exit(main(['run', '--ray', '--findings', {str(tmp_path / 'f')!r}, '--max-examples', '5']))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "--ray needs Ray" in done.stderr and "convfuzz[cluster]" in done.stderr
    assert not (tmp_path / "f").exists()


def _run(findings: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convfuzz", "run", "--findings", str(findings), *options], capture_output=True,
        text=True, timeout=300, check=False, env=env,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REPOSITORY = Path(__file__).resolve().parent.parent


def _listening(process: subprocess.Popen[bytes], ports: list[int], ceiling: float = 180.0) -> bool:
    """Wait until something accepts connections on every one of `ports` on 127.0.0.1 (True), or `process` has
    ended or `ceiling` seconds have passed (False)."""
    deadline = time.monotonic() + ceiling
    waiting = list(ports)
    while waiting and process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        time.sleep(0.2)
    return not waiting and process.poll() is None


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A one-node Ray cluster started as a team starts its head (`ray start --head`), on the loopback only, with
    its files in a temporary folder of its own (a short path: Ray's sockets live there): its address, its Ray
    Client address, and the environment a driver needs to join it. Its workers can import this repository
    (tests.planted), as a team's nodes have convfuzz installed."""
    # Token authentication with a token of its own, given to the head and the driver alike (`ray start` turns
    # authentication on only where ~/.ray/auth_token exists, which a fresh machine may not have).
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, NO_CLUSTER_VARIABLE: "0", "PYTHONPATH": str(REPOSITORY), **auth}
    ray = Path(sys.executable).with_name("ray")
    files = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    # A port another process took between choosing and binding it ends the head: chosen again, up to five times.
    for _ in range(5):
        port, client_port = _free_port(), _free_port()
        head = subprocess.Popen(
            [str(ray), "start", "--head", "--block", "--num-cpus", "2", "--node-ip-address", "127.0.0.1", "--port",
             str(port), "--ray-client-server-port", str(client_port), "--include-dashboard", "false",
             "--disable-usage-stats", "--temp-dir", files],
            stdout=(tmp_path / "head.log").open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPOSITORY,
            start_new_session=True,
        )
        if _listening(head, [port, client_port]):
            break
        if head.poll() is None:  # up but not listening within the ceiling: not this port's fault; stop it
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
    else:
        raise AssertionError(f"the Ray head did not start: {(tmp_path / 'head.log').read_text()[-2000:]}")
    try:
        yield f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", {**os.environ, **auth}
    finally:
        head.terminate()  # `ray start --block` stops what it started (about 2 s when idle)
        try:
            head.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        # The head's logs stay with the test's files, for the diagnosis of a failed run.
        shutil.copytree(Path(files) / "session_latest" / "logs", tmp_path / "head-logs", dirs_exist_ok=True)
        shutil.rmtree(files, ignore_errors=True)


@pytest.mark.campaign
def test_actors_on_a_joined_cluster_find_what_local_workers_find(
    tmp_path: Path, ray_head: tuple[str, str, dict[str, str]]
) -> None:
    """Two actors on a `ray start` cluster, driven through Ray Client from outside it, give the same findings and
    exit status as `--workers 2` on this machine; the driver writes the folder; a campaign asking the cluster for
    more CPUs than it has is refused before anything is written. Both campaigns run without an example database:
    one the workers share while they run makes what a worker draws depend on when the others saved (through the
    hub, in whatever order its threads serve them), so only `--database none` makes a campaign its seed's alone."""
    address, client, env = ray_head
    seeded = ("--max-examples", "60", "--seed", "7", "--database", "none")
    local = _run(tmp_path / "local", "--workers", "2", *seeded, *PLANTED)
    refused = _run(tmp_path / "refused", "--ray", address, "--workers", "3", "--max-examples", "5", *PLANTED, env=env)
    assert refused.returncode == 2 and "--workers 3" in refused.stderr and not (tmp_path / "refused").exists()
    cluster = _run(tmp_path / "ray", "--ray", client, *seeded, *PLANTED, env=env)
    assert (local.returncode, cluster.returncode) == (1, 1), cluster.stdout + cluster.stderr
    assert "2 worker(s)" in cluster.stderr  # one actor per CPU the cluster reports
    found = {r.id for r in FindingStore(tmp_path / "ray").load()[0]}
    assert found == {r.id for r in FindingStore(tmp_path / "local").load()[0]} and found
    assert f"new findings: {len(found)} " in cluster.stdout
    (record,) = load_campaign_records(tmp_path / "ray")
    assert record["settings"]["ray"] == client and record["settings"]["workers"] == 2
    environment = json.loads(next((tmp_path / "ray").glob("*.json")).read_text())["environment"]
    assert environment["kernel_facts"]["cpu"]["isa"]  # the node's kernel-selecting facts, gathered there


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    parents = process_parents()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child in [c for c, p in parents.items() if p == parent]:
            try:
                found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            frontier.append(child)
    return found


def _left_running(pids: list[int], seconds: float = 20.0) -> list[int]:
    """Those of `pids` still running (zombies aside) after waiting up to `seconds` for them to end."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                running.append(pid)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.5)


def _start_and_wait_for_a_finding(
    findings: Path, seed: str, sigint_ignored: bool = False
) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """A local-runtime Ray campaign of two actors with a ten-minute budget, once it has written a finding: the driver
    and its processes. The test ends it (SIGINT) once it has seen what it needs. With `sigint_ignored`, the driver
    inherits SIGINT ignored, as a command started in a script's background does."""
    command = [sys.executable, "-m", "convfuzz", "run", "--ray", "--workers", "2", "--findings", str(findings),
               "--time-budget", "600", "--seed", seed, *PLANTED]
    if sigint_ignored:  # `trap "" INT` sets SIGINT ignored, and exec keeps it so for the driver
        command = ["bash", "-c", 'trap "" INT; exec "$@"', "driver", *command]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(findings.glob("*.json")):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read() if run.stderr else ""
        time.sleep(0.2)
    return run, _descendants(run.pid)


def _actors(processes: dict[int, str]) -> list[int]:
    return [pid for pid, command in processes.items() if command.startswith("ray::CampaignHost")]


@pytest.mark.campaign
def test_a_killed_actor_loses_no_finding_and_its_share_goes_on(tmp_path: Path) -> None:
    """SIGKILL to one actor's process mid-run: what it reported stays, a fresh actor takes its share (its process
    appears), and the campaign then ends as usual on Ctrl-C, saying an actor was replaced. The driver wrote the
    example database (the folder default) too."""
    run, processes = _start_and_wait_for_a_finding(tmp_path, "11")
    actors = _actors(processes)
    assert len(actors) == 2, processes
    before = {r.signature for r in FindingStore(tmp_path).load()[0]}
    os.kill(actors[0], signal.SIGKILL)
    deadline = time.monotonic() + 300
    while not set(_actors(_descendants(run.pid))) - set(actors):  # the replacement actor's process
        assert run.poll() is None and time.monotonic() < deadline, "no actor took the lost one's place"
        time.sleep(0.5)
    processes.update(_descendants(run.pid))
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, out + err
    assert "actors replaced 1" in out
    after = {r.signature for r in FindingStore(tmp_path).load()[0]}
    assert before <= after
    assert any((tmp_path / "hypothesis").iterdir())  # the example database, written by the driver
    assert not _left_running(list(processes)), "processes of the campaign outlived it"


@pytest.mark.campaign
def test_ctrl_c_on_the_driver_ends_every_actor(tmp_path: Path) -> None:
    """SIGINT to the driver alone: every actor ends its campaign and reports, the summary says interrupted, the
    record is written, and no process of the campaign is left. The driver was started with SIGINT ignored (a
    script's background job): an explicit SIGINT still ends the campaign, as it does a local one."""
    run, processes = _start_and_wait_for_a_finding(tmp_path, "12", sigint_ignored=True)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=300)  # the actors stop (an actor silent for 30 s is killed)
    assert run.returncode == 1, out + err
    assert "interrupted" in out and "campaign record:" in out
    assert not _left_running(list(processes)), "processes of the campaign outlived it"
