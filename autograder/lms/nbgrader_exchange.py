"""Feedback handed back through nbgrader's own exchange (a JupyterHub course).

The course collects with ``nbgrader collect``, we grade, and the instructor runs
``nbgrader release_feedback ps01``; each student runs ``nbgrader fetch_feedback ps01``.
What those two commands need (read from nbgrader 0.9's ``exchange/default``):

* ``nbgrader submit`` writes ``timestamp.txt`` and a random ``submission_secret.txt``
  into the submission in the exchange's ``inbound/`` and into the student's own cache;
  ``nbgrader collect`` copies the submission, both files included, to
  ``<course root>/submitted/<student>/<assignment>/``.
* ``release_feedback`` takes every ``<course root>/feedback/<student>/<assignment>/
  <notebook>.html`` and reads ``timestamp.txt`` and ``submission_secret.txt`` from that
  same folder (it stops with FileNotFoundError when either is missing). It publishes the
  page in the exchange as ``feedback/<md5(secret + notebook)>.html``.
* ``fetch_feedback`` computes that name from the secret in the student's cache and the
  name of each notebook the student submitted, so ``<notebook>`` must be the file name
  (without ``.ipynb``) of a notebook in the submission: the one we graded.
* Neither command opens the gradebook; only nbgrader's own ``generate_feedback`` does,
  and we do not use it.

So a feedback page is written as ``feedback/<student>/<assignment>/<notebook>.html`` with
the submission's two files copied beside it, readable by everyone (0644, or 0664 for a
``groupshared`` course), as nbgrader's generate_feedback leaves its files: the exchange
copies the mode, and a student must be able to read the page fetched from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError, printable
from autograder.files import write_atomically

CONFIG_NAME = "nbgrader_config"
DEFAULT_STRUCTURE = os.path.join("{nbgrader_step}", "{student_id}", "{assignment_id}")
SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")  # written by nbgrader submit


@dataclass(frozen=True)
class NbgraderCourse:
    """An nbgrader course root and the CourseDirectory settings that place its files."""

    root: Path
    submitted_directory: str = "submitted"
    feedback_directory: str = "feedback"
    groupshared: bool = False

    def submission_dir(self, assignment: str, student_id: str) -> Path:
        return self.root / self.submitted_directory / student_id / assignment

    def feedback_dir(self, assignment: str, student_id: str) -> Path:
        return self.root / self.feedback_directory / student_id / assignment

    @property
    def file_mode(self) -> int:
        return 0o664 if self.groupshared else 0o644


@dataclass(frozen=True)
class ExchangeCheck:
    """Whether a submissions folder is an nbgrader course's ``submitted/`` tree:
    ``course`` when it is, else None and ``why_not``, one line for the instructor.
    ``in_nbgrader_course``: the folder is inside a folder with an nbgrader config, so
    ``why_not`` is worth printing (for a plain folder of notebooks it is only noise)."""

    course: NbgraderCourse | None
    why_not: str = ""
    in_nbgrader_course: bool = False


def check_exchange(submissions_path: str | os.PathLike) -> ExchangeCheck:
    """Decide whether feedback for ``submissions_path`` goes to nbgrader's exchange: it
    must be the ``submitted/`` folder (as the course's nbgrader config names it) of a
    folder holding ``nbgrader_config.py`` that is that config's course root, laid out as
    nbgrader's default ``{nbgrader_step}/{student_id}/{assignment_id}``. Never raises
    for a folder that is not such a tree: the reason is in ``why_not``."""
    path = Path(submissions_path).resolve()
    lead = "feedback is not written for nbgrader release_feedback:"
    if not path.is_dir():
        return ExchangeCheck(None, f"{lead} {path} is not a folder, so not an nbgrader "
                                   "submitted/ tree")
    parent = path.parent
    if not _has_config(parent):
        return ExchangeCheck(None, f"{lead} {parent} has no {CONFIG_NAME}.py, so {path} is "
                                   "not an nbgrader course's submitted/ folder")
    try:
        course = read_course(parent)
    except GraderError as exc:
        return ExchangeCheck(None, f"{lead} {exc}", in_nbgrader_course=True)
    if course.submitted_directory != path.name:
        return ExchangeCheck(None, f"{lead} the nbgrader course {parent} collects into "
                                   f"{course.submitted_directory}/, not {path.name}/",
                             in_nbgrader_course=True)
    return ExchangeCheck(course, in_nbgrader_course=True)


def exchange_course_root(submissions_path: str | os.PathLike) -> Path | None:
    """The nbgrader course root whose ``submitted/`` tree ``submissions_path`` is, or None
    (then :func:`check_exchange` says why in one line)."""
    course = check_exchange(submissions_path).course
    return course.root if course else None


def read_course(course_root: str | os.PathLike) -> NbgraderCourse:
    """The CourseDirectory settings nbgrader uses when run in ``course_root``: the config
    files on Jupyter's config path, then the course's own ``nbgrader_config.py`` (later
    ones win, as in nbgrader). Raises GraderError, one line, when the folder has no
    nbgrader config, a config cannot be read, the config's course root is another folder,
    or it changes nbgrader's directory layout (release_feedback would look elsewhere)."""
    folder = Path(course_root).resolve()
    if not _has_config(folder):
        raise GraderError(f"{folder} is not an nbgrader course root: no {CONFIG_NAME}.py")
    settings = _course_directory_config(folder)
    root = Path(folder, os.path.expanduser(str(settings.get("root", folder)))).resolve()
    if root != folder:
        raise GraderError(f"the nbgrader config of {folder} sets CourseDirectory.root to "
                          f"{root}, not that folder")
    structure = str(settings.get("directory_structure", DEFAULT_STRUCTURE))
    if os.path.normpath(structure) != os.path.normpath(DEFAULT_STRUCTURE):
        raise GraderError(f"the nbgrader course {folder} sets CourseDirectory."
                          f"directory_structure to {printable(structure, 80)}: only "
                          f"nbgrader's default {DEFAULT_STRUCTURE} is supported")
    names = {}
    for key, default in (("submitted_directory", "submitted"),
                         ("feedback_directory", "feedback")):
        names[key] = str(settings.get(key, default))
        if not _is_one_name(names[key]):
            raise GraderError(f"the nbgrader course {folder} sets CourseDirectory.{key} to "
                              f"{printable(names[key], 80)}: expected one folder name")
    return NbgraderCourse(folder, groupshared=bool(settings.get("groupshared", False)),
                          **names)


def feedback_path(course_root: str | os.PathLike | NbgraderCourse, assignment: str,
                  student_id: str, notebook_id: str) -> Path:
    """Where ``nbgrader release_feedback`` looks for a student's page:
    ``<course root>/feedback/<student_id>/<assignment>/<notebook_id>.html``.
    ``notebook_id`` is the submitted notebook's file name without ``.ipynb``."""
    course = _course(course_root)
    _check_names(assignment=assignment, student_id=student_id, notebook_id=notebook_id)
    return course.feedback_dir(assignment, student_id) / f"{notebook_id}.html"


def write_feedback(course_root: str | os.PathLike | NbgraderCourse, assignment_name: str,
                   student_id: str, notebook_id: str, html: str) -> Path:
    """Write one student's feedback page where ``nbgrader release_feedback`` releases it,
    with the submission's ``timestamp.txt`` and ``submission_secret.txt`` beside it, and
    return the page's path. ``student_id`` is spelled as the ``submitted/`` folder spells
    it; ``notebook_id`` is the graded notebook's name without ``.ipynb`` (for a
    SubmissionResult, ``Path(result.notebook).stem``). Each file is replaced atomically
    (a temporary file, then os.replace), so a release running meanwhile copies the old
    page or the new one, never half of one. ``course_root`` may be an
    :class:`NbgraderCourse` already read, to read the config once for a whole class.

    Raises GraderError, one line, for this student alone when the submission was not made
    by ``nbgrader submit`` and ``nbgrader collect`` (no secret: nbgrader could not name the
    released page) or does not hold that notebook."""
    course = _course(course_root)
    page = feedback_path(course, assignment_name, student_id, notebook_id)
    submitted = course.submission_dir(assignment_name, student_id)
    if not submitted.is_dir():
        raise GraderError(f"no nbgrader submission {submitted}: feedback for "
                          f"{printable(student_id, 60)} not written")
    for name in SUBMISSION_FILES:
        if not (submitted / name).is_file():
            raise GraderError(f"{submitted} has no {name} (it was not made by nbgrader "
                              "submit and collect, 0.8 or later), so nbgrader "
                              "release_feedback cannot release its feedback")
    if not (submitted / f"{notebook_id}.ipynb").is_file():
        raise GraderError(f"{submitted} has no {printable(notebook_id, 60)}.ipynb: "
                          "nbgrader fetch_feedback finds feedback by the submitted "
                          "notebook's name")
    _make_dirs(page.parent, course)
    # The secret and timestamp first: a page visible to release_feedback has them.
    for name in SUBMISSION_FILES:
        write_atomically(page.parent / name, (submitted / name).read_bytes(), course.file_mode)
    write_atomically(page, html, course.file_mode)
    return page


def submitted_student_id(course: NbgraderCourse, notebook: str | os.PathLike) -> str | None:
    """The student id as the ``submitted/`` tree spells it (the roster's may differ in
    case), for a notebook in that tree (``submitted/<student>/<assignment>/*.ipynb``);
    None for a notebook elsewhere. The notebook's folder is made absolute with symlinks
    resolved, as ``course.root`` is, so a tree given as a relative path (``autograder
    grade ps01 submitted`` in the course root) is recognised."""
    folder = Path(notebook).parent.resolve()
    try:
        parts = folder.relative_to(course.root / course.submitted_directory).parts
    except ValueError:
        return None
    return parts[0] if len(parts) == 2 else None


def _course(course: str | os.PathLike | NbgraderCourse) -> NbgraderCourse:
    return course if isinstance(course, NbgraderCourse) else read_course(course)


def _course_directory_config(folder: Path) -> dict:
    """CourseDirectory's settings from jupyter_config and nbgrader_config files, loaded
    in nbgrader's order: Jupyter's config path lowest priority first, the course last."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    path = [str(d) for d in reversed(jupyter_config_path())]
    files = [Path(d, f"{base}{ext}") for base in ("jupyter_config", CONFIG_NAME)
             for d in path for ext in (".py", ".json")]
    files += [folder / f"{CONFIG_NAME}.py", folder / f"{CONFIG_NAME}.json"]
    merged = Config()
    for file in files:
        if not file.is_file():
            continue
        loader = PyFileConfigLoader if file.suffix == ".py" else JSONFileConfigLoader
        try:
            merged.merge(loader(file.name, path=str(file.parent)).load_config())
        except Exception as exc:  # a config file is code: any error is the file's
            raise GraderError(f"cannot read nbgrader config {file}: "
                              f"{type(exc).__name__}: {printable(exc, 120)}") from exc
    return dict(merged.get("CourseDirectory", {}))


def _has_config(folder: Path) -> bool:
    return any((folder / f"{CONFIG_NAME}{ext}").is_file() for ext in (".py", ".json"))


def _is_one_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name \
        and os.sep not in name and "\0" not in name


def _check_names(**names: str) -> None:
    """A name that would climb out of its folder (or into another) is refused."""
    for what, name in names.items():
        if not _is_one_name(str(name)):
            raise GraderError(f"{what} {printable(name, 60)!r} is not a plain file name: "
                              "no feedback written")


def _make_dirs(folder: Path, course: NbgraderCourse) -> None:
    """Create ``folder`` and its parents; in a groupshared course, group-writable and
    setgid as nbgrader makes them, so other instructors can replace the pages."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    if course.groupshared:
        for p in missing:
            p.chmod(p.stat().st_mode | 0o2770)
