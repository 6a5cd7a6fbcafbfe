"""Which notebook is which, decided by content, never by a file name alone.

* **Is it this set's notebook?** A notebook belongs to a set when one of its cells carries
  one of the set's ``grade_id``s, or, for a notebook whose metadata was stripped (Colab
  does this), when one of its code cells is one of the set's test cells, word for word.
* **Which of a student's notebooks holds the work?** The one with the most lines of its
  own: lines that are neither in the source notebook outside its solution blocks nor
  nbgrader's stub lines (``YOUR CODE HERE``...). The untouched stub has none.
* **Is this batch for this set at all?** When no submission belongs to the set, or most
  belong to another set in the same checks folder, the batch is refused before anything
  is graded or written: a wrong zip is not graded to zeros.
* **Where is a hand-graded answer?** In the cell with its ``grade_id``; without metadata,
  in the cell after the cell that precedes it in the source notebook.

Everything here reads submissions as data through ``notebooks.read_notebook``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.course.assignment import answer_grade_ids, cell_source, nbgrader_cells
from autograder.course.notebooks import read_notebook
from autograder.errors import GraderError, SubmissionError
from autograder.status import Status

if TYPE_CHECKING:
    from autograder.course.assignment import Assignment
    from autograder.intake.sources import Submission


def belongs(nb: dict[str, Any], assignment: Assignment) -> int:
    """How many of the notebook's cells are recognisably this set's (0: none)."""
    by_id = len(grade_ids(nb) & assignment.all_grade_ids)
    by_text = sum(1 for c in nb["cells"] if c["cell_type"] == "code"
                  and cell_source(c).strip() in assignment.test_sources)
    return max(by_id, by_text)


def grade_ids(nb: dict[str, Any]) -> set[str]:
    """The grade_ids a notebook's cells carry (any cell: a student's copy may have lost
    its grade and solution flags, and forged ones prove nothing)."""
    return {m["grade_id"] for _, m in nbgrader_cells(nb) if isinstance(m.get("grade_id"), str)}


def own_lines(nb: dict[str, Any], assignment: Assignment) -> set[str]:
    """The distinct stripped lines of code and Markdown cells that the release did not
    contain: the student's own work."""
    lines = set()
    for cell in nb["cells"]:
        if cell["cell_type"] in ("code", "markdown"):
            lines.update(line.strip() for line in cell_source(cell).splitlines())
    return lines - assignment.given_lines - {""}


@dataclass
class _Candidate:
    path: Path
    nb: dict[str, Any]
    work: set[str]  # own_lines
    exact: bool  # named as the set's notebook
    mtime: float


def pick(submission: Submission, assignment: Assignment,
         read: Callable[[Path], dict[str, Any]] = read_notebook) -> tuple[Path, str | None]:
    """(path, note) of the notebook to grade among a student's candidates.

    The notebooks that belong to the set compete: most own lines first, then the expected
    file name, then the newest. ``note`` (None when there was nothing to choose) says what
    was chosen over what, so the instructor sees it. When no readable notebook belongs to
    the set, the expected file is graded anyway (and an unreadable one, which grading
    reports as corrupt). Raises SubmissionError when there is no notebook at all.
    """
    readable, errors = [], []
    for path in sorted(submission.candidates):
        try:
            nb = read(path)
            mtime = path.stat().st_mtime
        except SubmissionError as exc:
            errors.append((path, exc))
            continue
        except OSError as exc:
            errors.append((path, SubmissionError(Status.CORRUPT, f"cannot read {path.name}: "
                                                            f"{exc.strerror}")))
            continue
        readable.append((path, nb, mtime))
    ours = [_Candidate(p, nb, own_lines(nb, assignment), p.name == submission.expected_name,
                       mtime) for p, nb, mtime in readable if belongs(nb, assignment)]
    if not ours:
        exact = [(p, nb) for p, nb, _ in readable if p.name == submission.expected_name]
        if exact:  # named as the set's notebook but none of its cells: graded, and said
            path, nb = exact[0]
            return path, (f"none of the cells of {path.name} are {assignment.name}'s (by "
                          "grade_id or test cell): is it the right notebook?"
                          if grade_ids(nb) else None)
        if errors:  # graded, so the file's problem is its status, saved like any result
            errors.sort(key=lambda e: e[0].name != submission.expected_name)
            return errors[0][0], None
        names = ", ".join(p.name for p in submission.candidates) or "none"
        raise SubmissionError(Status.NO_NOTEBOOK, f"no notebook of this assignment found "
                              f"(files: {names})")
    ours.sort(key=lambda c: (-len(c.work), not c.exact, -c.mtime, c.path.name))
    chosen, others = ours[0], ours[1:]
    notes = []
    like = resembles(chosen.nb, assignment)
    if like != assignment.name:
        whose = f"{like}'s" if like else "another set's"
        notes.append(f"{chosen.path.name} looks like {whose} notebook more than "
                     f"{assignment.name}'s: is it the right notebook?")
    if not chosen.exact and not others:
        notes.append(f"notebook '{chosen.path.name}' is not named "
                     f"{submission.expected_name}; it was matched to the assignment by its "
                     "cells")
    if others:
        described = ", ".join(f"'{c.path.name}' ({_describe(c)})" for c in others)
        notes.append(f"{len(ours)} notebooks of this set in the folder: graded "
                     f"'{chosen.path.name}' ({_describe(chosen)}) rather than {described}")
        if any(c.work and c.work != chosen.work for c in others):
            notes.append("more than one of them has work of its own: check which one the "
                         "student meant to hand in")
    for path, exc in errors:
        notes.append(f"{path.name} could not be read ({exc.message}); it was not graded")
    return chosen.path, "; ".join(notes) or None


