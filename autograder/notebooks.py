"""Reading submitted notebooks: which cells to run, and the source rules.

The submission's JSON is read as plain data: nothing in it is executed here.
"""

import ast
import json
from pathlib import Path

from autograder.assignment import cell_source, nbgrader_cells
from autograder.errors import SubmissionError

MAX_NOTEBOOK_BYTES = 20 * 1024**2


def read_notebook(path):
    """Parse a notebook file, or raise SubmissionError saying what is wrong with it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError("corrupt", f"{path.name} is {size / 1024**2:.0f} MB, over "
                                  f"the {MAX_NOTEBOOK_BYTES // 1024**2} MB limit")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError("corrupt", f"{path.name} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise SubmissionError("corrupt", f"cannot read {path.name}: {exc.strerror}") from exc
    if not text.strip():
        raise SubmissionError("corrupt", f"{path.name} is empty")
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise SubmissionError("corrupt", f"{path.name} is not valid notebook JSON ({exc})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError("corrupt", f"{path.name} has no list of cells: not a notebook")
    return nb


def grade_ids(nb):
    return {meta.get("grade_id") for _, meta in nbgrader_cells(nb)} - {None}


def code_to_run(nb, test_sources):
    """Sources of the code cells to execute: every code cell except the test cells.

    Test cells are recognised by their nbgrader metadata or by their text; they are not
    needed, because the trusted probes replace them.
    """
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        is_test = isinstance(meta, dict) and meta.get("grade") and not meta.get("solution")
        source = cell_source(cell)
        if is_test or source.strip() in test_sources:
            continue
        cells.append(source)
    return cells


def _forbidden(module, forbidden):
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def check_source_rules(cells, functions, forbidden):
    """Problems with how the graded ``functions`` are defined, by name.

    Each graded function must be defined with ``def`` at the top level of a cell, that
    definition must be the name's last binding (not replaced later by an import or an
    assignment), and the defining cell must not use anything imported from a forbidden
    module (a wrapper around the course library's answer is not an answer). This catches
    honest mistakes; a submission cannot dodge it by obfuscation either, because the
    sandbox does not contain the forbidden modules at all.

    Returns {function name: message} for the functions that break a rule.
    """
    last_binding, tainted, trees = {}, set(), []
    for index, source in enumerate(cells):
        try:
            tree = ast.parse(_strip_magics(source))
        except SyntaxError:
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
            problems[name] = (f"{name} is replaced by an {kind} in cell {index + 1} after "
                              f"its `def`; the grader needs your own definition")
        elif leaks := sorted(_names_used(trees[index]) & tainted):
            problems[name] = (f"{name} uses {', '.join(leaks)} from a module this problem "
                              f"set does not allow")
    return problems


def _top_level_bindings(tree):
    """(kind, name) for names bound at module level, in order: def, import, assignment."""
    for node in _module_level_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield "def" if not isinstance(node, ast.ClassDef) else "assignment", node.name
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                yield "import", alias.asname or alias.name.split(".")[0]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield "assignment", node.id


def _module_level_nodes(tree):
    """Walk the module in source order without entering function or class bodies."""
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _strip_magics(source):
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _names_from_forbidden(tree, forbidden):
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


def _names_used(tree):
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def match_renamed(candidates, source_ids):
    """Among several notebooks, the one whose nbgrader cells best match the assignment.

    Returns (path, notebook) or raises SubmissionError when none looks like it.
    """
    best, best_score, errors = None, 0, []
    for path in sorted(candidates):
        try:
            nb = read_notebook(path)
        except SubmissionError as exc:
            errors.append(exc)
            continue
        score = len(grade_ids(nb) & source_ids)
        if score > best_score:
            best, best_score = (path, nb), score
    if best is None:
        if errors:
            raise errors[0]
        names = ", ".join(p.name for p in candidates) or "none"
        raise SubmissionError("no-notebook", f"no notebook of this assignment found "
                              f"(files: {names})")
    return best
