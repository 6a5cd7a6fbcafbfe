"""Local parallel grading vs a Dask cluster of the same total workers on this machine.

200 synthetic ps01 submissions (the solution with a random quarter of its answer cells
reset to the stub, as in bench_grading) are graded twice with the same secret seed: by
`autograder grade` on its default local workers (one per core), and by the same command
with `--scheduler` pointing at a Dask cluster started here with one single-threaded worker
per core. Prints both times, the overhead of distribution, and whether the CSVs are
identical. BLAS is pinned to one thread per sandbox on both sides.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_grading import ASSIGNMENT, ENV, make_submission, run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
N_STUDENTS = 200


def start_cluster(n_workers, folder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], cwd=folder, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for i in range(n_workers):
        w = folder / f"worker{i}"
        w.mkdir()
        procs.append(subprocess.Popen([BIN / "dask", "worker", address, "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", w], cwd=w,
                                      env=ENV, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(n_workers, timeout=120)
    return address, procs


def main():
    nb = json.loads((ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    rng = np.random.default_rng(1)
    workers = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flat = tmp / "flat"
        flat.mkdir()
        for i in range(N_STUDENTS):
            text = json.dumps(make_submission(nb, rng, p_stub=0.0 if i == 0 else 0.25))
            (flat / f"s{i:03d}.ipynb").write_text(text)
        t_local, _ = run([str(BIN / "autograder"), "grade", "ps01", str(flat),
                          "--course-dir", str(tmp / "local"), "--quiet"], ROOT)
        (tmp / "dask" / ASSIGNMENT).mkdir(parents=True)
        shutil.copy(tmp / "local" / ASSIGNMENT / "secret-seed",
                    tmp / "dask" / ASSIGNMENT / "secret-seed")
        address, procs = start_cluster(workers, tmp)
        try:
            t_dask, _ = run([str(BIN / "autograder"), "grade", "ps01", str(flat),
                             "--course-dir", str(tmp / "dask"), "--scheduler", address,
                             "--quiet"], ROOT)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        same = (tmp / "local" / ASSIGNMENT / "grades.csv").read_bytes() == \
            (tmp / "dask" / ASSIGNMENT / "grades.csv").read_bytes()
    print(f"{N_STUDENTS} ps01 submissions; {workers} local workers vs a Dask cluster of "
          f"{workers} single-threaded workers on this machine; BLAS 1 thread per sandbox")
    print(f"local parallel : {t_local:6.1f} s ({t_local / N_STUDENTS:.2f} s each)")
    print(f"Dask cluster   : {t_dask:6.1f} s ({t_dask / N_STUDENTS:.2f} s each)")
    print(f"overhead of distribution: {t_dask / t_local - 1:+.1%}")
    print(f"identical CSVs : {same}")


if __name__ == "__main__":
    main()