def _describe(candidate: _Candidate) -> str:
    n = len(candidate.work)
    return "the untouched stub" if n == 0 else f"{n} line{'s' if n != 1 else ''} of work"


@dataclass(frozen=True)
class SetSignature:
    """What a set's notebooks carry: its answer, test and hand-graded cells' grade_ids,
    and its test cells' sources (still there when the metadata was stripped)."""

    name: str
    ids: frozenset[str]
    tests: frozenset[str]

    def likeness(self, ids: set[str], answer_ids: frozenset[str], code: set[str]) -> float:
        """0..1: how much a notebook looks like this set's: the larger of its grade_ids'
        overlap with the set's (a Jaccard index) and the share of the set's test cells
        found word for word. ``answer_ids``: the grade_ids of its cells flagged as graded
        or answers; when most of them are not this set's (and no test cell is), it is not
        this set's notebook, whatever few ids it shares (sets share ``relu-forward``)."""
        by_text = len(code & self.tests) / len(self.tests) if self.tests else 0.0
        if by_text == 0 and answer_ids and len(answer_ids & self.ids) < len(answer_ids) / 2:
            return 0.0
        by_id = len(ids & self.ids) / len(ids | self.ids) if ids and self.ids else 0.0
        return max(by_id, by_text)


def signature(assignment: Assignment) -> SetSignature:
    return SetSignature(assignment.name, frozenset(assignment.all_grade_ids),
                        frozenset(assignment.test_sources))


_SIGNATURES: dict[Path, list[SetSignature]] = {}  # checks folder -> its sets


def other_sets(assignment: Assignment) -> list[SetSignature]:
    """Signatures of the other problem sets beside this one in the checks folder, read
    from their source notebooks as data (their checks are not loaded), once per run.
    Sets share grade_ids (several have a ``relu-forward``): a notebook is told apart by
    which set it resembles most, not by one shared id."""
    root = Path(assignment.folder).parent
    if root not in _SIGNATURES:
        found = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            notebook = folder / f"{folder.name}.ipynb"
            try:
                nb = read_notebook(notebook)
            except SubmissionError:
                continue
            tests = frozenset(cell_source(c).strip() for c, m in nbgrader_cells(nb)
                              if m.get("grade") and not m.get("solution")
                              and c["cell_type"] == "code")
            found.append(SetSignature(folder.name, answer_grade_ids(nb), tests))
        _SIGNATURES[root] = found
    return [s for s in _SIGNATURES[root] if s.name != assignment.name]


def resembles(nb: dict[str, Any], assignment: Assignment) -> str | None:
    """The name of the set a notebook resembles most: this set's when it is at least as
    close as any other (or the only one it resembles at all), another set's name, or
    None when it resembles none."""
    ids, answer_ids = grade_ids(nb), answer_grade_ids(nb)
    code = {cell_source(c).strip() for c in nb["cells"] if c["cell_type"] == "code"}
    ours = signature(assignment).likeness(ids, answer_ids, code)
    best = max(other_sets(assignment), key=lambda s: s.likeness(ids, answer_ids, code),
               default=None)
    theirs = best.likeness(ids, answer_ids, code) if best else 0.0
    if ours > 0 and ours >= theirs:
        return assignment.name
    return best.name if theirs > 0 else None


def check_batch(kinds: Mapping[str, list[str | None]], assignment: Assignment,
                where: Path | str) -> None:
    """Refuse a batch that is not this set's: GraderError (one line) when none of the
    readable notebooks resembles it, or when most students' notebooks resemble another set
    of the checks folder more. ``kinds``: {student: [the set each of their readable
    notebooks resembles (:func:`resembles`), or None]}; ``where``: the folder or zip, for
    the message."""
    ours, theirs, readable = 0, {}, 0
    for found in kinds.values():
        if not found:
            continue  # nothing readable: graded as corrupt, says nothing about the set
        readable += 1
        if assignment.name in found:
            ours += 1
        elif any(found):
            name = next(k for k in found if k)
            theirs[name] = theirs.get(name, 0) + 1
    if not readable:
        return
    top = max(theirs, key=theirs.get, default=None)
    if top and theirs[top] > readable / 2:
        raise GraderError(
            f"{theirs[top]} of the {readable} readable submissions in {where} are notebooks "
            f"of {top}, not {assignment.name} (by their cells); nothing was graded: grade "
            f"them as {top.split('_')[0]}, or give {assignment.name}'s submissions")
    if ours == 0:
        raise GraderError(
            f"none of the {readable} readable submissions in {where} is a notebook of "
            f"{assignment.name} (no cell with one of its grade_ids or test cells); nothing "
            "was graded: is it the right assignment and folder?")


def manual_answers(nb: dict[str, Any], assignment: Assignment) -> dict[str, str]:
    """{grade_id: text} of the hand-graded cells of a submitted notebook: by grade_id,
    else (metadata stripped) the cell after the one that precedes it in the set. A cell
    found neither way is absent."""
    cells = nb["cells"]
    answers = {meta["grade_id"]: cell_source(cell) for cell, meta in nbgrader_cells(nb)
               if meta.get("grade_id") in assignment.manual}
    texts = [cell_source(c).strip() for c in cells]
    for gid in assignment.manual:
        anchor = assignment.manual_anchors.get(gid)
        if gid in answers or not anchor:
            continue
        for i in range(1, len(cells)):
            if texts[i - 1] == anchor:
                answers[gid] = cell_source(cells[i])
                break
    return answers


def describe_missing_answer(gid: str) -> str:
    return (f"(no answer found: no cell with grade_id {json.dumps(gid)}, and no cell after "
            "the text that comes before it in the set; deleted?)")
