"""A problem set as the grader sees it: notebook, trusted checks and public probes.

A problem-set folder (``solutions/psNN_topic/``) holds:

* ``psNN_topic.ipynb``: the nbgrader source notebook. Each auto-graded part has a test
  cell whose ``grade_id`` names the part and whose ``points`` give its weight; manually
  graded cells (derivations) have ``grade: true, solution: true``.
* ``probes.py`` (public, released to students): for each part a function
  ``probe(namespace, **inputs) -> {name: array}`` calling the student's code, and
  optional scorers ``score(outputs, inputs) -> (passed, message)`` for parts judged by a
  criterion (e.g. an accuracy threshold) rather than by matching the reference.
* ``checks.py`` (instructor side, never released): ``PARTS``, a list of dicts with
  ``grade_id``, ``probe``, ``functions`` (names that must be defined with ``def``),
  ``inputs(rng, case) -> {name: array}`` (case 0 is the small visible case; 1..cases are
  secret), and optionally ``cases`` (default 3), ``rtol``, ``atol``, ``scorer`` and
  ``public_answer`` (False for a numeric answer, whose visible case would give it away:
  the visible check then only runs it); a backward part lists its forward function in
  ``functions`` too when its probe uses the student's forward (its cache); and
  ``FORBIDDEN_MODULES`` (imports that would hand over an answer) and ``LIBRARY_FILES``
  ({package: [file, ...]}, the parts of the course library the sandbox provides), and
  optionally ``CELLS_CPU_FLOOR`` / ``PART_CPU_FLOOR``, the least CPU seconds a submission
  gets for each of its cells and for each part, whatever the reference answer needs.

Three optional entries of a part make grades fairer (and are published in visible.json,
so the notebook's own checks apply them too):

* ``weights``: {output name: points}, adding up to the part's points, for a part whose
  outputs are separable (a backward pass's dx, dw, db): each output earns its share when
  it is right in every case, so one wrong gradient does not cost the others.
* ``own_work``: {"functions": [...], "forbid": {name: reason}, "calls": {name: most}}, the
  shortcuts the part does not accept (see autograder.ownwork); merged with the set's
  ``OWN_WORK`` (whose ``forbid`` applies to every part), ``functions`` defaulting to the
  part's. Each set's notebook states these rules in its introduction.
* ``visible_cases``: the secret cases whose configuration (case number: stride, padding,
  mask, ...) is also published, drawn from the public seed, so that the visible checks
  take every code path the hidden cases take. Default: all of them, except for parts
  judged by a scorer (training) or with a private answer.

A part judged by a scorer may also name ``scorer_inputs``: inputs its scorer reads and
the student's code never sees (held-out data): the grader strips them from the inputs
it sends into the sandbox, so neither the probe nor the submission receives them.
Visible cases publish them (case 0's held-out data is a public validation split).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypedDict

from autograder.course.compare import DEFAULT_ATOL, DEFAULT_RTOL
from autograder.errors import GraderError

if TYPE_CHECKING:
    import numpy as np


class OwnWorkRule(TypedDict):
    """A part's shortcuts it does not accept (see autograder.ownwork)."""

    functions: list[str]  # the graded functions whose work the part is
    forbid: dict[str, str]  # forbidden name -> reason
    calls: dict[str, int]  # function -> most calls while one of ``functions`` runs


@dataclass
class Part:
    grade_id: str
    points: float
    probe: str
    functions: tuple[str, ...]
    # (rng, case) -> {name: array}; None for a part read from visible.json (validate)
    make_inputs: Callable[[np.random.Generator, int], dict[str, np.ndarray]] | None
    cases: int = 3
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    scorer: str | None = None
    public_answer: bool = True  # False: visible.json does not publish case 0's answer
    weights: dict[str, float] | None = None  # {output name: points}: credit per output
    own_work: OwnWorkRule | None = None
    visible_cases: tuple[int, ...] = ()  # secret cases also published with the public seed
    scorer_inputs: tuple[str, ...] = ()  # inputs for the scorer only: never in the sandbox

    def watch(self) -> dict[str, Any] | None:
        """What the runner counts while the part runs: {"during", "most"}, or None."""
        rule = self.own_work or {}
        if not rule.get("calls"):
            return None
        return {"during": list(rule["functions"]), "most": dict(rule["calls"])}


