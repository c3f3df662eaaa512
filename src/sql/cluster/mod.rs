//! The client side of cluster mode: eventfold's SQL on Apache DataFusion
//! Ballista.
//!
//! A cluster is addressed as `df://HOST:PORT` ([`ClusterUrl`]). A session
//! with [`crate::sql::SessionOptions::cluster`] set is [`client_context`]: the
//! session [`crate::sql::session`] builds, upgraded so that every query is
//! planned here (tables, the JSON operators) and then sent to the scheduler,
//! which splits it into stages for the executors; the rows come back here.
//! The scheduler and executors ([`crate::cluster`]) install the same SQL
//! functions ([`crate::sql::register_functions`]) and codec ([`codec`]), so a
//! plan built here is one the cluster can decode. Tables are read by path on
//! each executor: an output must be on storage every executor sees at the
//! same path.
//!
//! The distributed rebuild (`run --cluster`) is [`crate::pipeline`]'s: its
//! own plan nodes, submitted with this module's settings.

pub mod codec;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::prelude::SessionContext;

use crate::{Error, Result};

/// The port a scheduler listens on when neither the URL nor `--bind` names one
/// (Ballista's own default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long the client waits for the scheduler's port to answer before it
/// says the scheduler is not running.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a scheduler listens: `df://HOST:PORT` (the port defaults to 50050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    /// The host name or address, as written.
    pub host: String,
    /// The scheduler's gRPC port.
    pub port: u16,
}

