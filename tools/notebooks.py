"""The book's notebook pipeline: scaffold, execute and check chapters.

Each chapter is a MyST Markdown source ``book/<part>/<slug>.md`` (what people
edit and review) paired with its executed notebook ``book/<part>/<slug>.ipynb``
(what the book renders, Colab opens and nbval checks).

    python tools/notebooks.py new book/part2/softmax-over-channels.md "2.1 Title"
    python tools/notebooks.py execute book/part1/softmax-output-layer.md [...]
    python tools/notebooks.py execute --all
    python tools/notebooks.py seeds [--seeds 1 2 3 4] [book/part1/...md]
    python tools/notebooks.py check

``execute`` is reproducible: the same source gives a byte-identical notebook.
Cell ids are derived from the cell contents, execution runs on the CPU (the
committed outputs are the CPU ones) with timing and interpreter-version
metadata left out.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CELL_TIMEOUT_S = 120
# The kernel settings the stored outputs are produced under: PyTorch's baseline CPU
# kernels (no AVX2 or AVX-512 in ATen, SSE4.1 in oneDNN's convolutions) and one
# thread. The tests (root conftest.py) run the chapters under TEST_ENV instead, on
# the machine's own kernels and two threads, so that a printed number which depends
# on the CPU family or the thread count fails on any machine, not only on another.
EXECUTE_ENV = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}
# Two threads; waiting threads sleep instead of spinning (OpenMP's default spins), which
# otherwise costs a 2-core machine running two notebooks at once several times the CPU.
TEST_ENV = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONHASHSEED": "0"}
# The one place a chapter sets its seed; `seeds` replaces the 0 to run it with others.
SEED_CALL = "seed_everything(0)"

SETUP_CELL = '''\
# Setup: makes this chapter run in a fresh runtime (such as Colab); silent when all is in place.
import importlib, importlib.util, subprocess, sys, warnings

BOOK_COMPANION_VERSION = "{version}"
if importlib.util.find_spec("companion") is None:  # install the version this chapter was built with
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"git+{repository}@v{{BOOK_COMPANION_VERSION}}"], check=True)
    importlib.invalidate_caches()
import companion

if companion.__version__ != BOOK_COMPANION_VERSION:
    warnings.warn(f"this chapter was built with companion {{BOOK_COMPANION_VERSION}}, "
                  f"but {{companion.__version__}} is installed: outputs may differ")'''

FRONT_MATTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
    jupytext_version: {jupytext_version}
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def companion_version() -> str:
    text = (ROOT / "companion" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def repository_url() -> str:
    """The repository URL, set once in ``_config.yml`` (``repository: url:``)."""
    text = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.M)
    if match is None:
        raise SystemExit("_config.yml has no 'repository: url:' entry")
    return match.group(1)


def setup_cell_source() -> str:
    return SETUP_CELL.format(version=companion_version(), repository=repository_url())


def _display(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def chapter_sources() -> list[Path]:
    """Every chapter source: the Markdown files one folder below ``book/``."""
    return sorted(BOOK.glob("*/*.md"))


# ----------------------------------------------------------------------------- new


def new_chapter(md_path: Path, title: str) -> None:
    if md_path.exists():
        raise SystemExit(f"{md_path} exists already")
    if md_path.parent.parent != BOOK:
        raise SystemExit(f"a chapter lives in book/<part>/<slug>.md; got {md_path}")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(
        FRONT_MATTER.format(jupytext_version=jupytext.__version__)
        + f"\n# {title}\n\n"
        + "```{code-cell} ipython3\n:tags: [hide-input]\n\n"
        + setup_cell_source()
        + "\n```\n\n"
        + "The question, in our words.\n\n"
        + "```{code-cell} ipython3\n"
        + "from companion.runtime import default_device, seed_everything\n\n"
        + f"gen = {SEED_CALL}  # the chapter's one seed: see the README's rules for printed numbers\n"
        + "device = default_device()\n```\n"
    )
    print(f"wrote {_display(md_path)}; add it to _toc.yml and the map in book/intro.md")


# ----------------------------------------------------------------------------- execute


def stable_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give each cell an id derived from its type and source (unique within the notebook)."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def merge_streams(nb: nbformat.NotebookNode) -> None:
    """Join consecutive stdout (or stderr) outputs of a cell into one.

    How the kernel splits a cell's printing into messages depends on timing, so
    without this two runs of the same cell can store different output lists.
    """
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (
                previous is not None
                and output.output_type == previous.output_type == "stream"
                and output.name == previous.name
            ):
                previous.text += output.text
            else:
                merged.append(output)
        if "outputs" in cell:
            cell.outputs = merged


def strip_volatile_metadata(nb: nbformat.NotebookNode) -> None:
    nb.metadata.get("language_info", {}).pop("version", None)
    nb.metadata.pop("jupytext", None)  # pairing is set once, in jupytext.toml
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def run_chapter(md_path: Path, env: dict[str, str] = EXECUTE_ENV, seed: int | None = None) -> nbformat.NotebookNode:
    """Execute ``md_path``'s cells in a fresh kernel on the CPU and return the executed notebook.

    ``env`` is given to the kernel; ``seed``, when set, replaces the 0 in the
    chapter's one ``seed_everything(0)`` call.
    """
    nb = jupytext.read(md_path)
    if seed is not None:
        for cell in nb.cells:
            cell.source = cell.source.replace(SEED_CALL, f"seed_everything({seed})")
    stable_cell_ids(nb)
    env_backup = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the committed outputs are the CPU ones
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            record_timing=False,
            # the outputs are complete once the last cell has replied; a graceful shutdown would
            # only wait for the kernel's interpreter to tear torch down (about 2 s per chapter)
            shutdown_kernel="immediate",
            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter on stderr
            resources={"metadata": {"path": str(md_path.parent)}},
        )
        client.execute()
    finally:
        for name, value in [("CUDA_VISIBLE_DEVICES", env_backup), *saved.items()]:
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    merge_streams(nb)
    strip_volatile_metadata(nb)
    return nb


def execute_chapter(md_path: Path) -> Path:
    """Execute a chapter source and write its paired notebook; return the notebook's path."""
    ipynb_path = md_path.with_suffix(".ipynb")
    nbformat.write(run_chapter(md_path, EXECUTE_ENV), ipynb_path)
    return ipynb_path


