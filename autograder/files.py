"""Writing the course folder's files so that nothing is ever half-written.

Every file the grader writes (saved results, the reference, grades.csv, feedback pages,
the report, the class record) goes through :func:`write_atomically`: the data is written
to a temporary file beside the target, flushed to disk and renamed over it, so a reader
(or a run killed mid-write) sees the old file or the new one, never a part.

CSV files also go through :func:`safe_cell`: text that a spreadsheet would evaluate as a
formula (OWASP's rule: a cell starting with ``= + - @``, a tab or a carriage return) gets a
leading ``'``; :func:`read_cell` undoes that for the CSVs the grader reads back.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_atomically(path: str | os.PathLike, data: bytes | str,
                     mode: int | None = None) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file and a rename.
    ``mode``: the file's permissions (default: readable by its owner alone, as the course
    folder's grades and results should be; a page others must read passes 0o644)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    # no suffix: a half-written ".tmp-..." file never matches a glob for "*.json" or "*.html"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Temporary files left in ``folder`` by a run that was killed mid-write."""
    for tmp in Path(folder).glob(".tmp-*"):
        tmp.unlink(missing_ok=True)


def safe_cell(value: object) -> object:
    """A CSV cell no spreadsheet evaluates: text starting like a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def read_cell(value: str) -> str:
    """The text :func:`safe_cell` was given (for CSVs we wrote and read back)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def write_csv(path: str | os.PathLike, columns: list[str],
              rows: Iterable[Mapping[str, object]]) -> Path:
    """Write a whole CSV atomically; every cell, the header too, goes through safe_cell."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(c, "")) for c in columns])
    return write_atomically(path, text.getvalue())
