"""Medians and spreads of repeated measurements."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles, extremes and count (quartiles equal the median below 2 samples)."""
    ordered = sorted(samples)
    median = statistics.median(ordered)
    q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (median,) * 3
    return {
        "median": median,
        "q1": q1,
        "q3": q3,
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
    }


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """``a``'s median over ``b``'s."""
    return a["median"] / b["median"]
