#!/usr/bin/env python3
"""Whole-run benchmarks of eventfold, side by side with DuckDB.

    python3 scripts/bench.py                      # 1M and 10M events, 3 rounds
    python3 scripts/bench.py --sizes 1m --rounds 5
    python3 scripts/bench.py --sizes 10m --memory-limit 512MB --no-duckdb
    python3 scripts/bench.py --sizes 1m --nightly 10000 --no-duckdb

Builds eventfold in release, generates the logs with `eventfold generate` into
target/bench-data (never committed; reused when present), creates a virtual
environment in target/bench-venv with DuckDB from PyPI, then for each size runs
eventfold `run` and the same job in DuckDB (scripts/duckdb_job.py), alternating,
for --rounds rounds, and a few shipped queries with `eventfold query` and DuckDB
over the same Parquet. It prints per-stage events/s, MB/s and peak memory
(from the run's manifest.json), wall time, CPU use and the eventfold/DuckDB
ratio, medians over the rounds, and writes them as JSON to target/bench-results.

--nightly N also times the nightly job: a full run over all but the last N
records (the snapshot, once), then per round `run --incremental` of the last N
records onto a copy of it, against the full run over everything.

Peak memory: eventfold's is read from its manifest (the highest per-phase
VmHWM); DuckDB's is the child's maximum RSS from wait4.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
WORK = REPO / "target"
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
SEED = 7
ANOMALY_RATE = "0.01"
# About a year of working days: 10M events stay inside every timestamp range.
SPAN_DAYS = "250"
# Shipped queries both engines run unchanged.
QUERIES = [
    "queries/analysis/directly_follows.sql",
    "queries/analysis/time_in_status.sql",
    "queries/analysis/rework_rate.sql",
    "queries/analysis/busiest_actors.sql",
    "queries/checks/version_gaps.sql",
    "queries/checks/duplicate_event_ids.sql",
]


def log(message):
    print(message, file=sys.stderr, flush=True)


def timed(command, **kwargs):
    """Runs command; returns (seconds, cpu seconds, max RSS bytes)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(map(str, command))}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def build():
    log("building eventfold (release)")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return TARGET / "release" / "eventfold"


def venv_python():
    venv = WORK / "bench-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log("creating target/bench-venv with duckdb")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    check = subprocess.run([str(python), "-c", "import duckdb"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    return python


def generated_log(eventfold, size):
    data = WORK / "bench-data"
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"tasks-{size}-span{SPAN_DAYS}.ndjson"
    if not path.exists():
        log(f"generating {path.relative_to(REPO)}")
        subprocess.run(
            [str(eventfold), "generate", "--events", str(SIZES[size]), "--seed", str(SEED),
             "--anomaly-rate", ANOMALY_RATE, "--span-days", SPAN_DAYS, "-o", str(path)],
            check=True,
        )
    return path


def split_tail(log_path, tail):
    """Writes the log's last `tail` lines and the lines before them to two files."""
    head_path = log_path.with_name(log_path.stem + f"-head{tail}.ndjson")
    tail_path = log_path.with_name(log_path.stem + f"-tail{tail}.ndjson")
    if not (head_path.exists() and tail_path.exists()):
        total = sum(1 for _ in open(log_path, "rb"))
        with open(log_path, "rb") as source, open(head_path, "wb") as head, \
                open(tail_path, "wb") as rest:
            for number, line in enumerate(source):
                (head if number < total - tail else rest).write(line)
    return head_path, tail_path


