"""Metamorphic oracles: one framework computes a case a second way, through an identity of convolution.

An oracle 'torch-groupsplit' (or 'jax-...', any base oracle and relation below) turns the case into derived cases,
runs its base oracle on each, and puts the results together without rounding (stacking, concatenating, selecting,
or adding two parts in float64). Where the framework is right both ways agree within the usual bound; a bug that
only one way of calling it meets (grouped kernels, batched kernels, strided or dilated kernels, a padding path)
makes them disagree, so a campaign needs only one framework: `--oracles torch,torch-groupsplit,...,reference`.

Relations (each also names the ops and cases it applies to; elsewhere the oracle sits out, like a variant):
- batchsplit: the batch is the stack of its samples, each convolved alone.
- groupsplit: a grouped conv is each group's channels convolved with groups=1, concatenated along channels.
- stride1: a strided conv is the stride-1 conv (same padding, made explicit) subsampled (forward ops).
- padfirst: padding is the input padded first (np.pad in the case's padding mode, negative pads crop) and then a
  'valid' conv; for a transposed conv, the conv without padding cropped by the pads afterwards.
- dilatedzeros: a dilated kernel is the undilated kernel with dilation-1 zeros between its taps.
- linear: the conv is linear in its input: the input split into two disjoint halves (even and odd elements), each
  half convolved (the bias added once), the two results added.
- linearw: the same for the weight: its even and odd elements as two weights, the two results added.

dilatedzeros and linearw put zeros where the case has weights (a hole, the other half): an infinite input times
such a zero is NaN where the case has no product at all, so those two sit out cases whose input holds inf/NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from convfuzz.oracles.base import FloatArray, Oracle
from convfuzz.oracles.reference import pad_spatial
from convfuzz.strategies.case import FORWARD_OPS, OPS, ConvCase, ConvConfig, Padding, split_op_name

Run = Callable[[ConvCase], FloatArray]


def _with(case: ConvCase, config: ConvConfig, x: FloatArray, w: FloatArray, b: FloatArray | None) -> ConvCase:
    config.validate()
    return ConvCase(config, x, w, b, case.families)


def batch_split(case: ConvCase, run: Run) -> FloatArray:
    """Each sample on its own, stacked (an empty batch is computed as it is)."""
    cfg = case.config
    if cfg.batch == 0:
        return run(case)
    samples = [
        run(_with(case, replace(cfg, batch=1), case.x[i : i + 1], case.w, case.b)) for i in range(cfg.batch)
    ]
    return np.concatenate(samples, axis=0)


def group_split(case: ConvCase, run: Run) -> FloatArray:
    """Each group's input channels and weights as a conv with groups=1, the outputs side by side."""
    cfg = case.config
    g = cfg.groups
    per_in, per_out = cfg.in_channels // g, cfg.out_channels // g
    sub = replace(cfg, groups=1, in_channels=per_in, out_channels=per_out)
    # torch's weight: (C_out, C_in/g, ...) forward, (C_in, C_out/g, ...) transposed: split along its first dim.
    per_weight = per_in if cfg.transposed else per_out
    outputs = [
        run(_with(case, sub, case.x[:, i * per_in : (i + 1) * per_in], case.w[i * per_weight : (i + 1) * per_weight],
                  None if case.b is None else case.b[i * per_out : (i + 1) * per_out]))
        for i in range(g)
    ]
    return np.concatenate(outputs, axis=1)


def _explicit(cfg: ConvConfig) -> Padding:
    """The case's padding as pairs: symmetric stays symmetric (padding modes need it), the rest explicit."""
    if cfg.padding.kind == "symmetric":
        return cfg.padding
    return Padding("explicit", cfg.pad_pairs())


def stride_one(case: ConvCase, run: Run) -> FloatArray:
    """The stride-1 conv with the same (explicit) padding, every stride-th output kept."""
    cfg = case.config
    dense = run(_with(case, replace(cfg, stride=(1,) * cfg.rank, padding=_explicit(cfg)), case.x, case.w, case.b))
    keep = tuple(slice(0, n * s, s) for n, s in zip(cfg.output_spatial(), cfg.stride, strict=True))
    return dense[(slice(None), slice(None), *keep)]


def pad_first(case: ConvCase, run: Run) -> FloatArray:
    """Forward: the input padded (or cropped) by NumPy in the case's mode, then a 'valid' conv. Transposed: the conv
    without padding, its output cropped by the pads."""
    cfg = case.config
    pairs = cfg.pad_pairs()
    if cfg.transposed:
        full = run(_with(case, replace(cfg, padding=Padding("symmetric", ((0, 0),) * cfg.rank)), case.x, case.w,
                         case.b))
        crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pairs, full.shape[2:], strict=True))
        return full[(slice(None), slice(None), *crop)]
    padded = pad_spatial(case.x, pairs, cfg.padding_mode)
    plain = replace(cfg, spatial=padded.shape[2:], padding=Padding("valid"), padding_mode="zeros")
    return run(_with(case, plain, padded, case.w, case.b))


