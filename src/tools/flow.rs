//! Pictures of the flow: the directly-follows graph of event types (or of
//! statuses) with edge counts and median durations, as Graphviz DOT, Mermaid, or
//! a self-contained SVG.
//!
//! The edges come from SQL: `queries/analysis/directly_follows.sql` for event
//! types (the same file the analysis ships), and a transitions query for
//! statuses. The SVG is laid out by [`crate::tools::layered`] (ranks left to
//! right, each edge's label in a slot of its own, long edges routed around the
//! nodes between their ends) and its geometry, [`Picture::drawing`], is what
//! the tests check with [`crate::tools::geometry::check`].

use std::fmt::Write;

use crate::tools::geometry::{escape, text_width, Drawing, Label, Path, Rect, Shape};
use crate::tools::layered::{layout, EdgeSpec, NodeSize, Piece, RoutedEdge};

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

/// Empty space around the content.
const MARGIN: f64 = 16.0;
const TITLE_SIZE: f64 = 16.0;
const NODE_FONT: f64 = 12.0;
const LABEL_FONT: f64 = 10.0;
const NODE_HEIGHT: f64 = 30.0;
const LABEL_HEIGHT: f64 = 12.0;

/// A flow laid out: the geometry the SVG draws, in the order it draws it.
/// `drawing.shapes` are the nodes (first-seen order), `drawing.paths` the
/// edges (the given order), `drawing.labels` the title and then the edges'
/// labels. Checked by [`crate::tools::geometry::check`] in the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub drawing: Drawing,
    title: String,
    edges: Vec<(Edge, RoutedEdge)>,
}

/// Lays the graph out (see [`crate::tools::layered`]).
pub fn picture(title: &str, edges: &[Edge]) -> Picture {
    let names = nodes(edges);
    let index = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
    let sizes: Vec<NodeSize> = names
        .iter()
        .map(|name| NodeSize {
            width: (text_width(name, NODE_FONT) + 20.0).max(48.0),
            height: NODE_HEIGHT,
        })
        .collect();
    let specs: Vec<EdgeSpec> = edges
        .iter()
        .map(|edge| EdgeSpec {
            from: index(&edge.from),
            to: index(&edge.to),
            weight: edge.count.max(1) as f64,
            label: NodeSize {
                width: text_width(&edge_label(edge), LABEL_FONT) + 4.0,
                height: LABEL_HEIGHT,
            },
        })
        .collect();
    let placed = layout(&sizes, &specs);
    let title_width = text_width(title, TITLE_SIZE) * 1.1;
    let (dx, dy) = (MARGIN, MARGIN + TITLE_SIZE + 4.0 + 14.0);
    let shift = |r: Rect| Rect::new(r.x + dx, r.y + dy, r.width, r.height);
    let moved: Vec<RoutedEdge> = placed
        .edges
        .iter()
        .map(|routed| {
            let at = |(x, y): (f64, f64)| (x + dx, y + dy);
            RoutedEdge {
                start: at(routed.start),
                pieces: routed
                    .pieces
                    .iter()
                    .map(|piece| match *piece {
                        Piece::Line(to) => Piece::Line(at(to)),
                        Piece::Cubic(a, b, to) => Piece::Cubic(at(a), at(b), at(to)),
                    })
                    .collect(),
                label: shift(routed.label),
            }
        })
        .collect();
    let mut drawing = Drawing {
        width: (placed.width.max(title_width) + 2.0 * MARGIN).ceil(),
        height: (dy + placed.height + MARGIN).ceil(),
        shapes: names
            .iter()
            .zip(&placed.nodes)
            .map(|(name, rect)| Shape {
                name: name.clone(),
                rect: shift(*rect),
            })
            .collect(),
        paths: specs
            .iter()
            .zip(&moved)
            .map(|(spec, routed)| Path {
                from: Some(spec.from),
                to: Some(spec.to),
                points: routed.polyline(),
            })
            .collect(),
        labels: edges
            .iter()
            .zip(&moved)
            .map(|(edge, routed)| Label {
                text: edge_label(edge),
                rect: routed.label,
            })
            .collect(),
    };
    drawing.labels.insert(
        0,
        Label {
            text: title.to_owned(),
            // Baseline at MARGIN + TITLE_SIZE; ascent 0.95 em, descent 0.25 em.
            rect: Rect::new(
                MARGIN,
                MARGIN + 0.05 * TITLE_SIZE,
                title_width,
                1.2 * TITLE_SIZE,
            ),
        },
    );
    Picture {
        drawing,
        title: title.to_owned(),
        edges: edges.iter().cloned().zip(moved).collect(),
    }
}

