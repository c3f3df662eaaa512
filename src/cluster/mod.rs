//! The two server roles of a cluster (its client side is
//! [`crate::sql::cluster`]), embedded: `eventfold cluster scheduler`
//! and `eventfold cluster executor` run Ballista's scheduler and executor
//! processes with eventfold's SQL functions and codecs (the distributed
//! run's plan nodes among them) installed, so the
//! `eventfold` binary is all a machine of the cluster needs.
//!
//! Both use Ballista's pull scheduling (executors ask the scheduler for work),
//! so a scheduler never connects back to an executor and an executor needs
//! one port, its Arrow Flight port, from which the client and the other
//! executors fetch results and shuffle files. Both stop cleanly on SIGTERM
//! or Ctrl-C: the scheduler stops listening; the executor tells the
//! scheduler it is leaving and finishes its running tasks first (Ballista's
//! own shutdown).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::{default_config_producer, default_session_builder};
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::SessionState;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::pipeline::cluster::EventfoldPhysicalCodec;
use crate::sql::cluster::codec::EventfoldLogicalCodec;
use crate::sql::cluster::ClusterUrl;
use crate::{Error, Result};

/// What `eventfold cluster scheduler` was asked for.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address to listen on; port 0 picks a free one (printed).
    pub bind: SocketAddr,
    /// Seconds without a heartbeat before an executor counts as lost.
    pub executor_timeout: u64,
}

/// What `eventfold cluster executor` was asked for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with.
    pub scheduler: ClusterUrl,
    /// Where the executor's Arrow Flight service listens.
    pub bind: SocketAddr,
    /// Where shuffle files and spills go (default: a folder of its own under
    /// the system temp folder, removed at shutdown).
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: one per core).
    pub concurrent_tasks: Option<usize>,
    /// Memory all running tasks may hold before spilling (default:
    /// Ballista's, 70% of the machine's or the container's memory).
    pub memory_limit: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat: u64,
}

/// The session state the scheduler plans each job with: Ballista's, plus
/// eventfold's SQL functions.
fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let mut state = default_session_builder(config)?;
    crate::sql::register_functions(&mut state)?;
    Ok(state)
}

/// The functions an executor resolves plans' function names with: DataFusion's
/// and eventfold's.
fn executor_functions() -> Result<BallistaFunctionRegistry> {
    let state = scheduler_session(default_config_producer())?;
    Ok(BallistaFunctionRegistry::from(&state))
}

/// Runs a scheduler until SIGTERM or Ctrl-C. `listening` is told the address
/// it listens on once it does (with the port 0 resolved).
pub async fn run_scheduler(
    options: &SchedulerOptions,
    listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let mut config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_timeout_seconds: options.executor_timeout,
        // Lost executors are looked for often enough to notice within the timeout.
        expire_dead_executor_interval_seconds: (options.executor_timeout / 3).clamp(1, 15),
        no_executors_grace_period_seconds: options.executor_timeout,
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(scheduler_session));
    config.override_logical_codec = Some(EventfoldLogicalCodec::shared());
    config.override_physical_codec = Some(EventfoldPhysicalCodec::shared());
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| {
            Error::usage(format!(
                "the scheduler cannot listen on {}: {e}\n  hint: pick another --bind ADDR:PORT",
                options.bind
            ))
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::io("scheduler socket", e))?;
    config.bind_port = address.port();
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error("the scheduler's cluster state", e))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| ballista_error("the scheduler", e))?;
    listening(address);
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => {
            served.map_err(|e| ballista_error("the scheduler's gRPC service", e))
        }
        signal = shutdown_signal() => signal,
    }
}

/// Runs an executor until SIGTERM or Ctrl-C (or until its scheduler goes
/// away). `starting` is told the address it serves on and the scheduler it
/// registers with, once the scheduler answers.
pub async fn run_executor(
    options: &ExecutorOptions,
    starting: impl FnOnce(SocketAddr),
) -> Result<()> {
    options.scheduler.ensure_reachable()?;
    let grpc_port = options.bind.port().checked_add(1).ok_or_else(|| {
        Error::usage(format!(
            "--bind {}: the executor needs the port after it too\n  hint: pick a port below 65535",
            options.bind
        ))
    })?;
    if options.bind.port() == 0 {
        return Err(Error::usage(format!(
            "--bind {}: an executor needs a fixed port, which it tells the scheduler\n  hint: pick one, e.g. --bind {}:50051",
            options.bind,
            options.bind.ip()
        )));
    }
    let (work_dir, own_work_dir) = match &options.work_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("eventfold-executor-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work_dir).map_err(|e| Error::io(&work_dir, e))?;
    let work_dir_text = crate::sql::utf8_path(&work_dir)?.to_owned();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port,
        scheduler_host: options.scheduler.host.clone(),
        scheduler_port: options.scheduler.port,
        scheduler_connect_timeout_seconds: 0,
        vcores: options.concurrent_tasks.unwrap_or(0),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(work_dir_text),
        print_thread_info: false,
        memory_pool_size: options.memory_limit,
        executor_heartbeat_interval_seconds: options.heartbeat,
        override_function_registry: Some(Arc::new(executor_functions()?)),
        override_logical_codec: Some(EventfoldLogicalCodec::shared()),
        override_physical_codec: Some(EventfoldPhysicalCodec::shared()),
        ..ExecutorProcessConfig::default()
    };
    starting(options.bind);
    let outcome = start_executor_process(Arc::new(config)).await.map_err(|e| {
        ballista_error(
            &format!("the executor (scheduler {})", options.scheduler),
            e,
        )
    });
    if own_work_dir {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    outcome
}

/// Waits for SIGTERM or Ctrl-C.
#[cfg(unix)]
async fn shutdown_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::io("SIGTERM handler", e))?;
    tokio::select! {
        _ = terminate.recv() => Ok(()),
        interrupted = tokio::signal::ctrl_c() => interrupted.map_err(|e| Error::io("Ctrl-C handler", e)),
    }
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
async fn shutdown_signal() -> Result<()> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Error::io("Ctrl-C handler", e))
}

/// A Ballista error as eventfold's, naming what failed.
fn ballista_error(what: &str, error: ballista_core::error::BallistaError) -> Error {
    Error::usage(format!("{what} failed: {error}"))
}
