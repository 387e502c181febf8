"""What the book generates when it builds: a Sphinx extension, loaded from ``_config.yml``.

- **The companion reference.** One page per public module of ``companion``,
  written to ``book/reference/<module>.rst``: autodoc (with napoleon) renders
  the module's docstrings, shape contracts included, and the page lists the
  chapters that import the module, read from the chapters' sources.
- **The execution-status page** ``book/status.md``: for each chapter, when its
  notebook was executed, how long that took and with which companion version
  (recorded by ``tools/notebooks.py execute`` in ``book/_status.json``), and its
  result in the last test run (recorded by the root ``conftest.py`` in
  ``_build/test-results.json``; "not run" when no test run came before the build).
- **MathJax served by the book.** MathJax 3 is copied from the pinned
  ``django-static-mathjax`` package into ``_static/mathjax/``, so that no page
  loads a script from another site and formulas render offline.
- **Each inline script once.** A Sphinx 7 bug put every inline script that an
  extension adds after the builder starts twice into each page (sphinx-thebe's
  ``const THEBE_JS_URL``, declared twice, is a SyntaxError); see
  :func:`_add_js_file_once`.

The generated pages are rewritten only when their text changes and are not
committed (see ``.gitignore``), so they cannot fall behind the package or the
chapters.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
PACKAGE = ROOT / "companion"
REFERENCE = BOOK / "reference"  # generated: one page per module
STATUS_PAGE = BOOK / "status.md"  # generated
EXECUTION_RECORD = BOOK / "_status.json"  # committed, written by tools/notebooks.py execute
TEST_RESULTS = ROOT / "_build" / "test-results.json"  # written by the root conftest.py

MATHJAX_DISTRIBUTION = "django-static-mathjax"  # ships MathJax 3.2.2 under mathjax/static/mathjax/es5
MATHJAX_PATH = "mathjax/tex-mml-chtml.js"  # relative to _static/, where the build copies it
# What the page script may load on demand (fonts, TeX extensions, the menu and its
# accessibility tools); the other prebuilt combinations are left out.
MATHJAX_PARTS = ["tex-mml-chtml.js", "a11y", "adaptors", "input", "output", "sre", "ui"]


# ----------------------------------------------------------------------------- the package


def public_modules() -> list[str]:
    """Every public module of the package, read from the files: ``companion.losses``, ...

    A module or package whose name starts with ``_`` is private; subpackages count
    as modules, and so do their public modules.
    """
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if len(parts) > 1 and not any(part.startswith("_") for part in parts):
            modules.append(".".join(parts))
    return modules


IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(companion(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[\w, \t]+)|import[ \t]+(companion\.[\w.]+))",
    re.M,
)


def imported_modules(source: str, modules: list[str]) -> set[str]:
    """The modules of ``modules`` that ``source`` imports: ``from companion.x import f``,
    ``from companion import x``, ``from companion.sub import x``, ``import companion.x``."""
    found = set()
    for from_module, names, plain in IMPORT.findall(source):
        if plain:
            found.add(plain)
        else:  # the module itself, or, when the names are modules, those
            found.add(from_module)
            found.update(f"{from_module}.{name}" for name in re.findall(r"\w+", names))
    return found & set(modules)


def chapter_sources() -> list[Path]:
    """The sources of the book's chapters, in the book's order (by the number that starts each title).

    A chapter is in the book once it has its executed notebook: a source still
    without one (a chapter being written) is left out.
    """

    def number(path: Path) -> tuple[int, ...]:
        title = chapter_title(path)
        match = re.match(r"(\d+(?:\.\d+)*)\s", title)
        return tuple(int(n) for n in match.group(1).split(".")) if match else (10**6,)

    chapters = [p for p in BOOK.glob("*/*.md") if p.with_suffix(".ipynb").is_file()]
    return sorted(chapters, key=lambda p: (number(p), str(p)))


def chapter_title(md_path: Path) -> str:
    match = re.search(r"^# (.+)$", md_path.read_text(), re.M)
    return match.group(1).strip() if match else md_path.stem


def docname(md_path: Path) -> str:
    """``/book/part1/softmax-output-layer``: the chapter as a Sphinx document name."""
    return "/" + md_path.relative_to(ROOT).with_suffix("").as_posix()


def chapters_using(modules: list[str]) -> dict[str, list[Path]]:
    """For each module, the chapters whose code imports it, in the book's order."""
    users: dict[str, list[Path]] = {module: [] for module in modules}
    for md_path in chapter_sources():
        for module in sorted(imported_modules(md_path.read_text(), modules)):
            users[module].append(md_path)
    return users


def reference_page(module: str, chapters: list[Path]) -> str:
    """The reST source of a module's reference page."""
    if chapters:
        used = "Used in:\n\n" + "".join(f"- :doc:`{docname(p)}`\n" for p in chapters)
    else:
        used = "No chapter imports this module.\n"
    return (
        f"{module}\n{'=' * len(module)}\n\n"
        f"{used}\n"
        f".. automodule:: {module}\n"
        "   :members:\n"
        "   :member-order: bysource\n"
    )


