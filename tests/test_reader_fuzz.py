"""Fuzzing every place the grader parses a submission: whatever a notebook file holds,
each reader returns data of the shapes it promises or raises SubmissionError (which costs
that student only), never anything else.

hypothesis is not installed in this environment, so a seeded random mutator makes the
inputs: JSON-level edits (values of the wrong type, deleted keys, duplicated, shuffled or
dropped cells, deep nesting, lone surrogates, NUL characters, huge strings) and byte-level
edits (truncation, flipped bytes, invalid UTF-8, a byte-order mark), one to five at a time,
on the fixture notebooks. The seed is fixed, so a failure is reproducible; its message
names the mutation list.
"""

import contextlib
import json
import random
from pathlib import Path

import pytest
from grading_helpers import FIXTURES

from autograder import review
from autograder.course import answers as answers_of
from autograder.course import assignment as assignments
from autograder.course import matching
from autograder.course.notebooks import check_source_rules, code_to_run, grade_ids, read_notebook
from autograder.errors import SubmissionError
from autograder.intake.late import submission_time
from autograder.intake.records import RecordMaker
from autograder.intake.sources import Submission
from autograder.publish import report
from autograder.run.grading import Reference, SubmissionResult, grade_notebook
from autograder.run.sandbox import Limits, RunResult

SEED = 20261213
MUTANTS = 400
A = assignments.load("fx01", FIXTURES / "course" / "solutions")
RECORDS = RecordMaker(A)
BASES = [FIXTURES / "submitted" / sid / "fx01_tiny" / "fx01_tiny.ipynb"
         for sid in ("perfect", "blank", "wrong_gradient")]

WEIRD = [None, True, False, 0, -1, 2**70, 1.5e308, "", "x" * 100_000, "\ud800", "\x00",
         "\u202e\x1b[2J", [], {}, [None], [1, "a", None], {"a": [1, {"b": None}]},
         ["def relu_forward(x):\n", 3, "    return x, x\n"], "YOUR ANSWER HERE",
         {"nbgrader": "x"}, {"nbgrader": {"grade_id": ["relu-forward"]}},
         {"nbgrader": {"grade_id": "relu-forward", "grade": True, "solution": "yes"}}]


def _nodes(tree, path=()):
    """(path, container) of every dict and list in a JSON tree."""
    if isinstance(tree, dict | list):
        yield path, tree
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            yield from _nodes(value, (*path, key))


def mutate_json(tree, rng, log):
    nodes = list(_nodes(tree))
    path, node = rng.choice(nodes)
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    op = rng.choice(["replace", "delete", "duplicate", "shuffle", "retype", "cells"])
    if op == "cells" and isinstance(tree, dict) and isinstance(tree.get("cells"), list):
        cells = tree["cells"]
        how = rng.choice(["drop", "copy", "reverse", "insert"])
        if how == "drop" and cells:
            cells.pop(rng.randrange(len(cells)))
        elif how == "copy" and cells:
            cells.insert(rng.randrange(len(cells) + 1), json.loads(json.dumps(
                rng.choice(cells))))
        elif how == "reverse":
            cells.reverse()
        else:
            cells.insert(rng.randrange(len(cells) + 1), rng.choice(WEIRD))
        log.append(f"cells:{how}")
        return tree
    if not keys:
        log.append(f"fill {path}")
        if isinstance(node, dict):
            node["source"] = rng.choice(WEIRD)
        else:
            node.append(rng.choice(WEIRD))
        return tree
    key = rng.choice(keys)
    log.append(f"{op} {(*path, key)}")
    if op == "replace":
        node[key] = rng.choice(WEIRD)
    elif op == "delete":
        del node[key]
    elif op == "duplicate" and isinstance(node, list):
        node.insert(key, json.loads(json.dumps(node[key])))
    elif op == "shuffle" and isinstance(node, list):
        rng.shuffle(node)
    elif op == "retype":
        value = node[key]
        node[key] = (list(value.values()) if isinstance(value, dict) else
                     {str(i): v for i, v in enumerate(value)} if isinstance(value, list)
                     else [value])
    return tree


def mutate_bytes(data, rng, log):
    op = rng.choice(["truncate", "flip", "invalid-utf8", "bom", "nul", "deep"])
    log.append(op)
    if op == "truncate":
        return data[: rng.randrange(len(data) + 1)]
    if op == "flip":
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if op == "invalid-utf8":
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]) + data[at:]
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "nul":
        return data.replace(b'"source": [', b'"source": ["\\u0000", ', 1)
    depth = rng.choice([900, 5_000, 50_000])  # a valid document, nested deeper than parsers go
    return data.replace(b'"metadata": ', b'"deep": ' + b"[" * depth + b"]" * depth +
                        b', "metadata": ', 1)


