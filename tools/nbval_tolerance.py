"""A pytest plugin around nbval: numbers compared within a tolerance a cell declares, and a count.

nbval compares a cell's fresh output with the stored one character by
character. That is the rule here too, with one exception a chapter must ask
for, cell by cell: a code cell tagged ``tolerance-<atol>`` (MyST:
``:tags: [tolerance-0.002]``) has its text outputs compared with every number
allowed to differ by at most ``atol`` and everything between the numbers
compared exactly. A chapter uses it only for a number that legitimately
depends on the machine (see "What a printed number may depend on" in the
README); there is no tag that skips a comparison.

At the end of the run the plugin prints how many code cells were compared
exactly, with a tolerance, and not compared at all.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

TAG = re.compile(r"^tolerance-(\d+(?:\.\d*)?(?:e-?\d+)?)$")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf")

EXACT, TOLERANCE, NOT_COMPARED = "compared exactly", "compared with a tolerance", "not compared"
PROPERTY = "nbval_comparison"


def cell_tolerance(cell) -> float | None:
    """The absolute tolerance a cell declares with a ``tolerance-<atol>`` tag, or None."""
    found = [float(m.group(1)) for tag in cell.get("metadata", {}).get("tags", []) if (m := TAG.match(tag))]
    if len(found) > 1:
        raise ValueError(f"a cell declares {len(found)} tolerances; give one")
    return found[0] if found else None


def close_within(reference: str, fresh: str, atol: float) -> bool:
    """Whether ``fresh`` reads as ``reference`` with every number within ``atol`` of the stored one."""
    ref_parts, fresh_parts = NUMBER.split(reference), NUMBER.split(fresh)
    if ref_parts != fresh_parts:  # the text between the numbers must be the same
        return False
    for a, b in zip(NUMBER.findall(reference), NUMBER.findall(fresh)):
        if a == b:
            continue
        try:
            if not abs(float(a) - float(b)) <= atol:
                return False
        except ValueError:  # nan / inf written differently
            return False
    return True


def category(item) -> str:
    """How nbval treats this cell: compared exactly, with a tolerance, or not compared."""
    if item.options.get("skip") or not item.options.get("check") or item.cell.execution_count is None:
        return NOT_COMPARED
    return TOLERANCE if cell_tolerance(item.cell) is not None else EXACT


def _adopt_close_outputs(fresh: list, stored: list, atol: float) -> None:
    """Where a fresh text output is within ``atol`` of the stored one, store-equal it, so nbval's exact check passes."""
    for out, ref in zip(fresh, stored):
        if out.get("output_type") == "stream" and ref.get("output_type") == "stream":
            if out.get("name") == ref.get("name") and close_within(ref["text"], out["text"], atol):
                out["text"] = ref["text"]
        elif "data" in out and "data" in ref:
            for mime in ("text/plain", "text/html"):
                if mime in out["data"] and mime in ref["data"]:
                    if close_within(ref["data"][mime], out["data"][mime], atol):
                        out["data"][mime] = ref["data"][mime]


class Plugin:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items) -> None:
        from nbval.plugin import IPyNbCell, coalesce_streams

        original = IPyNbCell.compare_outputs
        if getattr(original, "_tolerant", False):
            return

        def compare_outputs(cell, test, ref, skip_compare=None):
            atol = cell_tolerance(cell.cell)
            if atol is not None:
                # on the outputs as stored (a stream has "name" and "text"); nbval's own comparison transforms them after
                test = coalesce_streams(test)
                _adopt_close_outputs(test, ref, atol)
            return original(cell, test, ref, skip_compare)

        compare_outputs._tolerant = True
        IPyNbCell.compare_outputs = compare_outputs
        for item in items:
            if isinstance(item, IPyNbCell):  # reported with the test, so that it reaches the main process under xdist
                item.user_properties.append((PROPERTY, category(item)))

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "setup":
            self.counts.update(value for name, value in report.user_properties if name == PROPERTY)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        total = sum(self.counts.values())
        if not total:
            return
        exact = self.counts[EXACT]
        terminalreporter.write_sep("-", "notebook outputs")
        terminalreporter.write_line(
            f"{total} code cells: {exact} {EXACT} ({100 * exact / total:.1f}%), "
            f"{self.counts[TOLERANCE]} {TOLERANCE}, {self.counts[NOT_COMPARED]} {NOT_COMPARED}"
        )


def pytest_configure(config) -> None:
    config.pluginmanager.register(Plugin(), "nbval-tolerance-counts")
