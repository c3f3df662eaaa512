//! Cluster mode on loopback: a scheduler and two executors, each a child
//! process of the test running the real `eventfold cluster …`, and the SQL
//! commands pointed at them with `--cluster`. Every shipped query must give
//! the same rows there as here, and `check` the same findings and exit code,
//! each within [`CLUSTER_TIMEOUT`]; a scheduler that is not running is exit 2
//! at once; SIGTERM stops every role with exit 0.

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
        let (scheduler, line) = Role::start(
            "scheduler",
            &["scheduler", "--bind", "127.0.0.1:0"],
            dir.path(),
        );
        let address = line
            .trim()
            .strip_prefix("eventfold cluster scheduler listening on ")
            .unwrap_or_else(|| panic!("the scheduler said {line:?}"))
            .to_owned();
        let executors = (0..executors)
            .map(|n| {
                let work = dir.join(&format!("executor-{n}"));
                let bind = format!("127.0.0.1:{}", free_port());
                let (executor, line) = Role::start(
                    &format!("executor {n}"),
                    &[
                        "executor",
                        "--scheduler",
                        &address,
                        "--bind",
                        &bind,
                        "--work-dir",
                        work.to_str().expect("UTF-8 temp path"),
                        "--concurrent-tasks",
                        "2",
                    ],
                    dir.path(),
                );
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
