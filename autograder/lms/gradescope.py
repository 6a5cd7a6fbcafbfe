"""Gradescope: the autograder zip of a problem set, and the grading it runs there.

``autograder export gradescope psNN`` (:func:`export_autograder`) writes the zip that a
Gradescope *programming assignment* runs: Gradescope builds an image with ``setup.sh``
once, then for every submission starts a fresh container, puts the student's files in
``/autograder/submission/`` and runs ``run_autograder``, which calls
:func:`run_autograder` here. It grades the way ``autograder grade`` does: the trusted
probes run the student's code on the hidden inputs, and the outputs are compared, in the
grader's own process, with the reference answer's. Nothing of nbgrader's in-kernel tests
is used.

The zip (everything under ``/autograder/source/`` in the container)::

    setup.sh, run_autograder   Gradescope's entry points (templates in gradescope_files/)
    gradescope.json            the manifest: the set, its parts' titles, the hand-graded
                               cells, how the reference ran, every file's SHA-256
    secret-seed                the seed of the hidden inputs: the course's own
                               (course/<set>/secret-seed), so Gradescope and
                               `autograder grade` draw the same inputs and agree
    sets/<set>/                checks.py, probes.py, the data files checks.py reads
                               (*.private.*), and the set's notebook with every solution
                               replaced by nbgrader's stubs and every output cleared
                               (the grader reads its test cells and grade_ids, as in
                               the student's release)
    reference/                 the reference answer's outputs for the hidden inputs and
                               the CPU limits derived from its run
                               (autograder.record.results.save_reference), fingerprinted
                               by the manifest's file digests
    project/                   pyproject.toml, requirements.txt, README.md, the
                               autograder package, and of the course library only the
                               files checks.py and probes.py import and those the set's
                               sandbox offers (LIBRARY_FILES)

The solution notebook never enters the zip, and neither does any solution code: the
export refuses to write a zip in which a file outside the grader's own source holds
``### BEGIN SOLUTION``. What is secret is the seed, checks.py, the *.private.* data and
the reference outputs: keep the zip private (Gradescope does not show it to students).

In the container the student's code runs in the Bubblewrap sandbox when it works there
(autograder.run.sandbox.sandbox_mode). Docker usually refuses the namespaces it needs;
the code then runs without the sandbox in the submission's own container, under the same
CPU, memory and file-size limits, and, since Gradescope runs us as root, as a uid of its
own with no account (:func:`grade_unprivileged`), to which the zip's secrets are
unreadable. It is not Bubblewrap: the code sees the rest of the container's files and has
whatever network the container has. results.json says which way the code ran.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import autograder
from autograder.course import assignment as assignments
from autograder.course import matching
from autograder.course.answers import TEXT_STUB, is_unanswered, questions
from autograder.course.notebooks import code_to_run, read_notebook
from autograder.errors import GraderError, SubmissionError, printable
from autograder.files import write_atomically
from autograder.intake.sources import Submission
from autograder.record.results import (
    load_reference,
    result_from_dict,
    result_to_dict,
    save_reference,
)
from autograder.run.grading import (
    NOT_GRADED,
    SubmissionResult,
    case_inputs,
    grade_notebook,
    library_packages,
    missing_result,
    run_reference,
)
from autograder.run.sandbox import confinement, sandbox_mode, slot_uid

TEMPLATES = Path(__file__).with_name("gradescope_files")
ENTRY_POINTS = ("setup.sh", "run_autograder")  # executable members of the zip
MANIFEST = "gradescope.json"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader_config.py's stubs
SOLUTION_MARK = "### BEGIN SOLUTION"
# Every part's message is ours (autograder.visible.judge), as on the feedback page: where
# an output is wrong and one value expected and computed there, never an input; so
# students may see the results at once.
VISIBILITY = "visible"
STDOUT_VISIBILITY = "hidden"  # the run's log, for the instructor
ANSWER_CHARS = 4000  # of a hand-graded answer shown back in its test's output


# --- export (on the instructor's machine) ----------------------------------------------


def strip_solutions(nb: dict) -> dict:
    """A copy of a source notebook as nbgrader releases it: every ``### BEGIN/END
    SOLUTION`` region replaced by the stub (code: ``# YOUR CODE HERE`` /
    ``raise NotImplementedError()`` at the region's indentation; text: ``YOUR ANSWER
    HERE``), a solution cell without markers replaced whole, hidden-test regions removed,
    outputs and attachments cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        code = cell.get("cell_type") == "code"
        source = assignments.cell_source(cell)
        stubbed = _replace_regions(source, code)
        if stubbed is None and isinstance(meta, dict) and meta.get("solution"):
            stubbed = CODE_STUB if code else TEXT_STUB
        if stubbed is not None:
            cell["source"] = stubbed
            cell.pop("attachments", None)
        if code:
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def _replace_regions(source: str, code: bool) -> str | None:
    """``source`` with its solution regions stubbed and hidden tests removed, or None
    when it has neither."""
    out, inside, found = [], None, False
    for line in source.splitlines(keepends=True):
        mark = line.strip()
        if mark in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
            inside, found = mark, True
            if mark == "### BEGIN SOLUTION":
                indent = line[: len(line) - len(line.lstrip())]
                stub = CODE_STUB if code else TEXT_STUB
                out.extend(f"{indent}{s}\n" for s in stub.splitlines())
        elif mark in ("### END SOLUTION", "### END HIDDEN TESTS"):
            inside = None
        elif inside is None:
            out.append(line)
    return "".join(out).rstrip("\n") if found else None


