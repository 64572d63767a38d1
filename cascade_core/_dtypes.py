"""Floating dtypes (SPEC §9): which are read, and bfloat16 widened to float32."""

from __future__ import annotations

from typing import Any

__all__ = ["FLOAT_NAMES", "is_float_name", "widen_bfloat16", "widen_bfloat16_bits"]

#: The floating dtypes activations may have; every other dtype is refused (SPEC §9).
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")


def is_float_name(name: str) -> bool:
    """Whether a dtype name (``"float16"``, ``"bfloat16"``, ...) is one the library reads."""
    return name in FLOAT_NAMES


def widen_bfloat16_bits(raw):
    """bfloat16 stored as a uint16 NumPy array -> float32, exactly (its bits are a float32's high half)."""
    import numpy as np

    return (raw.astype(np.uint32) << 16).view(np.float32)


def widen_bfloat16(x: Any) -> Any:
    """A bfloat16 array of any framework as float32 (exact); any other array unchanged."""
    if not str(getattr(x, "dtype", "")).endswith("bfloat16"):
        return x
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    return xp.astype(x, xp.float32)
