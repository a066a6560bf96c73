"""Minimising a large finding one parameter at a time, after Hypothesis has shrunk it.

Hypothesis shrinks the choices a case was drawn from. A case drawn as a production layer (strategies.sizes
'models') has its kernel, stride and channels from the layer's table entry, not from a draw, so Hypothesis can
take it no further than the layer: a bug that needs a kernel of 15 or more, found on RepLKNet's 31x31 layer, would
stay at 31x31. This pass lowers each integer parameter of such a case (batch, groups, channels per group, and per
spatial dim the kernel, dilation, stride, padding and length) to the smallest value that still fails the same
way, by bisection, rebuilding the tensors from their value families. Only cases beyond the small size class go
through it: Hypothesis leaves small ones minimal already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import ConvCase, ConvConfig, Padding
from convfuzz.strategies.conv import case_from
from convfuzz.strategies.values import ValueFamily

# Passes over the parameters, until one lowers nothing: a later pass catches what a smaller value of a later
# parameter made possible, and what a bisection step missed where the values happened to hide the bug (a probe
# that passes by coincidence sends the bisection upwards). Parameters at their lowest cost nothing in a pass.
MAX_PASSES = 4

# A parameter to lower: its name and, for per-dim parameters, the spatial dim.
Knob = tuple[str, int]
PER_DIM = ("kernel", "dilation", "stride", "padding", "output_padding", "spatial")
# The smallest value of each parameter (a symmetric pad and an output padding may be 0).
LOWEST = {"padding": 0, "output_padding": 0}


def _knobs(cfg: ConvConfig) -> list[Knob]:
    """The integer parameters of `cfg`, the cheapest to test first."""
    knobs: list[Knob] = [("batch", 0), ("groups", 0), ("in_per_group", 0), ("out_per_group", 0)]
    for d in range(cfg.rank):
        for name in PER_DIM:
            skip = (name == "padding" and cfg.padding.kind != "symmetric") or (
                name == "output_padding" and not cfg.transposed
            )
            if not skip:
                knobs.append((name, d))
    return knobs


def _read(cfg: ConvConfig, knob: Knob) -> int:
    name, d = knob
    if name == "batch":
        return cfg.batch
    if name == "groups":
        return cfg.groups
    if name == "in_per_group":
        return cfg.in_channels // cfg.groups
    if name == "out_per_group":
        return cfg.out_channels // cfg.groups
    if name == "padding":
        return cfg.padding.pairs[d][0]
    values: tuple[int, ...] = getattr(cfg, name)
    return values[d]


def _write(cfg: ConvConfig, knob: Knob, value: int) -> ConvConfig:
    name, d = knob
    if name == "batch":
        return replace(cfg, batch=value)
    if name == "groups":  # the channels per group stay
        per_in, per_out = cfg.in_channels // cfg.groups, cfg.out_channels // cfg.groups
        return replace(cfg, groups=value, in_channels=value * per_in, out_channels=value * per_out)
    if name == "in_per_group":
        return replace(cfg, in_channels=value * cfg.groups)
    if name == "out_per_group":
        return replace(cfg, out_channels=value * cfg.groups)
    if name == "padding":
        pairs = list(cfg.padding.pairs)
        pairs[d] = (value, value)
        return replace(cfg, padding=Padding("symmetric", tuple(pairs)))
    values = list(getattr(cfg, name))
    values[d] = value
    changed: dict[str, tuple[int, ...]] = {name: tuple(values)}
    return replace(cfg, **changed)  # type: ignore[arg-type]


def rebuilt(case: ConvCase, config: ConvConfig) -> ConvCase | None:
    """`case`'s value families on `config`'s shapes; None when `config` is not a valid case or a family's
    description cannot be read back."""
    try:
        config.validate()
        families = {name: ValueFamily.parse(text) for name, text in case.families.items()}
    except ValueError:
        return None
    return case_from(config, families)


def minimized(
    case: ConvCase, fails: Callable[[ConvCase], bool], budget: SizeBudget, over: Callable[[], bool]
) -> ConvCase:
    """The smallest case reached from `case` by lowering one parameter at a time while `fails` holds (each knob
    bisected between its smallest value and its current one) and the case stays within `budget`. Stops early,
    with the smallest case so far, when `over()` says time is up."""
    best = case
    for _ in range(MAX_PASSES):
        improved = False
        for knob in _knobs(best.config):
            # The current value fails. The lowest value first (the usual answer, and values can coincide on the way
            # down: a bisection alone could stop above it), then bisect for the lowest that still fails.
            low, high = LOWEST.get(knob[0], 1), _read(best.config, knob)
            if low < high and not over():
                candidate = _candidate(best, _write(best.config, knob, low), budget)
                if candidate is not None and fails(candidate):
                    best, high, improved = candidate, low, True
                else:
                    low += 1
            while low < high and not over():
                middle = (low + high) // 2
                candidate = _candidate(best, _write(best.config, knob, middle), budget)
                if candidate is not None and fails(candidate):
                    best, high, improved = candidate, middle, True
                else:
                    low = middle + 1
        if not improved or over():
            break
    return best


def _candidate(case: ConvCase, config: ConvConfig, budget: SizeBudget) -> ConvCase | None:
    """`case` rebuilt on `config`, if that is a valid case within `budget` (a lower stride can widen the output)."""
    candidate = rebuilt(case, config)
    if candidate is None:
        return None
    shapes = [config.input_shape(), config.weight_shape(), config.output_shape()]
    return candidate if budget.admits(shapes, config.multiply_adds()) else None
