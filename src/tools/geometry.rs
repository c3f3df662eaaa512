//! The geometry of a picture and the checker of what makes it honest.
//!
//! A drawing is boxes (the nodes, or a chart's bars), paths (edges, polylines
//! through the points a reader's eye follows) and text boxes (labels, the
//! title), on a canvas of a given size. [`check`] asserts what a picture must
//! not do to its reader: draw an edge through a box it does not join (the reader
//! sees two edges meeting there), put a label on a box, on another label or
//! under a line (the text cannot be read, or is read as the other's), and leave
//! large empty margins. It is pure geometry with no knowledge of flows, so the
//! report's charts can describe themselves as a [`Drawing`] and be checked the
//! same way.

use std::fmt;

mod svg;
pub use svg::from_svg;

/// An axis-aligned rectangle: top-left corner and size, in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    /// The rectangle with top-left corner (x, y) and this size.
    pub fn new(x: f64, y: f64, width: f64, height: f64) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The right edge.
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    /// The bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }

    /// Whether the interiors of the two rectangles share any area.
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    /// Whether the segment from `a` to `b` passes through the interior.
    /// Liang–Barsky clipping: touching the border does not count.
    pub fn crossed_by(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut low, mut high) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - self.x),
            (dx, self.right() - a.0),
            (-dy, a.1 - self.y),
            (dy, self.bottom() - a.1),
        ] {
            if p == 0.0 {
                if q <= 0.0 {
                    return false;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    low = low.max(t);
                } else {
                    high = high.min(t);
                }
            }
        }
        // A positive length inside, not a graze of a corner.
        (high - low) * dx.hypot(dy) > 1e-6
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        Rect::new(
            x,
            y,
            self.right().max(other.right()) - x,
            self.bottom().max(other.bottom()) - y,
        )
    }
}

/// A box the reader reads as one thing: a node of a graph, a bar of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub name: String,
    pub rect: Rect,
}

/// A line the eye follows between two shapes (or from/to nothing, `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Index into [`Drawing::shapes`] of the shape the path starts at.
    pub from: Option<usize>,
    /// Index into [`Drawing::shapes`] of the shape the path ends at.
    pub to: Option<usize>,
    /// The drawn line as a polyline (curves flattened finely enough that the
    /// polyline stays within a pixel of the curve).
    pub points: Vec<(f64, f64)>,
}

/// A piece of text and the box it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub text: String,
    pub rect: Rect,
}

/// Everything a picture draws, as geometry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drawing {
    pub width: f64,
    pub height: f64,
    pub shapes: Vec<Shape>,
    pub paths: Vec<Path>,
    pub labels: Vec<Label>,
}

impl Drawing {
    /// The box around everything drawn, or `None` for an empty drawing.
    pub fn content(&self) -> Option<Rect> {
        let shapes = self.shapes.iter().map(|s| s.rect);
        let labels = self.labels.iter().map(|l| l.rect);
        let points = self
            .paths
            .iter()
            .flat_map(|p| p.points.iter())
            .map(|(x, y)| Rect::new(*x, *y, 0.0, 0.0));
        shapes
            .chain(labels)
            .chain(points)
            .reduce(|a, b| a.union(&b))
    }
}

/// The bounds a drawing must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The widest empty band allowed between the content and each side of the
    /// canvas.
    pub max_margin: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_margin: 40.0 }
    }
}

/// One way a drawing misleads.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A path runs through a shape that is neither of its ends.
    PathThroughShape { path: usize, shape: String },
    /// A path runs through a label.
    PathThroughLabel { path: usize, label: String },
    /// A label covers part of a shape.
    LabelOnShape { label: String, shape: String },
    /// Two labels cover each other.
    LabelOnLabel { first: String, second: String },
    /// Two shapes cover each other.
    ShapeOnShape { first: String, second: String },
    /// Something is drawn outside the canvas.
    OutsideCanvas { what: String },
    /// An empty band wider than allowed along one side.
    Margin { side: &'static str, width: f64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::PathThroughShape { path, shape } => {
                write!(
                    f,
                    "path {path} runs through \"{shape}\", which it does not join"
                )
            }
            Problem::PathThroughLabel { path, label } => {
                write!(f, "path {path} runs through the label \"{label}\"")
            }
            Problem::LabelOnShape { label, shape } => {
                write!(f, "label \"{label}\" lies on \"{shape}\"")
            }
            Problem::LabelOnLabel { first, second } => {
                write!(f, "labels \"{first}\" and \"{second}\" overlap")
            }
            Problem::ShapeOnShape { first, second } => {
                write!(f, "\"{first}\" and \"{second}\" overlap")
            }
            Problem::OutsideCanvas { what } => write!(f, "\"{what}\" lies outside the canvas"),
            Problem::Margin { side, width } => {
                write!(f, "{width:.0} units of empty margin at the {side}")
            }
        }
    }
}

