"""Points for the student's own work: the shortcuts a part does not accept.

A part that asks for an analytic gradient, a loop implementation or a layout transform is
not passed by code that skips that work. A part's rule (``own_work`` in checks.py, merged
with the set's ``OWN_WORK``; see autograder.course.assignment) has three entries:

* ``functions``: the graded functions whose work the part is (a backward part names its
  backward pass, not the forward pass its probe also calls);
* ``forbid``: {name: reason}. Neither those functions nor any function of the notebook
  they reach may use a forbidden name: a module (``scipy.signal``: everything in it), a
  function (``numpy.convolve``), or a bare name (``eval_numerical_gradient``), which
  matches whatever it is imported from and a function of the notebook of that name.
  Checked here, on the notebook's text, by the trusted grader (and by the notebook's own
  test cells and ``autograder validate``, which apply the same rule);
* ``calls``: {function: most}. While one of ``functions`` runs, each named function may
  be entered at most that many times: a gradient by finite differences runs the forward
  pass once or twice for every entry of every gradient, an analytic one not at all.
  Counted where the code runs (``autograder.run.in_sandbox.watched_calls``).

Names are resolved as Python would at the end of the notebook: through imports and their
aliases (``import numpy as np``, ``from scipy import signal as s``), module-level
assignments (``conv = np.convolve``, ``f = functools.partial(...)``, lambdas),
``getattr(np, "convolve")``, ``__import__`` and ``importlib.import_module`` with a
constant name, and star imports. A student who hides a name better than that is not
taking a shortcut by mistake; the rule is for the honest majority, and the counted calls
do not depend on names at all.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from autograder.course.notebooks import _module_level_nodes, parse_cell

if TYPE_CHECKING:
    from autograder.course.assignment import OwnWorkRule

REASONS = {
    "finite-differences": "this part asks for the analytic gradient you derive; a gradient "
                          "estimated by finite differences does not count",
    "library": "this part asks for your own code, not a library routine that does its job",
}

# Groups that checks.py files combine: {name: reason}.
FINITE_DIFFERENCES = {name: "finite-differences" for name in (
    "eval_numerical_gradient", "eval_numerical_gradient_array", "numerical_gradient",
    "dlcourse.gradcheck", "scipy.optimize.approx_fprime", "scipy.optimize.check_grad",
    "scipy.differentiate", "numdifftools")}
# Libraries that compute layers, gradients or statistics for you.
FRAMEWORKS = {name: "library" for name in (
    "torch", "jax", "tensorflow", "keras", "autograd", "mxnet", "paddle", "cupy",
    "scipy", "sklearn", "skimage", "numdifftools")}
# NumPy's own convolutions and window views.
CONVOLUTION = {name: "library" for name in (
    "numpy.convolve", "numpy.correlate", "numpy.fft", "numpy.lib.stride_tricks")}
WINDOW_VIEWS = {"numpy.lib.stride_tricks": "library"}

_BUILTINS = set(dir(builtins))


def merge(*groups: Mapping[str, str]) -> dict[str, str]:
    """One {name: reason} from several groups (later ones win)."""
    merged = {}
    for group in groups:
        merged.update(group)
    return merged


def matches(dotted: str, forbid: Iterable[str]) -> str | None:
    """The forbidden entry ``dotted`` falls under, or None."""
    for entry in forbid:
        if dotted == entry or dotted.startswith(entry + ".") or (
                "." not in entry and dotted.endswith("." + entry)):
            return entry
    return None


class Program:
    """The notebook's top-level names at its end: what each one is bound to."""

    def __init__(self, cells: Iterable[str]) -> None:
        self.defs: dict[str, ast.AST] = {}  # a def, a class, or the value of an assignment
        self.aliases: dict[str, str] = {}  # name -> dotted name ("numpy", "scipy.signal.x")
        self.stars: list[str] = []  # modules imported with *
        for source in cells:
            try:
                tree = parse_cell(source)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue  # as the source rules do: a cell that does not parse defines nothing
            for node in _module_level_nodes(tree):
                self._bind(node)

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._set(node.name, node=node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for name, dotted in _import_bindings(node):
                if name == "*":
                    self.stars.append(dotted)
                else:
                    self._set(name, alias=dotted)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    dotted = _dotted(node.value, self.aliases.get, set())
                    if dotted is not None:
                        self._set(target.id, alias=dotted)
                    else:
                        self._set(target.id, node=node.value)
                else:
                    for name in _target_names(target):
                        self._set(name)

    def _set(self, name: str, node: ast.AST | None = None, alias: str | None = None) -> None:
        self.defs.pop(name, None)
        self.aliases.pop(name, None)
        if node is not None:
            self.defs[name] = node
        if alias is not None:
            self.aliases[name] = alias

    def first_shortcut(self, function: str,
                       forbid: Mapping[str, str]) -> tuple[str, str, list[str]] | None:
        """(entry, dotted name, [path of functions]) of the first forbidden name that
        ``function`` or a notebook function it reaches uses, or None."""
        todo, seen = [(function, [function])], {function}
        while todo:
            name, path = todo.pop(0)
            node = self.defs.get(name)
            if node is None:
                continue
            used, reached = self._uses(node)
            for dotted in sorted(used, key=lambda d: (-len(d), d)):  # the fullest name
                entry = matches(dotted, forbid)
                if entry:
                    return entry, dotted, path
            for callee in reached:
                if callee not in seen:
                    seen.add(callee)
                    todo.append((callee, [*path, callee]))
        return None

    def _uses(self, node: ast.AST) -> tuple[set[str], set[str]]:
        """(dotted names used, notebook names reached) by one definition or value."""
        local, local_aliases = _local_bindings(node)

        def resolve(name: str) -> str | None:
            if name in local_aliases:
                return local_aliases[name]
            if name in local:
                return None
            return self.aliases.get(name, name)

        used, reached = set(), set()
        for sub in ast.walk(node):
            dotted = None
            if isinstance(sub, ast.Name | ast.Attribute):
                dotted = _dotted(sub, resolve, local)
            elif isinstance(sub, ast.Call):
                dotted = _dynamic_name(sub, resolve, local)
            if dotted is None:
                continue
            used.add(dotted)
            if isinstance(sub, ast.Name) and self.stars and dotted == sub.id and \
                    dotted not in self.defs and dotted not in _BUILTINS:
                used.update(f"{module}.{dotted}" for module in self.stars)
            if dotted in self.defs:
                reached.add(dotted)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            reached.discard(getattr(node, "name", None))
        return used, reached


def _import_bindings(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(name bound, dotted name it stands for) of an import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                yield alias.asname, alias.name
            else:
                root = alias.name.split(".")[0]
                yield root, root
    elif node.level == 0 and node.module:
        for alias in node.names:
            if alias.name == "*":
                yield "*", node.module
            else:
                yield alias.asname or alias.name, f"{node.module}.{alias.name}"


def _target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _local_bindings(node: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Names a function binds itself (arguments, assignments, loops, imports inside it),
    and the imports among them: {name: dotted}. Empty for a module-level value."""
    local, aliases = set(), {}
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda |
                      ast.ClassDef):
        return local, aliases
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            local.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            local.add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef |
                        ast.ExceptHandler) and sub is not node and sub.name:
            local.add(sub.name)  # nested definitions, `except ... as name`
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            for name, dotted in _import_bindings(sub):
                if name != "*":
                    aliases[name] = dotted
    return local, aliases


def _dotted(node: ast.AST, resolve: Callable[[str], str | None], local: set[str]) -> str | None:
    """"numpy.lib.stride_tricks" for ``np.lib.stride_tricks`` (np an alias of numpy), or
    None when the expression is not a plain name or attribute chain."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and _is_getattr(node):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Call):
            root = _dynamic_name(node, resolve, local)
            if root is None:
                return None
            return ".".join([root, *reversed(parts)])
        elif isinstance(node, ast.Name):
            root = resolve(node.id)
            if root is None:
                return None
            return ".".join([root, *reversed(parts)])
        else:
            return None


def _is_getattr(call: ast.Call) -> bool:
    return (isinstance(call.func, ast.Name) and call.func.id == "getattr"
            and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant)
            and isinstance(call.args[1].value, str))


def _dynamic_name(call: ast.Call, resolve: Callable[[str], str | None],
                  local: set[str]) -> str | None:
    """The module named by ``__import__("m")`` or ``importlib.import_module("m")``, or
    the attribute named by ``getattr(x, "a")``."""
    if _is_getattr(call):
        return _dotted(call, resolve, local)
    func = _dotted(call.func, resolve, local) if isinstance(
        call.func, ast.Name | ast.Attribute) else None
    if func in ("__import__", "importlib.import_module") and call.args and \
            isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def shortcut_message(function: str, entry: str, dotted: str, path: list[str],
                     reason: str) -> str:
    """One line for the student: what was used, where, and why it does not count."""
    where = f" (through {' -> '.join(path[1:])})" if len(path) > 1 else ""
    return f"{function} uses {dotted}{where}: {REASONS.get(reason, reason)}"


def check(cells: Iterable[str], rules: Mapping[str, OwnWorkRule | None]) -> dict[str, str]:
    """{grade_id: message} for the parts whose functions take a forbidden shortcut.

    ``rules``: each part's own_work rule; ``cells``: the notebook's code cells' sources.
    """
    program = Program(cells)
    problems = {}
    for grade_id, rule in rules.items():
        if not rule or not rule.get("forbid"):
            continue
        for function in rule.get("functions", ()):
            found = program.first_shortcut(function, rule["forbid"])
            if found:
                entry, dotted, path = found
                problems[grade_id] = shortcut_message(function, entry, dotted, path,
                                                      rule["forbid"][entry])
                break
    return problems
