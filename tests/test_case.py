"""The case model: output sizes, 'same' padding, JSON round trips, validation."""

from __future__ import annotations

import pytest

from convfuzz.strategies.case import ConvConfig, Padding, output_size, same_padding


def config(**changes: object) -> ConvConfig:
    base: dict[str, object] = dict(
        op="conv2d", batch=1, in_channels=4, out_channels=6, groups=2, spatial=(7, 5), kernel=(3, 2),
        stride=(2, 1), dilation=(1, 2), padding=Padding("explicit", ((1, 0), (0, 2))), bias=True, dtype="float32",
    )
    base.update(changes)
    return ConvConfig(**base)  # type: ignore[arg-type]


def test_output_size_matches_hand_computation() -> None:
    # 7 inputs + pad 1 = 8, kernel 3 -> 6 windows at stride 1, windows at 0,2,4 with stride 2 -> 3 outputs.
    assert output_size(7, 3, 2, 1, 1, 0) == 3
    # dilation 2 turns kernel 2 into an effective 3: 5 + 2 = 7 -> 5 outputs.
    assert output_size(5, 2, 1, 2, 0, 2) == 5
    assert output_size(2, 3, 1, 1, 0, 0) == 0


def test_same_padding_puts_the_odd_pad_high() -> None:
    assert same_padding(4, 2, 1, 1) == (0, 1)
    assert same_padding(5, 3, 1, 1) == (1, 1)
    # stride 2 on 5 inputs keeps ceil(5/2)=3 outputs: needs (3-1)*2+3-5 = 2 pad.
    assert same_padding(5, 3, 2, 1) == (1, 1)
    assert same_padding(6, 1, 4, 1) == (0, 0)


def test_shapes_and_terms() -> None:
    cfg = config()
    assert cfg.input_shape() == (1, 4, 7, 5)
    assert cfg.weight_shape() == (6, 2, 3, 2)
    assert cfg.output_shape() == (1, 6, 3, 5)
    assert cfg.terms_per_output() == 2 * 3 * 2


def test_json_round_trip() -> None:
    for padding in (Padding("valid"), Padding("same"), Padding("symmetric", ((1, 1), (2, 2))), config().padding):
        cfg = config(padding=padding)
        assert ConvConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"groups": 3}, "groups=3"),
        ({"op": "conv4d"}, "conv4d"),
        ({"dtype": "int8"}, "int8"),
        ({"kernel": (3,)}, "kernel"),
        ({"spatial": (1, 1), "padding": Padding("valid")}, "no output"),
    ],
)
def test_validate_names_the_bad_parameter(changes: dict[str, object], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        config(**changes).validate()
