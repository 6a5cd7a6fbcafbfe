#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs what grading needs: Bubblewrap (the sandbox; Docker may refuse it at
# grading time, see run_autograder), util-linux's prlimit/setpriv/choom (the limits), a
# Python >= 3.11 in /autograder/venv, this project's pinned requirements.txt from PyPI,
# and the project itself (editable: the grader and the course library stay outside the
# venv, so the sandbox, which sees the venv, does not see them; as `autograder grade`).
set -euo pipefail

SOURCE=/autograder/source
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates

PYTHON=""
for candidate in python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ]; then
    # Ubuntu 22.04's python3 is 3.10; its universe has python3.11
    apt-get install -y --no-install-recommends python3.11
    PYTHON=python3.11
fi
apt-get install -y --no-install-recommends "$PYTHON-venv"

"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install -r "$SOURCE/project/requirements.txt"
/autograder/venv/bin/python -m pip install --no-deps -e "$SOURCE/project"
# fail the image build now, not at the first submission, if grading cannot start
/autograder/venv/bin/python -c "import autograder.lms.gradescope, numpy, nbformat"
