"""Run companion's unit tests against the Python, PyTorch and NumPy versions its users have.

    python tools/version_matrix.py            # every environment (make matrix)
    python tools/version_matrix.py oldest     # those whose name contains "oldest"
    python tools/version_matrix.py --list     # what would run, and with which interpreter

Each environment is a virtual environment under ``.matrix/<name>``, created
fresh on the first run (again with ``--fresh``, or when its interpreter
changes) and kept for later runs, where pip brings it to its requirements. It
holds the package built as a wheel, so what is tested is what ``pip install``
gives a user, not the source tree. The wheel and the tests come from one copy
of the checkout taken when the run starts: edits made meanwhile do not mix in.

- ``oldest``: every floor that ``pyproject.toml`` states, for the dependencies
  and for the ``test`` extra (``torch>=X`` is installed as ``torch==X``), on the
  oldest Python that ``requires-python`` allows;
- ``book``: the versions that ``requirements.txt`` pins (the book's outputs) on Python 3.11;
- ``newest-3.12``, ``newest-3.13``: whatever pip resolves as newest on each run
  (Colab's Python and the one after it), test tools included.

The unit tests are ``tests/`` without the tests of the book (``tests/test_book*.py``,
which need the notebook pipeline), run with the pytest settings of ``pyproject.toml``, whose
``filterwarnings`` turn every warning raised from companion's own code into an
error: a deprecation in a newer PyTorch or NumPy fails here before it breaks.
The versions actually tested are printed at the end (and kept in
``.matrix/last-run.txt``). Multi-GB downloads on the first run; run before a
release, not in every CI run. Exits 1 when any environment is missing or fails.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the tool itself needs 3.11, the environments it makes do not
    raise SystemExit("tools/version_matrix.py needs Python 3.11 or later: make matrix PYTHON=python3.11") from None

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".matrix"
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "requirements.txt"
TESTS = ROOT / "tests"
BOOK_TESTS = "test_book*.py"  # tests of the book, not the package: they need jupytext, nbclient, the chapters
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE", "companion"]  # what building the wheel reads
FRAMEWORKS = ("torch", "numpy")  # the package's dependencies: what the matrix varies
SPEC_FILE = ".matrix-interpreter"  # inside each venv: the interpreter it was created with
SUMMARY = re.compile(r"^=*\s*((\d+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)(, )?)+ in .*?)\s*=*$")


@dataclass(frozen=True)
class Environment:
    name: str  # folder under .matrix/
    python: str  # "3.10"
    requirements: tuple[str, ...]  # pip specifiers: exact versions, or bare names with `newest`
    newest: bool  # ask pip for the newest releases on every run


def floors(requirements: list[str]) -> dict[str, str]:
    """``{"torch": "2.1", ...}`` from requirements of the form ``name>=version``, the only form pyproject.toml uses."""
    found = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*", requirement)
        if match is None:
            raise SystemExit(f"pyproject.toml: requirement {requirement!r} is not of the form 'name>=version'")
        found[match.group(1).lower()] = match.group(2)
    return found


def oldest_python() -> str:
    """``"3.10"`` from ``requires-python = ">=3.10"``."""
    spec = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    match = re.fullmatch(r"\s*>=\s*(3\.\d+)\s*", spec)
    if match is None:
        raise SystemExit(f"pyproject.toml: requires-python {spec!r} is not of the form '>=3.N'")
    return match.group(1)


def pinned(names) -> dict[str, str]:
    """``{"torch": "2.13.0", ...}``: the book's versions of ``names`` from requirements.txt."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match and match.group(1).lower() in names:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def environments() -> list[Environment]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    low = floors(project["dependencies"])
    low_test = floors(project["optional-dependencies"]["test"])
    book = pinned({*low, *low_test})
    missing = [name for name in FRAMEWORKS if name not in low or name not in book]
    if missing:
        raise SystemExit(f"no lower bound in pyproject.toml or no pin in requirements.txt for {missing}")
    oldest = tuple(f"{name}=={version}" for name, version in {**low, **low_test}.items())
    return [
        Environment("oldest", oldest_python(), oldest, newest=False),
        Environment("book", "3.11", tuple(f"{name}=={version}" for name, version in book.items()), newest=False),
        Environment("newest-3.12", "3.12", FRAMEWORKS, newest=True),
        Environment("newest-3.13", "3.13", FRAMEWORKS, newest=True),
    ]


def find_python(version: str) -> tuple[str | None, str]:
    """An interpreter for ``version`` ("3.12"), and where it was looked for.

    Order: ``$MATRIX_PYTHON_3_12``, ``$PYENV_ROOT/versions/3.12.*`` (newest first), ``python3.12`` on PATH.
    """
    variable = "MATRIX_PYTHON_" + version.replace(".", "_")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    looked = f"${variable}, {pyenv}/{version}.*/bin/python, python{version} on PATH"
    candidates = [os.environ.get(variable)]
    candidates += sorted(glob.glob(str(pyenv / f"{version}.*" / "bin" / "python")), reverse=True)
    candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == version:
                return candidate, looked
    return None, looked


def run(command: list[str], log, cwd: Path | None = None) -> int:
    """Run ``command``, appending its output to ``log``; the exit status."""
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd).returncode