impl Picture {
    /// The standalone SVG.
    pub fn svg(&self) -> String {
        let (width, height) = (self.drawing.width, self.drawing.height);
        let max = self
            .edges
            .iter()
            .map(|(e, _)| e.count)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">\n\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{MARGIN}\" y=\"{:.1}\" font-size=\"{TITLE_SIZE}\" font-weight=\"bold\">{}</text>\n",
            MARGIN + TITLE_SIZE,
            escape(&self.title)
        );
        for (edge, routed) in &self.edges {
            let stroke = 0.8 + 5.0 * (edge.count as f64 / max);
            let label = escape(&edge_label(edge));
            let _ = writeln!(
                svg,
                "<path d=\"{}\" fill=\"none\" stroke=\"#555\" stroke-opacity=\"0.7\" stroke-width=\"{stroke:.1}\" marker-end=\"url(#arrow)\"><title>{} → {}: {label}</title></path>",
                routed.svg_path(),
                escape(&edge.from),
                escape(&edge.to),
            );
        }
        for (edge, routed) in &self.edges {
            let rect = routed.label;
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL_FONT}\" fill=\"#333\" text-anchor=\"middle\">{}</text>",
                rect.x + rect.width / 2.0,
                rect.y + 9.5,
                escape(&edge_label(edge)),
            );
        }
        for shape in &self.drawing.shapes {
            let rect = shape.rect;
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"#e8f0fe\" stroke=\"#3b6fd4\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{NODE_FONT}\" text-anchor=\"middle\">{}</text>",
                rect.x,
                rect.y,
                rect.width,
                rect.height,
                rect.x + rect.width / 2.0,
                rect.y + rect.height / 2.0 + 4.0,
                escape(&shape.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A standalone SVG of the graph, laid out by [`picture`].
pub fn to_svg(title: &str, edges: &[Edge]) -> String {
    picture(title, edges).svg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::geometry::{check, from_svg, Limits};

    fn edge(from: &str, to: &str, count: u64) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            count,
            median_seconds: Some(5400.0),
        }
    }

    #[test]
    fn the_flow_runs_left_to_right_and_the_picture_is_honest() {
        let edges = [
            edge("Created", "Started", 10),
            edge("Started", "Completed", 8),
            edge("Completed", "Reopened", 2),
            edge("Reopened", "Started", 2),
            edge("Created", "Completed", 1),
            edge("Started", "Started", 1),
        ];
        let picture = picture("t", &edges);
        let x = |i: usize| picture.drawing.shapes[i].rect.x;
        assert!(x(0) < x(1) && x(1) < x(2) && x(2) < x(3), "{picture:?}");
        let problems = check(&picture.drawing, &Limits::default());
        assert!(problems.is_empty(), "{problems:?}");
        let svg = picture.svg();
        // The SVG draws what the geometry says: read back, the same boxes.
        let read = from_svg(&svg).unwrap();
        assert_eq!(read.shapes.len(), picture.drawing.shapes.len());
        assert_eq!(read.labels.len(), picture.drawing.labels.len());
        for (back, drawn) in read.shapes.iter().zip(&picture.drawing.shapes) {
            assert_eq!(back.name, drawn.name);
            assert!(
                (back.rect.x - drawn.rect.x).abs() < 0.1,
                "{back:?} {drawn:?}"
            );
        }
        for (back, drawn) in read.labels.iter().zip(&picture.drawing.labels) {
            assert_eq!(back.text, drawn.text);
            // The text as drawn lies within the box the layout kept for it.
            let (b, d) = (back.rect, drawn.rect);
            assert!(
                b.x >= d.x - 0.1
                    && b.right() <= d.right() + 0.1
                    && b.y >= d.y - 0.1
                    && b.bottom() <= d.bottom() + 0.1,
                "{back:?} {drawn:?}"
            );
        }
        assert_eq!(read.paths.len(), 6);
        assert!(check(&read, &Limits::default()).is_empty());
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert_eq!(svg.matches("marker-end=").count(), 6);
        assert!(svg.contains(">10 · 1.5h</text>"));
    }

    #[test]
    fn loops_two_cycles_and_parts_apart_are_laid_out_too() {
        for edges in [
            vec![edge("a", "a", 3)],
            vec![edge("a", "b", 3), edge("b", "a", 2)],
            vec![edge("a", "b", 3), edge("c", "d", 2), edge("d", "c", 1)],
        ] {
            let picture = picture("a title wider than the graph", &edges);
            let problems = check(&picture.drawing, &Limits::default());
            assert!(problems.is_empty(), "{edges:?}: {problems:?}");
            assert_eq!(picture.drawing.paths.len(), edges.len());
        }
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
