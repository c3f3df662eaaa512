#!/usr/bin/env python3
"""Times the shipped queries with one or more eventfold binaries and DuckDB, alternating.

    python3 scripts/bench_queries.py OUT BINARY [BINARY ...] [--rounds 5]

OUT is an eventfold output folder (e.g. target/bench-out/eventfold-1m, written by
scripts/bench.py); DuckDB comes from the virtual environment bench.py creates
(target/bench-venv). Each round runs every binary and DuckDB once per query, whole
process (start, register, plan, read, print); it prints the medians and each
binary's ratio to DuckDB.
"""

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import bench


def seconds(command):
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=bench.REPO)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    python = bench.venv_python()
    for query in bench.QUERIES:
        times = {binary: [] for binary in args.binaries}
        duck = []
        for _ in range(args.rounds):
            for binary in args.binaries:
                times[binary].append(seconds(
                    [binary, "query", "--out", args.out, "-f", query, "--format", "csv"]))
            duck.append(seconds([str(python), "-c", bench.DUCKDB_QUERY, args.out, query]))
        duck_median = statistics.median(duck)
        cells = "  ".join(
            f"{Path(b).name} {statistics.median(t):.3f} ({statistics.median(t) / duck_median:.2f}x)"
            for b, t in times.items())
        print(f"{query:<44} {cells}  duckdb {duck_median:.3f}")


if __name__ == "__main__":
    main()