def snapshot(folder: Path) -> Path:
    """Copy the package's sources and the unit tests into ``folder``; build the wheel there; return it.

    ``folder/source`` holds what the wheel is built from, ``folder/tests`` the unit
    tests (without the book's) and ``folder/pyproject.toml`` their pytest settings.
    """
    source = folder / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, source / name)
    shutil.copytree(TESTS, folder / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", BOOK_TESTS))
    shutil.copy2(PYPROJECT, folder / "pyproject.toml")
    wheels = folder / "wheel"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(source)],
                            capture_output=True, text=True)
    built = list(wheels.glob("*.whl"))
    if result.returncode != 0 or len(built) != 1:
        raise SystemExit(f"building the wheel failed:\n{result.stdout}{result.stderr}")
    return built[0]


def prepare(env: Environment, interpreter: str, wheel: Path, fresh: bool, log) -> str | None:
    """Create or update ``.matrix/<name>`` with the requirements and the wheel; None, or what went wrong."""
    venv = MATRIX / env.name
    python = venv / "bin" / "python"
    spec = str(Path(interpreter).resolve()) + "\n"
    spec_path = venv / SPEC_FILE
    if fresh or not (python.exists() and spec_path.exists() and spec_path.read_text() == spec):
        shutil.rmtree(venv, ignore_errors=True)
        if run([interpreter, "-m", "venv", str(venv)], log) != 0:
            return "could not create the virtual environment"
    install = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    upgrade = ["--upgrade", "--upgrade-strategy", "eager"] if env.newest else []
    if run([*install, *upgrade, f"{wheel}[test]", *env.requirements], log) != 0:
        return "pip could not install the requirements (see the log)"
    if run([*install, "--no-deps", "--force-reinstall", str(wheel)], log) != 0:  # this checkout's code
        return "pip could not install the wheel (see the log)"
    spec_path.write_text(spec)
    return None


def versions(python: Path) -> str:
    code = ("import platform, numpy, torch, pytest, hypothesis, sklearn; "
            "print(f'Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, "
            "pytest {pytest.__version__}, hypothesis {hypothesis.__version__}, scikit-learn {sklearn.__version__}')")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip() or "?"


def test(env: Environment, folder: Path, log) -> tuple[bool, str, list[str]]:
    """Run the copied unit tests with the venv's interpreter; (passed, pytest's summary line, failed tests)."""
    python = MATRIX / env.name / "bin" / "python"
    # pyproject.toml's settings (its filterwarnings above all) without its addopts, which add nbval;
    # run in the copy's folder, which holds no `companion/`, so the import finds the installed wheel
    command = [str(python), "-m", "pytest", "-q", "-c", "pyproject.toml", "-o", "addopts=", "-p", "no:cacheprovider", "tests"]
    status = run(command, log, cwd=folder)
    lines = (MATRIX / f"{env.name}.log").read_text().splitlines()
    summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY.match(line.strip()))), "no summary")
    failed = [line.split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return status == 0, summary, failed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only environments whose name contains one of these")
    parser.add_argument("--list", action="store_true", help="list the environments and interpreters, run nothing")
    parser.add_argument("--fresh", action="store_true", help="delete and recreate the virtual environments")
    args = parser.parse_args(argv)

    chosen = [e for e in environments() if not args.names or any(n in e.name for n in args.names)]
    if not chosen:
        raise SystemExit(f"no environment matches {args.names}")
    if args.list:
        for env in chosen:
            interpreter, looked = find_python(env.python)
            print(f"{env.name:12} Python {env.python} ({interpreter or 'MISSING: looked for ' + looked}): "
                  f"{' '.join(env.requirements)}{' (newest)' if env.newest else ''}")
        return 0

    MATRIX.mkdir(exist_ok=True)
    results = []
    start = time.monotonic()
    interpreters = {env.name: find_python(env.python) for env in chosen}
    with tempfile.TemporaryDirectory(prefix="matrix-") as folder:
        wheel = snapshot(Path(folder)) if any(found for found, _ in interpreters.values()) else None
        for env in chosen:
            began = time.monotonic()
            interpreter, looked = interpreters[env.name]
            if interpreter is None:
                results.append((env.name, "MISSING", f"no Python {env.python} interpreter; looked for {looked}"))
                print(f"{env.name}: MISSING Python {env.python} (looked for {looked})", flush=True)
                continue
            print(f"{env.name}: preparing .matrix/{env.name} with {interpreter} ...", flush=True)
            with open(MATRIX / f"{env.name}.log", "w") as log:
                problem = prepare(env, interpreter, wheel, args.fresh, log)
                if problem is None:
                    tested = versions(MATRIX / env.name / "bin" / "python")
                    print(f"{env.name}: {tested}: running the unit tests ...", flush=True)
                    passed, summary, failed = test(env, Path(folder), log)
                    for line in failed[:20]:
                        print(f"{env.name}:   {line}", flush=True)
            seconds = time.monotonic() - began
            if problem is not None:
                results.append((env.name, "BROKEN", f"{problem}; log: .matrix/{env.name}.log ({seconds:.0f} s)"))
            else:
                results.append((env.name, "PASS" if passed else "FAIL", f"{tested}: {summary} ({seconds:.0f} s)"))
            print(f"{env.name}: {results[-1][1]} {results[-1][2]}", flush=True)

    report = [f"{name:12} {status:7} {detail}" for name, status, detail in results]
    report.append(f"total {time.monotonic() - start:.0f} s; logs in .matrix/<name>.log")
    (MATRIX / "last-run.txt").write_text("\n".join(report) + "\n")
    print("\n" + "\n".join(report))
    return 0 if all(status == "PASS" for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
