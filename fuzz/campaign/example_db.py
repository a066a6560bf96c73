"""The Hypothesis example database of a campaign: where interesting examples of earlier runs are kept and retried.

A campaign with a database first replays what earlier runs saved for the same schedule entry (op, dtype,
device): the failing examples Hypothesis shrank (new findings then; known findings, or fixed bugs, now) and the
examples that came closest to the bound (Hypothesis keeps the best of each `target`). Then it generates as
usual. Spec strings, as --database takes them:
  a folder path   DirectoryBasedExampleDatabase (the CLI's default: <findings>/hypothesis); safe for the workers
                  of one campaign and for concurrent campaigns, and shareable by copying or syncing the folder
  redis://HOST:PORT[/DB]   RedisExampleDatabase, one database for many machines (pip install redis)
  none            no database: the campaign depends on its seed alone
"""

from __future__ import annotations

import importlib
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

NO_DATABASE = "none"


def example_database(spec: str | None) -> ExampleDatabase | None:
    """The database a spec names (see the module docstring); ValueError naming the spec when it cannot be used."""
    if spec is None or spec == NO_DATABASE:
        return None
    if spec.startswith("redis://"):
        try:
            redis = importlib.import_module("redis")
            redis_database = importlib.import_module("hypothesis.extra.redis")
        except ImportError as exc:
            raise ValueError(f"--database {spec}: needs the redis package (pip install redis): {exc}") from None
        return redis_database.RedisExampleDatabase(redis.Redis.from_url(spec))  # type: ignore[no-any-return]
    folder = Path(spec)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--database {spec}: exists and is not a folder")
    return DirectoryBasedExampleDatabase(str(folder))


def database_key(op: str, dtype: str, device: str) -> bytes:
    """The key a schedule entry's examples are saved under: runs of the same entry share them, others do not."""
    return f"convfuzz:{op}:{dtype}:{device}".encode()