/// Every problem of the drawing, in a stable order; empty when it is honest.
pub fn check(drawing: &Drawing, limits: &Limits) -> Vec<Problem> {
    let mut problems = Vec::new();
    let shapes = &drawing.shapes;
    for (index, path) in drawing.paths.iter().enumerate() {
        let runs = runs_of(&path.points);
        for (shape_index, shape) in shapes.iter().enumerate() {
            if path.from == Some(shape_index) || path.to == Some(shape_index) {
                continue;
            }
            if crosses(&path.points, &runs, &shape.rect) {
                problems.push(Problem::PathThroughShape {
                    path: index,
                    shape: shape.name.clone(),
                });
            }
        }
        for label in &drawing.labels {
            if crosses(&path.points, &runs, &label.rect) {
                problems.push(Problem::PathThroughLabel {
                    path: index,
                    label: label.text.clone(),
                });
            }
        }
    }
    for (index, label) in drawing.labels.iter().enumerate() {
        for shape in shapes {
            if label.rect.overlaps(&shape.rect) {
                problems.push(Problem::LabelOnShape {
                    label: label.text.clone(),
                    shape: shape.name.clone(),
                });
            }
        }
        for other in &drawing.labels[index + 1..] {
            if label.rect.overlaps(&other.rect) {
                problems.push(Problem::LabelOnLabel {
                    first: label.text.clone(),
                    second: other.text.clone(),
                });
            }
        }
    }
    for (index, shape) in shapes.iter().enumerate() {
        for other in &shapes[index + 1..] {
            if shape.rect.overlaps(&other.rect) {
                problems.push(Problem::ShapeOnShape {
                    first: shape.name.clone(),
                    second: other.name.clone(),
                });
            }
        }
    }
    let canvas = Rect::new(0.0, 0.0, drawing.width, drawing.height);
    let inside = |r: &Rect| {
        r.x >= -0.5
            && r.y >= -0.5
            && r.right() <= canvas.width + 0.5
            && r.bottom() <= canvas.height + 0.5
    };
    let named = shapes
        .iter()
        .map(|s| (s.name.as_str(), s.rect))
        .chain(drawing.labels.iter().map(|l| (l.text.as_str(), l.rect)));
    for (name, rect) in named {
        if !inside(&rect) {
            problems.push(Problem::OutsideCanvas {
                what: name.to_owned(),
            });
        }
    }
    for (index, path) in drawing.paths.iter().enumerate() {
        if path
            .points
            .iter()
            .any(|(x, y)| !inside(&Rect::new(*x, *y, 0.0, 0.0)))
        {
            problems.push(Problem::OutsideCanvas {
                what: format!("path {index}"),
            });
        }
    }
    if let Some(content) = drawing.content() {
        for (side, width) in [
            ("left", content.x),
            ("top", content.y),
            ("right", canvas.width - content.right()),
            ("bottom", canvas.height - content.bottom()),
        ] {
            if width > limits.max_margin {
                problems.push(Problem::Margin { side, width });
            }
        }
    }
    problems
}

/// Segments per run in [`runs_of`].
const RUN: usize = 16;

/// The box around each run of [`RUN`] segments of a polyline, so that a box
/// far from a run costs one comparison, not sixteen.
fn runs_of(points: &[(f64, f64)]) -> Vec<Rect> {
    (0..points.len().saturating_sub(1))
        .step_by(RUN)
        .map(|start| {
            points[start..(start + RUN + 1).min(points.len())]
                .iter()
                .map(|(x, y)| Rect::new(*x, *y, 0.0, 0.0))
                .reduce(|a, b| a.union(&b))
                .expect("a run has points")
        })
        .collect()
}

/// Whether the polyline passes through the interior of `rect`.
fn crosses(points: &[(f64, f64)], runs: &[Rect], rect: &Rect) -> bool {
    runs.iter().enumerate().any(|(run, around)| {
        let near = around.x <= rect.right()
            && rect.x <= around.right()
            && around.y <= rect.bottom()
            && rect.y <= around.bottom();
        near && points[run * RUN..(run * RUN + RUN + 1).min(points.len())]
            .windows(2)
            .any(|w| rect.crossed_by(w[0], w[1]))
    })
}

