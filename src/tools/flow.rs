//! Pictures of the flow: the directly-follows graph of event types (or of
//! statuses) with edge counts and median durations, as Graphviz DOT, Mermaid, or
//! a self-contained SVG.
//!
//! The edges come from SQL: `queries/analysis/directly_follows.sql` for event
//! types (the same file the analysis ships), and a transitions query for
//! statuses. The SVG layout is our own small layered layout, because no pure-Rust
//! crate lays out directed graphs without Graphviz: nodes are ranked left to right
//! by their breadth-first distance from the graph's entry nodes, stacked by
//! traffic within a rank, and edges are drawn as curves (back edges arc below).

use std::collections::BTreeMap;
use std::fmt::Write;

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub count: u64,
    pub median_seconds: Option<f64>,
}

/// A duration in a short human unit: `45s`, `12m`, `3.5h`, `2.1d`.
pub fn short_duration(seconds: f64) -> String {
    let magnitude = seconds.abs();
    if magnitude < 60.0 {
        format!("{seconds:.0}s")
    } else if magnitude < 3600.0 {
        format!("{:.0}m", seconds / 60.0)
    } else if magnitude < 86_400.0 {
        format!("{:.1}h", seconds / 3600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

fn edge_label(edge: &Edge) -> String {
    match edge.median_seconds {
        Some(s) => format!("{} · {}", edge.count, short_duration(s)),
        None => edge.count.to_string(),
    }
}

/// The nodes in first-seen order (edges are sorted by traffic, so the busiest
/// nodes come first).
fn nodes(edges: &[Edge]) -> Vec<String> {
    let mut nodes: Vec<String> = Vec::new();
    for edge in edges {
        for name in [&edge.from, &edge.to] {
            if !nodes.contains(name) {
                nodes.push(name.clone());
            }
        }
    }
    nodes
}

fn dot_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT.
pub fn to_dot(title: &str, edges: &[Edge]) -> String {
    let max = edges.iter().map(|e| e.count).max().unwrap_or(1).max(1) as f64;
    let mut out = format!("digraph flow {{\n  label={};\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n", dot_quote(title));
    for node in nodes(edges) {
        let _ = writeln!(out, "  {};", dot_quote(&node));
    }
    for edge in edges {
        let width = 1.0 + 4.0 * (edge.count as f64 / max);
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, penwidth={width:.1}];",
            dot_quote(&edge.from),
            dot_quote(&edge.to),
            dot_quote(&edge_label(edge))
        );
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart.
pub fn to_mermaid(title: &str, edges: &[Edge]) -> String {
    let nodes = nodes(edges);
    let id = |name: &str| {
        nodes
            .iter()
            .position(|n| n == name)
            .map_or_else(String::new, |i| format!("n{i}"))
    };
    let mut out = format!(
        "---\ntitle: {}\n---\nflowchart LR\n",
        title.replace('\n', " ")
    );
    for (index, node) in nodes.iter().enumerate() {
        let _ = writeln!(out, "  n{index}[\"{}\"]", node.replace('"', "#quot;"));
    }
    for edge in edges {
        let _ = writeln!(
            out,
            "  {} -->|\"{}\"| {}",
            id(&edge.from),
            edge_label(edge),
            id(&edge.to)
        );
    }
    out
}

/// Ranks nodes left to right: a depth-first walk from the entry nodes (those
/// nobody points to, or else the node whose outgoing traffic most exceeds its
/// incoming), busiest edges first, marks the edges that close a cycle; the rank of
/// a node is then its longest path from an entry over the remaining edges.
fn ranks(nodes: &[String], edges: &[Edge]) -> Vec<usize> {
    let index = |name: &str| nodes.iter().position(|n| n == name).unwrap_or(0);
    let links: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (index(&e.from), index(&e.to)))
        .collect();
    let mut balance = vec![0i64; nodes.len()];
    let mut has_incoming = vec![false; nodes.len()];
    for (edge, (from, to)) in edges.iter().zip(&links) {
        balance[*from] += edge.count as i64;
        balance[*to] -= edge.count as i64;
        has_incoming[*to] |= from != to;
    }
    let mut entries: Vec<usize> = (0..nodes.len()).filter(|i| !has_incoming[*i]).collect();
    if entries.is_empty() {
        entries.extend((0..nodes.len()).max_by_key(|i| (balance[*i], std::cmp::Reverse(*i))));
    }
    // Iterative depth-first walk; edges are already sorted busiest first.
    let (mut state, mut back) = (vec![0u8; nodes.len()], vec![false; links.len()]);
    let starts: Vec<usize> = entries.iter().copied().chain(0..nodes.len()).collect();
    for start in starts {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((node, next)) = stack.pop() {
            match (next..links.len()).find(|e| links[*e].0 == node) {
                Some(edge) => {
                    stack.push((node, edge + 1));
                    let target = links[edge].1;
                    match state[target] {
                        0 => {
                            state[target] = 1;
                            stack.push((target, 0));
                        }
                        1 => back[edge] = true,
                        _ => {}
                    }
                }
                None => state[node] = 2,
            }
        }
    }
    // Longest path over the forward edges (a DAG): relax until stable.
    let mut rank = vec![0usize; nodes.len()];
    for _ in 0..nodes.len() {
        let mut changed = false;
        for (edge, (from, to)) in links.iter().enumerate() {
            if !back[edge] && from != to && rank[*to] < rank[*from] + 1 {
                rank[*to] = rank[*from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rank
}

fn xml(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

const NODE_WIDTH: f64 = 170.0;
const NODE_HEIGHT: f64 = 34.0;
const RANK_GAP: f64 = 250.0;
const ROW_GAP: f64 = 70.0;
const MARGIN: f64 = 40.0;

/// A standalone SVG of the graph.
pub fn to_svg(title: &str, edges: &[Edge]) -> String {
    let nodes = nodes(edges);
    let rank = ranks(&nodes, edges);
    let mut rows: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (node, r) in rank.iter().enumerate() {
        rows.entry(*r).or_default().push(node);
    }
    let mut position = vec![(0.0, 0.0); nodes.len()];
    for (r, members) in &rows {
        for (row, node) in members.iter().enumerate() {
            position[*node] = (
                MARGIN + *r as f64 * RANK_GAP,
                MARGIN + 70.0 + row as f64 * ROW_GAP,
            );
        }
    }
    let tallest = rows.values().map(Vec::len).max().unwrap_or(1) as f64;
    let width = MARGIN * 2.0 + rows.len().max(1) as f64 * RANK_GAP;
    let height = MARGIN * 2.0 + 70.0 + tallest * ROW_GAP + 60.0 + width * 0.15;
    let max = edges.iter().map(|e| e.count).max().unwrap_or(1).max(1) as f64;
    let index = |name: &str| nodes.iter().position(|n| n == name).unwrap_or(0);

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{MARGIN}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        MARGIN - 10.0,
        xml(title)
    );
    for edge in edges {
        let (from, to) = (index(&edge.from), index(&edge.to));
        let (fx, fy) = position[from];
        let (tx, ty) = position[to];
        let stroke = 0.8 + 5.0 * (edge.count as f64 / max);
        let (path, label_x, label_y) = if from == to {
            let (x, y) = (fx + NODE_WIDTH * 0.5, fy);
            (
                format!(
                    "M {:.1} {y:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {y:.1}",
                    x - 20.0,
                    x - 40.0,
                    y - 45.0,
                    x + 40.0,
                    y - 45.0,
                    x + 20.0
                ),
                x,
                y - 40.0,
            )
        } else if rank[to] > rank[from] {
            let (x1, y1, x2, y2) = (
                fx + NODE_WIDTH,
                fy + NODE_HEIGHT / 2.0,
                tx,
                ty + NODE_HEIGHT / 2.0,
            );
            let bend = (x2 - x1) / 2.0;
            (
                format!(
                    "M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}",
                    x1 + bend,
                    x2 - bend
                ),
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 4.0,
            )
        } else if rank[to] == rank[from] {
            // Same rank: arc out of the right side (downwards) or the left (upwards).
            let (side, bulge) = if ty > fy {
                (NODE_WIDTH, 45.0)
            } else {
                (0.0, -45.0)
            };
            let (x, y1, y2) = (fx + side, fy + NODE_HEIGHT / 2.0, ty + NODE_HEIGHT / 2.0);
            (
                format!(
                    "M {x:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x:.1} {y2:.1}",
                    x + bulge,
                    x + bulge
                ),
                x + bulge * 0.8,
                (y1 + y2) / 2.0,
            )
        } else {
            let (x1, y1, x2, y2) = (
                fx + NODE_WIDTH / 2.0 + 10.0,
                fy + NODE_HEIGHT,
                tx + NODE_WIDTH / 2.0 - 10.0,
                ty + NODE_HEIGHT,
            );
            let dip = y1.max(y2) + 40.0 + (x1 - x2).abs() * 0.15;
            (
                format!("M {x1:.1} {y1:.1} C {x1:.1} {dip:.1}, {x2:.1} {dip:.1}, {x2:.1} {y2:.1}"),
                (x1 + x2) / 2.0,
                dip - 6.0,
            )
        };
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"#555\" stroke-opacity=\"0.7\" stroke-width=\"{stroke:.1}\" marker-end=\"url(#arrow)\"><title>{} → {}: {}</title></path>\n<text x=\"{label_x:.1}\" y=\"{label_y:.1}\" font-size=\"10\" fill=\"#333\" text-anchor=\"middle\">{}</text>",
            xml(&edge.from),
            xml(&edge.to),
            xml(&edge_label(edge)),
            xml(&edge_label(edge))
        );
    }
    for (node, name) in nodes.iter().enumerate() {
        let (x, y) = position[node];
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"8\" fill=\"#e8f0fe\" stroke=\"#3b6fd4\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            x + NODE_WIDTH / 2.0,
            y + NODE_HEIGHT / 2.0 + 4.0,
            xml(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, count: u64) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            count,
            median_seconds: Some(5400.0),
        }
    }

    #[test]
    fn ranks_follow_the_flow_and_back_edges_do_not_move_nodes() {
        let edges = [
            edge("Created", "Started", 10),
            edge("Started", "Completed", 8),
            edge("Completed", "Reopened", 2),
            edge("Reopened", "Started", 2),
        ];
        let names = nodes(&edges);
        assert_eq!(ranks(&names, &edges), vec![0, 1, 2, 3]);
        let svg = to_svg("t", &edges);
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert_eq!(svg.matches("marker-end=").count(), 4);
        assert!(svg.contains(">10 · 1.5h</text>"));
    }

    #[test]
    fn text_formats_quote_names_and_label_edges() {
        let edges = [edge("a \"x\"", "b", 3)];
        assert!(to_dot("T", &edges)
            .contains("\"a \\\"x\\\"\" -> \"b\" [label=\"3 · 1.5h\", penwidth=5.0];"));
        assert!(to_mermaid("T", &edges).contains("n0 -->|\"3 · 1.5h\"| n1"));
        assert_eq!(short_duration(30.0), "30s");
        assert_eq!(short_duration(172_800.0), "2.0d");
    }
}
