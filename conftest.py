"""Settings that the notebook kernels started by nbval inherit from this process, and the nbval plugin.

The stored outputs were produced under `tools/notebooks.py`'s EXECUTE_ENV
(PyTorch's baseline CPU kernels, one thread). The tests run the chapters under
TEST_ENV: this machine's own kernels and two threads, so that a printed number
that depends on the CPU family or the thread count fails here. A variable set
in the environment wins (to imitate another CPU: ATEN_CPU_CAPABILITY=avx2 ...).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
from notebooks import TEST_ENV  # noqa: E402

for name, value in TEST_ENV.items():
    os.environ.setdefault(name, value)

pytest_plugins = ["nbval_tolerance"]
