//! A layered (Sugiyama) layout of a directed graph with labelled edges, left to
//! right, the way Graphviz's `dot` draws: cycles are broken by reversing the
//! edges a depth-first walk finds closing them; nodes get ranks (longest path,
//! then each node moved to the rank that shortens its edges most); every rank
//! is doubled so that each edge has at least one rank of its own between its
//! ends, where its label sits as a box of its own; an edge spanning more ranks
//! becomes a chain of dummy items, one per rank it crosses; the order within
//! each rank is improved by barycenter sweeps and adjacent swaps, counting
//! crossings; the vertical positions are the least-squares fit to the
//! neighbours' (pool-adjacent-violators under the minimum gaps), so long edges
//! run straight. Every node, dummy and label owns a vertical slot of its
//! column and edges only travel in their own slots or in the gaps between
//! columns, so by construction no edge crosses a node or a label and no label
//! lies on another.
//!
//! Written here rather than taken from a crate: layout-rs 0.1.3, the one
//! pure-Rust Graphviz-style layout, was measured on the same ten graphs (the
//! sample's and the real logs' status and event graphs, issue 21): its edge
//! labels float away from their edges, edges still cross nodes on three of the
//! event graphs, every picture has a wide empty band at the bottom, the
//! sample's event graph (16 nodes, 104 edges) took a second in a release build
//! and came out 4189×4366, and its API does not hand back the label boxes the
//! tests check. This layout takes milliseconds on the same graphs.

use crate::tools::geometry::Rect;

mod route;
use route::route;

/// A node to place: its box size (the height may grow to fit its edges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSize {
    pub width: f64,
    pub height: f64,
}

/// An edge to route, between node indexes, with its label's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeSpec {
    pub from: usize,
    pub to: usize,
    /// How much traffic the edge carries (its count): the entry of a cyclic
    /// graph is the node that most traffic leaves, and heavier edges are kept
    /// shorter and straighter (by the square root, so one busy edge does not
    /// bend all the others).
    pub weight: f64,
    pub label: NodeSize,
}

/// One piece of an edge's line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    Line((f64, f64)),
    /// A cubic Bézier: two control points and the end.
    Cubic((f64, f64), (f64, f64), (f64, f64)),
}

/// A routed edge: its start, its pieces in drawing order (ending at `to`), and
/// its label's box.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEdge {
    pub start: (f64, f64),
    pub pieces: Vec<Piece>,
    pub label: Rect,
}

impl RoutedEdge {
    /// The line as a polyline, curves flattened (16 steps a curve, which stay
    /// within a fraction of a unit of these short S-bends).
    pub fn polyline(&self) -> Vec<(f64, f64)> {
        let mut points = vec![self.start];
        let mut at = self.start;
        for piece in &self.pieces {
            match *piece {
                Piece::Line(to) => {
                    points.push(to);
                    at = to;
                }
                Piece::Cubic(c1, c2, to) => {
                    for step in 1..=16 {
                        let t = f64::from(step) / 16.0;
                        let u = 1.0 - t;
                        let mix = |a: f64, b: f64, c: f64, d: f64| {
                            u * u * u * a
                                + 3.0 * u * u * t * b
                                + 3.0 * u * t * t * c
                                + t * t * t * d
                        };
                        points.push((mix(at.0, c1.0, c2.0, to.0), mix(at.1, c1.1, c2.1, to.1)));
                    }
                    at = to;
                }
            }
        }
        points
    }

    /// The SVG path data.
    pub fn svg_path(&self) -> String {
        use std::fmt::Write;
        let mut d = format!("M {:.1} {:.1}", self.start.0, self.start.1);
        for piece in &self.pieces {
            let _ = match piece {
                Piece::Line((x, y)) => write!(d, " L {x:.1} {y:.1}"),
                Piece::Cubic((ax, ay), (bx, by), (x, y)) => {
                    write!(d, " C {ax:.1} {ay:.1}, {bx:.1} {by:.1}, {x:.1} {y:.1}")
                }
            };
        }
        d
    }
}

