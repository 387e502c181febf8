"""Execution time of each chapter notebook, from a fresh kernel, on the CPU.

The same execution as `make notebook` (kernel start and imports included),
without writing the notebook. Chapters are meant to stay well under 15 s.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import notebooks  # noqa: E402


def main() -> None:
    total = 0.0
    for md_path in notebooks.chapter_sources():
        start = time.perf_counter()
        notebooks.run_chapter(md_path)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{str(md_path.relative_to(notebooks.ROOT)):55s} {seconds:6.1f} s")
    print(f"{'all chapters':55s} {total:6.1f} s")


if __name__ == "__main__":
    main()