# ----------------------------------------------------------------------------- execution status


def load_json(path: Path) -> dict:
    return json.loads(path.read_text() or "{}") if path.exists() else {}


def record_test_results(results: dict[str, str], path: Path = TEST_RESULTS) -> None:
    """Merge ``{"book/part1/x.ipynb": "passed" or "failed"}`` into the test-results file, with the time."""
    finished = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    with open(path, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # test runs that end at the same time keep each other's results
        recorded = json.loads(file.read() or "{}")
        recorded.update({notebook: {"result": result, "finished": finished} for notebook, result in results.items()})
        file.seek(0)
        file.truncate()
        file.write(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")


def status_page(chapters: list[Path], executions: dict, test_results: dict) -> str:
    """The MyST source of the execution-status page.

    ``executions``: the pipeline's record, ``{"part1/x": {"executed", "seconds", "companion"}}``.
    ``test_results``: the last test run's, ``{"book/part1/x.ipynb": {"result", "finished"}}``.
    """
    rows, tested = [], []
    for md_path in chapters:
        execution = executions.get(md_path.relative_to(BOOK).with_suffix("").as_posix())
        test = test_results.get(md_path.relative_to(ROOT).with_suffix(".ipynb").as_posix())
        tested += [test] if test else []
        if execution:
            executed = [execution["executed"], f"{execution['seconds']:.1f} s", execution["companion"]]
        else:
            executed = ["—"] * 3
        result = f"{test['result']} ({test['finished']})" if test else "not run"
        rows.append(f"| {{doc}}`{docname(md_path)}` | " + " | ".join(executed) + f" | {result} |")
    if tested:
        passed = sum(t["result"] == "passed" for t in tested)
        summary = (f"Last test run ({max(t['finished'] for t in tested)}): {passed} passed, "
                   f"{len(tested) - passed} failed, {len(chapters) - len(tested)} not run.")
    else:
        summary = "No test run was recorded before this build (`make test`, then `make book`, records one)."
    return (
        "# Execution status\n\n"
        "The book shows the outputs stored in each chapter's notebook; building it runs no code.\n"
        "`make notebook` executes a chapter on the CPU and records when, how long it took and with\n"
        "which version of `companion` (in `book/_status.json`). `make test` runs every notebook again\n"
        "under nbval, which compares each output with the stored one; its result is the last column,\n"
        "as recorded before this build. A dash marks a notebook executed before the pipeline\n"
        "kept these records.\n\n"
        f"{summary}\n\n"
        "| Chapter | Executed | Execution time | companion | Last test run |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


# ----------------------------------------------------------------------------- the Sphinx extension


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (an unchanged page is not rebuilt)."""
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def generate_pages(app=None) -> None:
    """Write the reference pages (removing those of modules that are gone) and the status page."""
    modules = public_modules()
    expected = {REFERENCE / f"{module}.rst": reference_page(module, chapters)
                for module, chapters in chapters_using(modules).items()}
    for stale in set(REFERENCE.glob("*.rst")) - set(expected):
        stale.unlink()
    for path, text in expected.items():
        write_if_changed(path, text)
    write_if_changed(STATUS_PAGE, status_page(chapter_sources(), load_json(EXECUTION_RECORD), load_json(TEST_RESULTS)))


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax distribution."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(MATHJAX_DISTRIBUTION)
    except PackageNotFoundError as error:
        raise RuntimeError(f"{MATHJAX_DISTRIBUTION} is not installed: run `make env`") from error
    return Path(dist.locate_file("mathjax/static/mathjax/es5"))


def copy_mathjax(app, exception) -> None:
    """After an HTML build, copy MathJax into ``_static/mathjax/`` (where ``mathjax_path`` points)."""
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def use_local_mathjax(app, config) -> None:
    config.mathjax_path = MATHJAX_PATH


def _add_js_file_once(original):
    """Sphinx < 8.2 stores an inline script (no file name) under ``None`` when an extension adds it
    after the builder started, and again under ``""`` when it prepares the pages, so the page gets
    it twice. Backport of the fix (sphinx-doc/sphinx#13402): always store it under ``""``."""

    def add_js_file(self, filename, **kwargs):
        return original(self, filename or "", **kwargs)

    return add_js_file


def setup(app):
    import sphinx
    from sphinx.builders.html import StandaloneHTMLBuilder

    if sphinx.version_info < (8, 2):
        StandaloneHTMLBuilder.add_js_file = _add_js_file_once(StandaloneHTMLBuilder.add_js_file)
    mathjax_source()  # fail early, with the fix, when MathJax is missing
    app.connect("config-inited", use_local_mathjax)
    app.connect("builder-inited", generate_pages)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
