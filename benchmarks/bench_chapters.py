"""Execution time of each chapter notebook, from a fresh kernel, on the CPU.

The same execution as `make notebook` (kernel start and imports included),
without writing the notebook. Each chapter must stay under 20 s.
The first row is the fixed cost every chapter pays: a notebook that only
imports torch, matplotlib and companion (kernel start, imports, shutdown);
``own`` is a chapter's time beyond it, the part its code is responsible for.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import notebooks  # noqa: E402

BASELINE_SOURCE = f"""{notebooks.FRONT_MATTER.format(jupytext_version=notebooks.jupytext.__version__)}
```{{code-cell}} ipython3
import matplotlib.pyplot as plt
import torch

import companion
```
"""


def seconds_to_run(md_path: Path) -> float:
    start = time.perf_counter()
    notebooks.run_chapter(md_path)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        baseline_path = Path(folder) / "imports-only.md"
        baseline_path.write_text(BASELINE_SOURCE)
        baseline = min(seconds_to_run(baseline_path) for _ in range(2))
    print(f"{'chapter':55s} {'total':>7s} {'own':>7s}")
    print(f"{'(fresh kernel + imports only)':55s} {baseline:6.1f}s {0:6.1f}s")
    total = 0.0
    for md_path in notebooks.chapter_sources():
        seconds = seconds_to_run(md_path)
        total += seconds
        print(f"{str(md_path.relative_to(notebooks.ROOT)):55s} {seconds:6.1f}s {seconds - baseline:6.1f}s")
    print(f"{'all chapters':55s} {total:6.1f}s")


if __name__ == "__main__":
    main()
