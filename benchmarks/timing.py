"""The timer every benchmark shares."""

from torch.utils import benchmark


def median_seconds(fn, *args, min_run_time: float = 0.5) -> float:
    """Median seconds of one call ``fn(*args)``, timed by ``torch.utils.benchmark`` in blocks.

    The Timer runs on one thread by default and repeats the call until
    ``min_run_time`` seconds have passed, so the median is stable against noise.
    """
    timer = benchmark.Timer(stmt="fn(*args)", globals={"fn": fn, "args": args})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def report_ratio(name: str, ours: float, reference: float, target: float, width: int = 44, note: str = "") -> None:
    """Print one row: both times in ms, ``ours / reference`` and whether it is within ``target``."""
    ratio = ours / reference
    verdict = "met" if ratio <= target else "MISSED"
    print(f"{name:<{width}} {ours * 1e3:9.3f}ms {reference * 1e3:9.3f}ms {ratio:6.2f}  <= {target} {verdict}{note}")
