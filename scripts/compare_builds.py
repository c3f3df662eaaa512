#!/usr/bin/env python3
"""Compare eventfold builds on one log: run them alternating, round after round.

    python3 scripts/compare_builds.py LOG ROUNDS BINARY [BINARY ...]

Each round runs every binary once (`eventfold run -i LOG --out target/compare-out/NAME` in the repository, through
bench.py's run_eventfold) and prints its wall time, its CPU time (user + system), the peak memory
and the stage timings from the run's manifest.json; a run that fails is reported (its error is on
stderr) and the rounds go on. At the end: the median wall time, CPU time and peak memory of each
binary. CPU time is the steadier measure of a change in work when the machine's speed drifts. Alternating keeps the machine's
drift out of the comparison.
"""
import shutil
import sys
from pathlib import Path

import bench

STAGES = ("ingest_ms", "staging_ms", "sort_ms", "fold_ms", "events_write_ms", "duplicate_ids_ms")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    log, rounds, binaries = Path(sys.argv[1]), int(sys.argv[2]), [Path(b) for b in sys.argv[3:]]
    results = {b: [] for b in binaries}
    for r in range(1, rounds + 1):
        for binary in binaries:
            out = bench.REPO / "target" / "compare-out" / binary.name
            shutil.rmtree(out, ignore_errors=True)
            try:
                run = bench.run_eventfold(binary, log, out, [])
            except SystemExit as failure:
                print(f"round {r} {binary.name}: {failure}", flush=True)
                continue
            timings = run["manifest"]["timings"]
            peak = (timings.get("peak_rss") or 0) / 2**20
            results[binary].append((run["seconds"], run["cpu"], peak))
            stages = " ".join(f"{k[:-3]} {timings.get(k)}" for k in STAGES)
            print(f"round {r} {binary.name}: {run['seconds']:.2f} s, cpu {run['cpu']:.2f} s, "
                  f"peak {peak:.0f} MiB; ms: {stages}", flush=True)
    for binary, done in results.items():
        if done:
            print(f"{binary.name}: {len(done)} of {rounds} completed, "
                  f"median {bench.median([w for w, _, _ in done]):.2f} s, "
                  f"cpu median {bench.median([c for _, c, _ in done]):.2f} s, "
                  f"peak median {bench.median([p for _, _, p in done]):.0f} MiB")
        else:
            print(f"{binary.name}: no run completed")


if __name__ == "__main__":
    main()
