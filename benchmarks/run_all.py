"""Run every benchmark in this folder, one after another, and print their reports.

Each benchmark is a script with a ``main()``; each measures its comparisons side by side
in the same run, because these machines are noisy and absolute times drift.
"""

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_mlp", "bench_optim", "bench_cnn", "bench_conv", "bench_bn",
              "bench_residual", "bench_lstm", "bench_lm", "bench_transformer",
              "bench_seq2seq", "bench_attention", "bench_nas", "bench_grading",
              "bench_validate", "bench_grading_overhead", "bench_dask",
              "bench_book_build"]


def main(names):
    sys.path.insert(0, str(HERE))
    for name in names or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(name).main()
        print(f"({name} took {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
