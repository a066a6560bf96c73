"""ONNX Runtime (oracles/onnxruntime_framework.py): each case as a one-node model, padding said as an exporter says it
(auto_pad VALID / SAME_UPPER / SAME_LOWER, explicit pads, a Pad node for the padding modes), run with graph
optimisations on and off and on one thread; what the CPU provider lacks is sat out; its calls as a user writes them
compute what the oracle computes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.store.script import finding_script
from convfuzz.oracles.base import Oracle, Outcome
from convfuzz.oracles.onnxruntime_framework import ORT_VARIANTS, onnx_conv
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.oracles.registry import serves
from convfuzz.strategies.case import OPS, ConvConfig, Padding
from tests.conftest import oracle_or_skip
from tests.helpers import claim_that_torch_is_wrong, family_case, grouped_conv2d, run_script, user_form_comparisons
from tests.known_bugs import committed_signatures_in_every_op_and_dtype, unexplained

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

VARIANTS = tuple(ORT_VARIANTS)


# Each way ONNX says padding, and the ops: every one computes the exact result in each variant.
CASES = {
    "valid": grouped_conv2d(),
    "same_upper_strided": grouped_conv2d(padding=Padding("same"), stride=(2, 3)),
    "same_dilated": grouped_conv2d(padding=Padding("same"), dilation=(2, 1)),
    "same_lower": grouped_conv2d(padding=Padding("explicit", ((1, 0), (1, 0))), kernel=(2, 2)),
    "explicit_asymmetric": grouped_conv2d(padding=Padding("explicit", ((0, 2), (3, 1)))),
    "reflect": grouped_conv2d(padding=Padding("symmetric", ((1, 1), (1, 1))), padding_mode="reflect"),
    "replicate": grouped_conv2d(padding=Padding("symmetric", ((2, 2), (1, 1))), padding_mode="replicate"),
    "circular": grouped_conv2d(padding=Padding("symmetric", ((1, 1), (1, 1))), padding_mode="circular"),
    "conv1d_float16": ConvConfig(op="conv1d", batch=1, in_channels=3, out_channels=2, groups=1, spatial=(9,),
                                 kernel=(4,), stride=(2,), dilation=(2,), padding=Padding("symmetric", ((1, 1),)),
                                 bias=True, dtype="float16"),
    "conv3d": ConvConfig(op="conv3d", batch=1, in_channels=2, out_channels=2, groups=2, spatial=(3, 4, 5),
                         kernel=(2, 2, 3), stride=(1, 2, 1), dilation=(1, 1, 2), padding=Padding("valid"),
                         bias=False, dtype="float32"),
    "conv_transpose2d": ConvConfig(op="conv_transpose2d", batch=1, in_channels=4, out_channels=2, groups=2,
                                   spatial=(3, 4), kernel=(3, 2), stride=(2, 3), dilation=(1, 2),
                                   padding=Padding("symmetric", ((1, 1), (0, 0))), bias=True, dtype="float32",
                                   output_padding=(1, 2)),
    "conv_transpose1d_wide_pads": ConvConfig(op="conv_transpose1d", batch=2, in_channels=2, out_channels=3, groups=1,
                                             spatial=(5,), kernel=(4,), stride=(3,), dilation=(2,),
                                             padding=Padding("symmetric", ((3, 3),)), bias=False, dtype="float16",
                                             output_padding=(2,)),
}


@pytest.mark.parametrize("name", CASES)
def test_each_variant_and_its_user_call_compute_the_exact_result(name: str) -> None:
    case = family_case(CASES[name])
    taking = tuple(variant for variant in VARIANTS if serves(variant, case.config))
    # ConvTranspose given its output_shape, where ONNX Runtime works the pads out itself: transposed ops only.
    assert taking == VARIANTS if case.config.transposed else "onnxruntime-outshape" not in taking
    exact = ReferenceOracle().run(case)
    for variant in taking:
        np.testing.assert_array_equal(oracle_or_skip(variant).run(case), exact)  # small integers: exact
    compared = user_form_comparisons(case, taking)
    assert set(compared) == set(taking) and all(c.within for c in compared.values()), compared


def test_padding_is_said_as_an_exporter_says_it() -> None:
    """auto_pad where the case's pads are what its rule gives, explicit pads where no rule gives them, a Pad node for
    a padding mode."""
    said = {name: dict(onnx_conv(cfg).attributes) for name, cfg in CASES.items()}
    assert said["valid"]["auto_pad"] == "VALID"
    assert said["same_upper_strided"]["auto_pad"] == "SAME_UPPER"
    # ONNX Runtime refuses SAME with a dilation (microsoft/onnxruntime#20582): such pads are written out.
    assert "auto_pad" not in said["same_dilated"] and said["same_dilated"]["pads"] == [2, 0, 2, 1]
    assert said["same_lower"]["auto_pad"] == "SAME_LOWER"
    assert said["explicit_asymmetric"]["pads"] == [0, 3, 2, 1] and "auto_pad" not in said["explicit_asymmetric"]
    assert onnx_conv(CASES["reflect"]).pre_pad == ("reflect", (0, 0, 1, 1, 0, 0, 1, 1))
    assert said["conv_transpose2d"]["output_padding"] == [1, 2]
    shaped = dict(onnx_conv(CASES["conv_transpose2d"], ORT_VARIANTS["onnxruntime-outshape"]).attributes)
    assert shaped["output_shape"] == [6, 14] and "pads" not in shaped and shaped["output_padding"] == [1, 2]


def test_what_the_cpu_provider_lacks_is_sat_out_and_it_really_lacks_it() -> None:
    """float64, bfloat16, gradients and cropping pads are not ONNX Runtime cases; the float64 refusal is real."""
    plain = CASES["valid"]
    for lacking in (replace(plain, dtype="float64"), replace(plain, dtype="bfloat16"),
                    replace(plain, gradient="weight"),
                    replace(plain, padding=Padding("explicit", ((-1, 0), (0, 0))))):
        assert not any(serves(variant, lacking) for variant in VARIANTS), lacking
    # An extreme padding of -1 (the invalid stream) crops, as the reference computes it: ONNX has no such pads.
    cropping = replace(plain, padding=Padding("symmetric", ((-1, -1), (0, 0))), defect="hostile_padding")
    assert not serves("onnxruntime", cropping)
    assert serves("onnxruntime", replace(cropping, padding=Padding("symmetric", ((2**31 - 1, 2**31 - 1), (0, 0)))))
    refused = Outcome.of(oracle_or_skip("onnxruntime"), family_case(replace(plain, dtype="float64")))
    assert refused.error is not None and "NOT_IMPLEMENTED" in refused.error


def test_the_finding_script_of_a_correct_case_says_gone(tmp_path: Path) -> None:
    """A made-up finding that blames ONNX Runtime, on a case it computes right: its script (numpy, onnx and
    onnxruntime only) runs the model and exits 0."""
    case = family_case(CASES["same_upper_strided"])
    script = finding_script(claim_that_torch_is_wrong(case, ("onnxruntime", "reference"), suspect="onnxruntime"))
    assert "helper.make_node('Conv'" in script and "auto_pad='SAME_UPPER'" in script
    result = run_script(script, tmp_path)
    assert result.returncode == 0 and "GONE" in result.stdout, result.stdout + result.stderr


@pytest.mark.campaign
def test_a_campaign_of_every_variant_has_no_false_alarm() -> None:
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), **{v: oracle_or_skip(v) for v in VARIANTS}}
    settings_ = CampaignSettings(seed=7, max_examples=60, ops=OPS, dtypes=("float32", "float16"))
    stats = Campaign(oracles, settings_, known_signatures=committed_signatures_in_every_op_and_dtype()).run()
    assert stats.checks >= 60 and not unexplained(stats.findings), unexplained(stats.findings)
