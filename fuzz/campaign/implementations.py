"""Which implementations a campaign's checks ran, read from its coverage counts, and which it never reached.

The engine counts each check's path as the feature 'path ORACLE:PATH' (oracles.base.backend_path): for torch the
conv backend ATen chose ('Mkldnn', 'SlowTranspose2d'), then after a '/' the oneDNN primitive implementations its
verbose log named ('brg_conv_fwd:avx512_core', several joined by '+'); for JAX 'XLA:cpu', then what XLA lowered
the conv to (oracles.xla_lowering: 'convolution f32 grouped+dot f32'). Here they are counted per level, and set
against the implementations the oracle's framework has (oracles.framework: torch's CPU conv backends), so that a
summary says what a campaign exercised and what it did not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from convfuzz.oracles.framework import framework_named
from convfuzz.oracles.names import framework_of

PATH_FEATURE = "path "
def reached(features: Mapping[str, int]) -> dict[str, Counter[str]]:
    """Per oracle, the checks of each path it reported (from the coverage counts' 'path ORACLE:PATH' entries)."""
    paths: dict[str, Counter[str]] = {}
    for feature, count in features.items():
        if feature.startswith(PATH_FEATURE):
            oracle, _, path = feature[len(PATH_FEATURE):].partition(":")
            paths.setdefault(oracle, Counter())[path] += count
    return paths


def backends(paths: Mapping[str, int]) -> Counter[str]:
    """Checks per backend: the part of each path before its '/'."""
    counts: Counter[str] = Counter()
    for path, count in paths.items():
        counts[path.partition("/")[0]] += count
    return counts


def primitives(paths: Mapping[str, int]) -> Counter[str]:
    """Checks per implementation named after a path's '/' (each of several joined by '+'): oneDNN primitive
    implementations behind torch's backends, XLA lowerings behind JAX's."""
    counts: Counter[str] = Counter()
    for path, count in paths.items():
        _, slash, named = path.partition("/")
        if slash:
            for implementation in named.split("+"):
                counts[implementation] += count
    return counts


def detail_word(oracle: str) -> str:
    """What `oracle`'s path names after its '/' (its framework's path_detail: 'oneDNN implementations')."""
    framework = framework_named(framework_of(oracle))
    return "implementations" if framework is None else framework.path_detail


def never_reached(oracle: str, paths: Mapping[str, int]) -> list[str]:
    """The implementations `oracle`'s framework can report that none of its `paths` reached (its descriptor's
    paths_never_reached: torch's CPU conv backends); none for an oracle of no registered framework."""
    framework = framework_named(framework_of(oracle))
    return [] if framework is None else framework.paths_never_reached(paths)


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


def summary_lines(features: Mapping[str, int]) -> list[str]:
    """The summary's lines on implementations: per oracle that reports paths, its backends and what ran behind
    them (oneDNN implementations, XLA lowerings) with their checks, and (for torch) the CPU backends never reached."""
    lines = []
    for oracle, paths in sorted(reached(features).items()):
        found, onednn = backends(paths), primitives(paths)
        line = f"implementations reached by {oracle}: {len(found)} backends ({_counted(found)})"
        if onednn:
            line += f"; {len(onednn)} {detail_word(oracle)} ({_counted(onednn)})"
        lines.append(line)
        missing = never_reached(oracle, paths)
        if missing:
            lines.append(f"  never reached by {oracle} (some need another build or CPU): {', '.join(missing)}")
    return lines
