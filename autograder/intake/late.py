"""Late work: a due date, per-student extensions and a penalty policy, in a TOML file.

Example ``late.toml`` (given with ``--late-config``, or found as
``course/<assignment>/late.toml``)::

    due = 2026-11-20T23:59:00+00:00     # a TOML date-time with its offset
    policy = "percent_per_day"          # "none", "zero" or "percent_per_day"
    percent = 10                        # percent_per_day: per started day late
    cap = 50                            # ... and never more than this percent

    [extensions]                        # per student: a new due date, or extra days
    alice = 2026-11-22T23:59:00+00:00
    bob = 3

A submission is late by ``ceil((submitted - due) / 1 day)`` days. The penalty is a share
of the points the student earned (automatic and manual): ``zero`` takes all of them,
``percent_per_day`` takes ``min(cap, days * percent)`` percent. Penalties are computed
when grades.csv is written, never stored with a result, so editing this file and running
``autograder grade`` again changes penalties without regrading anyone.

Submission times, in this order: nbgrader's ``timestamp.txt`` beside the notebook, the
time recorded for the file in a Canvas zip, the notebook file's modification time.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autograder.errors import GraderError

POLICIES = ("none", "zero", "percent_per_day")


@dataclass
class LatePolicy:
    due: datetime
    policy: str = "none"
    percent: float = 0.0
    cap: float = 100.0
    extensions: dict[str, datetime] | None = None  # student_id -> extended due date

    def due_for(self, student_id: str) -> datetime:
        extensions = self.extensions or {}
        if student_id in extensions:
            return extensions[student_id]
        # ids differing only in case are one student (see autograder.intake)
        folded = {sid.casefold(): due for sid, due in extensions.items()}
        return folded.get(student_id.casefold(), self.due)


@dataclass
class Lateness:
    days: int  # started days after the (extended) due date; 0 = on time
    fraction: float  # share of the earned points taken away
    message: str  # for the feedback page and the report; "" when on time


def _aware(value: object, what: str, path: Path) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise GraderError(f"{path}: {what} is not a date-time: {value!r}") from exc
    if not isinstance(value, datetime):
        raise GraderError(f"{path}: {what} must be a date-time, got {value!r}")
    if value.tzinfo is None:
        raise GraderError(f"{path}: {what} needs a time zone, e.g. 2026-11-20T23:59:00+00:00")
    return value


def load_policy(path: Path | str) -> LatePolicy:
    """Read and check a late.toml; raises GraderError with one clear line."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GraderError(f"cannot read the late-work file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GraderError(f"{path} is not valid TOML: {exc}") from exc
    if "due" not in data:
        raise GraderError(f"{path}: no due date (due = 2026-11-20T23:59:00+00:00)")
    due = _aware(data["due"], "due", path)
    policy = data.get("policy", "none")
    if policy not in POLICIES:
        raise GraderError(f"{path}: policy must be one of {', '.join(POLICIES)}, "
                          f"got {policy!r}")
    percent, cap = float(data.get("percent", 0)), float(data.get("cap", 100))
    if policy == "percent_per_day" and not (percent > 0 and 0 <= cap <= 100):
        raise GraderError(f"{path}: percent_per_day needs percent > 0 and 0 <= cap <= 100")
    extensions = {}
    for sid, value in data.get("extensions", {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            extensions[sid] = due + timedelta(days=value)
        else:
            extensions[sid] = _aware(value, f"the extension of {sid}", path)
    return LatePolicy(due, policy, percent, cap, extensions)


def assess(policy: LatePolicy | None, student_id: str,
           submitted: datetime | None) -> Lateness:
    """How late ``submitted`` (aware; None: unknown) is, and its penalty."""
    if policy is None or submitted is None:
        return Lateness(0, 0.0, "")
    due = policy.due_for(student_id)
    late_by = submitted - due
    if late_by <= timedelta(0):
        return Lateness(0, 0.0, "")
    days = math.ceil(late_by / timedelta(days=1))
    if policy.policy == "zero":
        fraction = 1.0
    elif policy.policy == "percent_per_day":
        fraction = min(policy.cap, days * policy.percent) / 100
    else:
        fraction = 0.0
    word = "day" if days == 1 else "days"
    cost = f": -{fraction:.0%} of the points" if fraction else " (no penalty)"
    return Lateness(days, fraction, f"submitted {days} {word} late{cost}")


def read_timestamp(notebook_path: Path | str) -> datetime | None:
    """The submission time of a notebook (aware, UTC if no zone is given), or None."""
    return submission_time(notebook_path)[0]


def submission_time(notebook_path: Path | str) -> tuple[datetime | None, str]:
    """(time, where it came from) of a notebook: ``"timestamp.txt"`` (nbgrader's, beside
    it) or ``"file time"`` (its modification time: a Canvas zip's recorded time once
    unpacked, but in a plain folder whatever the last copy left). (None, "") if neither."""
    stamp = Path(notebook_path).parent / "timestamp.txt"
    if stamp.is_file():
        try:
            with open(stamp, "rb") as f:  # a date is short: never read a huge file whole
                text = f.read(200).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        for fmt in ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z",
                    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC), "timestamp.txt"
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), "timestamp.txt"
        except ValueError:
            pass
    try:
        return (datetime.fromtimestamp(Path(notebook_path).stat().st_mtime, tz=UTC),
                "file time")
    except (OSError, OverflowError, ValueError):  # a time past the year 9999
        return None, ""
