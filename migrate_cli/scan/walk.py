"""Walk a tree, read each source file once, and hand it to the parser for its language.

Folders that hold other people's code or build output (``node_modules``, virtualenvs, ``.git``...) are skipped.
A file that never mentions OpenAI or one of the wrappers is not parsed at all: a substring test costs far less
than a parse, and a call site always names its library somewhere in the file. Unreadable paths become
:class:`Problem` rows; nothing here raises for a bad file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from migrate_cli.scan import javascript, python
from migrate_cli.scan.model import CallSite, ClientSite, FileFindings, Problem

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        "dist",
        "build",
        ".next",
        ".turbo",
        "coverage",
    }
)
PYTHON_EXTENSIONS = frozenset({".py", ".pyi"})
# Any of these (lower-cased) in a file makes it worth parsing.
MARKERS = (b"openai", b"litellm", b"instructor")


@dataclass
class ScanResult:
    root: str
    files_scanned: int = 0
    files_parsed: int = 0
    calls: list[CallSite] = field(default_factory=list)
    clients: list[ClientSite] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def add(self, found: FileFindings) -> None:
        self.calls.extend(found.calls)
        self.clients.extend(found.clients)
        self.problems.extend(found.problems)


def scan_tree(root: Path) -> ScanResult:
    """Every OpenAI call site under ``root`` (a folder or one file), paths shown relative to it."""
    result = ScanResult(str(root))
    if not root.exists():
        result.problems.append(Problem(str(root), "no such file or folder"))
        return result
    base = root if root.is_dir() else root.parent
    for path in _source_files(root, result):
        result.files_scanned += 1
        result.add(scan_file(path, path.relative_to(base).as_posix(), result))
    result.calls.sort(key=lambda c: (c.file, c.line))
    result.clients.sort(key=lambda c: (c.file, c.line))
    return result


def _source_files(root: Path, result: ScanResult) -> Iterator[Path]:
    if root.is_file():
        yield root
        return

    def report(error: OSError) -> None:
        result.problems.append(Problem(str(error.filename), f"cannot read: {error.strerror}"))

    for folder, dirs, files in os.walk(root, onerror=report):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            suffix = os.path.splitext(name)[1]
            if suffix in PYTHON_EXTENSIONS or suffix in javascript.EXTENSIONS:
                yield Path(folder, name)


def scan_file(path: Path, shown: str, result: ScanResult) -> FileFindings:
    """One file's findings; a file that cannot be read or decoded is a problem row."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileFindings(problems=[Problem(shown, f"cannot read: {exc.strerror or exc}")])
    lowered = data.lower()
    if not any(marker in lowered for marker in MARKERS):
        return FileFindings()
    result.files_parsed += 1
    suffix = path.suffix
    if suffix in PYTHON_EXTENSIONS:
        return python.scan_source(data, shown)  # bytes: ast honours a PEP 263 coding line
    return javascript.scan_source(data, shown, javascript.EXTENSIONS[suffix])
