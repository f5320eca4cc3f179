"""The benchmarks (each runs as a script) and what they share."""


def percentile(values: list[float], q: float) -> float:
    """The value at quantile `q` (0 to 1) of `values`, the nearest of them by rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
