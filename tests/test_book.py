"""The book's structure: paired and executed chapters, the table of contents, the map of questions.

nbval skips code cells whose execution_count is None, so a cell added to a
source without re-executing would pass silently: these checks close that gap.
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py: the pipeline under test)
import nbval_tolerance  # noqa: E402  (tools/nbval_tolerance.py: the output comparison)

CHAPTERS = notebooks.chapter_sources()


def toc_chapters() -> list[str]:
    """The chapters in _toc.yml: the sections of the parts (book/partN), not the reference pages."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = [part for part in toc["chapters"] if re.fullmatch(r"book/part\d+", part["file"])]
    return [section["file"] for part in parts for section in part.get("sections", [])]


def test_the_book_has_chapters():
    assert CHAPTERS, "no chapter sources found under book/<part>/"


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_notebook_matches_its_source_and_was_executed_in_order(md_path):
    assert notebooks.check_chapter(md_path) == []


def test_every_notebook_has_a_source():
    assert [p for p in notebooks.check_all() if "without its Markdown source" in p] == []


def test_toc_lists_exactly_the_chapters_on_disk():
    on_disk = sorted(str(p.relative_to(ROOT).with_suffix("")) for p in CHAPTERS)
    assert sorted(toc_chapters()) == on_disk


def test_the_map_links_every_chapter_and_only_written_ones():
    intro = (ROOT / "book" / "intro.md").read_text()
    linked = sorted("book/" + target for target in re.findall(r"\{doc\}`[^`]*<(part\d/[^>]+)>`", intro))
    assert linked == sorted(toc_chapters())
    rows = re.findall(r"^\| (\d\.\d) \|", intro, re.M)
    assert len(rows) == 29 and len(set(rows)) == 29


def test_execute_is_reproducible_and_passes_the_check(tmp_path, monkeypatch):
    md_path = tmp_path / "part" / "demo.md"
    md_path.parent.mkdir()
    monkeypatch.setattr(notebooks, "BOOK", tmp_path)
    notebooks.new_chapter(md_path, "0.0 Demo")
    # a pause between two prints makes the kernel send them as separate messages
    cell = "import time\nprint(sum(range(10)))\ntime.sleep(0.3)\nprint('done')"
    md_path.write_text(md_path.read_text() + f"\n```{{code-cell}} ipython3\n{cell}\n```\n")
    first = notebooks.execute_chapter(md_path).read_bytes()
    second = notebooks.execute_chapter(md_path).read_bytes()
    assert first == second
    assert notebooks.check_chapter(md_path) == []
    outputs = nbformat.reads(first.decode(), as_version=4).cells[-1].outputs
    assert [o["text"] for o in outputs] == ["45\ndone\n"]  # one stream output, merged

    md_path.write_text(md_path.read_text() + "\n```{code-cell} ipython3\n1 + 1\n```\n")
    assert any("differ from the source" in p for p in notebooks.check_chapter(md_path))


def comparison_counts() -> dict[str, int]:
    """How nbval will treat the book's code cells: compared exactly, with a tolerance, not compared."""
    from nbval.plugin import find_comment_markers, find_metadata_tags

    counts = {nbval_tolerance.EXACT: 0, nbval_tolerance.TOLERANCE: 0, nbval_tolerance.NOT_COMPARED: 0}
    for md_path in CHAPTERS:
        nb = nbformat.read(md_path.with_suffix(".ipynb"), as_version=4)
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            options = {**dict(find_metadata_tags(cell.metadata)), **dict(find_comment_markers(cell.source))}
            if options.get("skip") or options.get("check") is False or cell.execution_count is None:
                counts[nbval_tolerance.NOT_COMPARED] += 1
            elif nbval_tolerance.cell_tolerance(cell) is not None:
                counts[nbval_tolerance.TOLERANCE] += 1
            else:
                counts[nbval_tolerance.EXACT] += 1
    return counts


def test_every_output_is_compared_and_nine_in_ten_exactly():
    counts = comparison_counts()
    total = sum(counts.values())
    assert counts[nbval_tolerance.NOT_COMPARED] == 0, counts
    assert counts[nbval_tolerance.EXACT] >= 0.9 * total, counts


def test_the_tolerance_comparison_accepts_close_numbers_and_nothing_else():
    close = nbval_tolerance.close_within
    assert close("loss 0.0637 after 120 steps", "loss 0.0641 after 120 steps", 0.001)
    assert not close("loss 0.0637 after 120 steps", "loss 0.0657 after 120 steps", 0.001)
    assert not close("loss 0.0637 after 120 steps", "loss 0.0637 after 121 step", 0.001)
    assert not close("IoU 0.91", "IoU 0.91 (best)", 1.0)
    assert not close("x nan", "x 0.5", 1.0)
    assert nbval_tolerance.cell_tolerance({"metadata": {"tags": ["hide-input", "tolerance-2e-3"]}}) == 0.002
    assert nbval_tolerance.cell_tolerance({"metadata": {"tags": ["hide-input"]}}) is None


def test_stored_outputs_and_the_tests_use_different_kernels_and_thread_counts():
    execute, test = notebooks.EXECUTE_ENV, notebooks.TEST_ENV
    assert execute["ATEN_CPU_CAPABILITY"] == "default" and execute["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert "ATEN_CPU_CAPABILITY" not in test and execute["OMP_NUM_THREADS"] != test["OMP_NUM_THREADS"]


def test_seeds_runs_a_chapter_with_other_seeds_and_reports_each_failure(tmp_path, monkeypatch):
    md_path = tmp_path / "part" / "demo.md"
    md_path.parent.mkdir()
    monkeypatch.setattr(notebooks, "BOOK", tmp_path)
    notebooks.new_chapter(md_path, "0.0 Demo")
    # a claim that holds for seed 0 only, as a chapter tuned to one run would make
    cell = "assert torch.randint(0, 1000, (1,), generator=gen).item() == 44"
    md_path.write_text(md_path.read_text() + f"\n```{{code-cell}} ipython3\nimport torch\n{cell}\n```\n")
    failures = notebooks.run_seeds([md_path], [0, 3], workers=1)  # seed 0 passes, seed 3 fails
    assert len(failures) == 1 and "with seed 3: CellExecutionError" in failures[0]


def test_check_refuses_a_second_seed(tmp_path, monkeypatch):
    md_path = tmp_path / "part" / "demo.md"
    md_path.parent.mkdir()
    monkeypatch.setattr(notebooks, "BOOK", tmp_path)
    notebooks.new_chapter(md_path, "0.0 Demo")
    md_path.write_text(md_path.read_text() + "\n```{code-cell} ipython3\nimport torch\nother = torch.Generator().manual_seed(1)\n```\n")
    notebooks.execute_chapter(md_path)
    assert any("a seed is set outside seed_everything(0)" in p for p in notebooks.check_chapter(md_path))