def dilated_zeros(case: ConvCase, run: Run) -> FloatArray:
    """The kernel with dilation-1 zeros between its taps, convolved without dilation."""
    cfg = case.config
    kernel = tuple(d * (k - 1) + 1 for k, d in zip(cfg.kernel, cfg.dilation, strict=True))
    stuffed = np.zeros((*case.w.shape[:2], *kernel), dtype=case.w.dtype)  # complex weights stay complex
    stuffed[(slice(None), slice(None), *(slice(None, None, d) for d in cfg.dilation))] = case.w
    plain = replace(cfg, kernel=kernel, dilation=(1,) * cfg.rank)
    return run(_with(case, plain, case.x, stuffed, case.b))


def linear_split(case: ConvCase, run: Run) -> FloatArray:
    """conv(x) = conv(x_even) + conv(x_odd) with the bias in the first part: two calls, added in float64."""
    even = (np.arange(case.x.size) % 2 == 0).reshape(case.x.shape)
    first = run(_with(case, case.config, np.where(even, case.x, 0.0), case.w, case.b))
    second = run(_with(case, replace(case.config, bias=False), np.where(even, 0.0, case.x), case.w, None))
    with np.errstate(invalid="ignore"):  # inf + -inf of an inf/NaN case is the NaN the rule asks for
        return first + second


def linear_weight_split(case: ConvCase, run: Run) -> FloatArray:
    """conv(x, w) = conv(x, w_even) + conv(x, w_odd) with the bias in the first part, added in float64."""
    even = (np.arange(case.w.size) % 2 == 0).reshape(case.w.shape)
    first = run(_with(case, case.config, case.x, np.where(even, case.w, 0.0), case.b))
    second = run(_with(case, replace(case.config, bias=False), case.x, np.where(even, 0.0, case.w), None))
    return first + second


@dataclass(frozen=True)
class Relation:
    """How a metamorphic oracle computes a case, and which cases it applies to."""

    compute: Callable[[ConvCase, Run], FloatArray]
    ops: tuple[str, ...] = OPS
    applies: Callable[[ConvConfig], bool] = lambda _: True
    # Puts zeros where the case has weights: inf * 0 would be a NaN the case does not have.
    finite_input_only: bool = False


def _plain(cfg: ConvConfig) -> bool:
    return cfg.batch_groups == 1


def _output_padding_below_stride(cfg: ConvConfig) -> bool:
    # torch's output_padding must stay below stride or dilation: without dilation, below the stride.
    return all(p < s for p, s in zip(cfg.output_padding, cfg.stride, strict=True)) if cfg.transposed else True


RELATIONS: dict[str, Relation] = {
    "batchsplit": Relation(batch_split, applies=_plain),
    "groupsplit": Relation(group_split, applies=_plain),
    "stride1": Relation(stride_one, ops=FORWARD_OPS),
    "padfirst": Relation(pad_first),
    "dilatedzeros": Relation(dilated_zeros, applies=_output_padding_below_stride, finite_input_only=True),
    "linear": Relation(linear_split),
    "linearw": Relation(linear_weight_split, finite_input_only=True),
}
# The bases a relation is offered for by name ('torch-groupsplit'); any oracle can be wrapped in code.
METAMORPHIC_BASES = ("torch", "jax")


def split_metamorphic(name: str) -> tuple[str, str] | None:
    """'torch-groupsplit' -> ('torch', 'groupsplit'); None for a name that is not a metamorphic oracle."""
    base, _, relation = name.rpartition("-")
    return (base, relation) if base in METAMORPHIC_BASES and relation in RELATIONS else None


def relation_serves(relation: str, op: str, config: ConvConfig | None = None) -> bool:
    """Whether `relation` computes `op` (never a gradient or an invalid-stream case), and `config` when given."""
    base_op, gradient = split_op_name(op)
    rule = RELATIONS[relation]
    if gradient or base_op not in rule.ops:
        return False
    return config is None or (not config.defect and rule.applies(config))


def relation_takes(relation: str, case: ConvCase) -> bool:
    """Whether `relation` computes `case`: its op and config (relation_serves), and a finite input where the
    relation needs one."""
    finite = not RELATIONS[relation].finite_input_only or bool(np.isfinite(case.x).all())
    return finite and relation_serves(relation, case.config.op_name, case.config)


class MetamorphicOracle:
    """`base` computing every case through `relation` (see the module docstring)."""

    def __init__(self, base: Oracle, relation: str, name: str | None = None) -> None:
        if relation not in RELATIONS:
            raise KeyError(f"unknown relation {relation!r}; known: {', '.join(RELATIONS)}")
        self.base = base
        self.relation = relation
        self.name = name or f"{base.name}-{relation}"

    def devices(self) -> tuple[str, ...]:
        """The base oracle's devices."""
        return self.base.devices()

    def serves(self, case: ConvCase) -> bool:
        """Whether the relation applies to `case` (the engine leaves the oracle out of the others)."""
        return relation_takes(self.relation, case)

    def run(self, case: ConvCase) -> FloatArray:
        """The case's output through the relation; ValueError for a case the relation does not apply to."""
        if not self.serves(case):
            raise ValueError(f"{self.name} does not compute this {case.config.op_name} case")
        return RELATIONS[self.relation].compute(case, self.base.run)
