"""What to generate: convolution cases and their tensor values (no framework imports here)."""

from strategies.budget import SizeBudget
from strategies.case import DTYPES, OPS, ConvCase, ConvConfig, Padding
from strategies.conv import conv_case_groups, conv_cases, conv_configs, value_families, value_sets
from strategies.values import FAMILY_NAMES, ValueFamily

__all__ = [
    "DTYPES",
    "FAMILY_NAMES",
    "OPS",
    "ConvCase",
    "ConvConfig",
    "Padding",
    "SizeBudget",
    "ValueFamily",
    "conv_case_groups",
    "conv_cases",
    "conv_configs",
    "value_families",
    "value_sets",
]