def mutant(rng):
    base = rng.choice(BASES)
    log = [base.parent.parent.name]
    tree = json.loads(base.read_text())
    for _ in range(rng.randint(1, 5)):
        tree = mutate_json(tree, rng, log)
    data = json.dumps(tree).encode()
    if rng.random() < 0.3:
        data = mutate_bytes(data, rng, log)
    return data, log


def fake_run(cells, parts, inputs, probes_file, limits, packages=(), sandboxed=True, slot=0,
             numbers=None):
    """Stands in for the sandbox: the readers are under test here, not the runner (the
    batch test in test_messy_input.py runs real sandboxes)."""
    assert all(isinstance(c, str) for c in cells)
    assert numbers is None or len(numbers) == len(cells)
    return RunResult(outputs={}, log=[{"event": "done"}], exit_status="ok", cpu_seconds=0.0,
                     wall_seconds=0.0, output="", sandbox="bubblewrap (fake)")


def check_readers(path, data):
    """Every reader of a submission on one file: only SubmissionError may escape."""
    try:
        nb = read_notebook(path)
    except SubmissionError:
        nb = None
    if nb is not None:
        assert all(isinstance(c, dict) and isinstance(c["cell_type"], str)
                   and isinstance(c["metadata"], dict) for c in nb["cells"])
        assert all(isinstance(g, str) for g in grade_ids(nb))
        cells = code_to_run(nb, A.test_sources)
        assert all(isinstance(c.source, str) and isinstance(c.number, int)
                   and isinstance(c.heading, str) for c in cells)
        problems = check_source_rules(cells, ["relu_forward", "relu_backward"],
                                      A.forbidden_modules)
        assert all(isinstance(m, str) for m in problems.values())
        assert isinstance(matching.belongs(nb, A), int)
        assert all(isinstance(x, str) for x in matching.own_lines(nb, A))
        answers = matching.manual_answers(nb, A)
        assert all(isinstance(t, str) for t in answers.values())
        for text in answers.values():
            text.encode("utf-8")  # writable to review.csv and review.html
    assert isinstance(answers_of.answer_code(nb, answers_of.scaffold_lines(A.notebook)), str)
    assert answers_of.unanswered(nb, A) <= set(A.manual)
    review._answers(path, A)
    report.normalised_tokens(data.decode("utf-8", "replace"))
    submission_time(path)
    # the student's folder holds the mutant and the stub: choosing must not crash either
    with contextlib.suppress(SubmissionError):
        matching.pick(Submission("s", [path, BASES[1]], "fx01_tiny.ipynb"), A)
    # the intake's record of such a folder: never raises, whatever the file holds
    record = RECORDS.record("s", Submission("s", [path, BASES[1]], "fx01_tiny.ipynb"))
    assert record.submitted and (record.gradable or record.status)


def test_every_reader_survives_every_mutant(tmp_path, monkeypatch):
    import autograder.run.grading

    monkeypatch.setattr(autograder.run.grading, "run_job", fake_run)
    reference = Reference(outputs={}, limits=Limits(), cpu_cells=0, cpu_parts={})
    rng = random.Random(SEED)
    statuses = {}
    for i in range(MUTANTS):
        data, log = mutant(rng)
        path = tmp_path / f"m{i}" / "fx01_tiny.ipynb"
        path.parent.mkdir()
        path.write_bytes(data)
        try:
            check_readers(path, data)
            result = grade_notebook("s", path, A, reference, {})
        except Exception as exc:
            pytest.fail(f"mutant {i} ({'; '.join(log)}): {type(exc).__name__}: {exc}")
        assert isinstance(result, SubmissionResult) and len(result.parts) == len(A.parts)
        assert result.status != "grader-error", (i, log, result.notes)
        statuses[result.status] = statuses.get(result.status, 0) + 1
    # the mutator reaches both sides: files that parse and files that do not
    assert statuses.get("corrupt", 0) > 20 and sum(statuses.values()) - \
        statuses.get("corrupt", 0) > 100, statuses


def test_what_the_grader_reads_is_what_jupyter_would_run():
    """Cleaning keeps a valid notebook's code exactly: the perfect fixture's cells."""
    nb = read_notebook(BASES[0])
    raw = json.loads(Path(BASES[0]).read_text())
    assert [c.source for c in code_to_run(nb, A.test_sources)] == [
        "".join(c["source"]) for c in raw["cells"] if c["cell_type"] == "code"
        and "".join(c["source"]).strip() not in A.test_sources]