@dataclass
class Assignment:
    name: str  # e.g. "ps01_fully_connected"
    folder: Path  # the trusted folder holding checks.py, probes.py, the notebook
    notebook: Path
    parts: list[Part]
    manual: dict[str, float]  # grade_id -> points of manually graded cells
    test_sources: set[str]  # sources of the notebook's test cells, to skip in submissions
    forbidden_modules: tuple[str, ...] = ()
    library_files: dict[str, list[str]] = field(default_factory=dict)  # package -> files
    cells_cpu_floor: float = 30.0  # CPU seconds of each cell and each part: never less
    part_cpu_floor: float = 5.0
    # What tells this set's notebooks from others, and work from the stub (see
    # autograder.course.matching): the grade_ids of its answer, test and hand-graded cells; the
    # stripped lines every copy of the release starts with; for each hand-graded cell,
    # the text of the cell before it (to find it by content without metadata).
    all_grade_ids: frozenset[str] = frozenset()
    given_lines: frozenset[str] = frozenset()
    manual_anchors: dict[str, str] = field(default_factory=dict)  # grade_id -> text before

    @property
    def probes_file(self) -> Path:
        return self.folder / "probes.py"

    @property
    def auto_points(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def max_points(self) -> float:
        return self.auto_points + sum(self.manual.values())

    def load_probes(self) -> ModuleType:
        return load_module(self.probes_file, f"probes_{self.name}")


def resolve(name: str, checks_root: Path | str) -> Path:
    """Find the problem-set folder for ``ps01`` or ``ps01_fully_connected``."""
    root = Path(checks_root)
    if not root.is_dir():
        raise GraderError(f"checks folder {root} does not exist")
    matches = sorted(p for p in root.iterdir() if p.is_dir() and
                     (p.name == name or p.name.startswith(name + "_")))
    if len(matches) != 1:
        known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) or "none"
        what = "no" if not matches else "more than one"
        raise GraderError(f"{what} problem set matches '{name}' in {root} (known: {known})")
    return matches[0]


