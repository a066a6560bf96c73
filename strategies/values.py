"""Value families: how a tensor's numbers are made from a few drawn, shrinkable parameters.

A family is plain data (name plus small ints/floats). Hypothesis draws the family, not the elements, so a
tensor of any size costs a handful of draws, and shrinking moves towards the simplest family that still
fails: zeros, then ones, then a one-hot, then small integers, then real-valued noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from convfuzz.strategies.dtypes import FloatArray, is_complex, round_to_dtype

# Ordered from simplest to most general: Hypothesis shrinks a sampled_from towards the first entry.
FAMILY_NAMES: tuple[str, ...] = ("zeros", "ones", "one_hot", "small_int", "uniform", "normal")
# Opt-in (--nonfinite), for inputs only: small integers with one element replaced by one of SPECIAL_VALUES.
NONFINITE_FAMILY = "nonfinite"
SPECIAL_VALUES: dict[str, float] = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
# What describe() writes: a name, and for most families their fields in parentheses.
_DESCRIPTION = re.compile(r"(?P<name>[a-z_]+)(?:\((?P<fields>[^()]*)\))?")


@dataclass(frozen=True)
class ValueFamily:
    """A recipe for a tensor: `name` from FAMILY_NAMES, an index (one_hot), a seed and a scale."""

    name: str
    seed: int = 0
    index: int = 0
    scale: float = 1.0
    special: str = "nan"  # the nonfinite family's value, a key of SPECIAL_VALUES

    def describe(self) -> str:
        """Short human form, e.g. 'normal(seed=3, scale=0.1)'."""
        if self.name in ("zeros", "ones"):
            return self.name
        if self.name == "one_hot":
            return f"one_hot(index={self.index})"
        if self.name == "small_int":
            return f"small_int(seed={self.seed})"
        if self.name == NONFINITE_FAMILY:
            return f"nonfinite(seed={self.seed}, index={self.index}, value={self.special})"
        return f"{self.name}(seed={self.seed}, scale={self.scale:g})"

    @classmethod
    def parse(cls, text: str) -> ValueFamily:
        """The family `describe()` wrote as `text`; ValueError on anything else."""
        match = _DESCRIPTION.fullmatch(text.strip())
        if match is None or match["name"] not in (*FAMILY_NAMES, NONFINITE_FAMILY):
            raise ValueError(f"{text!r} is not a value family description")
        fields = dict(part.split("=", 1) for part in match["fields"].split(", ")) if match["fields"] else {}
        try:
            return cls(
                match["name"], seed=int(fields.get("seed", 0)), index=int(fields.get("index", 0)),
                scale=float(fields.get("scale", 1.0)), special=fields.get("value", "nan"),
            )
        except ValueError:
            raise ValueError(f"{text!r} is not a value family description") from None

    def make(self, shape: tuple[int, ...], dtype: str) -> FloatArray:
        """The tensor of `shape`, rounded to `dtype`, as float64. A complex dtype gives complex128: the random
        families (small_int, uniform, normal) draw an imaginary part after the real one from the same generator;
        zeros, ones and one_hot stay real-valued, so a complex case shrinks to real data where the bug allows."""
        size = int(np.prod(shape))
        rng = np.random.default_rng(self.seed)
        if self.name == "zeros":
            flat = np.zeros(size)
        elif self.name == "ones":
            flat = np.ones(size)
        elif self.name == "one_hot":
            flat = np.zeros(size)
            if size:
                flat[self.index % size] = 1.0
        elif self.name == "small_int":
            flat = rng.integers(-3, 4, size).astype(np.float64)
        elif self.name == "uniform":
            flat = rng.uniform(-self.scale, self.scale, size)
        elif self.name == "normal":
            flat = rng.normal(0.0, self.scale, size)
        elif self.name == NONFINITE_FAMILY:
            flat = rng.integers(-3, 4, size).astype(np.float64)
            if size:
                flat[self.index % size] = SPECIAL_VALUES[self.special]
        else:
            raise ValueError(f"unknown value family {self.name!r}; expected one of {FAMILY_NAMES}")
        if is_complex(dtype) and self.name in ("small_int", "uniform", "normal"):
            imag = ValueFamily(self.name, int(rng.integers(2**31)), scale=self.scale).make(shape, "float64")
            flat = flat + 1j * imag.ravel()
        return round_to_dtype(flat.reshape(shape), dtype)
