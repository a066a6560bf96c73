"""TensorFlow (oracles/tensorflow_framework.py): tf.nn.convolution and tf.nn.conv_transpose in TensorFlow's own
channels-last layout, with oneDNN on and off and under XLA; what its CPU kernels lack is sat out; its calls as a user
writes them compute what the oracle computes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.oracles.tensorflow_framework import TF_VARIANTS, tf_call
from convfuzz.strategies.case import OPS, ConvConfig, Padding
from tests.conftest import oracle_or_skip
from tests.helpers import claim_that_torch_is_wrong, family_case, grouped_conv2d, run_script, user_form_comparisons
from tests.known_bugs import committed_signatures_in_every_op_and_dtype, unexplained

pytest.importorskip("tensorflow")

VARIANTS = tuple(TF_VARIANTS)


CASES = {
    "valid": grouped_conv2d(),
    "same_strided": grouped_conv2d(padding=Padding("same"), stride=(2, 3)),
    "same_dilated": grouped_conv2d(padding=Padding("same"), dilation=(2, 1), dtype="float64"),
    "explicit_asymmetric_bfloat16": grouped_conv2d(padding=Padding("explicit", ((0, 2), (3, 1))), dtype="bfloat16"),
    "reflect_float16": grouped_conv2d(padding=Padding("symmetric", ((1, 1), (1, 1))), padding_mode="reflect",
                              dtype="float16"),
    "conv1d_depthwise": ConvConfig(op="conv1d", batch=1, in_channels=3, out_channels=6, groups=3, spatial=(9,),
                                   kernel=(4,), stride=(2,), dilation=(1,), padding=Padding("symmetric", ((1, 1),)),
                                   bias=True, dtype="float32"),
    "depthwise_2d_explicit": grouped_conv2d(in_channels=3, out_channels=6, groups=3, stride=(2, 2),
                                    padding=Padding("explicit", ((1, 0), (2, 1)))),
    "depthwise_2d_dilated_same": grouped_conv2d(in_channels=2, out_channels=2, groups=2, dilation=(2, 1),
                                        padding=Padding("same"), dtype="float64"),
    "conv3d": ConvConfig(op="conv3d", batch=1, in_channels=2, out_channels=2, groups=1, spatial=(3, 4, 5),
                         kernel=(2, 2, 3), stride=(1, 1, 1), dilation=(1, 1, 2), padding=Padding("valid"),
                         bias=False, dtype="float32"),
    "conv_transpose2d": ConvConfig(op="conv_transpose2d", batch=1, in_channels=4, out_channels=2, groups=1,
                                   spatial=(3, 4), kernel=(3, 2), stride=(2, 3), dilation=(1, 1),
                                   padding=Padding("symmetric", ((1, 1), (0, 0))), bias=True, dtype="float32",
                                   output_padding=(1, 2)),
    "conv_transpose1d_dilated": ConvConfig(op="conv_transpose1d", batch=2, in_channels=2, out_channels=3, groups=1,
                                           spatial=(5,), kernel=(3,), stride=(1,), dilation=(2,),
                                           padding=Padding("symmetric", ((2, 2),)), bias=False, dtype="float32",
                                           output_padding=(0,)),
}


@pytest.mark.parametrize("name", CASES)
def test_each_variant_and_its_user_call_compute_the_exact_result(name: str) -> None:
    case = family_case(CASES[name])
    taking = [v for v in VARIANTS if serves(v, case.config)]
    # Channels-first tensors take oneDNN's kernels, which have no float64.
    assert taking[:1] == ["tensorflow"] and ("tensorflow-nchw" in taking) == (case.config.dtype != "float64"), taking
    exact = ReferenceOracle().run(case)
    for variant in taking:
        np.testing.assert_array_equal(oracle_or_skip(variant).run(case), exact)  # small integers: exact
    compared = user_form_comparisons(case, tuple(taking))
    assert set(compared) == set(taking) and all(c.within for c in compared.values()), compared


def test_the_nchw_variant_calls_the_entry_point_of_each_rank() -> None:
    """Each rank's own function, depthwise_conv2d for a depthwise 2-D conv, conv2d's explicit pads without tf.pad;
    the plain variant calls the rank-generic functions. (That they compute the exact result: the test above.)"""
    nchw, plain = TF_VARIANTS["tensorflow-nchw"], TF_VARIANTS["tensorflow"]
    entries = {name: tf_call(cfg, nchw).entry for name, cfg in CASES.items()}
    assert entries["depthwise_2d_explicit"] == "depthwise_conv2d" and entries["conv1d_depthwise"] == "conv1d"
    assert entries["valid"] == "conv2d" and entries["conv3d"] == "conv3d"
    assert entries["conv_transpose2d"] == "conv2d_transpose"
    assert entries["conv_transpose1d_dilated"] == "conv1d_transpose"
    explicit = tf_call(CASES["explicit_asymmetric_bfloat16"], nchw)
    assert explicit.pre_pad is None and dict(explicit.keywords)["padding"] == [[0, 0], [0, 0], [0, 2], [3, 1]]
    assert {tf_call(cfg, plain).entry for cfg in CASES.values()} == {"convolution", "conv_transpose"}


def test_what_its_cpu_kernels_lack_is_sat_out_and_they_really_lack_it() -> None:
    plain = CASES["valid"]
    lacking = {
        "complex": replace(plain, dtype="complex64"),
        "gradient": replace(plain, gradient="input"),
        "cropping": replace(plain, padding=Padding("explicit", ((-1, 0), (0, 0)))),
        "circular": replace(plain, padding=Padding("symmetric", ((1, 1), (1, 1))), padding_mode="circular"),
        "strided_and_dilated": replace(plain, stride=(2, 1), dilation=(1, 2)),
        "grouped_conv3d": replace(CASES["conv3d"], groups=2),
        "grouped_transposed": replace(CASES["conv_transpose2d"], groups=2, out_channels=4),
        "output_padding_beyond_stride": replace(CASES["conv_transpose2d"], stride=(1, 1), dilation=(2, 3)),
        "hostile_padding_of_minus_one": replace(plain, padding=Padding("symmetric", ((-1, -1), (0, 0))),
                                                defect="hostile_padding"),
        # a SpaceToBatchND of a 2^31 batch: a minute of allocator retries before TensorFlow refuses
        "hostile_dilation": replace(plain, kernel=(1, 2), dilation=(2**31 - 1, 1), groups=1, in_channels=2,
                                    defect="hostile_dilation"),
    }
    for name, cfg in lacking.items():
        assert not any(serves(v, cfg) for v in VARIANTS), name
    # The Eigen kernels have no dilated transposed conv: float64, and every dtype with oneDNN off.
    eigen = replace(CASES["conv_transpose1d_dilated"], dtype="float64")
    assert serves("tensorflow", CASES["conv_transpose1d_dilated"]) and not serves("tensorflow", eigen)
    assert not serves("tensorflow-noonednn", CASES["conv_transpose1d_dilated"])
    # Real: TensorFlow refuses what is sat out.
    refused = Outcome.of(oracle_or_skip("tensorflow"), family_case(eigen))
    assert refused.error is not None and "InvalidArgument" in refused.error, refused
    grouped = Outcome.of(oracle_or_skip("tensorflow"), family_case(lacking["grouped_conv3d"]))
    assert grouped.error is not None, grouped
    beyond = Outcome.of(oracle_or_skip("tensorflow"), family_case(lacking["output_padding_beyond_stride"]))
    assert beyond.error is not None, beyond


def test_the_finding_script_of_a_correct_case_says_gone(tmp_path: Path) -> None:
    case = family_case(CASES["conv_transpose2d"])
    script = finding_script(claim_that_torch_is_wrong(case, ("tensorflow-noonednn", "reference"),
                                                      suspect="tensorflow-noonednn"))
    assert "os.environ['TF_ENABLE_ONEDNN_OPTS'] = '0'" in script and "tf.nn.conv_transpose(" in script
    result = run_script(script, tmp_path)
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr


@pytest.mark.campaign
def test_a_campaign_of_every_variant_has_no_false_alarm() -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), **{v: oracle_or_skip(v) for v in VARIANTS}}
    settings_ = CampaignSettings(seed=7, max_examples=60, ops=OPS, dtypes=("float32", "float64"))
    stats = Campaign(oracles, settings_, known_signatures=committed_signatures_in_every_op_and_dtype()).run()
    assert stats.checks >= 60 and not unexplained(stats.findings), unexplained(stats.findings)
