"""No CSV cell the grader writes becomes a spreadsheet formula from text a student or a
roster controls (student ids from folder or file names, names and sections from a roster,
answers), and review.csv still imports back; HTML stays escaped."""

import csv
import json
import shutil

from grading_helpers import FIXTURES, run_cli

from autograder.files import FORMULA_START, read_cell, safe_cell

# (a student id is a folder name: no "/")
HOSTILE_IDS = ['=HYPERLINK(CONCAT("https:", A1),"click")', "+SUM(1,2)", "-2+3", "@cmd"]
ANSWER = "=1+1 where x > 0 <script>alert(1)</script>"
ROSTER = ["Student,ID,SIS User ID,SIS Login ID,Section",
          *[f'"=cmd|\' /C calc\'!A{i}",{i},s{i},"{sid.replace(chr(34), chr(34) * 2)}",+Lab'
            for i, sid in enumerate(HOSTILE_IDS, start=1)]]


def cells(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [c for row in csv.reader(f) for c in row]


def test_safe_cell_follows_owasp_and_round_trips():
    for text in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text and read_cell(safe_cell(text)) == text
    for text in ("alice", "1.5", "'quoted", "a=b", ""):
        assert safe_cell(text) == text and read_cell(text) == text
    assert safe_cell(2.5) == 2.5  # numbers stay numbers


def test_hostile_ids_names_and_answers_never_become_formulas(tmp_path):
    submitted = tmp_path / "submitted"
    perfect = json.loads((FIXTURES / "submitted/perfect/fx01_tiny/fx01_tiny.ipynb")
                         .read_text())
    for cell in perfect["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "relu-derivation":
            cell["source"] = ANSWER
    for sid in HOSTILE_IDS:
        (submitted / sid / "fx01_tiny").mkdir(parents=True)
        (submitted / sid / "fx01_tiny/fx01_tiny.ipynb").write_text(json.dumps(perfect))
    shutil.copytree(FIXTURES / "submitted/blank", submitted / "blank")
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(ROSTER) + '\n"Ben, Blank",9,s9,blank,A\n')
    course = tmp_path / "course"
    args = ["--course-dir", course, "--course-root", FIXTURES / "course"]
    done = run_cli("grade", "fx01", submitted, "--roster", roster, "--quiet", *args)
    assert done.returncode == 0, done.stderr
    done = run_cli("review", "export", "fx01", *args)
    assert done.returncode == 0, done.stderr

    folder = course / "fx01_tiny"
    for name in ("grades.csv", "canvas_grades.csv", "review/review.csv"):
        written = cells(folder / name)
        risky = [c for c in written if c.startswith(FORMULA_START)]
        assert not risky, (name, risky)
    ids = {c for c in cells(folder / "grades.csv")}
    assert {"'" + sid for sid in HOSTILE_IDS} <= ids  # still there, as text
    canvas = cells(folder / "canvas_grades.csv")
    assert "'=cmd|' /C calc'!A1" in canvas and "'+Lab" in canvas
    assert "'" + ANSWER in cells(folder / "review/review.csv")
    page = (folder / "review/review.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    # the exported sheet, filled in, imports back under the real student ids
    with open(folder / "review/review.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["score"] = "2" if row["student_id"] == "'" + HOSTILE_IDS[0] else ""
    with open(tmp_path / "filled.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = run_cli("review", "import", "fx01", tmp_path / "filled.csv", *args)
    assert done.returncode == 0, done.stderr
    assert "1 hand-graded scores written" in done.stdout
    with open(folder / "grades.csv", newline="", encoding="utf-8") as f:
        totals = {r["student_id"]: r["total"] for r in csv.DictReader(f)}
    assert totals["'" + HOSTILE_IDS[0]] == "8"
    for name in ("grades.csv", "canvas_grades.csv", "review/hand-scores.csv"):
        assert not [c for c in cells(folder / name) if c.startswith(FORMULA_START)], name
