"""Grading: the reference run, one submission, and the verdict per part.

Points are decided here, in the grader's process, from evidence a submission cannot
forge: the arrays its probes returned for inputs drawn from a secret seed, compared with
the reference answer's arrays for the same inputs.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder import ownwork
from autograder.course.compare import return_hint
from autograder.course.notebooks import check_source_rules, code_to_run, read_notebook
from autograder.errors import GraderError, SubmissionError, printable
from autograder.run.sandbox import Limits, RunResult, run_job
from autograder.status import Status
from autograder.visible import case_labels, judge

if TYPE_CHECKING:
    from autograder.course.assignment import Assignment, Part
    from autograder.course.notebooks import CodeCell

# {(grade_id, case): {name: array}}: a case's inputs, or the outputs its probe returned
CaseArrays = dict[tuple[str, str], dict[str, np.ndarray]]
# {function: [kind, ...]}: what a notebook's functions returned to a probe ("2 values",
# "an array", ...; see run/in_sandbox.py's return_kind)
Kinds = dict[str, list[str]]
# (package, its folder, [file, ...]): course-library files the sandbox offers
LibraryPackage = tuple[str, Path, list[str]]

# CPU-time limits for a submission: this many times the reference answer's own CPU time,
# and never less than the set's floors (so a reference taking 0.01 s still leaves room).
CPU_FACTOR = 10.0
VISIBLE_SEED = 0  # visible cases are public: fixed seed, case 0
NOT_GRADED = "not graded (see the note)"  # a part's message when the notebook could not run


@dataclass
class PartResult:
    grade_id: str
    points: float
    max_points: float
    message: str

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class SubmissionResult:
    student_id: str
    # a Status (autograder.status): ok, errors, timeout, killed, corrupt, ...; a result
    # loaded back from results/ holds the same word as a plain str
    status: str
    parts: list[PartResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line each, for student and grader
    notebook: str = ""  # the path of the notebook graded
    sandbox: str = ""  # how its code was confined (RunResult.sandbox); "" if none ran
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def auto_total(self) -> float:
        return sum(p.points for p in self.parts)


@dataclass
class Reference:
    outputs: CaseArrays  # the reference answer's outputs
    limits: Limits  # the submissions' limits, derived from the reference's CPU times
    cpu_cells: float  # CPU seconds the reference's cells took
    cpu_parts: dict[str, float]  # grade_id -> CPU seconds the reference's part took
    # grade_id -> what the reference's functions returned to the probe, so a message can
    # say what a submission's did
    returned: dict[str, Kinds] = field(default_factory=dict)


def case_inputs(assignment: Assignment, seed: int, visible: bool = False) -> CaseArrays:
    """{(grade_id, case): {name: ndarray}}: the secret cases "1".."n" drawn from ``seed``,
    or with ``visible`` the public ones: case "0" and, as "v1", "v2", ..., the
    configurations of the secret cases listed in the part's ``visible_cases``, except
    those whose inputs do not depend on the seed (a fixed table of sizes): publishing
    them would publish the secret case itself."""
    inputs = {}
    for part in assignment.parts:
        if visible:
            cases = [(0, "0"), *((k, f"v{k}") for k in part.visible_cases
                                 if _depends_on_seed(part, k))]
        else:
            cases = [(k, str(k)) for k in range(1, part.cases + 1)]
        for case, name in cases:
            inputs[(part.grade_id, name)] = _draw(part, seed, case)
    return inputs


def _draw(part: Part, seed: int, case: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, zlib.crc32(part.grade_id.encode()), case])
    return {k: np.asarray(v) for k, v in part.make_inputs(rng, case).items()}


def _depends_on_seed(part: Part, case: int) -> bool:
    a, b = _draw(part, 1, case), _draw(part, 2, case)
    return set(a) != set(b) or any(a[k].shape != b[k].shape or not np.array_equal(a[k], b[k])
                                   for k in a)


def sandbox_inputs(assignment: Assignment, inputs: CaseArrays) -> CaseArrays:
    """The inputs sent into the sandbox: each case's, less its part's scorer_inputs
    (held-out data the scorer reads and the student's code must never see)."""
    private = {p.grade_id: set(p.scorer_inputs) for p in assignment.parts}
    return {key: {k: v for k, v in arrays.items() if k not in private.get(key[0], ())}
            for key, arrays in inputs.items()}


def part_specs(assignment: Assignment, inputs: CaseArrays) -> list[dict[str, Any]]:
    """What the runner needs of each part: {"grade_id", "probe", "cases", "watch"}."""
    return [{"grade_id": p.grade_id, "probe": p.probe,
             "cases": sorted(c for g, c in inputs if g == p.grade_id),
             "watch": p.watch()}
            for p in assignment.parts]


def library_packages(assignment: Assignment) -> list[LibraryPackage]:
    """The course-library files the sandbox may offer.

    The package is located without importing it: the grader never runs course code.
    """
    import importlib.util

    packages = []
    for name, files in assignment.library_files.items():
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise GraderError(f"{assignment.name} needs the package '{name}', not installed")
        packages.append((name, Path(list(spec.submodule_search_locations)[0]), files))
    return packages


def run_reference(assignment: Assignment, inputs: CaseArrays,
                  sandboxed: bool = True) -> Reference:
    """Run the solution notebook's code and probes; derive the submissions' CPU limits."""
    nb = read_notebook(assignment.notebook)
    cells = code_to_run(nb, assignment.test_sources)
    generous = Limits(cell_seconds=600, part_seconds={p.grade_id: 120 for p in assignment.parts})
    result = run_job([c.source for c in cells], part_specs(assignment, inputs),
                     sandbox_inputs(assignment, inputs),
                     assignment.probes_file, generous, library_packages(assignment),
                     sandboxed=sandboxed, numbers=[c.number for c in cells])
    problems = [e for e in result.log if e.get("event") in ("cell-error", "cell-timeout",
                                                              "probe-error", "part-killed")]
    missing = sorted({g for g, c in inputs if (g, c) not in result.outputs})
    if problems or missing or result.exit_status != "ok":
        detail = "; ".join(json.dumps(e) for e in problems[:3]) or result.output[-500:]
        raise GraderError(f"the reference answer of {assignment.name} fails "
                          f"({result.exit_status}; parts without output: {missing}): {detail}")
    probes = assignment.load_probes()
    for part in assignment.parts:
        for (gid, case), got in result.outputs.items():
            if gid == part.grade_id and part.weights and set(part.weights) != set(got):
                raise GraderError(f"{assignment.name}: the weights of {gid} name "
                                  f"{sorted(part.weights)}, but its probe returns "
                                  f"{sorted(got)}")
            if gid == part.grade_id and part.scorer:
                ok, message = getattr(probes, part.scorer)(got, inputs[(gid, case)])
                if not ok:
                    raise GraderError(f"the reference answer of {assignment.name} fails its "
                                      f"own scorer on {gid} case {case}: {message}")
    cpu_cells = next((e["cpu_seconds"] for e in result.log if e.get("event") == "cells-done"), 0)
    cpu_parts = {e["grade_id"]: e["cpu_seconds"] for e in result.log
                 if e.get("event") == "part-done"}
    # Every cell may take ten times what all of the reference's cells take together, so
    # that an honest notebook may split, merge or add cells as it likes.
    limits = Limits(
        cell_seconds=max(assignment.cells_cpu_floor, CPU_FACTOR * cpu_cells),
        part_seconds={g: max(assignment.part_cpu_floor, CPU_FACTOR * t)
                      for g, t in cpu_parts.items()},
    )
    returned: dict[str, Kinds] = {}
    for (gid, _), kinds in returned_kinds(result.log).items():
        for function, ks in kinds.items():
            known = returned.setdefault(gid, {}).setdefault(function, [])
            known.extend(k for k in ks if k not in known)
    return Reference(outputs=result.outputs, limits=limits, cpu_cells=cpu_cells,
                     cpu_parts=cpu_parts, returned=returned)


def returned_kinds(log: list[dict[str, Any]]) -> dict[tuple[str, str], Kinds]:
    """What each case's functions returned, from the runner's "returned" events
    (untrusted: for messages only)."""
    found = {}
    for e in log:
        kinds = e.get("kinds")
        if e.get("event") == "returned" and isinstance(kinds, dict):
            found[(str(e.get("grade_id")), str(e.get("case")))] = {
                str(f)[:100]: [str(k)[:40] for k in ks][:5]
                for f, ks in list(kinds.items())[:20] if isinstance(ks, list)}
    return found


def part_hint(part: Part, run_returned: dict[tuple[str, str], Kinds],
              reference_returned: dict[str, Kinds], message: str) -> str:
    """Why a failed part may have failed, from what its functions returned: "relu_forward
    returned None: ...", or "" when nothing looks wrong."""
    got: Kinds = {}
    for (gid, _), kinds in run_returned.items():
        if gid == part.grade_id:
            for function, ks in kinds.items():
                got.setdefault(function, []).extend(k for k in ks if k not in got[function])
    expected = reference_returned.get(part.grade_id)
    for function, kinds in got.items():
        want = expected.get(function) if expected else None
        hint = return_hint(function, kinds, want, message)
        if hint:
            return hint
    return ""


def judge_part(part: Part, cases: list[str], outputs: CaseArrays, expected: CaseArrays,
               inputs: CaseArrays, probes: ModuleType,
               why_missing: dict[tuple[str, str] | str, str]) -> tuple[float, str]:
    """(points, message) for one part over its cases. ``expected`` may lack a case whose
    answer is not public (validate): then only finite numbers are asked for."""
    labels = case_labels(cases)
    verdicts = []
    for case in cases:
        key = (part.grade_id, case)
        why = why_missing.get(key) or why_missing.get(part.grade_id)
        verdicts.append((labels[case], outputs.get(key), expected.get(key), inputs[key],
                         why))
    spec = {"points": part.points, "weights": part.weights, "rtol": part.rtol,
            "atol": part.atol, "scorer": part.scorer, "reveal": part.public_answer}
    return judge(spec, verdicts, probes)


def explain_missing(log: list[dict[str, Any]],
                    limits: Limits) -> dict[tuple[str, str] | str, str]:
    """Why outputs are missing, by (grade_id, case) or by grade_id (a whole part), from
    the run's (untrusted) log: for messages only."""
    why: dict[tuple[str, str] | str, str] = {}
    for e in log:
        gid = str(e.get("grade_id", ""))
        if e.get("event") == "probe-error":
            why[(gid, str(e.get("case")))] = f"your code raised {e.get('error', 'an error')}"
        elif e.get("event") == "shortcut":
            why[(gid, str(e.get("case")))] = str(e.get("error", "a shortcut"))
        elif e.get("event") == "part-killed":
            seconds = limits.part_seconds.get(gid, 0)
            if e.get("signal") in ("SIGXCPU", "SIGKILL"):
                why[gid] = f"stopped: it ran over its time limit ({seconds:.0f} s of CPU time)"
            elif e.get("signal") == "wall-clock":
                why[gid] = (f"stopped: it slept or waited, using no CPU, for more than "
                            f"{seconds + 5:.0f} s")
            else:
                why[gid] = f"your code's process died ({e.get('signal')})"
    return why


def grade_notebook(student_id: str, path: Path | str, assignment: Assignment,
                   reference: Reference, inputs: CaseArrays, sandboxed: bool = True,
                   expected: CaseArrays | None = None, slot: int = 0,
                   packages: list[LibraryPackage] | None = None) -> SubmissionResult:
    """Grade one notebook file. Never raises for a bad submission: it scores what it earns.

    ``expected`` defaults to the reference outputs; ``validate`` passes the visible ones.
    ``packages`` defaults to the course-library files found here (a Dask worker passes
    the ones it was sent).
    """
    expected = reference.outputs if expected is None else expected
    result = SubmissionResult(student_id=student_id, status=Status.OK, notebook=str(path))
    try:
        nb = read_notebook(path)
        cells = code_to_run(nb, assignment.test_sources)
        rule_problems = check_source_rules(
            cells, [f for p in assignment.parts for f in p.functions],
            assignment.forbidden_modules)
        shortcuts = ownwork.check([c.source for c in cells],
                                  {p.grade_id: p.own_work for p in assignment.parts})
    except SubmissionError as exc:
        return _zero(result, assignment, exc.status, exc.message)
    except Exception as exc:  # noqa: BLE001 - a grader bug this file meets costs only it
        return _zero(result, assignment, Status.GRADER_ERROR, "the grader could not read this "
                     f"notebook ({type(exc).__name__}: {exc}); tell your instructor")
    run = run_job([c.source for c in cells], part_specs(assignment, inputs),
                  sandbox_inputs(assignment, inputs),
                  assignment.probes_file, reference.limits,
                  library_packages(assignment) if packages is None else packages,
                  sandboxed=sandboxed, slot=slot, numbers=[c.number for c in cells])
    result.sandbox, result.cpu_seconds, result.wall_seconds = (
        run.sandbox, run.cpu_seconds, run.wall_seconds)
    result.status, notes = _run_status(run, cells, reference.limits)
    result.notes.extend(notes)
    why_missing = explain_missing(run.log, reference.limits)
    run_returned = returned_kinds(run.log)
    probes = assignment.load_probes()
    for part in assignment.parts:
        cases = sorted(c for g, c in inputs if g == part.grade_id)
        broken = [rule_problems[f] for f in part.functions if f in rule_problems]
        if part.grade_id in shortcuts:
            broken.append(shortcuts[part.grade_id])
        if broken:
            points, message = 0.0, broken[0]
        else:
            points, message = judge_part(part, cases, run.outputs, expected, inputs, probes,
                                         why_missing)
            hint = "" if points == part.points else part_hint(
                part, run_returned, reference.returned, message)
            message = f"{hint} ({message})" if hint else message
        result.parts.append(PartResult(part.grade_id, points, part.points,
                                       printable(message)))
    result.notes = [printable(n) for n in result.notes]
    return result


def _cell_label(cells: list[CodeCell], e: dict[str, Any]) -> str:
    """How Jupyter shows the cell a log event names: 'cell [20] (under "...")'."""
    index = e.get("cell")
    if isinstance(index, int) and 0 <= index < len(cells):
        return cells[index].label
    return "a cell"


def _run_status(run: RunResult, cells: list[CodeCell],
                limits: Limits) -> tuple[Status, list[str]]:
    """Status word and notes from how the sandboxed run ended. ``cells``: the
    :class:`~autograder.course.notebooks.CodeCell` list that ran."""
    notes = []
    events = [e.get("event") for e in run.log]
    n_cells = len(cells)
    for e in run.log:
        label = _cell_label(cells, e)
        if e.get("event") == "cell-error":
            error = str(e.get("error", ""))[:300]
            if error.startswith("SystemExit"):
                notes.append(f"{label} called sys.exit(); the grader ignored it and "
                             f"went on, as Jupyter does")
            else:
                notes.append(f"{label} raised {error}")
        elif e.get("event") == "cell-timeout":
            seconds = e.get("seconds") if isinstance(e.get("seconds"), int | float) else 0
            notes.append(f"{label} was stopped: it used up its {seconds:g} s of CPU time; "
                         f"the cells after it still ran")
    for e in run.log:
        if e.get("event") == "part-killed":
            gid = str(e.get("grade_id", ""))[:100]
            seconds = limits.part_seconds.get(gid, 0)
            if e.get("signal") in ("SIGXCPU", "SIGKILL"):
                notes.append(f"part {gid} was stopped: it ran over its time limit "
                             f"({seconds:.0f} s of CPU time)")
            elif e.get("signal") == "wall-clock":
                notes.append(f"part {gid} was stopped: it slept or waited, using no CPU, "
                             f"for more than {seconds + 5:.0f} s")
            else:
                notes.append(f"part {gid}: your code's process died ({e.get('signal')})")
    if run.refused:
        notes.append(run.refused)
    if run.exit_status == "CPU budget":
        notes.append("your notebook was stopped: it and the processes it started used up "
                     f"their CPU time ({limits.tree_cpu(n_cells):.0f} s in all)")
        return Status.TIMEOUT, notes
    if run.exit_status == "cell limit":
        started = [e for e in run.log if e.get("event") == "cell-start"]
        which = _cell_label(cells, started[-1]) if started else "a cell"
        notes.append(f"your notebook was stopped: {which} ran on past its CPU time "
                     f"({limits.cell_seconds:.0f} s) and ignored the interrupt")
        return Status.TIMEOUT, notes
    if run.exit_status == "idle limit":
        notes.append("your notebook was stopped: it slept or waited, using no CPU, for "
                     f"more than {limits.idle_seconds():.0f} s in all (wall-clock limit)")
        return Status.TIMEOUT, notes
    if run.exit_status == "wall-clock limit":
        notes.append("your notebook was stopped: it ran past the wall-clock limit "
                     f"({limits.wall_seconds(n_cells):.0f} s)")
        return Status.TIMEOUT, notes
    if run.exit_status == "memory budget":
        notes.append("your notebook was stopped: it and the processes it started used more "
                     f"than {limits.memory_bytes / 1024**3:.0f} GB of memory")
        return Status.KILLED, notes
    if "done" not in events:
        started = [e for e in run.log if e.get("event") == "cell-start"]
        where = (f" while running {_cell_label(cells, started[-1])}"
                 if started and "cells-done" not in events else "")
        if run.exit_status in ("killed by SIGXCPU",) or (
                run.exit_status == "killed by SIGKILL"
                and run.cpu_seconds >= limits.process_cpu(n_cells) - 0.5):
            notes.append(f"your notebook ran out of CPU time{where} (its cells may use "
                         f"{limits.cells_cpu(n_cells):.0f} s in all)")
            return Status.TIMEOUT, notes
        how = "it exited" if run.exit_status == "ok" else run.exit_status
        notes.append(f"your notebook's process ended early ({how}){where}; "
                     "parts not reached score 0")
        return Status.KILLED, notes
    if "cell-timeout" in events or "part-killed" in events:
        return Status.TIMEOUT, notes
    raised = {str(e.get("grade_id")) for e in run.log if e.get("event") == "probe-error"}
    if raised:
        notes.append(f"your code raised an error in {len(raised)} graded "
                     f"part{'s' if len(raised) > 1 else ''} (see each part)")
    return (Status.ERRORS if notes else Status.OK), notes


def _zero(result: SubmissionResult, assignment: Assignment, status: str,
          message: str) -> SubmissionResult:
    """Every part 0; the reason once, as a note (not repeated on every part's row)."""
    message = printable(message)
    result.status = status
    result.notes.append(message)
    result.parts = [PartResult(p.grade_id, 0.0, p.points, NOT_GRADED)
                    for p in assignment.parts]
    return result


def missing_result(student_id: str, assignment: Assignment) -> SubmissionResult:
    return _zero(SubmissionResult(student_id=student_id, status=Status.MISSING),
                 assignment, Status.MISSING, "no submission")


def not_graded(student_id: str, assignment: Assignment, status: str,
               message: str) -> SubmissionResult:
    """The result of a submission with nothing to grade (no notebook of this set, a file
    the grader could not read): every part 0, ``message`` once as a note."""
    return _zero(SubmissionResult(student_id=student_id, status=status), assignment,
                 status, message)
