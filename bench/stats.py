"""Medians and spreads of repeated measurements."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles, 90th percentile, extremes and count (the quantiles equal the
    median below 2 samples)."""
    ordered = sorted(samples)
    median = statistics.median(ordered)
    q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (median,) * 3
    p90 = statistics.quantiles(ordered, n=10)[8] if len(ordered) > 1 else median
    return {
        "median": median,
        "q1": q1,
        "q3": q3,
        "p90": p90,
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
    }


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """``a``'s median over ``b``'s."""
    return a["median"] / b["median"]
