#!/usr/bin/env python3
"""Compare eventfold builds on one log: run them alternating, round after round.

    python3 scripts/compare_builds.py LOG ROUNDS BINARY [BINARY ...]

Each round runs every binary once (`eventfold run -i LOG --out target/compare-out/NAME`) and
prints its wall time, the peak memory and the stage timings from the run's manifest.json; a run
that fails is printed with its error and the rounds go on. At the end: the median wall time and
peak memory of each binary. Alternating keeps the machine's drift out of the comparison.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    log, rounds, binaries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    results = {b: [] for b in binaries}
    for r in range(rounds):
        for binary in binaries:
            name = os.path.basename(binary)
            out = os.path.join("target", "compare-out", name)
            shutil.rmtree(out, ignore_errors=True)
            start = time.time()
            run = subprocess.run([binary, "run", "-i", log, "--out", out], capture_output=True, text=True)
            wall = time.time() - start
            if run.returncode not in (0, 1):
                print(f"round {r + 1} {name}: FAILED (exit {run.returncode}) after {wall:.1f} s: {run.stderr.strip()[-400:]}")
                continue
            with open(os.path.join(out, "manifest.json")) as f:
                t = json.load(f)["timings"]
            peak = (t.get("peak_rss") or 0) / 2**20
            results[binary].append((wall, peak))
            stages = " ".join(f"{k[:-3]} {t.get(k)}" for k in ("ingest_ms", "sort_ms", "fold_ms", "events_write_ms", "duplicate_ids_ms"))
            print(f"round {r + 1} {name}: {wall:.2f} s, peak {peak:.0f} MiB; ms: {stages}", flush=True)
    for binary in binaries:
        done = results[binary]
        if done:
            print(f"{os.path.basename(binary)}: {len(done)} of {rounds} completed, median {statistics.median(w for w, _ in done):.2f} s, "
                  f"peak median {statistics.median(p for _, p in done):.0f} MiB")
        else:
            print(f"{os.path.basename(binary)}: no run completed")


if __name__ == "__main__":
    main()
