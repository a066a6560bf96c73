"""A campaign's own record: what ran, with which versions and settings, what it counted and what it found.

Each `convfuzz run` writes one JSON file to <findings>/campaigns/<UTC time>-seed<seed>-<pid>.json when it ends (also
after Ctrl-C), atomically, so that reports and nightly dashboards read campaigns and findings from one folder.
Finding loaders look at the folder's top level only, so these files never mix with findings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.store.folder import write_atomically

RECORDS_FOLDER = "campaigns"
RECORD_SCHEMA_VERSION = 1


def campaign_record(
    stats: CampaignStats, settings: CampaignSettings, oracles: Sequence[str], workers: int,
    environment: Mapping[str, Any], ended: datetime, ray: str | None = None,
) -> dict[str, Any]:
    """The JSON document of one finished (or interrupted) campaign; `ray` is the --ray address of a campaign whose
    workers were Ray actors ("local" for a local runtime), None for local workers."""
    chosen = asdict(settings)
    chosen.pop("worker_index")
    chosen.pop("worker_count")
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "ended": ended.isoformat(timespec="seconds"),
        "seconds": round(stats.elapsed, 3),
        "interrupted": stats.interrupted,
        "seed": settings.seed,
        "settings": {**chosen, "workers": workers, "ray": ray},
        "oracles": list(oracles),
        "environment": dict(environment),
        "counts": {
            "examples": stats.examples,
            "checks": stats.checks,
            "multiply_adds": stats.multiply_adds,
            "distinct_configurations": len(stats.configs),
            "hypothesis_runs": stats.hypothesis_runs,
            "not_recorded": stats.unconfirmed,
            # Unconfirmed findings of earlier campaigns this one re-checked first, by outcome.
            "rechecked": dict(stats.rechecked),
            "first_discrepancy_at": stats.first_discrepancy_at,
            # Seconds from the command's start (the time budget's start) to the first check judged and to the
            # first finding handed over to the store.
            **{
                key: None if moment is None or settings.budget_started is None
                else round(moment - settings.budget_started, 3)
                for key, moment in (("first_check_after", stats.first_check_time),
                                    ("first_finding_after", stats.first_finding_time))
            },
            "verdicts": dict(stats.verdicts),
            "known_discrepancies": stats.known_discrepancies,
            "sat_out": dict(stats.sat_out),
            "workers_lost": stats.workers_lost,
            "actors_replaced": stats.actors_replaced,
            "by_op_dtype": dict(stats.by_op_dtype),
            "by_op_dtype_device": dict(stats.by_op_dtype_device),
            "examples_by_op_dtype_device": dict(stats.examples_by_op_dtype_device),
            "ratio_histogram": dict(stats.ratio_histogram),
            "features": dict(stats.features),
        },
        "seconds_by_part": {
            **{name: round(s, 3) for name, s in stats.oracle_seconds.items()},
            "judge": round(stats.judge_seconds, 3),
            "hypothesis+engine": round(stats.overhead_seconds(), 3),
        },
        "closest_to_bound": dict(stats.closest_to_bound),
        "findings": [
            {"id": f.id, "kind": f.kind, "suspects": list(f.suspects), **({} if f.confirmed else {"confirmed": False})}
            for f in stats.findings
        ],
    }


def write_campaign_record(findings_folder: Path, record: Mapping[str, Any]) -> Path:
    """Write `record` to <findings_folder>/campaigns/ through a temp file and a rename; returns its path."""
    folder = findings_folder / RECORDS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stamp = str(record["ended"]).replace(":", "").replace("+0000", "Z")
    path = folder / f"{stamp}-seed{record['seed']}-{os.getpid()}.json"  # the pid: two campaigns, one second
    write_atomically(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def read_campaign_record(path: Path) -> dict[str, Any]:
    """One campaign record; ValueError (OSError for the file) names what is wrong with it."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema_version") != RECORD_SCHEMA_VERSION:
        raise ValueError(f"not a schema-{RECORD_SCHEMA_VERSION} campaign record")
    return data


def load_campaign_records(findings_folder: Path) -> list[dict[str, Any]]:
    """Every readable campaign record of a findings folder, oldest first (unreadable files are skipped)."""
    records = []
    for path in sorted((findings_folder / RECORDS_FOLDER).glob("*.json")):
        try:
            records.append(read_campaign_record(path))
        except (OSError, ValueError):
            continue
    return records