/// `text` escaped for SVG and HTML, in text and in attributes (every
/// picture eventfold writes).
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// The width of `text` in Helvetica (or a metric twin: Arial, Liberation Sans)
/// at `font_size`, from the font's advance widths; characters outside ASCII
/// count as wide ones, so the estimate errs on the large side.
pub fn text_width(text: &str, font_size: f64) -> f64 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
        278, // ' '../
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
        556, // 0..?
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
        778, // @..O
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
        556, // P.._
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
        556, // `..o
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
    ];
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(ASCII[c as usize - 32]),
            '·' => 278,
            _ => 1000,
        })
        .sum();
    f64::from(units) * font_size / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, x: f64, y: f64) -> Shape {
        Shape {
            name: name.into(),
            rect: Rect::new(x, y, 50.0, 20.0),
        }
    }

    #[test]
    fn a_path_through_a_box_it_does_not_join_is_caught() {
        let mut drawing = Drawing {
            width: 230.0,
            height: 60.0,
            shapes: vec![
                shape("a", 10.0, 20.0),
                shape("b", 90.0, 20.0),
                shape("c", 170.0, 20.0),
            ],
            paths: vec![Path {
                from: Some(0),
                to: Some(2),
                points: vec![(60.0, 30.0), (170.0, 30.0)],
            }],
            labels: vec![Label {
                text: "3".into(),
                rect: Rect::new(100.0, 0.0, 10.0, 12.0),
            }],
        };
        assert_eq!(
            check(&drawing, &Limits::default()),
            vec![Problem::PathThroughShape {
                path: 0,
                shape: "b".into()
            }]
        );
        // Around b, the path is fine; a label on b is not.
        drawing.paths[0].points = vec![(60.0, 30.0), (75.0, 50.0), (155.0, 50.0), (170.0, 30.0)];
        drawing.labels[0].rect.y = 25.0;
        let problems = check(&drawing, &Limits::default());
        assert_eq!(
            problems,
            vec![Problem::LabelOnShape {
                label: "3".into(),
                shape: "b".into()
            }]
        );
        assert_eq!(problems[0].to_string(), "label \"3\" lies on \"b\"");
    }

    #[test]
    fn touching_is_not_crossing_and_margins_are_bounded() {
        let rect = Rect::new(0.0, 0.0, 10.0, 10.0);
        assert!(!rect.crossed_by((10.0, -5.0), (10.0, 15.0)));
        assert!(!rect.crossed_by((-5.0, -5.0), (0.0, 0.0)));
        assert!(rect.crossed_by((-5.0, 5.0), (15.0, 5.0)));
        assert!(rect.crossed_by((5.0, 5.0), (5.0, 6.0)));
        let drawing = Drawing {
            width: 500.0,
            height: 100.0,
            shapes: vec![shape("a", 10.0, 10.0)],
            ..Drawing::default()
        };
        assert_eq!(
            check(&drawing, &Limits::default()),
            vec![
                Problem::Margin {
                    side: "right",
                    width: 440.0
                },
                Problem::Margin {
                    side: "bottom",
                    width: 70.0
                }
            ]
        );
    }

    #[test]
    fn text_width_follows_the_font() {
        assert_eq!(text_width("il", 10.0), 4.44);
        assert!(text_width("WM", 10.0) > text_width("il", 10.0) * 3.0);
        assert_eq!(text_width("→", 10.0), 10.0);
    }

    /// Issue 21.6: the hand-laid drawing of the sample's status graph before the
    /// fix. done → archived ran behind cancelled and read as done → cancelled →
    /// archived; "260 · 8.2h" sat on "46 · 7.4h"; half the canvas was empty.
    #[test]
    fn the_old_status_drawing_is_caught_lying() {
        let svg = include_str!("../../testdata/pictures/task-status-before-issue-21.svg");
        let drawing = from_svg(svg).unwrap();
        assert_eq!((drawing.shapes.len(), drawing.paths.len()), (7, 14));
        let problems = check(&drawing, &Limits::default());
        let archived = drawing
            .paths
            .iter()
            .position(|p| {
                p.from.map(|i| drawing.shapes[i].name.as_str()) == Some("done")
                    && p.to.map(|i| drawing.shapes[i].name.as_str()) == Some("archived")
            })
            .unwrap();
        for expected in [
            Problem::PathThroughShape {
                path: archived,
                shape: "cancelled".into(),
            },
            Problem::LabelOnLabel {
                first: "260 · 8.2h".into(),
                second: "46 · 7.4h".into(),
            },
        ] {
            assert!(problems.contains(&expected), "{expected}: {problems:?}");
        }
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, Problem::Margin { side: "bottom", width } if *width > 250.0)),
            "{problems:?}"
        );
    }
}
