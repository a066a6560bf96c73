"""What each oracle of a campaign cost and checked, from its campaign record (or several, summed).

    .venv/bin/python bench/oracle_rates.py FINDINGS/campaigns/RECORD.json [...]

Per oracle: the seconds its calls took (both workers together), the checks it passed (from the record's err/bound
histogram: one entry per passing check of an oracle), and passing checks per second of its own time - what a
framework adds to a campaign besides its worker start (bench/framework_cost.py). Checks it failed, refused or sat
out are not counted: a rate of the work it did.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convfuzz.fuzz.campaign.record import read_campaign_record  # noqa: E402

NOT_ORACLES = ("hypothesis+engine", "judge")


def main() -> None:
    """Print each oracle's seconds, passing checks and rate over the given campaign records."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path, help="campaign record files (FINDINGS/campaigns/*.json)")
    args = parser.parse_args()
    seconds: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for path in args.records:
        record = read_campaign_record(path)
        seconds.update({part: float(s) for part, s in record.get("seconds_by_part", {}).items()})
        for key, count in record.get("counts", {}).get("ratio_histogram", {}).items():
            passed[key.split(" ")[0]] += int(count)  # 'torch float32 -3': oracle, dtype, decade
    print("| oracle | seconds | passing checks | passing checks/s |")
    print("|---|---|---|---|")
    for oracle, spent in seconds.most_common():
        if oracle in NOT_ORACLES:
            continue
        if not passed[oracle]:  # the reference: every other oracle is judged against it, it has no ratios
            print(f"| {oracle} | {spent:,.0f} | - | - |")
            continue
        print(f"| {oracle} | {spent:,.0f} | {passed[oracle]:,} | {passed[oracle] / spent:,.1f} |")


if __name__ == "__main__":
    main()
