"""Run every benchmark in this folder (each ``bench_*.py`` has a ``main()``).

    python benchmarks/run.py              # all of them
    python benchmarks/run.py chapters     # those whose name contains "chapters"

Benchmarks print ratios against a reference measured in the same run, so
their numbers compare across machines; they are run on demand, never by CI.
"""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> None:
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(word in path.stem for word in argv):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n== {path.stem} ==")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
