"""Distinct implementations a campaign reached, from its campaign record (or several, summed).

    .venv/bin/python bench/implementations.py FINDINGS/campaigns/RECORD.json [...]

For each oracle that reports its paths: the backends and what ran behind them (torch: conv backends and oneDNN
primitive implementations; JAX: XLA and what it lowered each conv to) with their counts, and torch's CPU backends it
never reached; then the totals docs/performance.md
tabulates. Works on records of campaigns older than the summary's own implementations lines (it reads the coverage
counts, which have long held the paths).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convfuzz.fuzz.campaign.implementations import backends, detail_word, never_reached, primitives, reached  # noqa: E402
from convfuzz.fuzz.campaign.record import read_campaign_record  # noqa: E402


def main() -> None:
    """Print what the given campaign records' checks reached."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path, help="campaign record files (FINDINGS/campaigns/*.json)")
    args = parser.parse_args()
    features: Counter[str] = Counter()
    checks = 0
    for path in args.records:
        record = read_campaign_record(path)
        counts = record.get("counts", {})
        features.update({k: int(v) for k, v in counts.get("features", {}).items()})
        checks += int(counts.get("checks") or 0)
    print(f"{len(args.records)} campaign(s), {checks} checks")
    for oracle, paths in sorted(reached(features).items()):
        found, behind, word = backends(paths), primitives(paths), detail_word(oracle)
        print(f"{oracle}: {len(found)} backends, {len(behind)} {word}, {len(paths)} distinct paths")
        print("  backends: " + ", ".join(f"{name} {n}" for name, n in found.most_common()))
        print(f"  {word}: " + ", ".join(f"{name} {n}" for name, n in behind.most_common()))
        missing = never_reached(oracle, paths)
        if missing:
            print("  never reached: " + ", ".join(missing))


if __name__ == "__main__":
    main()