def part_titles(nb: dict) -> dict[str, str]:
    """{grade_id: the docstring of its test cell, on one line}: what the notebook says
    the part checks ("relu_forward on a small fixed case (2 points).")."""
    titles = {}
    for cell, meta in assignments.nbgrader_cells(nb):
        if meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
            found = re.match(r'\s*(?:"""|\'\'\')(.*?)(?:"""|\'\'\')',
                             assignments.cell_source(cell), re.S)
            if found and isinstance(meta.get("grade_id"), str):
                titles[meta["grade_id"]] = " ".join(found.group(1).split())
    return titles


# Run in a fresh interpreter: which modules do checks.py and probes.py import? (This
# process may have imported any part of the course library already.)
_TRACE = """
import importlib.util, json, sys
for i, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"_traced_{i}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values())
                         if getattr(m, "__file__", None)})))
"""


def imported_project_files(assignment: assignments.Assignment, project: Path) -> list[Path]:
    """The files of this repository outside the autograder package (the course library,
    dlcourse) that loading the set's checks.py and probes.py imports."""
    done = subprocess.run([sys.executable, "-c", _TRACE,
                           str((assignment.folder / "checks.py").resolve()),
                           str(assignment.probes_file.resolve())],
                          capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), timeout=300)
    if done.returncode != 0:
        raise GraderError(f"cannot load the checks of {assignment.name}: "
                          f"{done.stderr.strip().splitlines()[-1:]}")
    grader = Path(autograder.__file__).resolve().parent
    found = []
    for f in (Path(f).resolve() for f in json.loads(done.stdout)):
        if not f.is_relative_to(project) or f.suffix != ".py" or f.is_relative_to(grader):
            continue
        top = project / f.relative_to(project).parts[0]
        # a package of this repository (not a virtual environment inside it)
        if not top.name.startswith(".") and (top / "__init__.py").is_file():
            found.append(f)
    return sorted(found)


