"""Hand grading round trip: derivation cells out to a review sheet, scores back in.

``autograder review export ps01`` writes ``course/<set>/review/review.csv`` (one row per
student and hand-graded cell: ``student_id, grade_id, max_points, score, state, answer``)
and ``review.html`` (the same answers to read: rendered as Markdown with the math typeset,
raw HTML escaped, and as typed). The grader fills in ``score``.
``state`` says ``pending``, ``graded`` (``score`` holds the hand score given) or
``unanswered`` (the cell is as released: it scores 0 unless a score is given).
``autograder review import ps01 review.csv`` checks every row first (known student and
cell, a number from 0 to the cell's points; an empty score is skipped) and writes nothing
if any row is wrong; otherwise it writes all scores into nbgrader's gradebook in one
transaction and publishes the set again (autograder.publish.republish: from the class
record and the saved results, without reading a submission or running any code), so
grades.csv, canvas_grades.csv, the feedback and the report show the new scores at once.
Import holds the course folder's lock (autograder.lock) throughout.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.course import assignment as assignments
from autograder.course.matching import describe_missing_answer, manual_answers
from autograder.course.notebooks import read_notebook
from autograder.errors import GraderError, SubmissionError, printable
from autograder.files import read_cell, write_atomically, write_csv
from autograder.publish import republish, review_page, saved_results
from autograder.record import classlist, handscores
from autograder.record.gradebook import hand_scores_in

COLUMNS = ["student_id", "grade_id", "max_points", "score", "state", "answer"]


def _answers(path, assignment):
    """{grade_id: text of that cell} in a submitted notebook, found by grade_id or, when
    its metadata was stripped (Colab), by content (see autograder.course.matching)."""
    try:
        nb = read_notebook(path)
    except SubmissionError:
        return {}
    return manual_answers(nb, assignment)


def export(name, checks_root, course_dir):
    """Write review.csv and review.html; return the folder."""
    a = assignments.load(name, checks_root)
    out_dir = Path(course_dir).resolve() / a.name
    # the students and notebooks of the last batch, as its intake found them
    record = classlist.load(out_dir)
    rows, sections = [], []
    with Gradebook(record.db_url) as gb:
        for sid, student in record.records.items():
            if not student.gradable:
                continue
            answers = _answers(student.notebook, a)
            for gid, points in a.manual.items():
                try:
                    grade = gb.find_grade(gid, a.notebook.stem, a.name, sid)
                except MissingEntry:
                    continue  # not graded yet: nothing to review
                if grade.manual_score is not None:
                    score, state = f"{grade.manual_score:g}", "graded"
                elif grade.auto_score is not None:
                    score, state = "", "unanswered"
                else:
                    score, state = "", "pending"
                text = answers.get(gid, describe_missing_answer(gid))
                rows.append({"student_id": sid, "grade_id": gid, "max_points": f"{points:g}",
                             "score": score, "state": state, "answer": text})
                sections.append(review_page.Answer(sid, gid, points, state, text))
    folder = out_dir / "review"
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "review.csv", COLUMNS, rows)
    # rendered Markdown, math typeset by MathJax (copied into the folder), source as typed
    write_atomically(folder / "review.html", review_page.render(a.name, sections, folder))
    return folder, len(rows)


def _check_rows(sheet, a, known_students):
    """[(student, grade_id, score)] to write, or GraderError listing every bad row."""
    try:
        with open(sheet, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"student_id", "grade_id", "score"} - set(reader.fieldnames or [])
            if missing:
                raise GraderError(f"{sheet}: no column {', '.join(sorted(missing))}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read {sheet}: {exc}") from exc
    good, bad = [], []
    for line, row in enumerate(rows, start=2):
        # read_cell: review.csv's cells were written by safe_cell (a leading ' on text
        # that a spreadsheet would take for a formula)
        sid = read_cell((row.get("student_id") or "").strip())
        gid = read_cell((row.get("grade_id") or "").strip())
        text = (row.get("score") or "").strip()
        if not text:
            continue
        where = f"{sheet}:{line}: "
        if sid not in known_students:
            bad.append(where + f"unknown student {printable(sid, 60)!r}")
        elif gid not in a.manual:
            bad.append(where + f"{printable(gid, 60)!r} is not a hand-graded cell of {a.name}")
        else:
            try:
                score = float(text)
            except ValueError:
                bad.append(where + f"score {printable(text, 30)!r} is not a number")
                continue
            if not 0 <= score <= a.manual[gid]:
                bad.append(where + f"score {score:g} is outside 0..{a.manual[gid]:g}")
            else:
                good.append((sid, gid, score))
    if bad:
        raise GraderError(f"nothing imported; {len(bad)} bad row(s):\n" + "\n".join(bad))
    return good


def import_scores(name, checks_root, course_dir, sheet):
    """Write a filled review sheet into the gradebook and publish the set again; return
    (scores written, what was published)."""
    a = assignments.load(name, checks_root)
    out_dir = Path(course_dir).resolve() / a.name
    record = classlist.load(out_dir)
    # every student of the last batch has an up-to-date result, or nothing is written
    saved_results(out_dir, a, record)
    with Gradebook(record.db_url) as gb:
        known = {s.student.id for s in gb.assignment_submissions(a.name)}
        scores = _check_rows(sheet, a, known)
        handscores.entered(out_dir, lambda: hand_scores_in(gb, a))  # start the record
        try:
            for sid, gid, score in scores:
                grade = gb.find_grade(gid, a.notebook.stem, a.name, sid)
                grade.manual_score, grade.needs_manual_grade = score, False
            gb.db.commit()
        except Exception:
            gb.db.rollback()
            raise
    # the course folder's own record of what was entered (autograder.record.handscores)
    handscores.append(out_dir, scores, Path(sheet).resolve())
    return len(scores), republish(out_dir, a)