/// The placed graph; coordinates start at (0, 0) at the top left of the
/// content.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub nodes: Vec<Rect>,
    pub edges: Vec<RoutedEdge>,
    pub width: f64,
    pub height: f64,
}

/// Vertical gap between two neighbours of a column.
const GAP: f64 = 6.0;
/// Gap between two node boxes of a column.
const NODE_GAP: f64 = 14.0;
/// Half the slot of an edge passing through a column.
const LINE_HALF: f64 = 3.0;
/// Vertical distance between two edge ends on a node's side.
const PORT_PITCH: f64 = 6.0;
/// Height of a self-loop above its node, label excluded.
const LOOP_HEIGHT: f64 = 20.0;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Node,
    /// A point of edge `edge`'s chain; `label` when its label sits here.
    Dummy {
        label: bool,
    },
}

#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    rank: usize,
    /// Extent above and below the anchor (the line's y, or a node's centre).
    above: f64,
    below: f64,
    width: f64,
    anchor: f64,
}

/// Lays the graph out. Self-loops (`from == to`) are drawn above their node.
pub fn layout(nodes: &[NodeSize], edges: &[EdgeSpec]) -> Placed {
    let count = nodes.len();
    let reversed = break_cycles(count, edges);
    // Edges in the direction of the ranks; self-loops apart.
    let forward: Vec<(usize, usize, usize)> = edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.from != e.to)
        .map(|(i, e)| {
            if reversed[i] {
                (i, e.to, e.from)
            } else {
                (i, e.from, e.to)
            }
        })
        .collect();
    let rank = assign_ranks(count, edges, &forward);

    // Items: the nodes, then each edge's chain of dummies over the doubled ranks.
    let mut loops: Vec<Option<usize>> = vec![None; count];
    for (index, edge) in edges.iter().enumerate() {
        if edge.from == edge.to {
            loops[edge.from] = Some(index);
        }
    }
    let mut degree = vec![(0usize, 0usize); count];
    for (_, from, to) in &forward {
        degree[*from].1 += 1;
        degree[*to].0 += 1;
    }
    let mut items: Vec<Item> = (0..count)
        .map(|node| {
            let ports = degree[node].0.max(degree[node].1) as f64;
            let height = nodes[node].height.max(PORT_PITCH * ports + 8.0);
            let loop_room = loops[node].map_or(0.0, |e| LOOP_HEIGHT + edges[e].label.height);
            let loop_width = loops[node].map_or(0.0, |e| edges[e].label.width);
            Item {
                kind: Kind::Node,
                rank: 2 * rank[node],
                above: height / 2.0 + loop_room,
                below: height / 2.0,
                width: nodes[node].width.max(loop_width),
                anchor: 0.0,
            }
        })
        .collect();
    // chains[k]: the items of forward[k] from its first end to its last.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(forward.len());
    for (edge, from, to) in &forward {
        let (low, high) = (2 * rank[*from], 2 * rank[*to]);
        let spans = (high - low) / 2;
        let label_rank = low + 1 + 2 * ((spans - 1) / 2);
        let mut chain = vec![*from];
        for r in low + 1..high {
            let label = r == label_rank;
            let size = edges[*edge].label;
            chain.push(items.len());
            items.push(Item {
                kind: Kind::Dummy { label },
                rank: r,
                above: if label { size.height + 2.0 } else { LINE_HALF },
                below: LINE_HALF,
                width: if label { size.width } else { 0.0 },
                anchor: 0.0,
            });
        }
        chain.push(*to);
        chains.push(chain);
    }
    let ranks = items.iter().map(|i| i.rank).max().unwrap_or(0) + 1;
    // Links between neighbouring ranks, with their weights.
    let mut links: Vec<(usize, usize, f64)> = Vec::new();
    for (chain, (edge, _, _)) in chains.iter().zip(&forward) {
        for pair in chain.windows(2) {
            let both_dummies = pair[0] >= count && pair[1] >= count;
            let weight = edges[*edge].weight.sqrt() * if both_dummies { 8.0 } else { 2.0 };
            links.push((pair[0], pair[1], weight));
        }
    }
    let order = order_ranks(&items, &links, ranks);
    place_vertically(&mut items, &links, &order);
    route(
        nodes, edges, &items, &order, &chains, &forward, &reversed, &loops,
    )
}

