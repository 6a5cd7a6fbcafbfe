"""The grader parses cells from several threads: CPython 3.11's shared AST state must not
cost a submission its grade (gh-106905: "AST constructor recursion depth mismatch")."""

import ast
import threading

import pytest

from autograder.course import notebooks
from autograder.course.notebooks import parse_cell

CELL = "%time x = 1\ndef f(a):\n    return [[a] for _ in range(3)]\n"
MISMATCH = "AST constructor recursion depth mismatch (before=27, after=25)"


def test_parse_cell_parses_what_ipython_runs():
    tree = parse_cell(CELL)
    assert ast.dump(tree) == ast.dump(ast.parse(notebooks.python_source(CELL)))


def test_a_spurious_depth_mismatch_is_parsed_again(monkeypatch):
    real, calls = ast.parse, []

    def flaky(code, *args, **kwargs):
        calls.append(code)
        if len(calls) == 1:
            raise SystemError(MISMATCH)
        return real(code, *args, **kwargs)

    monkeypatch.setattr(notebooks.ast, "parse", flaky)
    assert isinstance(parse_cell(CELL), ast.Module)
    assert len(calls) == 2


def test_other_errors_are_not_hidden(monkeypatch):
    def broken(*args, **kwargs):
        raise SystemError("something else")

    monkeypatch.setattr(notebooks.ast, "parse", broken)
    with pytest.raises(SystemError, match="something else"):
        parse_cell(CELL)
    def mismatch(*args, **kwargs):
        raise SystemError(MISMATCH)

    monkeypatch.setattr(notebooks.ast, "parse", mismatch)
    with pytest.raises(SystemError, match="mismatch"):  # not retried forever
        parse_cell(CELL)
    with pytest.raises(SyntaxError):
        monkeypatch.undo()
        parse_cell("def f(:\n")


def test_threads_parse_one_at_a_time(monkeypatch):
    """No two threads are inside ast.parse at once (the shared state is never shared)."""
    real, inside, most = ast.parse, [0], [0]
    lock = threading.Lock()

    def watched(code, *args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            threading.Event().wait(0.002)  # long enough for the others to arrive
            return real(code, *args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(notebooks.ast, "parse", watched)
    threads = [threading.Thread(target=lambda: [parse_cell(CELL) for _ in range(20)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
