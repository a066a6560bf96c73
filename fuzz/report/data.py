"""What a report says, gathered from a findings folder: its findings, its campaign records, and the totals of both.

Kept apart from the rendering (fuzz.report.html) and the plots (fuzz.report.plots) so that the numbers are tested on
their own and both formats (HTML, Markdown) say the same thing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convfuzz.fuzz.campaign.environment import versions
from convfuzz.fuzz.campaign.record import load_campaign_records, read_campaign_record
from convfuzz.fuzz.store.folder import FindingStore, LoadProblem
from convfuzz.fuzz.store.records import FindingRecord


class ReportError(Exception):
    """The report cannot be made from what was given; the message names the bad path or value."""


@dataclass(frozen=True)
class ReportData:
    """The findings and campaign records one report covers, and the totals over them."""

    folder: Path
    findings: list[FindingRecord]
    problems: list[LoadProblem]
    campaigns: list[dict[str, Any]]
    scope: str  # 'findings folder <path>' or 'campaign <file>'

    def total(self, count: str) -> int:
        """The sum of one of the campaigns' counts ('examples', 'checks', ...)."""
        return sum(int(c.get("counts", {}).get(count) or 0) for c in self.campaigns)

    def summed(self, count: str) -> Counter[str]:
        """The sum over the campaigns of one of their counters ('by_op_dtype', 'features', 'verdicts', ...)."""
        total: Counter[str] = Counter()
        for campaign in self.campaigns:
            total.update({k: int(v) for k, v in campaign.get("counts", {}).get(count, {}).items()})
        return total

    def seconds(self) -> float:
        """Wall time of all campaigns."""
        return sum(float(c.get("seconds") or 0.0) for c in self.campaigns)

    def by_op_dtype_device(self, count: str = "by_op_dtype_device") -> Counter[tuple[str, str, str]]:
        """Checks (or with count='examples_by_op_dtype_device', examples) per (op, dtype, device). Records that
        predate these counts give their checks per op/dtype with device '?', and no examples."""
        total: Counter[tuple[str, str, str]] = Counter()
        for campaign in self.campaigns:
            counts = campaign.get("counts", {})
            if "by_op_dtype_device" in counts:
                for key, n in counts.get(count, {}).items():
                    op, dtype, device = key.split(" ")
                    total[op, dtype, device] += int(n)
            elif count == "by_op_dtype_device":
                for key, n in counts.get("by_op_dtype", {}).items():
                    op, dtype = key.split(" ")
                    total[op, dtype, "?"] += int(n)
        return total

    def ratio_histogram(self) -> dict[tuple[str, str], Counter[int]]:
        """Passing checks per (oracle, dtype) and decade of err/bound (fuzz.campaign.engine.ratio_decade: -1 = [0.1, 1),
        -2 = [0.01, 0.1), ...; RATIO_ZERO for an exact answer), summed over the campaigns."""
        total: dict[tuple[str, str], Counter[int]] = {}
        for campaign in self.campaigns:
            for key, n in campaign.get("counts", {}).get("ratio_histogram", {}).items():
                oracle, dtype, decade = key.split(" ")
                total.setdefault((oracle, dtype), Counter())[int(decade)] += int(n)
        return total

    def closest_to_bound(self) -> dict[str, float]:
        """The largest err/bound of a passing check, per 'oracle dtype', over the campaigns."""
        closest: dict[str, float] = {}
        for campaign in self.campaigns:
            for key, ratio in campaign.get("closest_to_bound", {}).items():
                closest[key] = max(closest.get(key, 0.0), float(ratio))
        return closest

    def versions(self) -> list[str]:
        """The distinct framework versions the campaigns ran with, e.g. 'torch 2.13.0+cpu, jax 0.10.2'."""
        seen = []
        for campaign in self.campaigns:
            env = campaign.get("environment", {})
            text = ", ".join(f"{n} {v}" for n, v in versions(env).items() if n != "python")
            if text and text not in seen:
                seen.append(text)
        return seen


def gather(folder: Path, campaign: Path | None = None) -> ReportData:
    """The data of a report on `folder` (every finding and campaign record in it), or on one campaign record
    and the findings it wrote. ReportError names a missing folder or an unreadable campaign file."""
    if not folder.is_dir():
        raise ReportError(f"findings folder {folder} does not exist")
    findings, problems = FindingStore(folder).load()
    if campaign is None:
        return ReportData(folder, findings, problems, load_campaign_records(folder), f"findings folder {folder}")
    try:
        data = read_campaign_record(campaign)
    except (OSError, ValueError) as exc:
        raise ReportError(f"campaign record {campaign}: {exc}") from None
    listed = {f.get("id") for f in data.get("findings", [])}
    return ReportData(folder, [f for f in findings if f.id in listed], problems, [data], f"campaign {campaign}")
