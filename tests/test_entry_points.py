"""The entry points users call, each its own oracle: jax.lax.conv_transpose, lax.conv_with_general_padding and
jax.scipy.signal.correlate beside lax.conv_general_dilated. Each computes the exact result where it takes a case, as
does its call as a finding's script writes it; what a case cannot be written as is sat out."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from convfuzz.oracles.base import Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.case import ConvConfig, Padding
from tests.conftest import oracle_or_skip
from tests.helpers import family_case, user_form_comparisons

JAX_ENTRY_POINTS = ("jax-conv-transpose", "jax-general-padding", "jax-scipy", "jax-scipy-convolve")
SCIPY = {"jax-scipy", "jax-scipy-convolve"}


def conv(**changes: object) -> ConvConfig:
    """A one-channel 2-D float32 conv over a 7x6 input, changed as asked."""
    base = ConvConfig(op="conv2d", batch=1, in_channels=1, out_channels=1, groups=1, spatial=(7, 6), kernel=(3, 2),
                      stride=(1, 1), dilation=(1, 1), padding=Padding("valid"), bias=True, dtype="float32")
    return replace(base, **changes)  # type: ignore[arg-type]


def transposed(**changes: object) -> ConvConfig:
    """A strided, padded, dilated transposed conv with output_padding, changed as asked."""
    base = ConvConfig(op="conv_transpose2d", batch=2, in_channels=3, out_channels=2, groups=1, spatial=(4, 3),
                      kernel=(3, 2), stride=(2, 3), dilation=(1, 2), padding=Padding("symmetric", ((1, 1), (2, 2))),
                      bias=True, dtype="float32", output_padding=(1, 0))
    return replace(base, **changes)  # type: ignore[arg-type]


# Which entry points take each case (the others sit it out).
CASES: dict[str, tuple[ConvConfig, set[str]]] = {
    "scipy_valid": (conv(), {"jax-general-padding", *SCIPY}),
    "scipy_full_1d_float64": (conv(op="conv1d", spatial=(9,), kernel=(4,), stride=(1,), dilation=(1,),
                                   padding=Padding("symmetric", ((3, 3),)), dtype="float64"),
                              {"jax-general-padding", *SCIPY}),
    "scipy_same_3d": (conv(op="conv3d", spatial=(4, 5, 3), kernel=(3, 1, 3), stride=(1, 1, 1),
                           dilation=(1, 1, 1), padding=Padding("same"), bias=False),
                      {"jax-general-padding", *SCIPY}),
    "even_kernel_same": (conv(padding=Padding("same")), {"jax-general-padding"}),  # scipy centres it elsewhere
    "strided_asymmetric_multichannel": (conv(batch=2, in_channels=3, out_channels=4, stride=(2, 1), dilation=(1, 2),
                                             padding=Padding("explicit", ((0, 2), (3, 1)))),
                                        {"jax-general-padding"}),
    "reflect": (conv(in_channels=2, padding=Padding("symmetric", ((1, 1), (1, 1))), padding_mode="reflect"),
                {"jax-general-padding"}),
    "transposed": (transposed(), {"jax-conv-transpose", "jax-general-padding"}),
    "transposed_1d_float64": (transposed(op="conv_transpose1d", spatial=(5,), kernel=(4,), stride=(3,),
                                         dilation=(2,), padding=Padding("symmetric", ((2, 2),)), output_padding=(2,),
                                         dtype="float64"),
                              {"jax-conv-transpose", "jax-general-padding"}),
    "grouped": (transposed(in_channels=4, out_channels=4, groups=2), set()),
    "gradient": (conv(gradient="weight"), set()),
}


@pytest.mark.parametrize("name", CASES)
def test_each_entry_point_and_its_user_call_compute_the_exact_result(name: str) -> None:
    cfg, expected = CASES[name]
    taking = {variant for variant in JAX_ENTRY_POINTS if serves(variant, cfg)}
    assert taking == expected
    if not taking:
        return
    case = family_case(cfg)
    exact = ReferenceOracle().run(case)
    for variant in sorted(taking):
        oracle = oracle_or_skip(variant)
        np.testing.assert_array_equal(oracle.run(case), exact)  # small integers: exact
    compared = user_form_comparisons(case, tuple(sorted(taking)))
    assert set(compared) == taking and all(c.within for c in compared.values()), compared


TORCH_MODULES = ("torch-module", "torch-lazy")
MODULE_CASES: dict[str, ConvConfig] = {
    "same_reflect_grouped": conv(in_channels=4, out_channels=6, groups=2, kernel=(3, 3), padding=Padding("same"),
                                 padding_mode="reflect"),
    "same_even_kernel_channels_last": conv(batch=2, in_channels=3, out_channels=3, padding=Padding("same"),
                                           layout="channels_last"),
    "asymmetric_padded_first": conv(in_channels=2, stride=(2, 1), padding=Padding("explicit", ((0, 2), (1, 0)))),
    "circular_1d_float64": conv(op="conv1d", spatial=(9,), kernel=(4,), stride=(2,), dilation=(1,),
                                padding=Padding("symmetric", ((2, 2),)), padding_mode="circular", dtype="float64"),
    "transposed_output_size": transposed(),
    "transposed_3d_grouped": transposed(op="conv_transpose3d", in_channels=4, out_channels=2, groups=2,
                                        spatial=(2, 3, 2), kernel=(2, 1, 2), stride=(2, 1, 3), dilation=(1, 1, 1),
                                        padding=Padding("symmetric", ((0, 0), (0, 0), (1, 1))),
                                        output_padding=(1, 0, 2)),
    "input_gradient": conv(in_channels=2, out_channels=2, padding=Padding("symmetric", ((1, 1), (0, 0))),
                           gradient="input"),
    "bias_gradient_transposed": transposed(gradient="bias"),
}


@pytest.mark.parametrize("name", MODULE_CASES)
def test_the_nn_modules_and_their_user_calls_compute_the_exact_result(name: str) -> None:
    """nn.ConvNd / nn.ConvTransposeNd with output_size= and their Lazy forms (in_channels inferred by a first call),
    each taking every case here."""
    cfg = MODULE_CASES[name]
    assert all(serves(variant, cfg) for variant in TORCH_MODULES)
    case = family_case(cfg)
    exact = ReferenceOracle().run(case)
    for variant in TORCH_MODULES:
        np.testing.assert_array_equal(oracle_or_skip(variant).run(case), exact)
    compared = user_form_comparisons(case, TORCH_MODULES)
    assert set(compared) == set(TORCH_MODULES) and all(c.within for c in compared.values()), compared


def test_output_size_cannot_say_an_output_padding_beyond_the_stride_so_the_modules_sit_it_out() -> None:
    beyond = transposed(stride=(1, 3), dilation=(2, 2), output_padding=(1, 0))  # < dilation: F allows it
    assert serves("torch", beyond) and not any(serves(variant, beyond) for variant in TORCH_MODULES)
    refused = Outcome.of(oracle_or_skip("torch-module"), family_case(beyond))  # made to take it: it refuses
    assert refused.error is not None and "output size" in refused.error, refused
