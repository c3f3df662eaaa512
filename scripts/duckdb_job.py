"""The eventfold `run` job done by DuckDB in SQL, for scripts/bench.py.

Reads the NDJSON task log, builds the events table (the envelope, actor and
correlation from metadata), writes it sorted by (aggregate_type, stream_id,
version, position) as events.parquet, derives transitions (status before and
after each event, seconds since the previous event), the current state of each
task (status, assignee, title, priority, counts), the version-gap,
duplicate-version and duplicate-event-id checks, and writes each as zstd Parquet.
Malformed lines are skipped (DuckDB's ignore_errors), where eventfold keeps them
as rejects.

usage: python duckdb_job.py LOG.ndjson OUT_DIR [--threads N] [--memory-limit SIZE]
"""

import argparse
import os
import time

import duckdb

# The task lifecycle of testdata/tasks/model.toml: the status each event moves to.
TO_STATUS = {
    "TaskCreated": "open",
    "TaskStarted": "in_progress",
    "TaskBlocked": "blocked",
    "TaskUnblocked": "in_progress",
    "TaskCompleted": "done",
    "TaskReopened": "open",
    "TaskCancelled": "cancelled",
    "TaskArchived": "archived",
    "ProjectCreated": "active",
    "ProjectArchived": "archived",
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--memory-limit")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(f"SET temp_directory = '{args.out}/.tmp'")
    con.execute("SET preserve_insertion_order = false")
    status_cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in TO_STATUS.items())
    started = time.perf_counter()
    out = args.out

    # Read + parse + map to the envelope. Lines that are not JSON objects with
    # the typed fields are skipped.
    con.execute(
        f"""
        CREATE TABLE events AS
        SELECT
            row_number() OVER () AS position,
            event_id,
            stream_id,
            split_part(stream_id, '-', 1) AS aggregate_type,
            TRY_CAST(version AS UBIGINT) AS version,
            event_type,
            CAST(coalesce(schema_version, 1) AS UINTEGER) AS schema_version,
            TRY_CAST(occurred_at AS TIMESTAMPTZ) AS occurred_at,
            json_extract_string(metadata, '$.actor') AS actor,
            json_extract_string(metadata, '$.correlation_id') AS correlation_id,
            json_extract_string(metadata, '$.causation_id') AS causation_id,
            CAST(payload AS VARCHAR) AS payload,
            CAST(metadata AS VARCHAR) AS metadata
        FROM read_json('{args.log}', format = 'newline_delimited', ignore_errors = true,
            columns = {{event_id: 'VARCHAR', stream_id: 'VARCHAR', version: 'BIGINT',
                       event_type: 'VARCHAR', schema_version: 'INTEGER',
                       occurred_at: 'VARCHAR', payload: 'JSON', metadata: 'JSON'}})
        """
    )
    # What cannot become an event is left out, as eventfold's rejects are.
    con.execute(
        "DELETE FROM events WHERE stream_id IS NULL OR version IS NULL OR version < 1 "
        "OR event_type IS NULL OR occurred_at IS NULL"
    )
    con.execute(
        f"""
        COPY (SELECT * FROM events ORDER BY aggregate_type, stream_id, version, position)
        TO '{out}/events.parquet' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    # Transitions: the status after each event is the last status an event moved
    # the stream to; the status before it, the one after the previous event.
    con.execute(
        f"""
        COPY (
            WITH moved AS (
                SELECT *, CASE event_type {status_cases} END AS moves_to FROM events
            ), after AS (
                SELECT *,
                    last_value(moves_to IGNORE NULLS) OVER w AS to_status,
                    epoch(occurred_at - lag(occurred_at) OVER w) AS seconds_since_previous
                FROM moved
                WINDOW w AS (PARTITION BY aggregate_type, stream_id ORDER BY version, position
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            )
            SELECT aggregate_type, stream_id, version, position, event_id, event_type,
                lag(event_type) OVER (PARTITION BY aggregate_type, stream_id
                                      ORDER BY version, position) AS previous_event_type,
                lag(to_status) OVER (PARTITION BY aggregate_type, stream_id
                                     ORDER BY version, position) AS from_status,
                to_status, occurred_at, seconds_since_previous
            FROM after
        ) TO '{out}/transitions.parquet' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    # The current state of each task: the last value each field was set to.
    con.execute(
        f"""
        COPY (
            SELECT
                stream_id,
                arg_max(CASE event_type {status_cases} END, version)
                    FILTER (WHERE event_type IN ({", ".join(f"'{k}'" for k in TO_STATUS)})) AS status,
                max(version) AS version,
                min(occurred_at) AS created_at,
                max(occurred_at) AS updated_at,
                count(*) AS event_count,
                arg_max(json_extract_string(payload, '$.title'), version)
                    FILTER (WHERE event_type IN ('TaskCreated', 'TaskRenamed')) AS title,
                arg_max(json_extract_string(payload, '$.project_id'), version)
                    FILTER (WHERE event_type = 'TaskCreated') AS project_id,
                arg_max(CASE WHEN event_type = 'TaskAssigned'
                             THEN json_extract_string(payload, '$.assignee') END, version)
                    FILTER (WHERE event_type IN ('TaskAssigned', 'TaskUnassigned')) AS assignee,
                arg_max(CAST(json_extract(payload, '$.priority') AS BIGINT), version)
                    FILTER (WHERE event_type = 'TaskCreated') AS priority,
                count(*) FILTER (WHERE event_type = 'TaskCommented') AS comment_count,
                count(*) FILTER (WHERE event_type = 'TaskReopened') AS reopen_count
            FROM events
            WHERE aggregate_type = 'task'
            GROUP BY stream_id
        ) TO '{out}/task.parquet' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    # The checks: version gaps, duplicate versions, duplicate event ids.
    con.execute(
        f"""
        COPY (
            WITH versions AS (
                SELECT DISTINCT aggregate_type, stream_id, version FROM events
            ), gaps AS (
                SELECT aggregate_type, stream_id, version, 'version_gap' AS rule,
                    coalesce(lag(version) OVER (PARTITION BY aggregate_type, stream_id
                                                ORDER BY version), 0) AS previous
                FROM versions
            ), dup_versions AS (
                SELECT aggregate_type, stream_id, version, 'duplicate_version' AS rule,
                    NULL AS previous
                FROM events GROUP BY ALL HAVING count(*) > 1
            ), dup_ids AS (
                SELECT aggregate_type, stream_id, version, 'duplicate_event_id' AS rule,
                    NULL AS previous
                FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY position) AS n
                      FROM events)
                WHERE n > 1
            )
            SELECT * FROM gaps WHERE version > previous + 1
            UNION ALL SELECT * FROM dup_versions
            UNION ALL SELECT * FROM dup_ids
            ORDER BY aggregate_type, stream_id, version, rule
        ) TO '{out}/findings.parquet' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"duckdb: {events} events in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