/// Marks the edges that close a cycle: a depth-first walk from the entry nodes
/// (those nobody points to, or else the one whose outgoing weight most exceeds
/// its incoming), taking edges in the given order (busiest first).
fn break_cycles(count: usize, edges: &[EdgeSpec]) -> Vec<bool> {
    let mut balance = vec![0.0f64; count];
    let mut has_incoming = vec![false; count];
    for edge in edges {
        balance[edge.from] += edge.weight;
        balance[edge.to] -= edge.weight;
        has_incoming[edge.to] |= edge.from != edge.to;
    }
    let mut entries: Vec<usize> = (0..count).filter(|i| !has_incoming[*i]).collect();
    if entries.is_empty() {
        entries
            .extend((0..count).max_by(|a, b| balance[*a].total_cmp(&balance[*b]).then(b.cmp(a))));
    }
    let (mut state, mut back) = (vec![0u8; count], vec![false; edges.len()]);
    for start in entries.iter().copied().chain(0..count) {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((node, next)) = stack.pop() {
            match (next..edges.len()).find(|e| edges[*e].from == node) {
                Some(edge) => {
                    stack.push((node, edge + 1));
                    let target = edges[edge].to;
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
    back
}

/// Longest-path ranks over the acyclic edges, then each node moved, within the
/// ranks its edges allow, to the one that makes its weighted edge length least.
fn assign_ranks(count: usize, edges: &[EdgeSpec], forward: &[(usize, usize, usize)]) -> Vec<usize> {
    let mut rank = vec![0usize; count];
    for _ in 0..count {
        let mut changed = false;
        for (_, from, to) in forward {
            if rank[*to] < rank[*from] + 1 {
                rank[*to] = rank[*from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let top = rank.iter().copied().max().unwrap_or(0);
    for _ in 0..4 {
        for node in 0..count {
            let (mut low, mut high) = (0usize, top);
            let mut pulls: Vec<(usize, f64)> = Vec::new();
            for (edge, from, to) in forward {
                if *to == node {
                    low = low.max(rank[*from] + 1);
                    pulls.push((rank[*from] + 1, edges[*edge].weight.sqrt()));
                }
                if *from == node {
                    high = high.min(rank[*to].saturating_sub(1));
                    pulls.push((rank[*to].saturating_sub(1), edges[*edge].weight.sqrt()));
                }
            }
            if pulls.is_empty() || low > high {
                continue;
            }
            let cost = |r: usize| -> f64 {
                pulls
                    .iter()
                    .map(|(t, w)| w * (r as f64 - *t as f64).abs())
                    .sum()
            };
            let mut best = rank[node].clamp(low, high);
            for r in low..=high {
                if cost(r) < cost(best) - 1e-9 {
                    best = r;
                }
            }
            rank[node] = best;
        }
    }
    rank
}

/// The items of each rank, top to bottom, with few crossings.
fn order_ranks(items: &[Item], links: &[(usize, usize, f64)], ranks: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    for (index, item) in items.iter().enumerate() {
        order[item.rank].push(index);
    }
    let mut position = vec![0usize; items.len()];
    let index_positions = |order: &Vec<Vec<usize>>, position: &mut Vec<usize>| {
        for rank in order {
            for (p, item) in rank.iter().enumerate() {
                position[*item] = p;
            }
        }
    };
    index_positions(&order, &mut position);
    // Neighbours of each item in the rank before and after it.
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (a, b, _) in links {
        after[*a].push(*b);
        before[*b].push(*a);
    }
    let mut best = (crossings(&order, &after, &position), order.clone());
    let mut since_best = 0;
    for sweep in 0..24 {
        let down = sweep % 2 == 0;
        let sequence: Vec<usize> = if down {
            (1..ranks).collect()
        } else {
            (0..ranks.saturating_sub(1)).rev().collect()
        };
        for r in sequence {
            let neighbours = if down { &before } else { &after };
            let mut keyed: Vec<(f64, usize)> = order[r]
                .iter()
                .map(|item| {
                    let around = &neighbours[*item];
                    let key = if around.is_empty() {
                        position[*item] as f64
                    } else {
                        around.iter().map(|n| position[*n] as f64).sum::<f64>()
                            / around.len() as f64
                    };
                    (key, *item)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            order[r] = keyed.into_iter().map(|(_, item)| item).collect();
            for (p, item) in order[r].iter().enumerate() {
                position[*item] = p;
            }
        }
        transpose(&mut order, &mut position, &before, &after);
        let now = crossings(&order, &after, &position);
        if now < best.0 {
            best = (now, order.clone());
            since_best = 0;
        } else {
            // Eight sweeps without a better order: the sweeps have settled.
            since_best += 1;
            if since_best == 8 {
                break;
            }
        }
    }
    best.1
}

/// Swaps neighbours within a rank while that removes crossings.
fn transpose(
    order: &mut [Vec<usize>],
    position: &mut [usize],
    before: &[Vec<usize>],
    after: &[Vec<usize>],
) {
    let pair_crossings = |a: usize, b: usize, position: &[usize]| -> usize {
        let mut total = 0;
        for side in [before, after] {
            for x in &side[a] {
                for y in &side[b] {
                    if position[*x] > position[*y] {
                        total += 1;
                    }
                }
            }
        }
        total
    };
    for _ in 0..8 {
        let mut improved = false;
        for rank in order.iter_mut() {
            for p in 0..rank.len().saturating_sub(1) {
                let (a, b) = (rank[p], rank[p + 1]);
                if pair_crossings(b, a, position) < pair_crossings(a, b, position) {
                    rank.swap(p, p + 1);
                    position[a] = p + 1;
                    position[b] = p;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Edge crossings between all neighbouring ranks: per pair of ranks, the
/// links sorted by their upper end, and the inversions of their lower ends
/// counted with a Fenwick tree (Barth, Jünger and Mutzel), so dense graphs with
/// many dummies stay fast.
fn crossings(order: &[Vec<usize>], after: &[Vec<usize>], position: &[usize]) -> usize {
    let mut total = 0;
    for (r, rank) in order.iter().enumerate() {
        let Some(next) = order.get(r + 1) else { break };
        let mut pairs: Vec<(usize, usize)> = rank
            .iter()
            .flat_map(|a| after[*a].iter().map(move |b| (position[*a], position[*b])))
            .collect();
        pairs.sort_unstable();
        // tree[i]: how many lower ends seen so far fall in i's range.
        let mut tree = vec![0usize; next.len() + 1];
        for (seen, (_, lower)) in pairs.iter().enumerate() {
            // Lower ends seen so far at or left of this one do not cross it.
            let (mut i, mut not_crossing) = (lower + 1, 0);
            while i > 0 {
                not_crossing += tree[i];
                i &= i - 1;
            }
            total += seen - not_crossing;
            let mut i = lower + 1;
            while i < tree.len() {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Vertical positions: each item as near the weighted mean of its neighbours
/// as the order and the gaps allow, sweeping the ranks back and forth.
fn place_vertically(items: &mut [Item], links: &[(usize, usize, f64)], order: &[Vec<usize>]) {
    let gap = |upper: &Item, lower: &Item| -> f64 {
        let both_nodes = matches!(upper.kind, Kind::Node) && matches!(lower.kind, Kind::Node);
        upper.below + lower.above + if both_nodes { NODE_GAP } else { GAP }
    };
    for rank in order {
        let mut y = 0.0;
        for (p, item) in rank.iter().enumerate() {
            if p > 0 {
                y += gap(&items[rank[p - 1]], &items[*item]);
            }
            items[*item].anchor = y;
        }
    }
    let mut neighbours: Vec<Vec<(usize, f64)>> = vec![Vec::new(); items.len()];
    for (a, b, w) in links {
        neighbours[*a].push((*b, *w));
        neighbours[*b].push((*a, *w));
    }
    for sweep in 0..16 {
        let sequence: Vec<usize> = if sweep % 2 == 0 {
            (0..order.len()).collect()
        } else {
            (0..order.len()).rev().collect()
        };
        for r in sequence {
            let rank = &order[r];
            let wanted: Vec<(f64, f64)> = rank
                .iter()
                .map(|item| {
                    let around = &neighbours[*item];
                    let weight: f64 = around.iter().map(|(_, w)| w).sum();
                    if weight == 0.0 {
                        (items[*item].anchor, 0.01)
                    } else {
                        let mean = around
                            .iter()
                            .map(|(n, w)| items[*n].anchor * w)
                            .sum::<f64>()
                            / weight;
                        (mean, weight)
                    }
                })
                .collect();
            let gaps: Vec<f64> = rank
                .windows(2)
                .map(|w| gap(&items[w[0]], &items[w[1]]))
                .collect();
            let fitted = fit_in_order(&wanted, &gaps);
            for (item, y) in rank.iter().zip(fitted) {
                items[*item].anchor = y;
            }
        }
    }
}

/// The weighted least-squares positions nearest `wanted` (value, weight) that
/// keep each one at least `gaps[i]` below the one before: pool adjacent
/// violators on the positions less their cumulative gaps.
fn fit_in_order(wanted: &[(f64, f64)], gaps: &[f64]) -> Vec<f64> {
    let mut offset = vec![0.0; wanted.len()];
    for i in 1..wanted.len() {
        offset[i] = offset[i - 1] + gaps[i - 1];
    }
    // Blocks of (weighted sum, weight, length).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (i, (value, weight)) in wanted.iter().enumerate() {
        blocks.push(((value - offset[i]) * weight, *weight, 1));
        while blocks.len() > 1 {
            let (s2, w2, n2) = blocks[blocks.len() - 1];
            let (s1, w1, n1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.truncate(blocks.len() - 2);
            blocks.push((s1 + s2, w1 + w2, n1 + n2));
        }
    }
    let mut fitted = Vec::with_capacity(wanted.len());
    for (sum, weight, length) in blocks {
        for _ in 0..length {
            fitted.push(sum / weight + offset[fitted.len()]);
        }
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_order_and_gaps_and_comes_as_near_as_it_can() {
        assert_eq!(
            fit_in_order(&[(0.0, 1.0), (50.0, 1.0)], &[10.0]),
            vec![0.0, 50.0]
        );
        assert_eq!(
            fit_in_order(&[(5.0, 1.0), (5.0, 1.0)], &[10.0]),
            vec![0.0, 10.0]
        );
        assert_eq!(
            fit_in_order(&[(5.0, 3.0), (5.0, 1.0)], &[8.0]),
            vec![3.0, 11.0]
        );
    }

    #[test]
    fn a_long_edge_goes_around_the_node_between_its_ends() {
        let size = NodeSize {
            width: 60.0,
            height: 30.0,
        };
        let label = NodeSize {
            width: 30.0,
            height: 12.0,
        };
        let edge = |from, to| EdgeSpec {
            from,
            to,
            weight: 1.0,
            label,
        };
        let placed = layout(&[size; 3], &[edge(0, 1), edge(1, 2), edge(0, 2)]);
        let skip = placed.edges[2].polyline();
        assert!(!skip
            .windows(2)
            .any(|w| placed.nodes[1].crossed_by(w[0], w[1])));
        assert!(placed.nodes[0].right() < placed.nodes[1].x);
        assert!(placed.nodes[1].right() < placed.nodes[2].x);
    }
}
