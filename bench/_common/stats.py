"""Percentiles and latency summaries."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, mean, min and max of millisecond samples."""
    s = sorted(samples_ms)
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 50), 3),
        "p95_ms": round(percentile(s, 95), 3),
        "p99_ms": round(percentile(s, 99), 3),
        "mean_ms": round(sum(s) / len(s), 3),
        "min_ms": round(s[0], 3),
        "max_ms": round(s[-1], 3),
    }
