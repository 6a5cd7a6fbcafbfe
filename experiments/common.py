"""What every experiment script shares: the commit it ran at, writing its JSON result, and
its command line (``--tiny`` for CI, ``--out``, one BLAS thread)."""

import argparse
import json
import subprocess
from pathlib import Path

from threadpoolctl import threadpool_limits


def commit_of_checkout():
    """The checkout's commit, or None outside git (recorded with every result)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_result(path, result, compact=False, note=""):
    """The result as JSON at path (folders made as needed); compact for long run lists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, separators=(",", ":")) if compact else json.dumps(result, indent=1)
    path.write_text(text + "\n")
    print(f"wrote {path}{note}")


def run_cli(doc, main, full, tiny, default_out):
    """``main(cfg, out)`` with the full or --tiny config, on one BLAS thread (so CPU times
    compare across machines and runs)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a CI-sized run (seconds)")
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        main(tiny if args.tiny else full, args.out)
