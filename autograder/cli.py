"""The ``autograder`` command: release, validate, grade."""

import argparse
import os
import shlex
import sys
from pathlib import Path

from autograder.errors import BatchInterruptedError, GraderError

UNCONFINED_WARNING = (
    "WARNING: --no-sandbox: every submission runs UNCONFINED, as your own user, able to "
    "read and change your files; grades.csv, the feedback and the report say so. Not for "
    "credit: install bubblewrap and grade again.")


def find_course_root(start=None):
    """The folder holding nbgrader_config.py and solutions/, from here upwards."""
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise GraderError("no course found: run this inside the course repository (a folder "
                      "with nbgrader_config.py and solutions/), or pass --course-root")


def cmd_release(args):
    from autograder.release import release

    root = Path(args.course_root) if args.course_root else find_course_root()
    names = args.assignments or sorted(p.name for p in (root / "solutions").iterdir()
                                       if (p / "checks.py").is_file())
    for name in names:
        out = release(name, root)
        print(f"released {name} -> {out}")
    return 0


def cmd_validate(args):
    from autograder.validate import print_report, validate

    result, document = validate(Path(args.notebook))
    return print_report(result, document)


def cmd_grade(args):
    from autograder.batch import grade_batch

    root = Path(args.course_root) if args.course_root else find_course_root()
    checks = Path(args.checks) if args.checks else root / "solutions"
    course_dir = Path(args.course_dir) if args.course_dir else root / "course"
    if args.workers is not None and args.workers < 1:
        raise GraderError("--workers must be at least 1")
    if args.no_sandbox:
        print(UNCONFINED_WARNING, file=sys.stderr)
    outcome = grade_batch(args.assignment, args.submissions, course_dir, checks,
                          roster=args.roster, db_url=args.db, progress=not args.quiet,
                          workers=args.workers, force=args.force, scheduler=args.scheduler,
                          late_config=args.late_config, canvas_column=args.canvas_column,
                          sandboxed=not args.no_sandbox)
    if args.no_sandbox:
        print(UNCONFINED_WARNING, file=sys.stderr)
    counts = {}
    for r in outcome.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    where = (f"on the Dask cluster at {args.scheduler}" if args.scheduler
             else f"on {outcome.workers} worker(s)")
    print(f"graded {len(outcome.results)} students of {outcome.assignment} ({summary}); "
          f"{outcome.graded} run now {where}, {outcome.reused} unchanged since the last run "
          "(--force regrades them)")
    print(f"sandbox   : {outcome.sandbox}")
    _print_published(outcome.published)
    print(f"gradebook : {outcome.db_url}")
    return 0


def import_command(args, sheet, course_dir):
    """The `review import` command for this export, as it can be pasted: with the same
    course folder (and checks and course root, if given), paths absolute and quoted."""
    words = ["autograder", "review", "import", args.assignment, str(Path(sheet).resolve()),
             "--course-dir", str(Path(course_dir).resolve())]
    if args.checks:
        words += ["--checks", str(Path(args.checks).resolve())]
    if args.course_root:
        words += ["--course-root", str(Path(args.course_root).resolve())]
    return shlex.join(words)


def _folders(args):
    """(checks root, course folder) of a command, from its options or the course root."""
    root = Path(args.course_root) if args.course_root else find_course_root()
    checks = Path(args.checks) if args.checks else root / "solutions"
    course_dir = Path(args.course_dir) if args.course_dir else root / "course"
    return checks, course_dir


def _print_published(published):
    for line in published.notes:
        print(line)
    print(f"grades    : {published.csv_path}")
    print(f"feedback  : {published.feedback_dir}")
    print(f"report    : {published.report_path}")
    if published.canvas_path:
        print(f"canvas    : {published.canvas_path}")


