//! The last step of the layered layout: columns from the ranks (wider where
//! lines climb far), ports spread over each node's sides in the order of what
//! they lead to, and each edge's line through the slots of its chain, straight
//! across each column and an S-bend across each gap, so it meets nothing but
//! its own ends.

use super::{EdgeSpec, Item, Kind, NodeSize, Piece, Placed, RoutedEdge, LOOP_HEIGHT};
use crate::tools::geometry::Rect;

/// Columns, ports and lines: turns the ordered, placed items into boxes and
/// edge paths, shifted so the content starts at (0, 0).
#[allow(clippy::too_many_arguments)]
pub(super) fn route(
    nodes: &[NodeSize],
    edges: &[EdgeSpec],
    items: &[Item],
    order: &[Vec<usize>],
    chains: &[Vec<usize>],
    forward: &[(usize, usize, usize)],
    reversed: &[bool],
    loops: &[Option<usize>],
) -> Placed {
    let top = items
        .iter()
        .map(|i| i.anchor - i.above)
        .fold(f64::INFINITY, f64::min);
    let bottom = items
        .iter()
        .map(|i| i.anchor + i.below)
        .fold(f64::NEG_INFINITY, f64::max);
    let y = |item: usize| items[item].anchor - top;
    // Column widths, and the gap after each column, wider where lines climb far.
    let widths: Vec<f64> = order
        .iter()
        .map(|rank| {
            rank.iter()
                .map(|i| items[*i].width)
                .fold(0.0, f64::max)
                .max(8.0)
        })
        .collect();
    let mut climb = vec![0.0f64; order.len()];
    for chain in chains {
        for pair in chain.windows(2) {
            let r = items[pair[0]].rank;
            climb[r] = climb[r].max((y(pair[0]) - y(pair[1])).abs());
        }
    }
    let mut left = Vec::with_capacity(order.len());
    let mut x = 0.0;
    for (r, width) in widths.iter().enumerate() {
        left.push(x);
        x += width + (climb[r] * 0.3).clamp(24.0, 90.0);
    }
    let width = left.last().copied().unwrap_or(0.0) + widths.last().copied().unwrap_or(0.0);
    let node_rects: Vec<Rect> = (0..nodes.len())
        .map(|node| {
            let item = &items[node];
            let height = 2.0 * item.below;
            Rect::new(
                left[item.rank] + (widths[item.rank] - nodes[node].width) / 2.0,
                y(node) - height / 2.0,
                nodes[node].width,
                height,
            )
        })
        .collect();
    // Ports: each node side's edges spread over its height, in the order of
    // the items they lead to.
    let mut port = vec![(0.0f64, 0.0f64); chains.len()];
    for (node, rect) in node_rects.iter().enumerate() {
        for outgoing in [true, false] {
            let mut ends: Vec<(f64, usize)> = chains
                .iter()
                .enumerate()
                .filter_map(|(k, chain)| {
                    if outgoing && chain[0] == node {
                        Some((y(chain[1]), k))
                    } else if !outgoing && chain[chain.len() - 1] == node {
                        Some((y(chain[chain.len() - 2]), k))
                    } else {
                        None
                    }
                })
                .collect();
            ends.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (slot, (_, k)) in ends.iter().enumerate() {
                let at = rect.y + rect.height * (slot as f64 + 1.0) / (ends.len() as f64 + 1.0);
                if outgoing {
                    port[*k].0 = at;
                } else {
                    port[*k].1 = at;
                }
            }
        }
    }
    let mut routed: Vec<Option<RoutedEdge>> = vec![None; edges.len()];
    for (k, chain) in chains.iter().enumerate() {
        let (edge, from, to) = forward[k];
        // Each item of the chain is crossed horizontally at one height.
        let mut stops: Vec<(f64, f64, f64)> = Vec::new(); // (x in, x out, y)
        let mut label = Rect::new(0.0, 0.0, 0.0, 0.0);
        for (step, item) in chain.iter().enumerate() {
            let r = items[*item].rank;
            let (col_left, col_right) = (left[r], left[r] + widths[r]);
            if step == 0 {
                stops.push((node_rects[from].right(), col_right, port[k].0));
            } else if step == chain.len() - 1 {
                stops.push((col_left, node_rects[to].x, port[k].1));
            } else {
                stops.push((col_left, col_right, y(*item)));
                if let Kind::Dummy { label: true } = items[*item].kind {
                    let size = edges[edge].label;
                    label = Rect::new(
                        col_left + (widths[r] - size.width) / 2.0,
                        y(*item) - 2.0 - size.height,
                        size.width,
                        size.height,
                    );
                }
            }
        }
        if reversed[edge] {
            stops.reverse();
            for stop in &mut stops {
                *stop = (stop.1, stop.0, stop.2);
            }
        }
        let start = (stops[0].0, stops[0].2);
        let mut pieces = vec![Piece::Line((stops[0].1, stops[0].2))];
        for pair in stops.windows(2) {
            let ((_, x1, y1), (x2, x3, y2)) = (pair[0], pair[1]);
            let middle = (x1 + x2) / 2.0;
            pieces.push(Piece::Cubic((middle, y1), (middle, y2), (x2, y2)));
            pieces.push(Piece::Line((x3, y2)));
        }
        routed[edge] = Some(RoutedEdge {
            start,
            pieces,
            label,
        });
    }
    for (node, edge) in loops.iter().enumerate() {
        let Some(edge) = *edge else { continue };
        let rect = node_rects[node];
        let centre = rect.x + rect.width / 2.0;
        let size = edges[edge].label;
        let rise = rect.y - LOOP_HEIGHT + 4.0;
        routed[edge] = Some(RoutedEdge {
            start: (centre - 8.0, rect.y),
            pieces: vec![Piece::Cubic(
                (centre - 22.0, rise),
                (centre + 22.0, rise),
                (centre + 8.0, rect.y),
            )],
            label: Rect::new(
                centre - size.width / 2.0,
                rect.y - LOOP_HEIGHT - size.height,
                size.width,
                size.height,
            ),
        });
    }
    Placed {
        nodes: node_rects,
        edges: routed
            .into_iter()
            .map(|e| e.expect("every edge routed"))
            .collect(),
        width,
        height: bottom - top,
    }
}
