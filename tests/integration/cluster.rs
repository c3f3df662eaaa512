//! Cluster mode on loopback: a scheduler and two executors, each a child
//! process of the test running the real `eventfold cluster …`, and the SQL
//! commands pointed at them with `--cluster`. Every shipped query must give
//! the same rows there as here, and `check` the same findings and exit code,
//! each within [`CLUSTER_TIMEOUT`]; `run --cluster` must write the tables a
//! local run writes (as parts), also when an executor is killed mid-job or
//! else fail leaving the previous output as it was; a scheduler that is not
//! running is exit 2 at once; SIGTERM stops every role with exit 0.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{repo, Dir};

/// A port nothing listens on now (the OS's pick, released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// One role's process, and what it has printed to stderr so far.
struct Role {
    name: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Role {
    /// Starts `eventfold cluster ARGS`; waits until its first stderr line
    /// (it prints one once it listens) and returns it with the role.
    fn start(name: &str, args: &[&str], work: &Path) -> (Self, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
            .arg("cluster")
            .args(args)
            .current_dir(work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start an eventfold cluster role");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
        let mut first = String::new();
        reader
            .read_line(&mut first)
            .expect("read the role's stderr");
        let stderr = Arc::new(Mutex::new(first.clone()));
        let rest = stderr.clone();
        // Keep draining, so that the role never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            rest.lock().unwrap().push_str(&text);
        });
        let role = Self {
            name: name.to_owned(),
            child,
            stderr,
        };
        (role, first)
    }

    /// Sends SIGTERM and returns the exit code (`None`: killed by a signal
    /// or not stopped within 30 s, then killed).
    fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A scheduler and `executors` executors on loopback.
struct Cluster {
    url: String,
    scheduler: Role,
    executors: Vec<Role>,
}

impl Cluster {
    fn start(executors: usize, dir: &Dir) -> Self {
        Self::start_with(executors, dir, &[], &[])
    }

    /// A cluster whose scheduler and executors get these flags too.
    fn start_with(
        executors: usize,
        dir: &Dir,
        scheduler_flags: &[&str],
        executor_flags: &[&str],
    ) -> Self {
        let mut scheduler_args = vec!["scheduler", "--bind", "127.0.0.1:0"];
        scheduler_args.extend(scheduler_flags);
        let (scheduler, line) = Role::start("scheduler", &scheduler_args, dir.path());
        let address = line
            .trim()
            .strip_prefix("eventfold cluster scheduler listening on ")
            .unwrap_or_else(|| panic!("the scheduler said {line:?}"))
            .to_owned();
        let executors = (0..executors)
            .map(|n| {
                let work = dir.join(&format!("executor-{n}"));
                let bind = format!("127.0.0.1:{}", free_port());
                let mut args = vec![
                    "executor",
                    "--scheduler",
                    &address,
                    "--bind",
                    &bind,
                    "--work-dir",
                    work.to_str().expect("UTF-8 temp path"),
                    "--concurrent-tasks",
                    "2",
                ];
                args.extend(executor_flags);
                // Each executor in a folder of its own, as on its own
                // machine: the client's relative paths must not reach it.
                std::fs::create_dir_all(&work).expect("executor folder");
                let (executor, line) = Role::start(&format!("executor {n}"), &args, &work);
                assert!(
                    line.contains("executor serving on"),
                    "executor {n} said {line:?}"
                );
                executor
            })
            .collect();
        Self {
            url: format!("df://{address}"),
            scheduler,
            executors,
        }
    }

