"""Reading submitted notebooks: which cells to run, and the source rules.

The submission's JSON is read as plain data: nothing in it is executed here.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.course.assignment import cell_source, nbgrader_cells
from autograder.errors import SubmissionError
from autograder.run.in_sandbox import strip_magics
from autograder.status import Status

MAX_NOTEBOOK_BYTES = 20 * 1024**2


def read_notebook(path: Path | str) -> dict[str, Any]:
    """Parse a notebook file into clean data, or raise SubmissionError saying what is wrong.

    Whatever the file holds, what comes back has the shape the rest of the grader relies
    on (see :func:`clean_notebook`), so one odd notebook costs only its own student.
    """
    return parse_notebook(read_notebook_bytes(path), Path(path).name)


def read_notebook_bytes(path: Path | str) -> bytes:
    """A notebook file's bytes, or SubmissionError (too large, unreadable)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(Status.CORRUPT, f"{path.name} is {size / 1024**2:.0f} MB, over "
                                  f"the {MAX_NOTEBOOK_BYTES // 1024**2} MB limit")
        return path.read_bytes()
    except OSError as exc:
        raise SubmissionError(Status.CORRUPT, f"cannot read {path.name}: {exc.strerror}") from exc


def parse_notebook(data: bytes, name: str) -> dict[str, Any]:
    """Clean notebook data from a file's bytes (``name``: the file's name, for messages),
    or SubmissionError."""
    try:
        # utf-8-sig: a byte-order mark (some Windows editors write one) is not an error
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(Status.CORRUPT, f"{name} is not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise SubmissionError(Status.CORRUPT, f"{name} is empty")
    try:
        nb = json.loads(text)
    except RecursionError as exc:
        raise SubmissionError(Status.CORRUPT, f"{name} is nested too deeply to be a "
                              "notebook") from exc
    except ValueError as exc:
        raise SubmissionError(Status.CORRUPT, f"{name} is not valid notebook JSON ({exc})") from exc
    if isinstance(nb, dict) and "cells" not in nb and isinstance(nb.get("worksheets"), list):
        raise SubmissionError(Status.CORRUPT, f"{name} is in the old nbformat 3: open it in "
                              "Jupyter and save it again (format 4)")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(Status.CORRUPT, f"{name} has no list of cells: not a notebook")
    return clean_notebook(nb)


def clean_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of notebook JSON in the shape the grader relies on, whatever it held:

    * every cell is a dict (anything else in the list of cells is dropped);
    * ``cell_type`` is a string (else the cell counts as ``raw``: never run);
    * ``source`` is a string or a list of strings (list items that are not strings are
      left out; a source that is neither is empty), with no lone surrogates, so it can be
      written to a UTF-8 page;
    * ``metadata`` is a dict; its ``nbgrader`` entry is a dict or absent, and its
      ``grade_id`` a string or absent.

    Other keys (outputs, ids, attachments) are kept as they are: nothing reads them.
    """
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        cell = dict(cell)
        if not isinstance(cell.get("cell_type"), str):
            cell["cell_type"] = "raw"
        source = cell.get("source", "")
        if isinstance(source, list):
            cell["source"] = [_text(x) for x in source if isinstance(x, str)]
        else:
            cell["source"] = _text(source) if isinstance(source, str) else ""
        metadata = cell.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        grader = metadata.get("nbgrader")
        if isinstance(grader, dict):
            grader = dict(grader)
            if not isinstance(grader.get("grade_id"), str):
                grader.pop("grade_id", None)
            metadata["nbgrader"] = grader
        else:
            metadata.pop("nbgrader", None)
        cell["metadata"] = metadata
        cells.append(cell)
    return {**nb, "cells": cells}


def _text(s: str) -> str:
    """``s`` without lone surrogates (JSON may encode them; UTF-8 files cannot hold them)."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


def grade_ids(nb: dict[str, Any]) -> set[str]:
    return {meta.get("grade_id") for _, meta in nbgrader_cells(nb)} - {None}


@dataclass(frozen=True)
class CodeCell:
    """A code cell to run, and how Jupyter shows it to the student."""

    source: str
    number: int  # its place among all code cells, from 1: the [20] of Restart & Run All
    heading: str = ""  # the last Markdown heading above it

    @property
    def label(self) -> str:
        """'cell [20] (under "4.3 Check your affine layer")'."""
        under = f' (under "{self.heading}")' if self.heading else ""
        return f"cell [{self.number}]{under}"


_NBGRADER_MARKERS = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)|YOUR ANSWER HERE")


def _last_heading(markdown: str, current: str) -> str:
    """The last Markdown heading (``# ...``) in a cell's text, outside code fences."""
    fenced = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6}\s", stripped):
            title = stripped.lstrip("#").strip()
            if title and not _NBGRADER_MARKERS.search(title):
                current = title[:80]
    return current


