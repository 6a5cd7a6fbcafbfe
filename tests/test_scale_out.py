"""Grading on a real Dask cluster and into a real PostgreSQL gradebook, both started here.

The Dask cluster is a scheduler and three worker processes, each in its own working folder;
the PostgreSQL server is a throwaway cluster made with Debian's ``initdb``. Neither is a
mock, and a missing server is a failure, not a skip.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from grading_helpers import FIXTURES, read_csv, run_cli, write_review_sheet
from nbgrader.api import Gradebook

BIN = Path(sys.executable).parent
ARGS = ["--roster", FIXTURES / "roster.csv", "--course-root", FIXTURES / "course", "--quiet"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and three single-threaded workers, each in its own folder."""
    from distributed import Client

    work = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    procs = [subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":")[-1],
         "--no-dashboard"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for i in range(3):
        folder = work / f"worker{i}"
        folder.mkdir()
        procs.append(subprocess.Popen(
            [BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard",
             "--local-directory", folder], cwd=folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(3, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_dask_cluster_gives_the_same_csv_as_a_local_run(dask_cluster, tmp_path):
    local = tmp_path / "local"
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir", local, *ARGS)
    assert done.returncode == 0, done.stderr
    remote = tmp_path / "remote"
    (remote / "fx01_tiny").mkdir(parents=True)
    shutil.copy(local / "fx01_tiny/secret-seed", remote / "fx01_tiny/secret-seed")
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir", remote,
                   "--scheduler", dask_cluster, *ARGS)
    assert done.returncode == 0, done.stderr
    assert "on the Dask cluster" in done.stdout
    assert (remote / "fx01_tiny/grades.csv").read_text() == \
        (local / "fx01_tiny/grades.csv").read_text()
    assert read_csv(remote / "fx01_tiny/grades.csv") == \
        read_csv(FIXTURES / "expected_grades.csv")


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path):
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir", tmp_path / "c",
                   "--scheduler", f"tcp://127.0.0.1:{free_port()}", *ARGS)
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler" in done.stderr
    assert "Traceback" not in done.stderr


def _postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is not installed (make test installs Debian's postgresql)"
    return Path(found[-1]).parent


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a Unix socket; its SQLAlchemy URL."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        root.chmod(0o755)
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data, "-U", "grader", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-w", "-l", root / "log",
                    "-o", f"-k {sockets} -p {port} -c listen_addresses=''", "start"],
                   check=True, capture_output=True)
    try:
        wait_for(lambda: (sockets / f".s.PGSQL.{port}").exists(), "PostgreSQL")
        yield f"postgresql+psycopg2://grader@/postgres?host={sockets}&port={port}"
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_postgresql_gradebook_holds_the_same_grades(postgres_url, tmp_path):
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir",
                   tmp_path / "course", "--db", postgres_url, *ARGS)
    assert done.returncode == 0, done.stderr
    assert read_csv(tmp_path / "course/fx01_tiny/grades.csv") == \
        read_csv(FIXTURES / "expected_grades.csv")
    assert not (tmp_path / "course/gradebook.db").exists()  # nothing went to SQLite
    with Gradebook(postgres_url) as gb:
        assert gb.find_grade("relu-backward", "fx01_tiny", "fx01_tiny",
                             "perfect").auto_score == 3
        assert gb.find_grade("relu-backward", "fx01_tiny", "fx01_tiny",
                             "wrong_gradient").auto_score == 0
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "2")])
    imported = run_cli("review", "import", "fx01", tmp_path / "scores.csv", "--course-dir",
                       tmp_path / "course", "--course-root", FIXTURES / "course")
    assert imported.returncode == 0, imported.stderr
    with Gradebook(postgres_url) as gb:  # written to PostgreSQL, the last run's gradebook
        assert gb.find_grade("relu-derivation", "fx01_tiny", "fx01_tiny",
                             "perfect").manual_score == 2
    again = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir",
                    tmp_path / "course", "--db", postgres_url, *ARGS)
    assert again.returncode == 0, again.stderr
    perfect = next(r for r in read_csv(tmp_path / "course/fx01_tiny/grades.csv")
                   if r["student_id"] == "perfect")
    assert perfect["manual_total"] == "2" and perfect["total"] == "8"