def load_module(path: Path | str, module_name: str) -> ModuleType:
    """Import the Python file at ``path`` as ``module_name`` (checks.py, probes.py): the
    grader's one loader of a problem set's code (the sandbox has its own, standalone copy
    in run/in_sandbox.py, since nothing of the grader is importable there)."""
    path = Path(path)
    if not path.is_file():
        raise GraderError(f"missing file {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nbgrader_cells(
        notebook_json: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(cell, nbgrader metadata) for each cell that has nbgrader metadata."""
    for cell in notebook_json.get("cells", []):
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        if isinstance(meta, dict):
            yield cell, meta


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (a list of lines is joined; anything else is empty)."""
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(x for x in source if isinstance(x, str))
    return source if isinstance(source, str) else ""


def _weights(set_name: str, grade_id: str, weights: Mapping[str, float] | None,
             points: float) -> dict[str, float] | None:
    if not weights:
        return None
    total = sum(float(w) for w in weights.values())
    if abs(total - points) > 1e-9:
        raise GraderError(f"{set_name}: the weights of {grade_id} add up to {total:g}, but "
                          f"its test cell gives {points:g} points")
    return {str(k): float(w) for k, w in weights.items()}


def own_work_rule(spec: dict[str, Any], set_rule: dict[str, Any]) -> OwnWorkRule | None:
    """A part's own_work rule merged with the set's OWN_WORK, or None if it has none."""
    part_rule = spec.get("own_work") or {}
    forbid = {**set_rule.get("forbid", {}), **part_rule.get("forbid", {})}
    calls = dict(part_rule.get("calls", {}))
    if not forbid and not calls:
        return None
    return {"functions": list(part_rule.get("functions", spec.get("functions", ()))),
            "forbid": forbid, "calls": calls}


def load(name: str, checks_root: Path | str) -> Assignment:
    """Load a problem set: its notebook's grade cells, checks.py and probes.py."""
    folder = resolve(name, checks_root)
    checks = load_module(folder / "checks.py", f"checks_{folder.name}")
    notebook = folder / getattr(checks, "NOTEBOOK", f"{folder.name}.ipynb")
    try:
        nb = json.loads(notebook.read_text())
    except (OSError, ValueError) as exc:
        raise GraderError(f"cannot read the source notebook {notebook}: {exc}") from exc
    test_points, manual, test_sources = {}, {}, set()
    for cell, meta in nbgrader_cells(nb):
        if not meta.get("grade"):
            continue
        if meta.get("solution") or cell.get("cell_type") == "markdown":
            manual[meta["grade_id"]] = float(meta.get("points", 0))
        else:
            test_points[meta["grade_id"]] = float(meta.get("points", 0))
            test_sources.add(cell_source(cell).strip())
    parts = []
    set_rule = getattr(checks, "OWN_WORK", {})
    for spec in checks.PARTS:
        gid = spec["grade_id"]
        if gid not in test_points:
            raise GraderError(f"{folder.name}: checks.py grades '{gid}' but the notebook "
                              f"has no test cell with that grade_id")
        points = test_points.pop(gid)
        cases = spec.get("cases", 3)
        public = spec.get("public_answer", True) and not spec.get("scorer")
        parts.append(Part(
            grade_id=gid, points=points, probe=spec["probe"],
            functions=tuple(spec.get("functions", ())), make_inputs=spec["inputs"],
            cases=cases, rtol=spec.get("rtol", DEFAULT_RTOL),
            atol=spec.get("atol", DEFAULT_ATOL), scorer=spec.get("scorer"),
            public_answer=spec.get("public_answer", True),
            weights=_weights(folder.name, gid, spec.get("weights"), points),
            own_work=own_work_rule(spec, set_rule),
            visible_cases=tuple(int(c) for c in spec.get(
                "visible_cases", range(1, cases + 1) if public else ())),
            scorer_inputs=tuple(spec.get("scorer_inputs", ())),
        ))
    if test_points:
        raise GraderError(f"{folder.name}: test cells {sorted(test_points)} have no check "
                          f"in checks.py")
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    anchors = {}
    for i, cell in enumerate(cells):
        gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if gid in manual and i > 0:
            anchors[gid] = cell_source(cells[i - 1]).strip()
    return Assignment(
        name=folder.name, folder=folder, notebook=notebook, parts=parts, manual=manual,
        test_sources=test_sources,
        forbidden_modules=tuple(getattr(checks, "FORBIDDEN_MODULES", ())),
        library_files=dict(getattr(checks, "LIBRARY_FILES", {})),
        cells_cpu_floor=float(getattr(checks, "CELLS_CPU_FLOOR", 30.0)),
        part_cpu_floor=float(getattr(checks, "PART_CPU_FLOOR", 5.0)),
        all_grade_ids=answer_grade_ids(nb),
        given_lines=frozenset(given_lines(nb)),
        manual_anchors=anchors,
    )


def answer_grade_ids(nb: dict[str, Any]) -> frozenset[str]:
    """grade_ids of a notebook's answer, test and hand-graded cells: what is particular to
    a set (locked cells such as "imports" may carry the same id in every set)."""
    return frozenset(m["grade_id"] for _, m in nbgrader_cells(nb)
                     if isinstance(m.get("grade_id"), str)
                     and (m.get("grade") or m.get("solution")))


# What nbgrader's generate_assignment puts where a solution was.
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE")


def given_lines(source_nb: dict[str, Any]) -> set[str]:
    """Stripped, non-blank lines of the source notebook outside its ``### BEGIN/END
    SOLUTION`` blocks, and nbgrader's stub lines: what a student's copy holds before any
    work."""
    given = set(STUB_LINES)
    for cell in source_nb.get("cells", []):
        if isinstance(cell, dict):
            given |= outside_solution(cell_source(cell))
    return given


def outside_solution(source: str) -> set[str]:
    """Stripped, non-blank lines of a cell's source outside its ``### BEGIN SOLUTION`` /
    ``### END SOLUTION`` region: the part of a solution cell that is released."""
    lines, inside = set(), False
    for line in source.splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif not inside and line.strip():
            lines.add(line.strip())
    return lines