def nightly(eventfold, log_path, tail, rounds, extra, full_runs):
    """Times `run --incremental` of the last `tail` records onto a snapshot."""
    head_path, tail_path = split_tail(log_path, tail)
    snapshot = WORK / "bench-out" / f"snapshot-{log_path.stem}-{tail}"
    # Written anew by every bench: a snapshot of another build may not be one
    # this build goes on from (its tables' columns differ).
    log(f"writing the snapshot of {head_path.name}")
    if snapshot.exists():
        shutil.rmtree(snapshot)
    run_eventfold(eventfold, head_path, snapshot, extra)
    out = WORK / "bench-out" / f"nightly-{log_path.stem}"
    runs = []
    for round_number in range(1, rounds + 1):
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(snapshot, out)
        runs.append(run_eventfold(eventfold, tail_path, out, ["--incremental", *extra]))
        log(f"nightly round {round_number}: {runs[-1]['seconds']:.2f} s")
    wall = median([r["seconds"] for r in runs])
    full = median([r["seconds"] for r in full_runs])
    merge = median([r["manifest"]["timings"]["merge_ms"] for r in runs])
    print(f"nightly: {tail:,} new records onto a snapshot of "
          f"{full_runs[-1]['manifest']['counts']['input_records'] - tail:,}: "
          f"{wall:.2f} s median (merge {merge:.0f} ms), full run {full:.2f} s, "
          f"{full / wall:.1f}x less time")
    return {"tail": tail, "seconds": [r["seconds"] for r in runs], "merge_ms": merge,
            "full_seconds": full}


