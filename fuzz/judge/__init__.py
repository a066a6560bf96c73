"""Judging one case: rounding bounds, attribution by consensus, the verdict and deviation classes."""
