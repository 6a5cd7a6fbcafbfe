"""Book build time: from clean, then a rebuild with nothing changed, then every page
re-rendered from the warm execution cache, all in one run into a temporary folder."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JB = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT),
      "--warningiserror", "--nitpick", "--keep-going"]


def timed_build(out, *extra):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    t0 = time.perf_counter()
    subprocess.run([*JB, "--path-output", out, *extra], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def main():
    with tempfile.TemporaryDirectory() as out:
        clean = timed_build(out)
        cached = timed_build(out)
        rerender = timed_build(out, "--all")
    print(f"clean build (executes every chapter): {clean:6.1f} s")
    rows = [("rebuild, nothing changed", cached), ("all pages re-rendered, cache warm", rerender)]
    for label, t in rows:
        print(f"{label:<36}: {t:6.1f} s  ({clean / t:.1f}x faster than clean)")


if __name__ == "__main__":
    main()