def run_eventfold(eventfold, log_path, out, extra):
    seconds, cpu, _ = timed(
        [str(eventfold), "run", "-i", str(log_path), "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "cpu": cpu, "manifest": manifest}


def run_duckdb(python, log_path, out, extra):
    seconds, cpu, rss = timed(
        [str(python), str(REPO / "scripts" / "duckdb_job.py"), str(log_path), str(out), *extra],
        stdout=subprocess.DEVNULL,
    )
    return {"seconds": seconds, "cpu": cpu, "peak_rss": rss}


DUCKDB_QUERY = """
import sys, glob, duckdb
out, sql = sys.argv[1], open(sys.argv[2]).read()
con = duckdb.connect()
for t in ["events", "transitions", "findings", "rejects"]:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{out}/{t}.parquet')")
for p in glob.glob(f"{out}/state/*.parquet"):
    name = p.rsplit("/", 1)[1][:-len(".parquet")]
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{p}')")
con.execute(sql).fetchall()
"""


def median(values):
    return statistics.median(values) if values else None


def stage_table(runs, input_bytes, events):
    """Per-stage medians: ms, events/s, MB/s of input, peak RSS MiB."""
    stages = [
        ("read+parse+map (ingest)", "ingest_ms", "ingest_peak_rss"),
        ("sort runs (staging thread, in ingest)", "staging_ms", "ingest_peak_rss"),
        ("merge runs (replay's wait)", "sort_ms", "sort_replay_peak_rss"),
        ("fold (replay)", "fold_ms", "sort_replay_peak_rss"),
        ("write events.parquet (own thread)", "events_write_ms", "sort_replay_peak_rss"),
        ("write transitions+state", "tables_write_ms", "sort_replay_peak_rss"),
        ("duplicate event ids (merge of id hashes)", "duplicate_ids_ms", "duplicate_ids_peak_rss"),
        ("findings+manifest", "write_ms", "write_peak_rss"),
        ("whole run (in process)", "total_ms", "peak_rss"),
    ]
    rows = []
    for name, ms_key, rss_key in stages:
        ms = median([r["manifest"]["timings"][ms_key] for r in runs])
        rss = median([r["manifest"]["timings"].get(rss_key) or 0 for r in runs])
        seconds = max(ms, 1) / 1000
        rows.append({
            "stage": name,
            "ms": ms,
            "events_per_s": events / seconds,
            "mb_per_s": input_bytes / seconds / 1e6,
            "peak_rss_mib": rss / 2**20,
        })
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1m,10m", help="comma-separated: 1m, 10m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-limit", help="passed to eventfold run (and DuckDB)")
    parser.add_argument("--threads", type=int, help="passed to eventfold run (and DuckDB)")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--no-queries", action="store_true")
    parser.add_argument("--binary", help="an eventfold binary to measure instead of building one")
    parser.add_argument("--nightly", type=int, metavar="N",
                        help="also time run --incremental of the last N records onto a snapshot")
    args = parser.parse_args()

    eventfold = Path(args.binary).resolve() if args.binary else build()
    python = None if args.no_duckdb else venv_python()
    extra, duck_extra = [], []
    if args.memory_limit:
        extra += ["--memory-limit", args.memory_limit]
        duck_extra += ["--memory-limit", args.memory_limit]
    if args.threads:
        extra += ["--threads", str(args.threads)]
        duck_extra += ["--threads", str(args.threads)]
    results_dir = WORK / "bench-results"
    results_dir.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f}")

    for size in args.sizes.split(","):
        log_path = generated_log(eventfold, size)
        input_bytes = log_path.stat().st_size
        out_ef = WORK / "bench-out" / f"eventfold-{size}"
        out_duck = WORK / "bench-out" / f"duckdb-{size}"
        ours, theirs, loads = [], [], []
        for round_number in range(1, args.rounds + 1):
            loads.append(os.getloadavg()[0])
            ours.append(run_eventfold(eventfold, log_path, out_ef, extra))
            log(f"{size} round {round_number}: eventfold {ours[-1]['seconds']:.2f} s")
            if python:
                theirs.append(run_duckdb(python, log_path, out_duck, duck_extra))
                log(f"{size} round {round_number}: duckdb {theirs[-1]['seconds']:.2f} s")
        counts = ours[-1]["manifest"]["counts"]
        events = counts["input_records"]
        print(f"\n== {size}: {log_path.name}, {events} records, {input_bytes / 1e6:.0f} MB, "
              f"{args.rounds} rounds, load avg at round starts {', '.join(f'{x:.1f}' for x in loads)}")
        rows = stage_table(ours, input_bytes, events)
        print(f"{'stage':<36}{'ms':>9}{'events/s':>12}{'MB/s':>8}{'peak MiB':>10}")
        for row in rows:
            print(f"{row['stage']:<36}{row['ms']:>9.0f}{row['events_per_s']:>12,.0f}"
                  f"{row['mb_per_s']:>8.1f}{row['peak_rss_mib']:>10.0f}")
        wall = median([r["seconds"] for r in ours])
        cpu = median([r["cpu"] / r["seconds"] for r in ours])
        summary = {
            "size": size, "records": events, "input_bytes": input_bytes, "stages": rows,
            "eventfold_seconds": [r["seconds"] for r in ours],
            "eventfold_cpu_cores": cpu, "loads": loads,
        }
        print(f"eventfold run: {wall:.2f} s median, {events / wall:,.0f} events/s, "
              f"{input_bytes / wall / 1e6:.1f} MB/s, {cpu:.2f} cores busy on average")
        if theirs:
            duck = median([r["seconds"] for r in theirs])
            duck_rss = median([r["peak_rss"] for r in theirs])
            duck_cpu = median([r["cpu"] / r["seconds"] for r in theirs])
            print(f"duckdb job:    {duck:.2f} s median, {events / duck:,.0f} events/s, "
                  f"peak {duck_rss / 2**20:.0f} MiB, {duck_cpu:.2f} cores busy on average")
            print(f"ratio duckdb/eventfold: {duck / wall:.2f} (eventfold is "
                  f"{duck / wall:.2f}x {'faster' if duck > wall else 'slower'})")
            summary.update(duckdb_seconds=[r["seconds"] for r in theirs],
                           duckdb_peak_rss=duck_rss, ratio=duck / wall)
        if args.nightly:
            summary["nightly"] = nightly(eventfold, log_path, args.nightly, args.rounds, extra, ours)
        if python and not args.no_queries:
            print(f"{'query':<44}{'eventfold s':>12}{'duckdb s':>10}{'ratio':>7}")
            summary["queries"] = {}
            for query in QUERIES:
                ef_times, duck_times = [], []
                for _ in range(args.rounds):
                    ef_times.append(timed(
                        [str(eventfold), "query", "--out", str(out_ef), "-f", query,
                         "--format", "csv"], stdout=subprocess.DEVNULL, cwd=REPO)[0])
                    duck_times.append(timed(
                        [str(python), "-c", DUCKDB_QUERY, str(out_ef), query],
                        stdout=subprocess.DEVNULL, cwd=REPO)[0])
                ef, dk = median(ef_times), median(duck_times)
                print(f"{query:<44}{ef:>12.3f}{dk:>10.3f}{ef / dk:>7.2f}")
                summary["queries"][query] = {"eventfold": ef_times, "duckdb": duck_times}
        name = f"{size}{'-' + args.memory_limit if args.memory_limit else ''}.json"
        (results_dir / name).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
