"""autograder: the course's grading tool for instructors (and ``validate`` for students).

It knows notebooks, nbgrader and the course layout, not the course content: it never
imports ``dlcourse``. Grades come from probes run in a sandbox on secret inputs and
compared, in the grader's own process, with the reference answer.
"""

__version__ = "0.1.0"
