"""nbgrader configuration: this repository is the course directory.

Instructor notebooks (nbgrader "source") live in solutions/, the generated student
release in exercises/. Each set's checks.py is the instructor's and is never released,
nor is any file named *.private.* (held-out data a scorer reads, e.g. ps05's corpus).
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "checks.py", "*.private.*"]
# Every test cell is visible: the trusted checks run outside the notebook, so there is
# nothing hidden to strip.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
