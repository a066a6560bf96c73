"""The invalid-configuration stream: forward convs broken in exactly one way that frameworks must refuse, and
cases with one hostile parameter (an extreme stride, dilation, padding, groups or output_padding) that each
framework must refuse or compute as the reference does.

Each case is small and plain (contiguous, zero padding) apart from its defect, so a framework that returns
numbers for it, or crashes on it, is plainly at fault. No tensor of a hostile case is big, whatever its extreme
value says the output would be: the reference refuses an output no machine holds rather than computing it. The
defect is drawn first: shrinking keeps it and simplifies the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from convfuzz.strategies.budget import SizeBudget
from convfuzz.strategies.case import (
    DEFECTS,
    DTYPES,
    FORWARD_OPS,
    HOSTILE_MAX_SIZE,
    HOSTILE_PARAMETERS,
    HOSTILE_VALUES,
    ConvCase,
    ConvConfig,
    Padding,
    rank_of,
)
from convfuzz.strategies.conv import case_from, value_sets

MAX_SPATIAL = {1: 8, 2: 6, 3: 4}  # keeps every invalid case far inside the default budget
MAX_PER_GROUP = 3
MAX_GROUPS = 3


@st.composite
def invalid_configs(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = FORWARD_OPS,
    dtypes: Sequence[str] = DTYPES,
    devices: Sequence[str] = ("cpu",),
    defects: Sequence[str] = tuple(DEFECTS),
) -> ConvConfig:
    """Forward conv configurations that are invalid the way their `defect` says (see strategies.case.DEFECTS)."""
    defect = draw(st.sampled_from(list(defects)))
    op = draw(st.sampled_from([op for op in ops if op in FORWARD_OPS]))
    rank = rank_of(op)
    dtype = draw(st.sampled_from(list(dtypes)))
    device = draw(st.sampled_from(list(devices)))
    if defect in HOSTILE_PARAMETERS:
        return draw(_hostile_config(defect, rank, dtype, device))
    # groups_not_dividing needs two groups and one input channel more than a multiple of them.
    groups = draw(st.integers(2 if defect == "groups_not_dividing" else 1, MAX_GROUPS))
    in_channels = groups * draw(st.integers(1, MAX_PER_GROUP))
    if defect == "groups_not_dividing":
        in_channels += draw(st.integers(1, groups - 1))
    out_channels = 0 if defect == "zero_out_channels" else groups * draw(st.integers(1, MAX_PER_GROUP))
    dims = range(rank)
    kernel = [draw(st.integers(1, 3)) for _ in dims]
    dilation = [draw(st.integers(1, 2)) for _ in dims]
    stride = [draw(st.integers(1, 2)) for _ in dims]
    pads = [draw(st.integers(0, 1)) for _ in dims]
    padding = Padding("symmetric", tuple((p, p) for p in pads))
    spatial = []
    for d in dims:
        reach = dilation[d] * (kernel[d] - 1) + 1
        smallest = max(1, reach - 2 * pads[d])
        spatial.append(draw(st.integers(smallest, max(smallest, MAX_SPATIAL[rank]))))
    if defect == "kernel_exceeds_input":
        # The first dim's kernel reaches past the padded input.
        kernel[0] = (spatial[0] + 2 * pads[0] - 1) // dilation[0] + 2 + draw(st.integers(0, 2))
    elif defect == "negative_padding":
        padding = Padding("symmetric", ((-draw(st.integers(1, 2)),) * 2, *padding.pairs[1:]))
    elif defect == "same_with_stride":
        stride[0] = draw(st.integers(2, 3))
        padding = Padding("same")
    config = ConvConfig(
        op=op, batch=draw(st.integers(1, 2)), in_channels=in_channels, out_channels=out_channels, groups=groups,
        spatial=tuple(spatial), kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
        padding=padding, bias=draw(st.booleans()), dtype=dtype, device=device, defect=defect,
    )
    config.validate()
    return config


@st.composite
def _hostile_config(draw: st.DrawFn, defect: str, rank: int, dtype: str, device: str) -> ConvConfig:
    """A small plain case whose first dim (or groups) takes an extreme value of HOSTILE_VALUES; the value is drawn
    first and shrinks towards 0, the rest towards one element. A transposed op for an output_padding."""
    parameter = HOSTILE_PARAMETERS[defect]
    value = draw(st.sampled_from(HOSTILE_VALUES))
    transposed = parameter == "output_padding"
    op = f"conv_transpose{rank}d" if transposed else f"conv{rank}d"
    dims = range(rank)
    kernel = [draw(st.integers(1, 3)) for _ in dims]
    stride = [1] * rank
    dilation = [1] * rank
    pads = [0] * rank
    output_padding = [0] * rank
    spatial = [draw(st.integers(kernel[d], HOSTILE_MAX_SIZE)) for d in dims]
    groups = value if parameter == "groups" else 1
    per_dim = {"stride": stride, "dilation": dilation, "padding": pads, "output_padding": output_padding}
    if parameter in per_dim:
        per_dim[parameter][0] = value
    config = ConvConfig(
        op=op, batch=draw(st.integers(1, 2)), in_channels=draw(st.integers(1, 3)), out_channels=draw(st.integers(1, 3)),
        groups=groups, spatial=tuple(spatial), kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
        padding=Padding("symmetric", tuple((p, p) for p in pads)), bias=draw(st.booleans()), dtype=dtype,
        device=device, output_padding=tuple(output_padding) if transposed else (), defect=defect,
    )
    config.validate()
    return config


@st.composite
def invalid_cases(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = FORWARD_OPS,
    dtypes: Sequence[str] = DTYPES,
    devices: Sequence[str] = ("cpu",),
    budget: SizeBudget | None = None,
) -> list[ConvCase]:
    """One invalid case (as a one-element group, the form the engine checks), with values for its tensors.

    `budget` is accepted for symmetry with conv_case_groups: invalid cases stay below ~1,300 elements per tensor.
    """
    config = draw(invalid_configs(ops=ops, dtypes=dtypes, devices=devices))
    return [case_from(config, draw(value_sets(config=config)))]