def cmd_review(args):
    from autograder import review
    from autograder.lock import course_lock

    checks, course_dir = _folders(args)
    if args.action == "export":
        folder, n = review.export(args.assignment, checks, course_dir)
        print(f"{n} answers to grade by hand: {folder / 'review.html'}")
        print(f"fill in the score column of {folder / 'review.csv'}, then run:")
        print(f"  {import_command(args, folder / 'review.csv', course_dir)}")
        return 0
    if not args.sheet:
        raise GraderError("review import needs the filled-in review.csv")
    # One lock over the import and the publishing, so no grade run slips in between.
    with course_lock(course_dir, f"review import {args.assignment}", create=False):
        n, published = review.import_scores(args.assignment, checks, course_dir, args.sheet)
    print(f"{n} hand-graded scores written to the gradebook; published again:")
    _print_published(published)
    return 0


def cmd_publish(args):
    from autograder.course import assignment as assignments
    from autograder.lock import course_lock
    from autograder.publish import republish

    checks, course_dir = _folders(args)
    a = assignments.load(args.assignment, checks)
    with course_lock(course_dir, f"publish {a.name}", create=False):
        published = republish(Path(course_dir).resolve() / a.name, a, args.late_config)
    print(f"published {a.name} from the last graded batch (no submission was run):")
    _print_published(published)
    return 0