impl ClusterUrl {
    /// Parses `df://HOST[:PORT]`; anything else is an error naming the text.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::usage(format!(
                "cluster address \"{text}\" {why}\n  hint: write it as df://HOST:PORT, e.g. df://localhost:{DEFAULT_SCHEDULER_PORT}"
            ))
        };
        let rest = text
            .strip_prefix("df://")
            .ok_or_else(|| bad("does not start with df://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') {
            return Err(bad("is not df://HOST:PORT"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // A bracketed IPv6 address without a port has colons but no `]:`.
            Some((host, port)) if !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| {
                    bad(&format!(
                        "has port \"{port}\", not a number from 1 to 65535"
                    ))
                })?;
                (host, port)
            }
            _ => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() || port == 0 {
            return Err(bad("has no host or port"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The URL a physical plan is submitted to.
    pub fn http_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The URL Ballista's client is given.
    fn grpc_url(&self) -> String {
        format!("df://{}:{}", self.host, self.port)
    }

    /// Fails quickly, with a hint, when nothing accepts connections at the
    /// scheduler's address (Ballista's client would only fail at the first
    /// query, after its own retries).
    pub fn ensure_reachable(&self) -> Result<()> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| self.unreachable(&format!("cannot resolve {host}: {e}")))?
            .collect();
        let mut last = String::from("no address");
        for address in addresses {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(self.unreachable(&last))
    }

    fn unreachable(&self, why: &str) -> Error {
        Error::usage(format!(
            "cannot reach the eventfold cluster scheduler at {self}: {why}\n  hint: start one with `eventfold cluster scheduler --bind 0.0.0.0:{}`, or leave out --cluster (and `[cluster] scheduler`) to run locally",
            self.port
        ))
    }
}

impl std::fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// `ctx` (a session [`crate::sql::session`] built, without eventfold's
/// functions) turned into one whose queries run on the cluster at `url`, with
/// eventfold's codec and functions. Checks first that the scheduler answers.
pub fn client_context(ctx: SessionContext, url: &ClusterUrl) -> Result<SessionContext> {
    url.ensure_reachable()?;
    let state = ctx.state();
    let config = cluster_config(state.config().clone());
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let state = state.upgrade_for_ballista(url.grpc_url())?;
    let mut ctx = SessionContext::new_with_state(state);
    // Ballista's upgrade resets the functions to DataFusion's own.
    crate::sql::register_functions(&mut ctx)?;
    Ok(ctx)
}

/// The configuration of a client session on a cluster: `config` (the local
/// session's) with Ballista's own DataFusion settings, eventfold's codec, and
/// the static planner.
///
/// Ballista's settings come first. [`SessionConfigExt::upgrade_for_ballista`]
/// applies them only to a configuration that has no Ballista options yet, and
/// any `with_ballista_…` setter adds those options; set before, they kept
/// DataFusion's defaults, which the client sends the scheduler with every
/// job. Two of those defaults broke shipped queries on Ballista 55:
///
/// - dynamic filter pushdown (`datafusion.optimizer.enable_dynamic_filter_pushdown`):
///   a hash join's filter is pushed into the scan of its probe side, which
///   Ballista runs in another stage, as another task, where the join never
///   fills it in, so the scan never finishes (`stream_trail`,
///   `duplicate_versions`, `missing_project_references` hung; apache/datafusion-ballista#1375);
/// - hash joins (`datafusion.optimizer.prefer_hash_join`): DataFusion made
///   small LEFT joins `CollectLeft` under a single-partition sort, and
///   Ballista's planner turns a `CollectLeft` LEFT join into a partitioned one
///   (over `target_partitions` hash partitions) without a merge under that
///   sort, which then reads only the first partition (`events_after_terminal`
///   and `stream_trail` lost rows). With Ballista's settings they are
///   sort-merge joins, and DataFusion never chooses `CollectLeft` (below).
pub(crate) fn cluster_config(
    config: datafusion::prelude::SessionConfig,
) -> datafusion::prelude::SessionConfig {
    let mut config = SessionConfigExt::upgrade_for_ballista(config)
        .with_ballista_logical_extension_codec(codec::EventfoldLogicalCodec::shared())
        // Ballista 55's adaptive planner gave wrong rows for a LEFT JOIN on
        // a range condition (wip_over_time.sql counted a fraction of the
        // open tasks); its static planner gives the local rows for every
        // shipped query (tests/integration/cluster.rs).
        .with_ballista_adaptive_query_planner(false);
    // Ballista decides broadcasts itself (its own thresholds); DataFusion's
    // `CollectLeft`, which Ballista 55 may turn back into a partitioned join
    // without a merge above it (see above), is never chosen, even with hash
    // joins switched back on (`SET datafusion.optimizer.prefer_hash_join`).
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.hash_join_single_partition_threshold = 0;
    optimizer.hash_join_single_partition_threshold_rows = 0;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_parse_or_say_what_is_wrong() {
        let url = ClusterUrl::parse("df://sched.example:6000").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("sched.example", 6000));
        let url = ClusterUrl::parse("df://localhost").unwrap();
        assert_eq!(url.port, DEFAULT_SCHEDULER_PORT);
        assert_eq!(ClusterUrl::parse("df://[::1]:7000").unwrap().host, "[::1]");
        assert_eq!(
            ClusterUrl::parse("df://[::1]").unwrap().port,
            DEFAULT_SCHEDULER_PORT
        );
        for (text, says) in [
            ("localhost:50050", "does not start with df://"),
            ("df://", "is not df://HOST:PORT"),
            ("df://host:port", "has port \"port\""),
            ("df://host:0", "has no host or port"),
            ("df://host:1/path", "is not df://HOST:PORT"),
        ] {
            let err = ClusterUrl::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
            assert!(err.contains("hint: write it as df://HOST:PORT"), "{err}");
        }
    }

    /// The client's session has Ballista's DataFusion settings (the client
    /// sends its settings with every job, and the scheduler plans with them):
    /// no dynamic filters (they hung three shipped queries), sort-merge joins
    /// and never DataFusion's `CollectLeft` (hash joins lost rows of two), and
    /// the static planner.
    #[test]
    fn a_cluster_session_has_ballistas_settings() {
        let local = datafusion::prelude::SessionConfig::new().with_target_partitions(4);
        assert!(local.options().optimizer.enable_dynamic_filter_pushdown);
        let config = cluster_config(local);
        let options = config.options();
        assert!(!options.optimizer.enable_dynamic_filter_pushdown);
        assert!(!options.optimizer.prefer_hash_join);
        assert!(!options.optimizer.enable_round_robin_repartition);
        assert!(!config.ballista_adaptive_query_planner_enabled());
        assert_eq!(options.optimizer.hash_join_single_partition_threshold, 0);
        assert_eq!(
            options.optimizer.hash_join_single_partition_threshold_rows,
            0
        );
        assert_eq!(options.execution.target_partitions, 4);
        let sent: Vec<_> =
            ballista_core::extension::SessionConfigHelperExt::to_key_value_pairs(&config)
                .into_iter()
                .filter(|pair| pair.key == "datafusion.optimizer.enable_dynamic_filter_pushdown")
                .map(|pair| pair.value)
                .collect();
        assert_eq!(sent, vec![Some("false".to_owned())]);
    }

    /// A scheduler that is not running is an error at once, naming the
    /// address, not a hang at the first query.
    #[test]
    fn an_absent_scheduler_is_a_quick_clear_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = ClusterUrl::parse(&format!("df://127.0.0.1:{port}")).unwrap();
        let started = std::time::Instant::now();
        let err = url.ensure_reachable().unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            err.contains(&format!(
                "cannot reach the eventfold cluster scheduler at df://127.0.0.1:{port}"
            )),
            "{err}"
        );
        assert!(err.contains("eventfold cluster scheduler --bind"), "{err}");
    }
}