def _project_members(assignment: assignments.Assignment) -> dict[str, Path]:
    """{path in the zip: file} of the project: its packaging files, the whole autograder
    package, and the course-library files the set needs."""
    grader = Path(autograder.__file__).resolve().parent
    project = grader.parent
    members = {}
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        if not (project / name).is_file():
            raise GraderError(f"cannot export: {project / name} is missing")
        members[f"project/{name}"] = project / name
    for path in sorted(grader.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            members[f"project/{path.relative_to(project).as_posix()}"] = path
    for path in imported_project_files(assignment, project):
        members[f"project/{path.relative_to(project).as_posix()}"] = path
    for name, folder, files in library_packages(assignment):
        for f in files:
            members[f"project/{name}/{f}"] = Path(folder) / f
    return members


def _set_members(assignment: assignments.Assignment) -> dict[str, Path]:
    """{path in the zip: file} of the set's folder, less its notebooks (the source
    notebook is written stripped) and visible.json (public; grading does not read it)."""
    members = {}
    for path in sorted(assignment.folder.rglob("*")):
        rel = path.relative_to(assignment.folder)
        if (path.is_file() and path.suffix != ".ipynb" and rel.as_posix() != "visible.json"
                and not {"__pycache__", ".ipynb_checkpoints"} & set(rel.parts)):
            members[f"sets/{assignment.name}/{rel.as_posix()}"] = path
    return members


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(files: dict[str, str]) -> str:
    """The digest that ties the reference outputs to the zip's files: of every member's
    path and SHA-256 (the manifest's ``files``)."""
    return _digest(json.dumps(files, sort_keys=True).encode())


def export_autograder(name: str, checks_root: str | Path, course_root: str | Path,
                      out: str | Path | None = None, echo=print,
                      course_dir: str | Path | None = None) -> Path:
    """Write the Gradescope autograder zip of problem set ``name`` (see the module's
    docstring) to ``out`` (default: ``<course dir>/<set>/gradescope.zip``, beside the
    secret seed it holds). The course dir is ``autograder grade``'s working folder
    (default ``<course_root>/course``): its seed for the set is the zip's, created there
    if grading has not created it yet. Runs the reference answer once, here, in the
    sandbox when there is one. Returns the zip's path."""
    from autograder.record.results import secret_seed

    a = assignments.load(name, checks_root)
    set_dir = Path(course_dir or Path(course_root) / "course").resolve() / a.name
    out = Path(out) if out else set_dir / "gradescope.zip"
    seed = secret_seed(set_dir / "secret-seed")
    source_nb = json.loads(a.notebook.read_text(encoding="utf-8"))
    data = {}  # path in the zip -> bytes
    for member, path in {**_project_members(a), **_set_members(a)}.items():
        data[member] = path.read_bytes()
    data[f"sets/{a.name}/{a.notebook.name}"] = json.dumps(
        strip_solutions(source_nb), indent=1, ensure_ascii=False).encode() + b"\n"
    data["secret-seed"] = f"{seed}\n".encode()
    for entry in ENTRY_POINTS:
        data[entry] = (TEMPLATES / entry).read_bytes()
    leaks = sorted(m for m, b in data.items() if SOLUTION_MARK.encode() in b
                   and not m.startswith("project/autograder/"))
    if leaks:
        raise GraderError(f"not exporting {a.name}: {', '.join(leaks)} would carry solution "
                          f"code ({SOLUTION_MARK})")

    files = {m: _digest(b) for m, b in sorted(data.items())}
    mode = "bubblewrap" if sandbox_mode() != "none" else "none"
    where = "in the sandbox" if mode != "none" else "without a sandbox (none here)"
    echo(f"Running the reference answer of {a.name} {where} ...")
    reference = run_reference(a, case_inputs(a, seed), sandboxed=mode != "none")
    manifest = {
        "format": 1, "assignment": a.name, "notebook": a.notebook.name,
        "autograder": autograder.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reference_sandbox": mode, "titles": part_titles(source_nb),
        "points": {p.grade_id: p.points for p in a.parts}, "manual": a.manual,
        "files": files,
    }
    with tempfile.TemporaryDirectory(prefix="autograder-export-") as tmp:
        save_reference(Path(tmp) / "reference", fingerprint(files), reference, mode)
        for path in sorted((Path(tmp) / "reference").iterdir()):
            data[f"reference/{path.name}"] = path.read_bytes()
    data[MANIFEST] = json.dumps(manifest, indent=1).encode() + b"\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for member in sorted(data):
                info = zipfile.ZipInfo(member, time.gmtime()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100755 if member in ENTRY_POINTS else 0o100644) << 16
                z.writestr(info, data[member])
        partial.replace(out)  # a zip is whole or absent
    finally:
        partial.unlink(missing_ok=True)
    n_cells = len(code_to_run(read_notebook(a.notebook), a.test_sources))
    worst = reference.limits.tree_cpu(n_cells)
    echo(f"wrote {out} ({len(data)} files, {out.stat().st_size / 1024:.0f} KB): upload it "
         "as the autograder of a Gradescope programming assignment")
    echo(f"  automatic points: {a.auto_points:g}; by hand, not in the autograder's score: "
         f"{sum(a.manual.values()):g} ({', '.join(a.manual) or 'none'})")
    echo(f"  CPU time of a submission: at most {reference.limits.cell_seconds:.0f} s per "
         f"cell and {worst:.0f} s in all for a notebook of the release's {n_cells} code "
         "cells (limits from the reference's run here); set Gradescope's autograder timeout "
         "above what that takes there")
    echo("  it holds the secret seed, checks.py and the reference outputs, no solution "
         "code: keep it private")
    return out


# --- grading (in Gradescope's container) -----------------------------------------------


@dataclass
class Zip:
    """The unpacked autograder zip, checked against its manifest."""

    source: Path
    manifest: dict
    assignment: assignments.Assignment
    seed: int
    fingerprint: str


def open_zip(source: Path) -> Zip:
    """Read and check the unpacked zip at ``source``; GraderError (one line) when a file
    is missing or differs from the export."""
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraderError(f"{source / MANIFEST} is missing or unreadable ({exc}): export "
                          "the autograder zip again") from exc
    for member, digest in files.items():
        path = source / member
        if not path.is_file() or _digest(path.read_bytes()) != digest:
            raise GraderError(f"{member} of the autograder zip is missing or was changed "
                              "after the export: export it again")
    a = assignments.load(manifest["assignment"], source / "sets")
    seed = int((source / "secret-seed").read_text().strip())
    return Zip(source, manifest, a, seed, fingerprint(files))


def submitted_notebooks(folder: Path) -> list[Path]:
    """The notebooks among a Gradescope submission's files, in any subfolder; not
    checkpoints nor macOS's ``__MACOSX`` / ``._name`` copies."""
    return sorted(p for p in folder.rglob("*.ipynb") if p.is_file()
                  and not {".ipynb_checkpoints", "__MACOSX"} & set(p.relative_to(folder).parts)
                  and not p.name.startswith("._"))


def _not_graded(a: assignments.Assignment, status: str, note: str) -> SubmissionResult:
    result = missing_result("submission", a)
    result.status, result.notes = status, [printable(note)]
    return result


def grade_submission(z: Zip, submission: Path) -> tuple[SubmissionResult, Path | None]:
    """(result, the notebook graded or None) of the files in ``submission``: as
    ``autograder grade`` grades one student, in the sandbox if it works here."""
    a = z.assignment
    reference = load_reference(z.source / "reference", z.fingerprint,
                               z.manifest.get("reference_sandbox", "bubblewrap"))
    if reference is None:
        raise GraderError("the reference outputs of the autograder zip do not match its "
                          "files: export it again")
    candidates = submitted_notebooks(submission)
    if not candidates:
        names = sorted(p.relative_to(submission).as_posix() for p in submission.rglob("*")
                       if p.is_file())
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return _not_graded(a, "no-notebook", f"no notebook (.ipynb) in your submission "
                           f"(files: {shown or 'none'}): submit {a.notebook.name}"), None
    try:
        path, note = matching.pick(Submission("submission", candidates, a.notebook.name), a)
    except SubmissionError as exc:
        return _not_graded(a, exc.status, exc.message), None
    except Exception as exc:  # noqa: BLE001 - a grader bug this file meets costs only it
        return _not_graded(a, "grader-error", "the grader could not read this submission "
                           f"({type(exc).__name__}: {exc}); tell your instructor"), None
    packages = [(name, z.source / "project" / name, files)
                for name, files in a.library_files.items()]
    inputs = case_inputs(a, z.seed)
    if sandbox_mode() != "none":
        result = grade_notebook("submission", path, a, reference, inputs, packages=packages)
    elif can_drop_root():
        result = grade_unprivileged(z, path, reference, inputs, packages)
    else:
        if os.geteuid() == 0:
            print(f"warning: {sys.executable} cannot be run by another user (a folder on its "
                  "way is closed), so the submission ran unconfined as root; install Python "
                  "where every user may run it (setup.sh uses the system's)")
        result = grade_notebook("submission", path, a, reference, inputs, sandboxed=False,
                                packages=packages)
    if note:
        result.notes.insert(0, printable(note))
    return result, path


# Without the sandbox, run as root (Gradescope's container), the grading drops to a uid
# of its own first: the student's code then runs as that uid, and the secrets are root's.
UNPRIVILEGED = ("none: Gradescope's container without Bubblewrap; the grader dropped root "
                "to an unprivileged uid before running any code")


def can_drop_root() -> bool:
    """True when this process is root and another uid could run this Python: every
    folder on the way to the interpreter (as named and as its link resolves) is open to
    all. A Python under /root (pyenv) is not; the system's and setup.sh's venv are."""
    if os.geteuid() != 0:
        return False
    for path in {Path(sys.executable).absolute(), Path(sys.executable).resolve()}:
        if not os.stat(path).st_mode & 0o001:
            return False
        if any(not os.stat(folder).st_mode & 0o001 for folder in path.parents):
            return False
    return True


def secret_files(z: Zip) -> list[Path]:
    """The zip's files a submission must not read: the seed, the reference outputs, and
    the set's files other than probes.py and the (stubbed) notebook: checks.py and the
    data it reads."""
    folder = z.assignment.folder
    public = {z.assignment.probes_file.resolve(), z.assignment.notebook.resolve()}
    return [z.source / "secret-seed", *sorted((z.source / "reference").iterdir()),
            *sorted(p for p in folder.rglob("*") if p.is_file()
                    and p.resolve() not in public)]


def grade_unprivileged(z: Zip, path: Path, reference, inputs: dict,
                       packages: list) -> SubmissionResult:
    """Grade as ``grade_notebook(sandboxed=False)`` does, in a child process that has
    dropped root to a uid with no account before it runs the student's code; the zip's
    secrets (:func:`secret_files`) are made root's alone first. The child holds the
    reference in memory, but a process that changed its uid is not dumpable, so the
    student's code (same uid) can neither read its memory nor trace it; it can kill it,
    which costs the student the grade. The result comes back as JSON through a pipe."""
    uid = slot_uid(0)  # this process's own: no other process on the machine runs as it
    for secret in secret_files(z):
        os.chown(secret, 0, 0)
        os.chmod(secret, 0o600)
    os.chmod(z.source / "reference", 0o700)
    # What the child reads goes into a folder of its own: the notebook, the public
    # probes.py and the course-library files (the zip's folders need not be open to it).
    work = Path(tempfile.mkdtemp(prefix="autograder-gradescope-"))
    notebook = work / path.name
    shutil.copyfile(path, notebook)
    (work / "set").mkdir()
    shutil.copyfile(z.assignment.probes_file, work / "set" / "probes.py")
    assignment = dataclasses.replace(z.assignment, folder=work / "set")
    library = []
    for name, folder, files in packages:
        for f in files:
            (work / "lib" / name / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(folder) / f, work / "lib" / name / f)
        library.append((name, work / "lib" / name, files))
    for item in [work, *work.rglob("*")]:
        os.chown(item, uid, uid)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.environ["HOME"] = str(work)
            result = grade_notebook("submission", notebook, assignment, reference, inputs,
                                    sandboxed=False, packages=library)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(result_to_dict(result)).encode())
            code = 0
        except BaseException:  # noqa: BLE001 - the parent reports a child without result
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    _kill_every_process_of(uid)  # what the submission left running
    shutil.rmtree(work, ignore_errors=True)
    try:
        result = result_from_dict(json.loads(data))
    except (ValueError, TypeError, KeyError):
        result = _not_graded(z.assignment, "killed", "the grading of your notebook ended "
                             "without a result (its process was killed)")
    result.notebook = str(path)
    result.sandbox = UNPRIVILEGED
    return result