def cmd_export(args):
    from autograder.lms.gradescope import export_autograder

    root = Path(args.course_root) if args.course_root else find_course_root()
    checks = Path(args.checks) if args.checks else root / "solutions"
    export_autograder(args.assignment, checks, root, args.out, course_dir=args.course_dir)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Release, validate and grade the course's problem sets. Grades come "
                    "from trusted checks run outside the student's process.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="generate exercises/ from solutions/ (nbgrader)",
                       description="Write visible.json from the reference answer and "
                                   "generate the student release in exercises/.")
    p.add_argument("assignments", nargs="*", help="e.g. ps01 (default: every set)")
    p.add_argument("--course-root", help="the course repository (default: found upwards)")
    p.set_defaults(run=cmd_release)

    p = sub.add_parser("validate", help="run a notebook's visible checks (for students)",
                       description="Run your notebook and its visible checks, outside the "
                                   "notebook, as the grader would. No database needed.")
    p.add_argument("notebook", help="your notebook, in its problem-set folder")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("grade", help="grade a folder of submissions",
                       description="Grade every submission with the trusted checks; write "
                                   "the gradebook, feedback pages and grades.csv.")
    p.add_argument("assignment", help="e.g. ps01 or ps01_fully_connected")
    p.add_argument("submissions", help="nbgrader submitted/ tree, a folder of "
                                       "<student_id>.ipynb files, or a Canvas "
                                       "submissions zip")
    p.add_argument("--roster", help="CSV with a student_id column; absent students are "
                                    "listed as missing")
    p.add_argument("--course-dir", help="working folder for results (default: ./course)")
    p.add_argument("--checks", help="folder of problem sets with their checks.py (default: "
                                    "solutions/; point it at your private copy)")
    p.add_argument("--db", help="gradebook SQLAlchemy URL (default: SQLite in course dir)")
    p.add_argument("--course-root", help="the course repository (default: found upwards)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="submissions graded at once (default: one per core)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="grade on this Dask distributed cluster instead of locally; the "
                        "workers need this project's environment and bubblewrap, not this "
                        "machine's files")
    p.add_argument("--canvas-column", metavar="NAME",
                   help="write canvas_grades.csv with the totals in this column, named as "
                        "in Canvas, e.g. 'PS1 (123456)' (written anyway, as the set's "
                        "name, with a Canvas roster)")
    p.add_argument("--late-config", metavar="late.toml",
                   help="due date, extensions and late penalty (default: "
                        "<course-dir>/<assignment>/late.toml if it exists)")
    p.add_argument("--force", action="store_true",
                   help="regrade everyone, even submissions unchanged since the last run")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run submissions unconfined, as your own user, when bubblewrap is "
                        "not available (not for credit; without this option a missing "
                        "sandbox stops the batch). Results are marked with the mode and "
                        "regraded when the mode changes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_grade)

    p = sub.add_parser("review", help="hand grading: export the derivations, import scores",
                       description="export: write review.csv and review.html with every "
                                   "hand-graded answer of the last graded batch; import: "
                                   "check a filled-in review.csv, write its scores into "
                                   "the gradebook and update grades.csv.")
    p.add_argument("action", choices=["export", "import"])
    p.add_argument("assignment", help="e.g. ps01")
    p.add_argument("sheet", nargs="?", help="import: the filled-in review.csv")
    p.add_argument("--course-dir", help="working folder of `autograder grade` "
                                        "(default: ./course)")
    p.add_argument("--checks", help="folder of problem sets (default: solutions/)")
    p.add_argument("--course-root", help="the course repository (default: found upwards)")
    p.set_defaults(run=cmd_review)

    p = sub.add_parser("publish", help="write grades.csv, feedback and report again",
                       description="Publish the last graded batch of a set again, from its "
                                   "saved results and the gradebook, without running any "
                                   "submission: after hand scores changed in the gradebook, "
                                   "or the late policy (late.toml) was edited.")
    p.add_argument("assignment", help="e.g. ps01")
    p.add_argument("--late-config", metavar="late.toml",
                   help="the late policy to apply (default: the one the last grade run "
                        "used, else <course-dir>/<assignment>/late.toml if it exists)")
    p.add_argument("--course-dir", help="working folder of `autograder grade` "
                                        "(default: ./course)")
    p.add_argument("--checks", help="folder of problem sets (default: solutions/)")
    p.add_argument("--course-root", help="the course repository (default: found upwards)")
    p.set_defaults(run=cmd_publish)
    p = sub.add_parser(
        "export", help="write a set's autograder for another platform (Gradescope)",
        description="gradescope: write the autograder zip of a Gradescope programming "
                    "assignment. Gradescope then grades each submission with this "
                    "project's trusted checks (hidden inputs compared with the reference "
                    "answer outside the notebook), as `autograder grade` does; results "
                    "give one test per part, hand-graded cells as 0-point tests (grade "
                    "them in Gradescope's manual grading). The zip holds checks.py, "
                    "probes.py, the notebook with its solutions stubbed, the grader, the "
                    "reference answer's outputs (run here, once) and the set's SECRET "
                    "SEED (the one `autograder grade` uses): no solution code, but keep "
                    "it private. In Gradescope's container the student's code runs in "
                    "Bubblewrap if it works there, else unsandboxed (CPU and memory "
                    "limits only): each result says which.")
    p.add_argument("platform", choices=["gradescope"], help="where the zip goes")
    p.add_argument("assignment", help="e.g. ps01 or ps01_fully_connected")
    p.add_argument("--out", metavar="ZIP",
                   help="where to write it (default: <course-dir>/<assignment>/"
                        "gradescope.zip, beside the seed)")
    p.add_argument("--checks", help="folder of problem sets (default: solutions/)")
    p.add_argument("--course-dir", help="working folder of `autograder grade`, whose "
                                        "secret seed the zip takes (default: ./course)")
    p.add_argument("--course-root", help="the course repository (default: found upwards)")
    p.set_defaults(run=cmd_export)
    return parser


def main(argv=None):
    # nbgrader runs the `alembic` executable of this environment when it opens a
    # gradebook: make sure it is found even when we were started by full path.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # Nothing heavy is imported here: `validate` must not pay for nbgrader (about 4 s).
    args = build_parser().parse_args(argv)
    # One line at a time even into a pipe or a log file: a "waiting for ..." line or a
    # student's problem line is seen when it happens.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        return args.run(args)
    except BatchInterruptedError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 130
    except GraderError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted; every finished student is saved", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for users; --debug for developers
        if args.debug:
            raise
        print(f"autograder: unexpected error: {type(exc).__name__}: {exc} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
