"""The grader as five stages: no import cycles, each submission read once at intake,
publishing on its own (no submission read, no sandbox started), a fingerprint that a
cosmetic change leaves alone."""

import ast
import shutil
from pathlib import Path

import pytest
from grading_helpers import (
    FIXTURES,
    leave_derivation_unanswered,
    read_csv,
    run_cli,
    write_review_sheet,
)

import autograder
from autograder.course import assignment as assignments
from autograder.intake import read_input, records
from autograder.record.results import checks_fingerprint
from autograder.run.grading import library_packages

PACKAGE = Path(autograder.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree):
    """Every node of a module except the bodies of ``if TYPE_CHECKING:`` (imports for
    annotations only, which never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in (
                    "TYPE_CHECKING", "typing.TYPE_CHECKING"):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def import_graph():
    """{module: {autograder modules it imports when it runs, anywhere in its code}}; a
    ``from package import module`` runs the package's __init__ too."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def test_no_module_of_the_grader_imports_itself_back():
    graph = import_graph()
    assert len(graph) > 30
    state = {}

    def visit(module, path):
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycle = path[path.index(other):] + [other]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other, [*path, other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # the stages run one way: intake never reaches the run or publish stages
    assert not {m for m in graph["autograder.intake"] | graph["autograder.intake.records"]
                if m.startswith(("autograder.run", "autograder.publish"))}


def test_intake_reads_each_notebook_once(monkeypatch):
    a = assignments.load("fx01", FIXTURES / "course" / "solutions")
    reads = []
    original = records.read_notebook_bytes
    monkeypatch.setattr(records, "read_notebook_bytes",
                        lambda path: reads.append(Path(path)) or original(path))
    intake = read_input(a, FIXTURES / "submitted", FIXTURES / "roster.csv")
    notebooks = sorted(FIXTURES.glob("submitted/*/fx01_tiny/*.ipynb"))
    assert len(notebooks) >= 10
    assert sorted(reads) == notebooks  # every candidate once, none twice
    perfect = intake.records["perfect"]
    assert perfect.gradable and perfect.notebook.name == "fx01_tiny.ipynb"
    assert len(perfect.digest) == 64 and perfect.answer_code
    assert not intake.records["absent"].submitted  # on the roster, nothing handed in


def _graded_class(tmp_path, students=("perfect", "wrong_gradient", "partly_right")):
    submitted = tmp_path / "submitted"
    for sid in students:
        folder = submitted / sid / "fx01_tiny"
        shutil.copytree(FIXTURES / "submitted" / sid / "fx01_tiny", folder)
        leave_derivation_unanswered(folder / "fx01_tiny.ipynb")
        (folder / "timestamp.txt").write_text("2026-11-22 10:00:00.000000 UTC\n")
    course = tmp_path / "course"
    done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                   "--course-dir", course, "--quiet")
    assert done.returncode == 0, done.stderr
    return submitted, course


def test_publish_applies_an_edited_late_policy_without_the_submissions(tmp_path):
    submitted, course = _graded_class(tmp_path)
    before = {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}
    # by hand: perfect 6, wrong_gradient 3, partly_right 5 (see test_late.py); on time
    assert [before[s]["total"] for s in ("perfect", "wrong_gradient", "partly_right")] == \
        ["6", "3", "5"]
    # the submissions are gone, and no sandbox can start: publishing needs neither
    shutil.rmtree(submitted)
    (course / "fx01_tiny/late.toml").write_text(
        'due = 2026-11-20T23:59:00+00:00\npolicy = "percent_per_day"\npercent = 10\n')
    done = run_cli("publish", "fx01", "--course-root", FIXTURES / "course",
                   "--course-dir", course)
    assert done.returncode == 0, done.stderr
    assert "no submission was run" in done.stdout
    rows = {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}
    # submitted 2026-11-22 10:00, due 11-20 23:59: 2 started days, 20% of the points
    assert [rows[s]["late_penalty"] for s in ("perfect", "wrong_gradient", "partly_right")] \
        == ["1.2", "0.6", "1"]
    assert rows["perfect"]["total"] == "4.8"
    page = (course / "fx01_tiny/feedback/perfect.html").read_text()
    assert "submitted 2 days late" in page
    # a hand score imported later is published the same way, still without submissions
    write_review_sheet(tmp_path / "review.csv", [("perfect", "2")])
    done = run_cli("review", "import", "fx01", tmp_path / "review.csv", "--course-root",
                   FIXTURES / "course", "--course-dir", course)
    assert done.returncode == 0, done.stderr
    row = {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}["perfect"]
    assert (row["manual_total"], row["late_penalty"], row["total"]) == ("2", "1.6", "6.4")


def test_publish_without_an_up_to_date_result_says_so_and_writes_nothing(tmp_path):
    _, course = _graded_class(tmp_path, students=("perfect", "wrong_gradient"))
    (course / "fx01_tiny/results/wrong_gradient.json").unlink()  # an interrupted batch
    before = (course / "fx01_tiny/grades.csv").read_bytes()
    done = run_cli("publish", "fx01", "--course-root", FIXTURES / "course",
                   "--course-dir", course)
    assert done.returncode == 2
    assert "wrong_gradient" in done.stderr and "interrupted" in done.stderr
    assert "Traceback" not in done.stderr
    assert (course / "fx01_tiny/grades.csv").read_bytes() == before


def test_publish_before_any_grade_run_is_one_line(tmp_path):
    (tmp_path / "course").mkdir()
    done = run_cli("publish", "fx01", "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course")
    assert done.returncode == 2 and "grade the set first" in done.stderr, done.stderr


def test_the_fingerprint_covers_grading_code_not_pages(tmp_path):
    a = assignments.load("fx01", FIXTURES / "course" / "solutions")
    library = library_packages(a)
    copy = tmp_path / "autograder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = checks_fingerprint(a, 7, library, copy)
    assert checks_fingerprint(a, 7, library) == base  # the copy is the package
    for cosmetic in ("publish/feedback.py", "publish/report.py", "cli.py", "batch.py"):
        with open(copy / cosmetic, "a") as f:
            f.write("\n# a comment\n")
    assert checks_fingerprint(a, 7, library, copy) == base
    assert checks_fingerprint(a, 8, library, copy) != base  # another seed
    with open(copy / "course/compare.py", "a") as f:
        f.write("\n# a change to how outputs are compared\n")
    assert checks_fingerprint(a, 7, library, copy) != base
