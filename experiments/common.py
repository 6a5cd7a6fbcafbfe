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


def merge_results(paths, out, summarise):
    """One result from runs of the same config with different seeds (in the order given):
    runs concatenated, commits listed, CPU seconds added, ``summarise(runs, config)``
    recomputed. Refuses parts whose configs differ in anything but the seeds."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    strip = lambda c: {k: v for k, v in c.items() if k != "seeds"}  # noqa: E731
    if any(strip(p["config"]) != strip(parts[0]["config"]) for p in parts):
        raise SystemExit("configs differ (other than seeds): refusing to merge")
    result = dict(parts[0])
    result["config"] = dict(parts[0]["config"],
                            seeds=[s for p in parts for s in p["config"]["seeds"]])
    result["commit"] = [p["commit"] for p in parts]
    result["runs"] = [r for p in parts for r in p["runs"]]
    result["summary"] = summarise(result["runs"], result["config"])
    result["cpu_seconds_total"] = sum(p["cpu_seconds_total"] for p in parts)
    write_result(out, result, note=f": seeds {result['config']['seeds']}")


def run_cli(doc, main, full, tiny, default_out, summarise=None):
    """``main(cfg, out)`` with the full or --tiny config, on one BLAS thread (so CPU times
    compare across machines and runs). With ``summarise`` (runs, config -> summary), seeds
    can run in separate processes (``--seeds``) and be merged afterwards (``--merge``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a CI-sized run (seconds)")
    parser.add_argument("--out", type=Path, default=default_out)
    if summarise is not None:
        parser.add_argument("--seeds", type=int, nargs="+", help="run only these seeds")
        parser.add_argument("--merge", type=Path, nargs="+", metavar="RESULT",
                            help="merge these result files (same config, other seeds)")
    args = parser.parse_args()
    if getattr(args, "merge", None):
        merge_results(args.merge, args.out, summarise)
        return
    cfg = tiny if args.tiny else full
    if getattr(args, "seeds", None):
        cfg = dict(cfg, seeds=args.seeds)
    with threadpool_limits(limits=1):
        main(cfg, args.out)


def run_cli_with_input(doc, main, full, tiny, default_out, default_input, input_name,
                       summarise):
    """``main(cfg, out, input_path)`` for experiments that read another's result (e.g. a
    ground truth): the command line of run_cli (``--seeds``, ``--merge``) plus
    ``--<input_name>``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a CI-sized run (seconds)")
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument(f"--{input_name}", type=Path, default=default_input, dest="input",
                        help=f"the result file to read (default {default_input.name})")
    parser.add_argument("--seeds", type=int, nargs="+", help="run only these seeds")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="RESULT",
                        help="merge these result files (same config, other seeds)")
    args = parser.parse_args()
    if args.merge:
        merge_results(args.merge, args.out, summarise)
        return
    cfg = tiny if args.tiny else full
    if args.seeds:
        cfg = dict(cfg, seeds=args.seeds)
    with threadpool_limits(limits=1):
        main(cfg, args.out, args.input)
