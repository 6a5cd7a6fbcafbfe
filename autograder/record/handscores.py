"""Hand scores kept outside the gradebook: ``course/<set>/review/hand-scores.csv``.

Every score ``review import`` writes is also appended to this file (``time, student_id,
grade_id, score, sheet``); the last line for a student's cell is the score the instructor
entered. Each ``grade`` run makes the gradebook's hand scores agree with it: a hand score
missing from the gradebook or changed there (a gradebook deleted, replaced, or edited by
something that is not autograder, such as a submission run without a sandbox rewriting
every row) is written back, and a hand score the file does not hold is removed, each run
saying so in one line. So the gradebook can always be rebuilt from the course folder, and
what an instructor entered survives anything that happens to the gradebook.

The first run that finds no such file starts it from the hand scores the gradebook holds
(gradebooks from before this file existed).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from autograder.files import read_cell, safe_cell

COLUMNS = ["time", "student_id", "grade_id", "score", "sheet"]

HandScores = dict[tuple[str, str], float]  # {(student_id, grade_id): score}


def journal_path(out_dir: Path | str) -> Path:
    return Path(out_dir) / "review" / "hand-scores.csv"


def load(out_dir: Path | str) -> HandScores | None:
    """{(student_id, grade_id): score} as last entered, or None if there is no file."""
    path = journal_path(out_dir)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return None
    scores: HandScores = {}
    for row in rows:
        try:
            scores[(read_cell(row["student_id"]), read_cell(row["grade_id"]))] = \
                float(row["score"])
        except (KeyError, TypeError, ValueError):
            continue  # a line cut off by a crash mid-append: the lines before it count
    return scores


def append(out_dir: Path | str, scores: Iterable[tuple[str, str, float]],
           sheet: Path | str) -> None:
    """Add ``[(student_id, grade_id, score)]`` to the file, flushed to disk."""
    path = journal_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(COLUMNS)
        for sid, gid, score in scores:
            writer.writerow([stamp, safe_cell(sid), safe_cell(gid), f"{score:g}",
                             safe_cell(str(sheet))])
        f.flush()
        os.fsync(f.fileno())


def entered(out_dir: Path | str, in_gradebook: Callable[[], HandScores]) -> HandScores:
    """The hand scores entered for the set; when the course folder has no record yet, it
    is started from ``in_gradebook()`` (the gradebook's own hand scores)."""
    scores = load(out_dir)
    if scores is None:
        scores = in_gradebook()
        append(out_dir, [(s, g, v) for (s, g), v in sorted(scores.items())],
               "(in the gradebook before hand-scores.csv was kept)")
    return scores
