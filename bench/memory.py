"""Resident memory of a whole campaign over time: the CLI process, its campaign workers and their oracle workers.

    .venv/bin/python bench/memory.py --minutes 30 --workers 2 --seed 11

Starts `python -m convfuzz run` (isolated oracles, the CLI default) into a temporary findings folder, sums the RSS of
every process in its tree once a minute (Linux /proc), and prints a table plus the growth from minute 2 to the
end. Linux only; no third-party packages.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def children_of() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree_rss(root: int) -> dict[str, int]:
    """Resident bytes of `root` and each of its descendants, by 'pid command' (the command shortened)."""
    tree = children_of()
    pending, sizes = [root], {}
    while pending:
        pid = pending.pop()
        try:
            resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        sizes[f"{pid} {command.strip()[-60:]}"] = resident_pages * PAGE
        pending += tree.get(pid, [])
    return sizes


def main() -> int:
    """Run the campaign, print one sample a minute and the growth after minute 2."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    findings = Path(tempfile.mkdtemp(prefix="convfuzz-memory-")) / "findings"
    command = [sys.executable, "-m", "convfuzz", "run", "--time-budget", str(args.minutes * 60),
               "--workers", str(args.workers), "--seed", str(args.seed), "--findings", str(findings)]
    print("running:", " ".join(command), flush=True)
    campaign = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start = time.monotonic()
    samples: list[tuple[float, int, int]] = []
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    print(f"{'minute':>6} {'RSS MiB':>9} {'processes':>9}", flush=True)
    while campaign.poll() is None:
        time.sleep(min(60.0, max(1.0, 60.0 * (len(samples) + 1) - (time.monotonic() - start))))
        if campaign.poll() is not None:
            break
        last = tree_rss(campaign.pid)
        first = first or last
        total, count = sum(last.values()), len(last)
        samples.append(((time.monotonic() - start) / 60, total, count))
        print(f"{samples[-1][0]:6.1f} {total / 2**20:9.0f} {count:9d}", flush=True)
    output = campaign.stdout.read() if campaign.stdout else ""
    summary = [line for line in output.splitlines() if line.startswith(("convfuzz run:", "new findings"))]
    print("\n".join(summary[-2:]))
    at_two = next((s for s in samples if s[0] >= 2.0), None)
    if at_two and samples:
        growth = samples[-1][1] - at_two[1]
        print(f"RSS at minute {at_two[0]:.1f}: {at_two[1] / 2**20:.0f} MiB; at minute {samples[-1][0]:.1f}: "
              f"{samples[-1][1] / 2**20:.0f} MiB; growth {growth / 2**20:+.0f} MiB")
    print("per process, first and last sample (MiB):")
    for key in sorted(set(first) | set(last)):
        print(f"  {first.get(key, 0) / 2**20:7.0f} {last.get(key, 0) / 2**20:7.0f}  {key}")
    return campaign.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