def code_to_run(nb: dict[str, Any], test_sources: Collection[str]) -> list[CodeCell]:
    """The code cells to execute, as :class:`CodeCell`: every code cell except the test
    cells, each numbered as Jupyter numbers it (counting the test cells too).

    Test cells are recognised by their nbgrader metadata or by their text; they are not
    needed, because the trusted probes replace them.
    """
    cells, number, heading = [], 0, ""
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") == "markdown":
            heading = _last_heading(cell_source(cell), heading)
            continue
        if cell.get("cell_type") != "code":
            continue
        number += 1
        meta = cell.get("metadata", {}).get("nbgrader", {})
        is_test = isinstance(meta, dict) and meta.get("grade") and not meta.get("solution")
        source = cell_source(cell)
        if is_test or source.strip() in test_sources:
            continue
        cells.append(CodeCell(source, number, heading))
    return cells


# Cell magics whose body is Python run in the notebook's namespace (a ``def`` there
# defines the function); other cell magics (%%bash, %%writefile, %%timeit, ...) hold no
# top-level Python.
PYTHON_CELL_MAGICS = {"time", "capture", "prun"}


# CPython 3.11 keeps the depth counter with which ast.parse converts its tree into Python
# objects in state that all threads share, so a conversion interrupted by another thread's
# parse can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
# gh-106905; it cost an honest solution its grade once in this project's CI, where the
# grader's worker threads parse submissions side by side). The grader's threads therefore
# parse one at a time, and a parse that still meets that error is repeated.
_PARSE_LOCK = threading.Lock()
_PARSE_ATTEMPTS = 3


def parse_cell(source: str) -> ast.Module:
    """The AST of a cell's Python (:func:`python_source`), safe to call from threads.

    Raises what ``ast.parse`` raises for source that does not parse (SyntaxError,
    ValueError, RecursionError, MemoryError)."""
    code = python_source(source)
    for attempt in range(1, _PARSE_ATTEMPTS + 1):
        try:
            with _PARSE_LOCK:
                return ast.parse(code)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == _PARSE_ATTEMPTS:
                raise


def python_source(source: str) -> str:
    """A cell's source as the Python IPython runs: magics, ``x = !cmd`` and ``obj?``
    become calls of ``get_ipython()``, as in a Jupyter kernel; the body of a
    ``%%time`` cell is its Python. Without IPython, magic lines are commented out."""
    first, _, body = source.lstrip().partition("\n")
    if first.startswith("%%"):
        name = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        return python_source(body) if name in PYTHON_CELL_MAGICS else ""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - no IPython, or input it cannot transform
        return strip_magics(source)


def _forbidden(module: str, forbidden: Iterable[str]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def check_source_rules(cells: Sequence[CodeCell], functions: Iterable[str],
                       forbidden: Collection[str]) -> dict[str, str]:
    """Problems with how the graded ``functions`` are defined in ``cells`` (the
    :class:`CodeCell` list that runs), by name. Cells are read as IPython runs them
    (see :func:`python_source`).

    Each graded function must be defined with ``def`` at the top level of a cell, that
    definition must be the name's last binding (not replaced later by an import or an
    assignment), and the defining cell must not use anything imported from a forbidden
    module (a wrapper around the course library's answer is not an answer). This catches
    honest mistakes; a submission cannot dodge it by obfuscation either, because the
    sandbox does not contain the forbidden modules at all.

    Returns {function name: message} for the functions that break a rule.
    """
    last_binding, tainted, trees = {}, set(), []
    for index, cell in enumerate(cells):
        try:
            tree = parse_cell(cell.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            # does not parse (or nests deeper than the parser goes): it defines nothing
            trees.append(None)
            continue
        trees.append(tree)
        tainted |= _names_from_forbidden(tree, forbidden)
        for kind, name in _top_level_bindings(tree):
            last_binding[name] = (kind, index)
    problems = {}
    for name in functions:
        kind, index = last_binding.get(name, (None, None))
        if kind is None:
            problems[name] = f"{name} is not defined with `def` in your notebook"
        elif name in tainted and kind == "import":
            problems[name] = f"{name} is imported from the course library, not written by you"
        elif kind != "def":
            problems[name] = (f"{name} is replaced by an {kind} in {cells[index].label} "
                              f"after its `def`; the grader needs your own definition")
        elif leaks := sorted(_names_used(trees[index]) & tainted):
            problems[name] = (f"{name} uses {', '.join(leaks)} from a module this problem "
                              f"set does not allow")
    return problems


def _top_level_bindings(tree: ast.Module) -> Iterator[tuple[str, str]]:
    """(kind, name) for names bound at module level, in order: def, import, assignment."""
    for node in _module_level_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield "def" if not isinstance(node, ast.ClassDef) else "assignment", node.name
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                yield "import", alias.asname or alias.name.split(".")[0]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield "assignment", node.id


def _module_level_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Walk the module in source order without entering function or class bodies."""
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _names_from_forbidden(tree: ast.AST, forbidden: Collection[str]) -> set[str]:
    """Names a cell binds from forbidden modules (``import m as x``, ``from m import f``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name, forbidden):
                    names.add(alias.asname or alias.name.split(".")[0])
                elif any(f.startswith(alias.name + ".") for f in forbidden):
                    # `import dlcourse` gives access to dlcourse.layers: taint the root name
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if _forbidden(node.module, forbidden) or _forbidden(full, forbidden):
                    names.add(alias.asname or alias.name)
    return names


def _names_used(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
