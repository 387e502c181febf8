"""Settings that the notebook kernels started by nbval inherit from this process.

They are the ones `tools/notebooks.py execute` uses when it regenerates the
stored outputs (one thread, a fixed hash seed), so nbval compares like with like.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
from notebooks import KERNEL_ENV  # noqa: E402

for name, value in KERNEL_ENV.items():
    os.environ.setdefault(name, value)
