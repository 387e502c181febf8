"""The timer every benchmark shares."""

from torch.utils import benchmark


def median_seconds(fn, *args, min_run_time: float = 0.5) -> float:
    """Median seconds of one call ``fn(*args)``, timed by ``torch.utils.benchmark`` in blocks.

    The Timer runs on one thread by default and repeats the call until
    ``min_run_time`` seconds have passed, so the median is stable against noise.
    """
    timer = benchmark.Timer(stmt="fn(*args)", globals={"fn": fn, "args": args})
    return timer.blocked_autorange(min_run_time=min_run_time).median