def record_execution(md_path: Path, seconds: float) -> None:
    """Record in ``book/_status.json`` when a chapter was executed, in how long, with which companion.

    The book's execution-status page (tools/book_pages.py) shows this record.
    """
    record_path = BOOK / "_status.json"
    record_path.touch()
    with open(record_path, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # chapters executed at the same time keep each other's records
        record = json.loads(file.read() or "{}")
        record[md_path.relative_to(BOOK).with_suffix("").as_posix()] = {
            "executed": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "seconds": round(seconds, 1),
            "companion": companion_version(),
        }
        file.seek(0)
        file.truncate()
        file.write(json.dumps(dict(sorted(record.items())), indent=1) + "\n")


# ----------------------------------------------------------------------------- seeds


def _seed(text: str) -> int:
    """An integer seed; a chapter path given after --seeds gets told where it belongs."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed; --seeds takes all that follows it, so give chapter paths first"
        ) from None


def _run_with_seed(job: tuple[Path, int]) -> str | None:
    md_path, seed = job
    try:
        run_chapter(md_path, env={**TEST_ENV, "OMP_NUM_THREADS": "1"}, seed=seed)
    except Exception as error:  # noqa: BLE001  (report every failure, then go on)
        lines = str(error).strip().splitlines()
        return f"{_display(md_path)} with seed {seed}: {type(error).__name__}: {lines[-1] if lines else ''}"
    return None


def run_seeds(paths: list[Path], seeds: list[int], workers: int = 2) -> list[str]:
    """Execute every chapter with every seed (outputs not compared); return the failures."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(md_path, seed) for md_path in paths for seed in seeds]
    failures = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for (md_path, seed), failure in zip(jobs, pool.map(_run_with_seed, jobs)):
            print(f"{'FAILED' if failure else 'ok    '} {_display(md_path)} seed {seed}", flush=True)
            if failure:
                failures.append(failure)
    return failures


# ----------------------------------------------------------------------------- check

# Seeds set anywhere but the one seed_everything(0) call would not follow `seeds`.
OTHER_SEEDS = re.compile(r"manual_seed\(|default_rng\(\s*\d|np\.random\.seed\(|random\.seed\(|set_random_seed\(\s*\d")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def check_chapter(md_path: Path) -> list[str]:
    """Problems with one chapter: pairing, execution order, setup cell, metadata."""
    name = _display(md_path)
    ipynb_path = md_path.with_suffix(".ipynb")
    if not ipynb_path.exists():
        return [f"{name}: no executed notebook {ipynb_path.name}; run `make notebook CHAPTER={name}`"]
    source = jupytext.read(md_path)
    executed = nbformat.read(ipynb_path, as_version=4)
    problems = []
    source_cells = [(c.cell_type, c.source, _tags(c)) for c in source.cells]
    executed_cells = [(c.cell_type, c.source, _tags(c)) for c in executed.cells]
    if source_cells != executed_cells:
        problems.append(f"{name}: the notebook's cells differ from the source's; re-execute the chapter")
    code = [c for c in executed.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"{name}: code cells were not all executed in order 1..n (execution counts {counts})")
    if not code or code[0].source != setup_cell_source():
        problems.append(f"{name}: the first code cell is not the current setup cell (see tools/notebooks.py)")
    text = md_path.read_text()
    if text.count(SEED_CALL) != 1:
        problems.append(f"{name}: the chapter must set its seed once, with {SEED_CALL} ({text.count(SEED_CALL)} found)")
    if OTHER_SEEDS.search(text):
        problems.append(
            f"{name}: a seed is set outside {SEED_CALL} ({OTHER_SEEDS.search(text).group(0)}...); "
            "derive other generators with companion.runtime.spawn / numpy_rng"
        )
    if any("execution" in c.metadata for c in executed.cells) or "version" in executed.metadata.get("language_info", {}):
        problems.append(f"{name}: the notebook holds volatile metadata; re-execute the chapter")
    return problems


def check_all() -> list[str]:
    problems = []
    for md_path in chapter_sources():
        problems += check_chapter(md_path)
    for ipynb_path in sorted(BOOK.rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in ipynb_path.parts and not ipynb_path.with_suffix(".md").exists():
            problems.append(f"{_display(ipynb_path)}: a notebook without its Markdown source")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="scaffold a chapter source with its setup cell")
    new.add_argument("path", type=Path)
    new.add_argument("title")
    execute = commands.add_parser("execute", help="execute chapter sources into their notebooks")
    execute.add_argument("paths", nargs="*", type=Path)
    execute.add_argument("--all", action="store_true", help="every chapter of the book")
    seeds = commands.add_parser("seeds", help="execute chapters with other seeds; fail on any exception")
    seeds.add_argument("paths", nargs="*", type=Path, help="chapter sources (default: every chapter)")
    seeds.add_argument("--seeds", nargs="+", type=_seed, default=[1, 2, 3, 4], help="after the paths")
    seeds.add_argument("--workers", type=int, default=2)
    commands.add_parser("check", help="check pairing, execution order and setup cells")
    args = parser.parse_args(argv)

    if args.command == "new":
        new_chapter(args.path.resolve(), args.title)
    elif args.command == "execute":
        paths = chapter_sources() if args.all else [p.resolve() for p in args.paths]
        if not paths:
            parser.error("execute needs chapter paths or --all")
        for md_path in paths:
            if md_path.suffix != ".md" or not md_path.exists():
                parser.error(f"not a chapter source: {md_path}")
            start = time.perf_counter()
            print(f"executed {_display(execute_chapter(md_path))}")
            record_execution(md_path, time.perf_counter() - start)
    elif args.command == "seeds":
        paths = [p.resolve() for p in args.paths] or chapter_sources()
        failures = run_seeds(paths, args.seeds, args.workers)
        print("\n".join(failures) or f"{len(paths)} chapters ran with seeds {args.seeds}: no exception")
        return 1 if failures else 0
    else:
        problems = check_all()
        print("\n".join(problems) or f"{len(chapter_sources())} chapters: sources and notebooks agree")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
