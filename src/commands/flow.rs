//! `eventfold flow`: draw the directly-follows graph of an output.

use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::sql::{register_output, session, state_tables};
use crate::tools::flow::{to_dot, to_mermaid, to_svg};
use crate::tools::flow_graph::{edges_of, graph_edges, GraphOf};
use crate::{Error, Result};

/// What the nodes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowBy {
    /// Event types; an edge is one event directly following another.
    Event,
    /// Statuses; an edge is a status change.
    Status,
}

/// The picture's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowFormat {
    /// Graphviz DOT, for `dot -Tsvg`.
    Dot,
    /// A Mermaid flowchart, for Markdown that renders it.
    Mermaid,
    /// An SVG picture, laid out by eventfold.
    Svg,
}

/// Arguments of `eventfold flow`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub out: super::OutArg,
    /// The aggregate type to draw.
    #[arg(long, default_value = "task")]
    pub aggregate: String,
    /// What the nodes are: event types (an edge is one event directly
    /// following another) or statuses (an edge is a status change).
    #[arg(long, value_enum, default_value_t = FlowBy::Event)]
    pub by: FlowBy,
    /// The picture's format: Graphviz DOT, a Mermaid flowchart, or SVG.
    #[arg(long, value_enum, default_value_t = FlowFormat::Mermaid)]
    pub format: FlowFormat,
    /// Leave out edges seen fewer times than this.
    #[arg(long, default_value_t = 1)]
    pub min_count: u64,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Prints or writes the picture.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let graph = match args.by {
        FlowBy::Event => GraphOf::Events,
        FlowBy::Status => GraphOf::Statuses,
    };
    let all = crate::sql::runtime()?.block_on(async {
        let ctx = session(&config.session(None)?)?;
        register_output(&ctx, &out, &super::terminal::Terminal::stderr()).await?;
        graph_edges(&ctx, graph).await
    })?;
    let edges = edges_of(&all, &args.aggregate, args.min_count);
    if edges.is_empty() {
        let aggregates: Vec<String> = state_tables(&out)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if !aggregates.contains(&args.aggregate) {
            let hint = match aggregates.first() {
                Some(first) => format!(
                    "its aggregate types: {}; pick one with --aggregate, e.g. --aggregate {first}",
                    aggregates.join(", ")
                ),
                None => "the output has no aggregate types".to_owned(),
            };
            return Err(Error::usage(format!(
                "no aggregate type \"{}\" in {}\n  hint: {hint}",
                args.aggregate,
                out.display(),
            )));
        }
        return Err(Error::usage(format!(
            "no flow for aggregate \"{}\" in {} (with --min-count {})",
            args.aggregate,
            out.display(),
            args.min_count
        )));
    }
    let title = format!(
        "{}: directly-follows graph of {} (count · median time)",
        args.aggregate,
        graph.nodes()
    );
    let picture = match args.format {
        FlowFormat::Dot => to_dot(&title, &edges),
        FlowFormat::Mermaid => to_mermaid(&title, &edges),
        FlowFormat::Svg => to_svg(&title, &edges),
    };
    match &args.output {
        Some(path) => std::fs::write(path, picture).map_err(|e| Error::io(path, e))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(picture.as_bytes())
                .map_err(|e| Error::io("stdout", e))?;
        }
    }
    Ok(super::exit::OK)
}
