"""Canvas in and out: a bulk-download zip of submissions, a Canvas roster, and a
gradebook CSV Canvas can import.

**Zip.** Canvas's "Download Submissions" names each file
``<lastfirst>_<user id>_<submission id>_<file name>``, with ``LATE_`` after the name for
a late submission (``doejane_LATE_1234_567890_ps01.ipynb``) and ``-1``, ``-2``... before the
extension of a resubmitted file. Only such ``.ipynb`` entries are taken; anything else
(folders, other files, names that try to climb out with ``../``) is reported and skipped.
Each notebook is written as ``<student id>.ipynb`` into a flat folder, with the time Canvas
stored in the zip as its modification time (the submission time late work uses).

**Roster.** A Canvas gradebook export: columns ``Student, ID, SIS User ID, SIS Login ID,
Section`` (then assignments), and a ``Points Possible`` row under the header. ``ID`` is
Canvas's user id, the number in the zip's file names; the student id used in grades.csv
is the SIS Login ID, else the SIS User ID, else the Canvas id. Canvas's **Test Student**
(the student view's account: named "Test Student", or "Student, Test" in exports, with no
SIS ids) is left out, and a submission of it in the zip is skipped with a note.

**Out.** ``canvas_grades.csv``: the same five columns, the ``Points Possible`` row, and one
column for the assignment holding each student's total, which Canvas's gradebook import
matches by its header (name the column as it appears in Canvas, e.g. ``PS1 (123456)``,
with ``--canvas-column``). A student without a submission, and one whose hand-graded parts
are still pending, gets an empty cell, not a 0 that would look like a grade.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from autograder.course.notebooks import MAX_NOTEBOOK_BYTES
from autograder.errors import GraderError, printable
from autograder.files import write_csv

FILE_NAME = re.compile(
    r"^(?P<name>[A-Za-z0-9-]+?)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<submission>\d+)_"
    r"(?P<file>[^/\\]+?)(?:-(?P<version>\d+))?\.ipynb$")
COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MAX_ZIP_ENTRIES = 20_000


def is_canvas_roster(header: Iterable[str]) -> bool:
    return {"student", "id", "sis user id"} <= {h.strip().lower() for h in header}


TEST_STUDENT_NAMES = {"test student", "student, test"}


def is_test_student(row: Mapping[str, str]) -> bool:
    """Canvas's Test Student: its name, and no SIS id (a real student has one)."""
    return (row.get("Student", "").strip().lower() in TEST_STUDENT_NAMES
            and not row.get("SIS User ID") and not row.get("SIS Login ID"))


def _all_rows(path: Path | str, text: str | None = None) -> list[dict[str, str]] | None:
    """Every student row of a Canvas roster (the Test Student too), or None. ``text``:
    the file's text, when the caller has read it already."""
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise GraderError(f"cannot read roster {path}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not is_canvas_roster(reader.fieldnames):
        return None
    rows: list[dict[str, str]] = []
    lines: dict[str, int] = {}  # casefolded student id -> its line
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items()
               if isinstance(k, str) and k}
        name = row.get("Student", "")
        if not row.get("ID") or "points possible" in name.lower():
            continue
        row = {c: row.get(c, "") if isinstance(row.get(c, ""), str) else "" for c in COLUMNS}
        sid = student_id(row)
        if sid.casefold() in lines:
            raise GraderError(f"roster {path} lists student {printable(sid, 60)!r} twice: "
                              f"lines {lines[sid.casefold()]} and {reader.line_num}")
        lines[sid.casefold()] = reader.line_num
        rows.append(row)
    return rows


def split_roster(path: Path | str, text: str) -> tuple[list[dict[str, str]], set[str]] | None:
    """(the student rows, the Test Student's Canvas user ids) of a Canvas roster whose text
    is ``text``, parsed once; None if it is not a Canvas export."""
    rows = _all_rows(path, text)
    if rows is None:
        return None
    return ([r for r in rows if not is_test_student(r)],
            {r["ID"] for r in rows if is_test_student(r)})


def student_id(row: Mapping[str, str]) -> str:
    """The id grades.csv uses for a roster row: SIS Login ID, else SIS User ID, else ID."""
    return row["SIS Login ID"] or row["SIS User ID"] or row["ID"]


def unpack(zip_path: Path | str, dest: Path | str,
           roster_rows: list[dict[str, str]] | None = None,
           skip_users: Collection[str] = ()) -> list[str]:
    """Write the zip's notebooks as ``dest/<student id>.ipynb``; return the problems
    found (one line each). The newest submission of each student is kept; Canvas users in
    ``skip_users`` (the Test Student) are skipped."""
    by_canvas_id = {r["ID"]: student_id(r) for r in roster_rows or []}
    problems: list[str] = []
    chosen: dict[str, tuple[tuple[int, int, tuple[int, ...]], zipfile.ZipInfo]] = {}
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise GraderError(f"{zip_path} is not a readable zip file: {exc}") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise GraderError(f"{zip_path} has {len(infos)} entries; at most "
                              f"{MAX_ZIP_ENTRIES} are read")
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            match = FILE_NAME.match(name)
            if "/" in name or "\\" in name or not match:
                problems.append(f"skipped {printable(name, 120)}: not a Canvas notebook "
                                "file name")
                continue
            if info.file_size > MAX_NOTEBOOK_BYTES:
                problems.append(f"skipped {printable(name, 120)}: "
                                f"{info.file_size / 1024**2:.0f} MB")
                continue
            user = match["user"]
            if user in skip_users:
                problems.append(f"skipped {printable(name, 120)}: Canvas's Test Student")
                continue
            sid = by_canvas_id.get(user)
            if sid is None:
                sid = f"{match['name']}_{user}"
                if roster_rows is not None:
                    problems.append(f"{printable(name, 120)}: Canvas user {user} is not on "
                                    f"the roster; graded as {sid}")
            key = (int(match["submission"]), int(match["version"] or 0), info.date_time)
            if sid not in chosen or key > chosen[sid][0]:
                chosen[sid] = (key, info)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=Path(dest).parent, prefix=".canvas-"))
        try:
            for sid, (_, info) in chosen.items():
                target = tmp / f"{sid}.ipynb"
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                when = datetime(*info.date_time, tzinfo=UTC).timestamp()
                os.utime(target, (when, when))
            if Path(dest).exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return problems


def write_grades(path: Path | str, column: str, rows: Mapping[str, Mapping[str, object]],
                 roster_rows: list[dict[str, str]] | None, points_possible: float) -> None:
    """canvas_grades.csv for Canvas's gradebook import. ``rows``: grades.csv rows by
    student id; students on the roster without a row or without a submission, and rows
    whose total is pending (empty), get an empty cell."""
    roster_rows = roster_rows or [{"Student": sid, "ID": "", "SIS User ID": "",
                                   "SIS Login ID": sid, "Section": ""} for sid in rows]
    out = [{**{c: "" for c in COLUMNS}, "Student": "Points Possible",
            column: f"{points_possible:g}"}]
    for r in roster_rows:
        grades = rows.get(student_id(r))
        blank = grades is None or grades["status"] == "missing"
        out.append({**r, column: "" if blank else grades["total"]})
    write_csv(path, [*COLUMNS, column], out)
