"""The pages the book generates (tools/book_pages.py), the package's module list, and the
execution record of the notebook pipeline."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book_pages  # noqa: E402
import check_book  # noqa: E402
import notebooks  # noqa: E402


def test_the_package_docstring_lists_exactly_the_public_modules():
    import companion

    module_list = re.search(r"^- :mod:.*?(?=\n\s*\n)", companion.__doc__, re.M | re.S).group(0)  # the bullets
    listed = re.findall(r":mod:`~?(companion(?:\.\w+)+)`", module_list)
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert sorted(listed) == book_pages.public_modules()


def test_public_modules_leave_out_private_ones_and_find_subpackages(tmp_path, monkeypatch):
    for name in ["__init__.py", "_checks.py", "losses.py", "det/__init__.py", "det/boxes.py", "det/_util.py"]:
        (tmp_path / "companion" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "companion" / name).write_text("")
    monkeypatch.setattr(book_pages, "ROOT", tmp_path)
    monkeypatch.setattr(book_pages, "PACKAGE", tmp_path / "companion")
    assert book_pages.public_modules() == ["companion.det", "companion.det.boxes", "companion.losses"]


def test_imported_modules_reads_every_import_form():
    modules = ["companion.losses", "companion.metrics", "companion.conv", "companion.shapes", "companion.det",
               "companion.det.boxes", "companion.det.nms", "companion.unet"]
    source = """
from companion.losses import cross_entropy, binary_cross_entropy
from companion.metrics import (
    accuracy,  # (N, C) scores
)
from companion import conv
from companion import (
    shapes,
)
from companion.det import nms
import companion.det.boxes as boxes
import companion
# companion.unet is only mentioned
"""
    assert book_pages.imported_modules(source, modules) == {
        "companion.losses", "companion.metrics", "companion.conv", "companion.shapes", "companion.det",
        "companion.det.nms", "companion.det.boxes"}


def test_every_chapter_import_has_a_reference_page_that_lists_the_chapter():
    modules = book_pages.public_modules()
    users = book_pages.chapters_using(modules)
    for md_path in book_pages.chapter_sources():
        for module in book_pages.imported_modules(md_path.read_text(), modules):
            assert md_path in users[module]
            page = book_pages.reference_page(module, users[module])
            assert f":doc:`{book_pages.docname(md_path)}`" in page
            assert f".. automodule:: {module}" in page


def test_chapters_come_in_the_book_s_order():
    numbers = [book_pages.chapter_title(p).split()[0] for p in book_pages.chapter_sources()]
    assert numbers == sorted(numbers, key=lambda n: tuple(int(x) for x in n.split(".")))


def test_status_page_says_what_was_not_recorded_and_not_run():
    chapter = book_pages.chapter_sources()[0]
    page = book_pages.status_page([chapter], executions={}, test_results={})
    assert "No test run was recorded before this build" in page
    row = next(line for line in page.splitlines() if book_pages.docname(chapter) in line)
    assert row.endswith("| — | — | — | not run |")


def test_status_page_shows_the_records():
    chapter = book_pages.chapter_sources()[0]
    executions = {chapter.relative_to(book_pages.BOOK).with_suffix("").as_posix():
                  {"executed": "2026-01-02", "seconds": 4.25, "companion": "9.9.9"}}
    notebook = chapter.relative_to(ROOT).with_suffix(".ipynb").as_posix()
    tests = {notebook: {"result": "failed", "finished": "2026-01-03 10:00 UTC"}}
    page = book_pages.status_page([chapter], executions, tests)
    assert "| 2026-01-02 | 4.2 s | 9.9.9 | failed (2026-01-03 10:00 UTC) |" in page
    assert "Last test run (2026-01-03 10:00 UTC): 0 passed, 1 failed, 0 not run." in page


def test_record_test_results_merges_with_the_earlier_record(tmp_path):
    path = tmp_path / "results.json"
    book_pages.record_test_results({"book/a/x.ipynb": "failed", "book/a/y.ipynb": "passed"}, path)
    book_pages.record_test_results({"book/a/x.ipynb": "passed"}, path)
    recorded = json.loads(path.read_text())
    assert {k: v["result"] for k, v in recorded.items()} == {"book/a/x.ipynb": "passed", "book/a/y.ipynb": "passed"}


def test_the_pipeline_records_each_execution(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "BOOK", tmp_path)
    md_path = tmp_path / "part9" / "demo.md"
    notebooks.record_execution(md_path, 3.14159)
    notebooks.record_execution(md_path.with_name("other.md"), 1.0)
    record = json.loads((tmp_path / "_status.json").read_text())
    assert list(record) == ["part9/demo", "part9/other"]
    assert record["part9/demo"]["seconds"] == 3.1
    assert record["part9/demo"]["companion"] == notebooks.companion_version()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["part9/demo"]["executed"])


def test_the_browser_check_expects_the_chapter_s_notebook_in_colab():
    md_path = ROOT / "book" / "part1" / "softmax-output-layer.md"
    assert check_book.colab_link(md_path) == (
        "https://colab.research.google.com/github/dlq-course/deep-learning-questions/blob/main/"
        "book/part1/softmax-output-layer.ipynb")


@pytest.mark.parametrize("title, word", [
    ("2.1 Softmax over channels: one distribution per pixel", "distribution"),
    ("3.3 A 1x1 convolution is a dense layer at every pixel", "convolution"),
])
def test_the_search_word_is_the_title_s_longest(title, word):
    assert check_book.search_word(title) == word
