"""Every chapter executes, and every claim it asserts holds, under a second floating-point
environment: another OpenBLAS kernel than this machine's own, and one BLAS thread.

`make book` executes the chapters with the machine's own kernel (e.g. SkylakeX on an AMD
EPYC) and its default thread count; readers build on other CPUs. A chapter whose asserted
claim depends on the rounding of one chaotic run fails here. The chapters run in two
processes side by side (one BLAS thread each, two cores).
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import threadpoolctl
from book_helpers import toc_files

ROOT = Path(__file__).resolve().parents[1]


def chapters():
    return [ROOT / f"{f}.md" for f in toc_files() if Path(f).name.startswith("ch")]


def native_kernel():
    import numpy  # noqa: F401  (loads OpenBLAS, so threadpoolctl can see it)

    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return blas[0].get("architecture", "") if blas else ""


def other_kernel():
    """An OpenBLAS kernel every x86-64 CPU of the last decade runs, other than ours."""
    return "Sandybridge" if native_kernel().lower() == "haswell" else "Haswell"


def run(group, coretype):
    cmd = [sys.executable, str(ROOT / "tools" / "execute_chapter.py"), *map(str, group),
           "--coretype", coretype, "--threads", "1"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)


def test_every_chapter_holds_under_another_blas_kernel_and_one_thread():
    coretype = other_kernel()
    files = chapters()
    assert len(files) == 8, files
    # Two balanced groups: the long chapters (5-7) do not all land in one.
    groups = [files[0::2], files[1::2]]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda g: run(g, coretype), groups))
    lines = [ln for r in results for ln in r.stdout.splitlines() if "BLAS kernel" in ln]
    report = "\n".join(lines) + "\n" + "\n".join(r.stderr[-2000:] for r in results
                                                 if r.returncode)
    assert all(r.returncode == 0 for r in results), report
    # The kernel really was the other one, with one thread, in every chapter.
    assert len(lines) == len(files), report
    assert all(f"BLAS kernel {coretype}, 1 threads" in ln for ln in lines), report
