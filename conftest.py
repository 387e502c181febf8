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


# Each chapter notebook's result in this run, recorded for the book's execution-status page
# (tools/book_pages.py reads _build/test-results.json when the book builds).
_notebook_results: dict[str, str] = {}


def pytest_runtest_logreport(report):
    notebook = report.nodeid.split("::")[0]
    if not notebook.endswith(".ipynb"):
        return
    if report.failed:
        _notebook_results[notebook] = "failed"
    elif report.when == "call" and report.passed:  # a cell ran and its outputs matched
        _notebook_results.setdefault(notebook, "passed")


def pytest_collectreport(report):
    if report.failed and report.nodeid.endswith(".ipynb"):  # a notebook that cannot be read
        _notebook_results[report.nodeid] = "failed"


def pytest_sessionfinish(session, exitstatus):
    interrupted = exitstatus == 2
    if _notebook_results and not interrupted and not hasattr(session.config, "workerinput"):
        from book_pages import record_test_results

        record_test_results(_notebook_results)