    /// Stops every role with SIGTERM, executors first; each must exit 0.
    fn stop(mut self) {
        let mut roles: Vec<&mut Role> = self.executors.iter_mut().collect();
        roles.push(&mut self.scheduler);
        for role in roles {
            let code = role.terminate();
            let stderr = role.stderr.lock().unwrap().clone();
            assert_eq!(code, Some(0), "{} on SIGTERM: {stderr}", role.name);
            assert!(stderr.contains("stopped"), "{}: {stderr}", role.name);
        }
    }
}

/// How long one command may take on the cluster before the test fails
/// instead of waiting: on Ballista 55 a plan it mishandles can hang, holding
/// its executors' task slots, rather than fail.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `eventfold ARGS` in `dir` with `input` on its stdin, failing the test
/// (not hanging it) when it has not finished within [`CLUSTER_TIMEOUT`].
fn eventfold_within_timeout(dir: &Dir, args: &[&str], input: &str) -> crate::util::Outcome {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventfold");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let error_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("eventfold {args:?} did not finish within {CLUSTER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    crate::util::Outcome {
        code: status.code().unwrap_or(-1),
        stdout: reader.join().unwrap_or_default(),
        stderr: error_reader.join().unwrap_or_default(),
    }
}

/// The lines of a CSV result, header first and the rows sorted: a query
/// without ORDER BY may give its rows in any order, on a cluster more so.
pub(crate) fn rows(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    lines
}

/// The shipped queries: `queries/**/*.sql`, sorted.
pub(crate) fn shipped_queries() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for folder in ["analysis", "audit", "checks"] {
        let folder = repo().join("queries").join(folder);
        for entry in std::fs::read_dir(&folder).expect("queries folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|x| x == "sql") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_shipped_queries_give_the_same_rows_on_a_cluster() {
    let dir = Dir::new();
    // The sample holds the planted anomalies every check finds.
    dir.ok(&["run", "--out", "out"]);
    let cluster = Cluster::start(2, &dir);
    let on_cluster_with_input = |args: &[&str], input: &str| {
        let mut all = args.to_vec();
        all.extend(["--cluster", cluster.url.as_str()]);
        eventfold_within_timeout(&dir, &all, input)
    };
    let on_cluster = |args: &[&str]| on_cluster_with_input(args, "");
    let queries = shipped_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    for query in &queries {
        let file = query.to_str().expect("UTF-8 path");
        let args = ["query", "--out", "out", "--format", "csv", "-f", file];
        let here = dir.eventfold(&args);
        assert_eq!(here.code, 0, "{file} here: {here:?}");
        let there = on_cluster(&args);
        assert_eq!(there.code, 0, "{file} on the cluster: {there:?}");
        assert_eq!(rows(&there.stdout), rows(&here.stdout), "{file}");
    }
    // A partitioned output (a folder of parts per table, as a distributed
    // run writes it) gives the cluster the same rows too.
    crate::partitioned::split_output(&dir.join("out"), &dir.join("split"));
    for query in [
        "analysis/lead_time.sql",
        "audit/stream_trail.sql",
        "checks/duplicate_versions.sql",
        "analysis/wip_over_time.sql",
    ] {
        let file = crate::util::repo().join("queries").join(query);
        let file = file.to_str().expect("UTF-8 path");
        let here = dir.ok(&["query", "--out", "out", "--format", "csv", "-f", file]);
        let there = on_cluster(&["query", "--out", "split", "--format", "csv", "-f", file]);
        assert_eq!(there.code, 0, "{file} on the cluster: {there:?}");
        assert_eq!(rows(&there.stdout), rows(&here), "{file} over parts");
    }
    // `check` runs the replay's findings and every check query there: the
    // same findings and exit code (1: the sample's planted anomalies).
    for format in ["table", "json"] {
        let args = ["check", "--out", "out", "--format", format];
        let here = dir.eventfold(&args);
        assert_eq!(here.code, 1, "check here: {here:?}");
        let there = on_cluster(&args);
        assert_eq!(there.code, here.code, "check on the cluster: {there:?}");
        assert_eq!(there.stdout, here.stdout, "check --format {format}");
    }
    // The model tables (in memory on the client, shipped by the codec) and
    // the JSON functions (installed on every role), joined with a table; a
    // LEFT JOIN under an ORDER BY and a NOT IN (a null-aware anti join) with
    // rows, which the sample's checks of those shapes do not have.
    for sql in [
        "SELECT s.status, json_get_str(e.payload, 'assignee') AS assignee, count(*) AS n \
         FROM events e JOIN model_statuses s ON s.aggregate_type = e.aggregate_type \
         GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT e.stream_id, e.version, t.to_status FROM events e \
         LEFT JOIN transitions t ON t.stream_id = e.stream_id AND t.position = e.position \
         ORDER BY e.stream_id, e.version, e.position",
        "SELECT stream_id, status FROM task WHERE stream_id NOT IN \
         (SELECT stream_id FROM events WHERE event_type = 'TaskCompleted') ORDER BY stream_id",
    ] {
        let args = ["query", "--out", "out", "--format", "csv", sql];
        let here = dir.ok(&args);
        let there = on_cluster(&args);
        assert_eq!(there.code, 0, "{sql}: {there:?}");
        assert_eq!(there.stdout, here, "{sql}");
        assert!(rows(&here).len() > 2, "{here}");
    }
    // `shell`: statements from stdin run there too, a `SET` included. With
    // hash joins switched back on, a LEFT JOIN of a small table under an
    // ORDER BY still gives the local rows: Ballista 55 turns a `CollectLeft`
    // LEFT join into a partitioned one without a merge above it, which then
    // lost the rows of all partitions but the first, so the cluster session
    // never lets DataFusion choose `CollectLeft`.
    let input = "SELECT count(*) AS events FROM events;\n\
                 SET datafusion.optimizer.prefer_hash_join = true;\n\
                 SELECT f.stream_id, f.position, f.rule, t.from_status FROM findings f \
                 LEFT JOIN transitions t ON t.stream_id = f.stream_id AND t.position = f.position \
                 ORDER BY f.stream_id, f.position, f.rule;\n";
    let shell_here = dir.eventfold_with_input(&["shell", "--out", "out"], input);
    let shell = on_cluster_with_input(&["shell", "--out", "out"], input);
    let count = dir.ok(&[
        "query",
        "--out",
        "out",
        "SELECT count(*) AS events FROM events",
    ]);
    assert_eq!(shell.code, 0, "{shell:?}");
    assert!(
        shell.stdout.contains(count.lines().nth(3).expect("a row")),
        "{shell:?}\n{count}"
    );
    assert!(
        shell_here.stdout.contains("event_after_terminal"),
        "{shell_here:?}"
    );
    assert_eq!(shell.stdout, shell_here.stdout);
    // `project`: every projection rebuilt with its SQL run on the cluster
    // (the keyed fold refolded here) equals the run's.
    let copy = std::process::Command::new("cp")
        .args(["-r", "out", "projected"])
        .current_dir(dir.path())
        .status()
        .expect("cp");
    assert!(copy.success());
    let projected = on_cluster(&["project", "--out", "projected"]);
    assert_eq!(projected.code, 0, "project on the cluster: {projected:?}");
    let diff = dir.eventfold(&["diff", "out", "projected", "--fail-on-change"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    assert!(diff.stdout.contains("actor_workload"), "{diff:?}");
    cluster.stop();
}

#[test]
fn a_scheduler_that_is_not_running_is_exit_2_at_once() {
    let dir = Dir::new();
    dir.ok(&["run", "--out", "out"]);
    let port = free_port();
    let url = format!("df://127.0.0.1:{port}");
    let started = Instant::now();
    for args in [
        vec!["query", "--out", "out", "SELECT 1", "--cluster", &url],
        vec!["check", "--out", "out", "--cluster", &url],
        vec!["run", "--out", "out", "--cluster", &url],
    ] {
        let outcome = dir.eventfold(&args);
        assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
        assert!(
            outcome.stderr.contains(&format!(
                "cannot reach the eventfold cluster scheduler at {url}"
            )),
            "{outcome:?}"
        );
    }
    let executor_port = free_port().to_string();
    let outcome = dir.eventfold(&[
        "cluster",
        "executor",
        "--scheduler",
        &format!("127.0.0.1:{port}"),
        "--bind",
        &format!("127.0.0.1:{executor_port}"),
    ]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("cannot reach the eventfold cluster scheduler"),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The config file's scheduler is used when no flag is given.
    dir.write(
        "eventfold.toml",
        format!("[cluster]\nscheduler = \"{url}\"\n"),
    );
    let outcome = dir.eventfold(&["query", "--out", "out", "SELECT 1"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains(&url), "{outcome:?}");
}

/// `log` (NDJSON) cut into `parts` inputs of about equal lines, written in
/// `dir`; their `-i` flags.
fn split_log(dir: &Dir, log: &str, parts: usize, stem: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let size = lines.len().div_ceil(parts);
    let mut flags = Vec::new();
    for (n, chunk) in lines.chunks(size).enumerate() {
        let name = format!("{stem}-{n}.ndjson");
        dir.write(&name, chunk.join("\n") + "\n");
        flags.extend(["-i".to_owned(), name]);
    }
    flags
}

/// Every table of the outputs `a` and `b` holds the same rows (compared as
/// sorted CSV lines, so a folder of parts and one file compare alike).
fn assert_same_tables(dir: &Dir, a: &str, b: &str) {
    let tables = [
        "events",
        "transitions",
        "streams",
        "findings",
        "rejects",
        "task",
        "project",
        "assignee_tasks",
        "assignee_board",
        "actor_workload",
        "project_progress",
        "project_throughput",
    ];
    for table in tables {
        let sql = format!("SELECT * FROM {table}");
        let here = dir.ok(&["query", "--out", a, "--format", "csv", &sql]);
        let there = dir.ok(&["query", "--out", b, "--format", "csv", &sql]);
        assert!(rows(&here).len() > 1, "{table} of {a} is empty");
        assert_eq!(rows(&there), rows(&here), "{table}: {b} against {a}");
    }
}

/// The run's summary without its last line (the output folder and time).
fn summary(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("output: "))
        .collect()
}

#[test]
fn a_distributed_run_writes_what_a_local_run_writes_and_survives_a_lost_executor() {
    let dir = Dir::new();
    // A generated log with every kind of anomaly, in three inputs: positions
    // numbered across inputs, duplicate ids across partitions, rejects.
    let log = dir.ok(&[
        "generate",
        "--events",
        "20000",
        "--anomaly-rate",
        "0.03",
        "--seed",
        "5",
    ]);
    let inputs = split_log(&dir, &log, 3, "log");
    let with_inputs = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["run".to_owned()];
        args.extend(inputs.iter().cloned());
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };
    let local = dir.ok(&with_inputs(&["--out", "local"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(local.contains("duplicate_event_id"), "{local}");
    assert!(local.contains("unauthorised_action"), "{local}");
    let cluster = Cluster::start_with(2, &dir, &["--executor-timeout", "4"], &["--heartbeat", "1"]);
    let url = cluster.url.clone();
    let run = |out: &str| {
        let args = with_inputs(&["--out", out, "--cluster", &url, "--partitions", "3"]);
        eventfold_within_timeout(
            &dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            "",
        )
    };
    let distributed = run("dist");
    assert_eq!(distributed.code, 0, "{distributed:?}");
    assert_eq!(summary(&distributed.stdout), summary(&local));
    // Every table as parts, read as one table by every command; the manifest
    // hashes each part; nothing of the job is left behind.
    for part in 0..3 {
        for table in ["events", "transitions", "streams", "state/task", "rejects"] {
            let path = dir.join(&format!("dist/{table}/part-{part:05}.parquet"));
            assert!(path.is_file() || table == "rejects", "{}", path.display());
        }
    }
    assert!(!dir.join("dist/events.parquet").exists());
    let manifest = std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"events/part-00002.parquet\""),
        "{manifest}"
    );
    // Each hash (the parts' computed by the fold tasks) is its file's.
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let files = manifest["files"].as_object().expect("files");
    assert!(files.len() > 20, "{files:?}");
    for (name, hash) in files {
        use sha2::Digest;
        let bytes = std::fs::read(dir.join(&format!("dist/{name}"))).unwrap();
        let actual = format!("{:x}", sha2::Sha256::digest(&bytes));
        assert_eq!(hash.as_str(), Some(actual.as_str()), "{name}");
    }
    assert!(!dir.join("dist/_cluster").exists());
    assert_same_tables(&dir, "local", "dist");

    // A local incremental run goes on from a partitioned output: the
    // cluster folds the first two inputs, the night the third (the two are
    // skipped as folded), and every table equals the local run's of all three.
    let mut first_two = vec!["run"];
    first_two.extend(inputs[..4].iter().map(String::as_str));
    first_two.extend(["--out", "nights", "--cluster", &url, "--partitions", "3"]);
    let first_two = eventfold_within_timeout(&dir, &first_two, "");
    assert_eq!(first_two.code, 0, "{first_two:?}");
    assert!(dir.join("nights/events").is_dir());
    let night = dir.ok(&with_inputs(&["--out", "nights", "--incremental"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(
        night.contains("incremental: skipped, already folded: log-0.ndjson, log-1.ndjson"),
        "{night}"
    );
    assert!(
        night.contains("incremental: ") && night.contains(" new records = "),
        "{night}"
    );
    assert!(dir.join("nights/events.parquet").is_file(), "{night}");
    // Every table, every column, in order: as the local full run wrote them.
    crate::incremental::assert_same_output(&dir, "local", "nights");
    let diff = dir.eventfold(&["diff", "local", "nights", "--fail-on-change"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    dir.assert_file_hashes("nights");

    let diff = dir.eventfold(&["diff", "local", "dist", "--fail-on-change"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    let check_here = dir.eventfold(&["check", "--out", "local"]);
    let check_there = dir.eventfold(&["check", "--out", "dist"]);
    // The same findings; the projections' contracts name their own output.
    let check_there_text = (check_there.stdout).replace("dist/projections/", "local/projections/");
    assert_eq!(check_there.code, check_here.code);
    assert_eq!(check_there_text, check_here.stdout);

    // Each input cut into byte ranges read by tasks of their own (about
    // three per input): the same tables, rejects' lines and byte offsets
    // counted in the whole file, and the manifest's inputs (whole sizes,
    // hashes and counts) the local run's.
    let cut = eventfold_within_timeout(
        &dir,
        &with_inputs(&["--out", "cut", "--cluster", &url, "--split-size", "700KB"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "",
    );
    assert_eq!(cut.code, 0, "{cut:?}");
    assert_eq!(summary(&cut.stdout), summary(&local));
    assert_same_tables(&dir, "local", "cut");
    let manifest_of = |out: &str, part: &str| {
        let text = std::fs::read_to_string(dir.join(&format!("{out}/manifest.json"))).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest[part].clone()
    };
    let inputs_of = |out: &str| manifest_of(out, "inputs");
    assert_eq!(inputs_of("cut"), inputs_of("local"));
    assert_eq!(inputs_of("cut").as_array().map(Vec::len), Some(3));
    assert_eq!(
        manifest_of("cut", "watermark"),
        manifest_of("local", "watermark")
    );

    // An as-of run folds the same selected events there: the positions it
    // selects by are the local run's, numbered across the three inputs.
    let as_of = ["--as-of-position", "9000"];
    let mut local_args = with_inputs(&["--out", "asof-local"]);
    local_args.extend(as_of.map(str::to_owned));
    let asof_local = dir.ok(&local_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(asof_local.contains("selected: "), "{asof_local}");
    let mut args = with_inputs(&["--out", "asof-dist", "--cluster", &url]);
    args.extend(as_of.map(str::to_owned));
    let asof_dist = eventfold_within_timeout(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert_eq!(asof_dist.code, 0, "{asof_dist:?}");
    assert_eq!(summary(&asof_dist.stdout), summary(&asof_local));
    assert_same_tables(&dir, "asof-local", "asof-dist");
    // The watermark is the whole log's, as a local partial run's ingest finds it.
    assert_eq!(
        manifest_of("asof-dist", "watermark"),
        manifest_of("asof-local", "watermark")
    );

    // What is not supported yet is refused before anything runs.
    let incremental = run_refused(
        &dir,
        &with_inputs(&["--out", "dist", "--cluster", &url, "--incremental"]),
    );
    assert!(
        incremental.contains("not supported on a cluster yet"),
        "{incremental}"
    );

    // A task that fails (`--strict` and a reject) fails the job: exit 2
    // with the task's message, and the previous output as it was.
    let kept = std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap();
    let strict = with_inputs(&["--out", "dist", "--cluster", &url, "--strict"]);
    let strict = eventfold_within_timeout(
        &dir,
        &strict.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert_eq!(strict.code, 2, "{strict:?}");
    assert!(
        strict
            .stderr
            .contains("(--strict stops at the first reject)"),
        "{strict:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap(),
        kept
    );

    // A job that cannot finish (both executors stopped) is given up after
    // --job-timeout: exit 2 at once, the previous output as it was. Its
    // tasks, run when the executors go on, find the run's folder gone and
    // write nothing (the leftovers are checked at the end).
    let signal = |signal: libc::c_int| {
        for executor in &cluster.executors {
            // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
            unsafe { libc::kill(executor.child.id() as libc::pid_t, signal) };
        }
    };
    signal(libc::SIGSTOP);
    let started = std::time::Instant::now();
    let hung = with_inputs(&["--out", "dist", "--cluster", &url, "--job-timeout", "3"]);
    let hung = eventfold_within_timeout(
        &dir,
        &hung.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    let waited = started.elapsed();
    signal(libc::SIGCONT);
    assert_eq!(hung.code, 2, "{hung:?}");
    assert!(
        hung.stderr
            .contains("did not finish within 3 s (--job-timeout)"),
        "{hung:?}"
    );
    assert!(waited < Duration::from_secs(30), "{waited:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap(),
        kept
    );

    // An executor killed mid-job: Ballista runs its tasks again on the other
    // one (the job's result may then hold a partition twice), or the job
    // fails and the previous output stays as it was.
    let before = std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap();
    let mut cluster = cluster;
    let victim = cluster.executors.remove(0);
    let killer = std::thread::spawn(move || {
        let mut victim = victim;
        std::thread::sleep(Duration::from_millis(1500));
        let _ = victim.child.kill();
        let _ = victim.child.wait();
    });
    let big = dir.ok(&[
        "generate",
        "--events",
        "60000",
        "--anomaly-rate",
        "0.02",
        "--seed",
        "9",
    ]);
    let big_inputs = split_log(&dir, &big, 3, "big");
    let mut args: Vec<&str> = vec!["run"];
    args.extend(big_inputs.iter().map(String::as_str));
    let mut local_args = args.clone();
    local_args.extend(["--out", "big-local"]);
    args.extend(["--out", "dist", "--cluster", &url, "--partitions", "3"]);
    let survived = eventfold_within_timeout(&dir, &args, "");
    killer.join().unwrap();
    eprintln!(
        "with an executor killed, the run's exit code was {}",
        survived.code
    );
    if survived.code == 0 {
        let big_local = dir.ok(&local_args);
        assert_eq!(summary(&survived.stdout), summary(&big_local));
        assert_same_tables(&dir, "big-local", "dist");
    } else {
        assert_eq!(survived.code, 2, "{survived:?}");
        let after = std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap();
        assert_eq!(after, before, "a failed job changed the previous output");
        assert_same_tables(&dir, "local", "dist");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    cluster.stop();
}

/// Runs `args`, which must be refused with exit 2; returns stderr.
fn run_refused(dir: &Dir, args: &[String]) -> String {
    let outcome = dir.eventfold(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(outcome.code, 2, "{outcome:?}");
    outcome.stderr
}
