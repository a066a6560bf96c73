"""The one size budget: how big a drawn case may get, read from one environment variable."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

BUDGET_ENV = "CONVFUZZ_BUDGET"
DEFAULT_MAX_ELEMENTS = 4096
# Multiply-adds per case scale with the element budget, so one knob moves both.
MACS_PER_ELEMENT = 64


@dataclass(frozen=True)
class SizeBudget:
    """Upper limits every drawn case respects by construction."""

    max_elements: int = DEFAULT_MAX_ELEMENTS
    max_multiply_adds: int = DEFAULT_MAX_ELEMENTS * MACS_PER_ELEMENT

    @classmethod
    def from_elements(cls, max_elements: int) -> SizeBudget:
        """Budget with `max_elements` per tensor and the matching multiply-add limit."""
        if max_elements < 1:
            raise ValueError(f"size budget must be a positive element count, got {max_elements}")
        return cls(max_elements, max_elements * MACS_PER_ELEMENT)

    @classmethod
    def from_environment(cls) -> SizeBudget:
        """Budget from $CONVFUZZ_BUDGET (elements per tensor), or the default when it is unset."""
        raw = os.environ.get(BUDGET_ENV, "").strip()
        if not raw:
            return cls()
        try:
            elements = int(raw)
        except ValueError:
            raise ValueError(f"{BUDGET_ENV}={raw!r} is not an integer element count") from None
        return cls.from_elements(elements)

    def admits(self, tensor_shapes: list[tuple[int, ...]], multiply_adds: int) -> bool:
        """True when every tensor and the multiply-add count are within the budget."""
        return multiply_adds <= self.max_multiply_adds and all(
            math.prod(shape) <= self.max_elements for shape in tensor_shapes
        )
