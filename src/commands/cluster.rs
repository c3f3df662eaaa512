//! `eventfold cluster scheduler` and `eventfold cluster executor`: the server
//! roles of a cluster ([`crate::cluster`]), run until SIGTERM.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::cluster::{run_executor, run_scheduler, ExecutorOptions, SchedulerOptions};
use crate::sql::cluster::{ClusterUrl, DEFAULT_SCHEDULER_PORT};
use crate::{Error, Result};

/// Arguments of `eventfold cluster`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub role: Role,
}

/// The role this process plays in the cluster.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Run the scheduler: it plans the queries clients send (`--cluster
    /// df://HOST:PORT`) and hands their tasks to the executors.
    Scheduler(SchedulerArgs),
    /// Run an executor: it runs the tasks of the scheduler it registers with.
    Executor(ExecutorArgs),
}

/// Arguments of `eventfold cluster scheduler`.
#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// The address to listen on (port 0: a free one, printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:50050")]
    pub bind: String,
    /// Seconds without a heartbeat after which an executor counts as lost
    /// and its tasks (and the shuffle files it held) are run again elsewhere;
    /// longer than the executors' --heartbeat.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub executor_timeout: u64,
}

/// Arguments of `eventfold cluster executor`.
#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with: HOST:PORT (or df://HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address of the executor's data service, from which the client and
    /// the other executors fetch results; the next port is reserved too.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:50051")]
    pub bind: String,
    /// Where shuffle files and spills go (default: a folder of its own in
    /// the system temp folder, removed at shutdown).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Memory the running tasks may hold together before spilling, e.g. 4GB
    /// (default: 70% of the machine's or container's memory).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Seconds between the executor's heartbeats to the scheduler; shorter
    /// than the scheduler's --executor-timeout.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub heartbeat: u64,
}

/// `ADDR:PORT` as a socket address; a name is resolved.
fn socket_address(flag: &str, text: &str) -> Result<SocketAddr> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            Error::usage(format!(
                "{flag} \"{text}\" is not ADDR:PORT\n  hint: e.g. {flag} 0.0.0.0:{DEFAULT_SCHEDULER_PORT}"
            ))
        })
}

/// Runs the role until SIGTERM or Ctrl-C; exit 0 then.
pub fn execute(args: &Args) -> Result<u8> {
    let runtime = crate::sql::runtime()?;
    match &args.role {
        Role::Scheduler(args) => {
            if args.executor_timeout < 2 {
                return Err(Error::usage(
                    "--executor-timeout: at least 2 seconds\n  hint: leave it out for 180",
                ));
            }
            let options = SchedulerOptions {
                bind: socket_address("--bind", &args.bind)?,
                executor_timeout: args.executor_timeout,
            };
            runtime.block_on(run_scheduler(&options, |address| {
                eprintln!("eventfold cluster scheduler listening on {address}");
            }))?;
            eprintln!("eventfold cluster scheduler stopped");
        }
        Role::Executor(args) => {
            let scheduler = match args.scheduler.starts_with("df://") {
                true => ClusterUrl::parse(&args.scheduler)?,
                false => ClusterUrl::parse(&format!("df://{}", args.scheduler))?,
            };
            let memory_limit = args
                .memory_limit
                .as_deref()
                .map(crate::support::byte_size::parse_byte_size)
                .transpose()?
                .map(|bytes| bytes as u64);
            if args.concurrent_tasks == Some(0) {
                return Err(Error::usage(
                    "--concurrent-tasks 0: an executor runs at least one task\n  hint: leave it out for one per core",
                ));
            }
            let options = ExecutorOptions {
                scheduler: scheduler.clone(),
                bind: socket_address("--bind", &args.bind)?,
                work_dir: args.work_dir.clone(),
                concurrent_tasks: args.concurrent_tasks,
                memory_limit,
                heartbeat: args.heartbeat.max(1),
            };
            runtime.block_on(run_executor(&options, |address| {
                eprintln!("eventfold cluster executor serving on {address}, scheduler {scheduler}");
            }))?;
            eprintln!("eventfold cluster executor stopped");
        }
    }
    Ok(super::exit::OK)
}
