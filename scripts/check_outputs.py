"""Open an eventfold output folder with pyarrow and DuckDB and check the documented types.

Usage: python3 scripts/check_outputs.py OUT_DIR
Prints one line per table and exits 1 on the first mismatch. Run by tests/outputs.rs.
"""

import json
import pathlib
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")
EXPECTED = {
    "events": {
        "position": pa.uint64(), "event_id": pa.string(), "stream_id": pa.string(),
        "aggregate_type": pa.string(), "version": pa.uint64(), "event_type": pa.string(),
        "schema_version": pa.uint32(), "occurred_at": TS, "actor": pa.string(),
        "correlation_id": pa.string(), "causation_id": pa.string(), "tenant": pa.string(),
        "payload": pa.string(), "metadata": pa.string(), "source": pa.string(),
        "original_event_type": pa.string(), "original_schema_version": pa.uint32(),
    },
    "transitions": {
        "aggregate_type": pa.string(), "stream_id": pa.string(), "version": pa.uint64(),
        "position": pa.uint64(), "event_id": pa.string(), "event_type": pa.string(),
        "previous_event_type": pa.string(), "from_status": pa.string(), "to_status": pa.string(), "occurred_at": TS,
        "seconds_since_previous": pa.float64(),
    },
    "findings": {
        "aggregate_type": pa.string(), "stream_id": pa.string(), "version": pa.uint64(),
        "event_id": pa.string(), "position": pa.uint64(), "rule": pa.string(),
        "severity": pa.string(), "message": pa.string(),
    },
    "streams": {
        "aggregate_type": pa.string(), "stream_id": pa.string(), "declared": pa.bool_(),
        "created": pa.bool_(), "version": pa.uint64(), "event_count": pa.uint64(),
        "created_at": TS, "updated_at": TS, "last_event_type": pa.string(),
    },
    "rejects": {
        "source_file": pa.string(), "line": pa.uint64(), "byte_offset": pa.uint64(),
        "field": pa.string(), "reason": pa.string(), "raw": pa.string(), "source": pa.string(),
    },
}
STATE_PREFIX = {
    "stream_id": pa.string(), "status": pa.string(), "version": pa.uint64(),
    "created_at": TS, "updated_at": TS, "event_count": pa.uint64(),
}
DUCKDB_TYPES = {"streams": {"declared": "BOOLEAN"}, "events": {"position": "UBIGINT", "occurred_at": "TIMESTAMP WITH TIME ZONE",
                           "schema_version": "UINTEGER", "payload": "VARCHAR"}}


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def check_schema(name, path, expected):
    schema = pq.read_schema(path)
    actual = {field.name: field.type for field in schema}
    for column, typ in expected.items():
        if actual.get(column) != typ:
            fail(f"{name}.{column}: pyarrow reads {actual.get(column)}, documented {typ}")
    return pq.read_table(path).num_rows


def main():
    out = pathlib.Path(sys.argv[1])
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    con = duckdb.connect()
    expected_rows = {"events": counts["events"], "rejects": counts["rejects"],
                     "transitions": counts["transitions"],
                     "findings": sum(counts["findings"].values()),
                     "streams": sum(counts["streams"].values())}
    for name, expected in EXPECTED.items():
        path = out / f"{name}.parquet"
        rows = check_schema(name, path, expected)
        duck_rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
        if not rows == duck_rows == expected_rows[name]:
            fail(f"{name}: pyarrow {rows} rows, duckdb {duck_rows}, manifest {expected_rows[name]}")
        for column, typ in DUCKDB_TYPES.get(name, {}).items():
            got = con.execute(f"SELECT typeof({column}) FROM read_parquet('{path}') LIMIT 1").fetchone()
            if got is not None and got[0] != typ:
                fail(f"{name}.{column}: duckdb reads {got[0]}, expected {typ}")
        print(f"ok {name}: {rows} rows")
    for path in sorted((out / "state").glob("*.parquet")):
        rows = check_schema(f"state/{path.stem}", path, STATE_PREFIX)
        duck_rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
        if not rows == duck_rows == counts["states"][path.stem]:
            fail(f"state/{path.stem}: pyarrow {rows}, duckdb {duck_rows}, manifest {counts['states'][path.stem]}")
        print(f"ok state/{path.stem}: {rows} rows")


if __name__ == "__main__":
    main()