def _kill_every_process_of(uid: int) -> None:
    """SIGKILL every process running as ``uid``, from a child that takes that uid (a
    process may signal only its own uid's processes; kill(-1) signals all of them)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _sandbox_sentence(result: SubmissionResult) -> str:
    mode = confinement(result.sandbox)
    if not mode:
        return "None of your code was run."
    if mode == "bubblewrap":
        return ("Your code ran in the course's Bubblewrap sandbox (no network, no other "
                "files, CPU and memory limits) inside Gradescope's container.")
    if result.sandbox == UNPRIVILEGED:
        return ("Your code ran in Gradescope's container for this submission WITHOUT the "
                "course's Bubblewrap sandbox (the container does not allow it), as an "
                "unprivileged user that cannot read the checks, the seed or the reference "
                "answer, with CPU, memory and file-size limits; a fresh container for "
                "every submission keeps submissions apart.")
    return ("Your code ran in Gradescope's container for this submission WITHOUT the "
            "course's Bubblewrap sandbox (the container does not allow it): CPU, memory "
            "and file-size limits applied, but not the sandbox's isolation; a fresh "
            "container for every submission keeps submissions apart.")


def _points(points: float) -> str:
    return f"{points:g} point{'' if points == 1 else 's'}"


def _hand_graded_output(gid: str, points: float, answers: dict, blank: set,
                        readable: bool) -> str:
    head = (f"Graded by hand, not by the autograder: your instructor gives its "
            f"{_points(points)} in Gradescope's manual grading.")
    if not readable:
        return f"{head}\nNo answer: no readable notebook of this set was found."
    if gid in blank:
        return f"{head}\nNo answer: the cell is as it was released ({TEXT_STUB})."
    if gid not in answers:
        return f"{head}\n{matching.describe_missing_answer(gid)}"
    text = answers[gid].strip()
    cut = "\n[... cut]" if len(text) > ANSWER_CHARS else ""
    return f"{head}\nYour answer, as the grader reads it:\n\n{text[:ANSWER_CHARS]}{cut}"


def results_json(z: Zip, result: SubmissionResult, path: Path | None) -> dict:
    """results.json for Gradescope: one test per graded part (score and message as
    ``autograder grade`` gives them), one per hand-graded cell (0 of 0: its points are
    given in Gradescope's manual grading, not here), the notes in the top-level output."""
    a, titles = z.assignment, z.manifest.get("titles", {})
    tests = []
    for part in result.parts:
        title = titles.get(part.grade_id)
        tests.append({
            "name": f"{part.grade_id}: {title}" if title else part.grade_id,
            "score": part.points, "max_score": part.max_points,
            "status": "passed" if part.passed else "failed",
            "output": part.message, "visibility": VISIBILITY})
    nb = None
    if path is not None:
        try:
            nb = read_notebook(path)
        except SubmissionError:
            nb = None
    answers = matching.manual_answers(nb, a) if nb is not None else {}
    asked = questions(a)
    blank = {g for g, text in answers.items() if is_unanswered(text, asked.get(g, set()))}
    for gid, points in a.manual.items():
        tests.append({
            "name": f"{gid}: graded by hand ({_points(points)})",
            "score": 0.0, "max_score": 0.0,
            "output": _hand_graded_output(gid, points, answers, blank, nb is not None),
            "visibility": VISIBILITY})
    lines = [f"{a.name}: {result.auto_total:g} of {a.auto_points:g} automatic points."]
    if path is not None:
        lines.append(f"Graded {path.name} with the course's trusted checks: your functions "
                     "ran on hidden inputs and their outputs were compared with the "
                     "reference answer's, outside your notebook; the notebook's own test "
                     "cells were not run.")
    lines.append(_sandbox_sentence(result))
    if result.notes:
        lines.append("Notes:")
        lines.extend(f"- {n}" for n in result.notes)
    if any(p.message == NOT_GRADED for p in result.parts):
        lines.append("No part was graded: every part scores 0 (see the note above).")
    if a.manual:
        hand = ", ".join(f"{g} ({_points(p)})" for g, p in a.manual.items())
        lines.append(f"Not in this score: the answers graded by hand, {hand}; your "
                     "instructor grades them.")
    return {
        "score": result.auto_total, "output": "\n".join(lines), "output_format": "text",
        "test_output_format": "text", "visibility": VISIBILITY,
        "stdout_visibility": STDOUT_VISIBILITY, "tests": tests,
        "extra_data": {"assignment": a.name, "status": result.status,
                       "sandbox": result.sandbox, "confinement": confinement(result.sandbox),
                       "notebook": path.name if path else "",
                       "autograder": z.manifest.get("autograder", "")},
    }


def failure_json(message: str, source: Path) -> dict:
    """results.json when the zip itself cannot grade (a broken export): every part 0,
    the reason in the output. Never the student's fault, and the output says so."""
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        points = dict(manifest.get("points", {}))
    except (OSError, ValueError, TypeError, AttributeError):
        points = {}
    tests = [{"name": gid, "score": 0.0, "max_score": float(p), "status": "failed",
              "output": NOT_GRADED, "visibility": VISIBILITY} for gid, p in points.items()]
    return {"score": 0.0, "output_format": "text", "test_output_format": "text",
            "output": f"The autograder could not grade this submission: {message}. This is "
                      "not a problem with your work: tell your instructor.",
            "visibility": VISIBILITY, "stdout_visibility": STDOUT_VISIBILITY,
            "tests": tests, "extra_data": {"status": "grader-error"}}


def run_autograder(root: str | Path = "/autograder") -> dict:
    """Grade the submission in ``<root>/submission`` with the zip in ``<root>/source``
    and write ``<root>/results/results.json``, whatever happens (a broken zip gives
    every part 0 and says why). Returns what it wrote."""
    root = Path(root)
    start = time.monotonic()
    try:
        z = open_zip(root / "source")
        result, path = grade_submission(z, root / "submission")
        results = results_json(z, result, path)
    except GraderError as exc:
        results = failure_json(str(exc), root / "source")
    except Exception as exc:  # noqa: BLE001 - results.json is written whatever fails
        results = failure_json(f"unexpected error {type(exc).__name__}: {exc}",
                               root / "source")
    results["execution_time"] = round(time.monotonic() - start)
    _write_results(root / "results" / "results.json", results)
    extra = results.get("extra_data", {})
    print(f"{extra.get('assignment', '?')}: {results['score']:g} points, status "
          f"{extra.get('status')}, sandbox {extra.get('sandbox') or '-'}; "
          f"{results['execution_time']} s")
    print(results["output"])
    return results


def _write_results(target: Path, results: dict) -> None:
    """Write results.json through a temporary file and a rename, which replaces whatever
    is at that name (a symbolic link or a folder a submission put there included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    write_atomically(target, json.dumps(results, indent=1), 0o644)


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.lms.gradescope [--root DIR]``: what run_autograder runs."""
    parser = argparse.ArgumentParser(description="Grade one Gradescope submission.")
    parser.add_argument("--root", default="/autograder",
                        help="Gradescope's folder (source/, submission/, results/)")
    args = parser.parse_args(argv)
    run_autograder(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
