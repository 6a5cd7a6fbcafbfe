"""Execute book chapters outside Sphinx, optionally under another floating-point setup.

    python tools/execute_chapter.py book/ch05_rnn_lstm.md [more.md ...]
        [--coretype Haswell] [--threads 1] [--out DIR]

Each chapter (a MyST notebook) runs top to bottom in a fresh kernel from the ``book/``
folder, as the book build runs it. ``--coretype`` sets ``OPENBLAS_CORETYPE`` (the OpenBLAS
kernel NumPy uses: Haswell, SkylakeX, Zen, Sandybridge, Prescott, ...) and ``--threads``
the BLAS threads, so a claim that holds only for one rounding of a chaotic computation
fails here. Prints one line per chapter (seconds, or the failing cell and its error) and
exits 1 if any chapter failed. The executed notebooks go to ``--out`` for inspection.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from myst_nb.core.read import read_myst_markdown_notebook
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


# Run first in every kernel: which BLAS kernel and thread count NumPy really uses.
PROBE = ("import numpy as _np, threadpoolctl as _t\n"
         "_b = [i for i in _t.threadpool_info() if i['user_api'] == 'blas'][0]\n"
         "print('BLAS:', _b.get('architecture'), _b['num_threads'])")


def execute(path, env, out_dir, timeout=600):
    """Run one chapter; return (seconds, error text or None, BLAS kernel and threads)."""
    nb = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), path=str(path))
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment it starts in
    try:
        client.execute()
        error = None
    except CellExecutionError as exc:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).strip().splitlines()[-1])
        cell = next((c for c in nb.cells if c.get("cell_type") == "code" and any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        if cell is not None:
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            error = f"cell starting {first[:60]!r}: {error}"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    probe = nb.cells.pop(0)
    blas = "".join(o.get("text", "") for o in probe.get("outputs", [])).strip()
    blas = blas.removeprefix("BLAS: ").replace(" ", ", ", 1) + " threads"
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / (path.stem + ".ipynb"))
    return seconds, error, blas


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path, help="MyST chapter files")
    parser.add_argument("--coretype", help="OPENBLAS_CORETYPE for the kernel")
    parser.add_argument("--threads", type=int, help="BLAS threads for the kernel")
    parser.add_argument("--out", type=Path, help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    env = {}
    if args.coretype:
        env["OPENBLAS_CORETYPE"] = args.coretype
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    setting = ", ".join(f"{k}={v}" for k, v in env.items()) or "default BLAS setup"
    failed = 0
    for chapter in args.chapters:
        seconds, error, blas = execute(chapter.resolve(), env, args.out)
        status = "ok" if error is None else f"FAILED: {error}"
        print(f"{chapter} ({setting}; BLAS kernel {blas}): {seconds:.1f} s, {status}",
              flush=True)
        failed += error is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
