//! The report's charts, drawn by eventfold as inline SVG: horizontal bars (a
//! label and a value per row) and columns over an axis (a time series, a
//! histogram).
//!
//! Drawn by hand rather than with a plotting crate: the crates that fit
//! (plotters' SVG backend, charts-rs) lay text out without telling where it
//! went, and the report must prove that no label lands on another label or a
//! bar. So a chart is first laid out as plain geometry, a [`Chart`] of
//! [`Mark`]s (bars, lines, text with its estimated box), and only then
//! written as SVG; [`Chart::problems`] checks the geometry (no text over text,
//! a bar or an axis; everything inside the picture; no wide empty margins),
//! and the browser test measures the same boxes with the fonts really used.
//!
//! Text widths are estimated per character on the generous side of common
//! sans-serif faces (DejaVu Sans, the widest usual fallback, Arial,
//! Helvetica), so a label that fits here fits on the page.

use std::fmt::Write;

pub use crate::tools::geometry::Rect;

/// Whether two marks share more than a hairline of area (a bar's edge on an
/// axis line is not an overlap).
fn overlap(a: &Rect, b: &Rect) -> bool {
    const HAIRLINE: f64 = 0.5;
    a.x < b.right() - HAIRLINE
        && b.x < a.right() - HAIRLINE
        && a.y < b.bottom() - HAIRLINE
        && b.y < a.bottom() - HAIRLINE
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawn thing of a chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A bar: its box, colour, tooltip, and the label and value it stands for
    /// (written as `data-label` / `data-value`, which the tests read back).
    Bar {
        rect: Rect,
        fill: &'static str,
        tooltip: String,
        label: String,
        value: f64,
    },
    /// An axis or a grid line.
    Line {
        from: (f64, f64),
        to: (f64, f64),
        stroke: &'static str,
    },
    /// A text; `y` is its baseline.
    Text {
        x: f64,
        y: f64,
        size: f64,
        anchor: Anchor,
        text: String,
        fill: &'static str,
    },
}

impl Mark {
    /// The box the mark covers (a text's estimated from its characters).
    pub fn bounds(&self) -> Rect {
        match self {
            Mark::Bar { rect, .. } => *rect,
            Mark::Line { from, to, .. } => Rect {
                x: from.0.min(to.0),
                y: from.1.min(to.1),
                width: (from.0 - to.0).abs(),
                height: (from.1 - to.1).abs(),
            },
            Mark::Text {
                x,
                y,
                size,
                anchor,
                text,
                ..
            } => {
                let width = text_width(text, *size);
                let left = match anchor {
                    Anchor::Start => *x,
                    Anchor::Middle => x - width / 2.0,
                    Anchor::End => x - width,
                };
                // Ascenders reach ~0.95 of the size above the baseline,
                // descenders ~0.25 below (DejaVu Sans).
                Rect {
                    x: left,
                    y: y - size * 0.95,
                    width,
                    height: size * 1.2,
                }
            }
        }
    }
}

/// The estimated width of `text` at font size `size`: per character, a
/// little wider than DejaVu Sans (the widest common sans-serif fallback).
pub fn text_width(text: &str, size: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' | 'I' => 0.34,
            'f' | 't' | 'r' | ' ' | '(' | ')' | '[' | ']' | '/' | '-' => 0.45,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 1.02,
            '0'..='9' => 0.66,
            'A'..='Z' => 0.78,
            c if c.is_ascii() => 0.64,
            _ => 1.05,
        })
        .sum();
    ems * size
}

/// `text` cut with an ellipsis to fit `width` at `size` (whole when it fits).
pub fn fit_text(text: &str, size: f64, width: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut cut = String::new();
    for c in text.chars() {
        let mut next = cut.clone();
        next.push(c);
        next.push('…');
        if text_width(&next, size) > width {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// A laid-out chart: its size, an accessible title, and its marks in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub title: String,
    pub marks: Vec<Mark>,
}

/// The widest empty margin a chart may leave around what it draws.
pub const MAX_MARGIN: f64 = 24.0;

impl Chart {
    /// What is wrong with the layout, one sentence each (none when right):
    /// a text over another text, over a bar or over a line; a mark outside
    /// the picture; an empty margin wider than [`MAX_MARGIN`].
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let frame = Rect {
            x: 0.0,
            y: 0.0,
            width: self.width,
            height: self.height,
        };
        let mut content: Option<Rect> = None;
        for (index, mark) in self.marks.iter().enumerate() {
            let bounds = mark.bounds();
            content = Some(content.map_or(bounds, |c| c.union(&bounds)));
            if bounds.x < -0.5
                || bounds.y < -0.5
                || bounds.right() > frame.right() + 0.5
                || bounds.bottom() > frame.bottom() + 0.5
            {
                problems.push(format!("{} leaves the picture", describe(mark)));
            }
            let Mark::Text { .. } = mark else { continue };
            for other in &self.marks[..index] {
                if overlap(&bounds, &other.bounds()) {
                    problems.push(format!("{} overlaps {}", describe(mark), describe(other)));
                }
            }
            for other in &self.marks[index + 1..] {
                if !matches!(other, Mark::Text { .. }) && overlap(&bounds, &other.bounds()) {
                    problems.push(format!("{} overlaps {}", describe(mark), describe(other)));
                }
            }
        }
        if let Some(content) = content {
            let margins = [
                ("left", content.x),
                ("top", content.y),
                ("right", self.width - content.right()),
                ("bottom", self.height - content.bottom()),
            ];
            for (side, margin) in margins {
                if margin > MAX_MARGIN {
                    problems.push(format!("{side} margin of {margin:.0}px is left empty"));
                }
            }
        }
        problems
    }

    /// The chart as an inline `<svg class="chart">`.
    pub fn to_svg(&self) -> String {
        let (width, height) = (self.width, self.height);
        let mut svg = format!(
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{}\">\n",
            escape(&self.title)
        );
        for mark in &self.marks {
            match mark {
                Mark::Bar {
                    rect,
                    fill,
                    tooltip,
                    label,
                    value,
                } => {
                    let _ = writeln!(
                        svg,
                        "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" data-label=\"{}\" data-value=\"{value}\"><title>{}</title></rect>",
                        rect.x,
                        rect.y,
                        rect.width,
                        rect.height,
                        escape(label),
                        escape(tooltip)
                    );
                }
                Mark::Line { from, to, stroke } => {
                    let _ = writeln!(
                        svg,
                        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\"/>",
                        from.0, from.1, to.0, to.1
                    );
                }
                Mark::Text {
                    x,
                    y,
                    size,
                    anchor,
                    text,
                    fill,
                } => {
                    let anchor = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let _ = writeln!(
                        svg,
                        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\" fill=\"{fill}\">{}</text>",
                        escape(text)
                    );
                }
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

fn describe(mark: &Mark) -> String {
    match mark {
        Mark::Bar { label, .. } => format!("the bar of \"{label}\""),
        Mark::Line { .. } => "a line".to_owned(),
        Mark::Text { text, .. } => format!("\"{text}\""),
    }
}

pub use crate::tools::geometry::escape;

/// The colour of bars.
pub const BAR: &str = "#4a78c8";
/// The colour of bars that stand for something wrong (findings, rejects).
pub const BAR_WARN: &str = "#d0793a";
const INK: &str = "#222";
const MUTED: &str = "#666";
const AXIS: &str = "#999";
const GRID: &str = "#e4e4e4";

/// One row of a bar chart: what it is, how much, and that amount as read.
#[derive(Debug, Clone, PartialEq)]
pub struct BarRow {
    pub label: String,
    pub value: f64,
    /// The value as written beside the bar, e.g. `412 events`.
    pub value_text: String,
}

/// Where a bar chart writes each row's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelPlace {
    /// In a column left of the bars (short labels: statuses, actors).
    Left,
    /// On a line of its own above the bar, the whole width (long labels: variants).
    Above,
}

/// The widths every chart is drawn at: the page's column.
pub const WIDTH: f64 = 880.0;
const PAD: f64 = 8.0;
const SIZE: f64 = 12.0;
const BAR_HEIGHT: f64 = 16.0;
const ROW_GAP: f64 = 8.0;

/// Horizontal bars, one a row, longest bar = largest value; each value
/// written right of its bar. Labels too long for their room are cut with an
/// ellipsis (the bar's tooltip holds them whole).
pub fn bar_chart(title: &str, rows: &[BarRow], place: LabelPlace, fill: &'static str) -> Chart {
    let max = rows.iter().map(|r| r.value).fold(0.0_f64, f64::max);
    let value_room = rows
        .iter()
        .map(|r| text_width(&r.value_text, SIZE))
        .fold(0.0_f64, f64::max)
        + 6.0;
    let label_room = match place {
        LabelPlace::Left => rows
            .iter()
            .map(|r| text_width(&r.label, SIZE))
            .fold(0.0_f64, f64::max)
            .min(WIDTH * 0.35),
        LabelPlace::Above => 0.0,
    };
    let bars_left = PAD
        + if label_room > 0.0 {
            label_room + 8.0
        } else {
            0.0
        };
    let bars_room = (WIDTH - PAD - bars_left - value_room).max(40.0);
    let row_height = match place {
        LabelPlace::Left => BAR_HEIGHT + ROW_GAP,
        LabelPlace::Above => SIZE * 1.3 + BAR_HEIGHT + ROW_GAP,
    };
    let mut marks = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let top = PAD + index as f64 * row_height;
        let bar_top = match place {
            LabelPlace::Left => top,
            LabelPlace::Above => top + SIZE * 1.3,
        };
        let length = if max > 0.0 {
            (row.value.max(0.0) / max * bars_room).max(1.0)
        } else {
            1.0
        };
        let (label_x, label_y, label_width, anchor) = match place {
            LabelPlace::Left => (
                bars_left - 8.0,
                bar_top + BAR_HEIGHT / 2.0 + SIZE * 0.35,
                label_room,
                Anchor::End,
            ),
            LabelPlace::Above => (PAD, top + SIZE * 0.95, WIDTH - 2.0 * PAD, Anchor::Start),
        };
        marks.push(Mark::Text {
            x: label_x,
            y: label_y,
            size: SIZE,
            anchor,
            text: fit_text(&row.label, SIZE, label_width),
            fill: INK,
        });
        marks.push(Mark::Bar {
            rect: Rect {
                x: bars_left,
                y: bar_top,
                width: length,
                height: BAR_HEIGHT,
            },
            fill,
            tooltip: format!("{}: {}", row.label, row.value_text),
            label: row.label.clone(),
            value: row.value,
        });
        marks.push(Mark::Text {
            x: bars_left + length + 5.0,
            y: bar_top + BAR_HEIGHT / 2.0 + SIZE * 0.35,
            size: SIZE,
            anchor: Anchor::Start,
            text: row.value_text.clone(),
            fill: MUTED,
        });
    }
    let height = PAD * 2.0 + rows.len() as f64 * row_height - ROW_GAP;
    let mut chart = Chart {
        width: WIDTH,
        height,
        title: title.to_owned(),
        marks,
    };
    fit_width(&mut chart);
    chart
}

/// One column of a column chart: its label on the axis, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub label: String,
    pub value: f64,
}

/// One column per counted bin (its label, its count).
pub fn columns(bins: &[(String, u64)]) -> Vec<Column> {
    (bins.iter())
        .map(|(label, n)| Column {
            label: label.clone(),
            value: *n as f64,
        })
        .collect()
}

const PLOT_HEIGHT: f64 = 160.0;
/// From the axis to the top of its labels: clear of the lowest tick's text.
const AXIS_GAP: f64 = 10.0;

/// Columns over a horizontal axis (time bins, histogram bins), with a value
/// axis of round ticks and grid lines. Axis labels are written under every
/// k-th column, k the smallest that keeps them apart; `unit` names the values
/// in the tooltips (`events`, `streams`).
pub fn column_chart(title: &str, columns: &[Column], unit: &str) -> Chart {
    let max = columns.iter().map(|c| c.value).fold(0.0_f64, f64::max);
    let ticks = nice_ticks(max);
    let top_tick = ticks.last().copied().unwrap_or(1.0).max(1.0);
    let tick_room = ticks
        .iter()
        .map(|t| text_width(&tick_text(*t), SIZE))
        .fold(0.0_f64, f64::max);
    let label_width = columns
        .iter()
        .map(|c| text_width(&c.label, SIZE))
        .fold(0.0_f64, f64::max);
    // Room for the ticks' text, and for half the first axis label (centred
    // on its column); the last label's half is room the chart widens by.
    let plot_top = PAD + SIZE * 0.5;
    let plot_bottom = plot_top + PLOT_HEIGHT;
    let plot_right = WIDTH - PAD;
    let count = columns.len().max(1) as f64;
    let slot_from = |left: f64| (plot_right - left) / count;
    let gap_of = |slot: f64| (slot * 0.2).min(6.0);
    // Moving the plot right narrows the slots: a few rounds settle it.
    let mut plot_left = PAD + tick_room + 6.0;
    for _ in 0..4 {
        let slot = slot_from(plot_left);
        plot_left = plot_left.max(PAD + label_width / 2.0 - (slot - gap_of(slot)) / 2.0);
    }
    let slot = slot_from(plot_left);
    let gap = gap_of(slot);
    let mut marks = Vec::new();
    for tick in &ticks {
        let y = plot_bottom - tick / top_tick * PLOT_HEIGHT;
        marks.push(Mark::Line {
            from: (plot_left, y),
            to: (plot_right, y),
            stroke: if *tick == 0.0 { AXIS } else { GRID },
        });
        marks.push(Mark::Text {
            x: plot_left - 6.0,
            y: y + SIZE * 0.35,
            size: SIZE,
            anchor: Anchor::End,
            text: tick_text(*tick),
            fill: MUTED,
        });
    }
    // Every k-th label: k from the widest label against the slot width.
    let stride = ((label_width + 10.0) / slot).ceil().max(1.0) as usize;
    for (index, column) in columns.iter().enumerate() {
        let x = plot_left + index as f64 * slot + gap / 2.0;
        let height = if top_tick > 0.0 {
            column.value.max(0.0) / top_tick * PLOT_HEIGHT
        } else {
            0.0
        };
        marks.push(Mark::Bar {
            rect: Rect {
                x,
                // Stop a hair above the axis line so the bar never covers it.
                y: plot_bottom - height,
                width: (slot - gap).max(1.0),
                height: (height - 0.5).max(0.0),
            },
            fill: BAR,
            tooltip: format!("{}: {} {unit}", column.label, tick_text(column.value)),
            label: column.label.clone(),
            value: column.value,
        });
        if index % stride == 0 {
            marks.push(Mark::Text {
                x: x + (slot - gap) / 2.0,
                y: plot_bottom + AXIS_GAP + SIZE * 0.95,
                size: SIZE,
                anchor: Anchor::Middle,
                text: column.label.clone(),
                fill: MUTED,
            });
        }
    }
    let mut chart = Chart {
        width: WIDTH,
        height: plot_bottom + AXIS_GAP + SIZE * 1.2 + PAD,
        title: title.to_owned(),
        marks,
    };
    fit_width(&mut chart);
    chart
}

/// Sets a chart's width to what it draws and [`PAD`] beside it: narrower
/// when short labels and values stop early, wider by the half of a last axis
/// label that stands out (the page scales a chart down to its column).
fn fit_width(chart: &mut Chart) {
    let right = chart
        .marks
        .iter()
        .map(|m| m.bounds().right())
        .fold(0.0_f64, f64::max);
    chart.width = (right + PAD).ceil();
}

/// Round ticks from 0 to at least `max`: 0, step, 2·step, … with the step
/// 1, 2 or 5 times a power of ten, four or five of them.
pub fn nice_ticks(max: f64) -> Vec<f64> {
    if !(max.is_finite() && max > 0.0) {
        return vec![0.0, 1.0];
    }
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power)
        .max(if max < 4.0 { 1.0 } else { 0.0 });
    let mut ticks = vec![0.0];
    while ticks.last().copied().unwrap_or(0.0) < max && ticks.len() < 12 {
        ticks.push(ticks.len() as f64 * step);
    }
    ticks
}

/// A tick or count as written: whole numbers plain, thousands as `12k`,
/// millions as `1.2M`.
pub fn tick_text(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(value / 1e6))
    } else if magnitude >= 1e4 {
        format!("{}k", trim(value / 1e3))
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[(&str, f64)]) -> Vec<BarRow> {
        labels
            .iter()
            .map(|(label, value)| BarRow {
                label: (*label).to_owned(),
                value: *value,
                value_text: format!("{value} events"),
            })
            .collect()
    }

    #[test]
    fn bar_charts_keep_labels_off_each_other_and_off_the_bars() {
        let short = rows(&[("open", 120.0), ("in_progress", 60.0), ("done", 3.0)]);
        let long_label = "TaskCreated > TaskAssigned > TaskStarted > TaskBlocked > TaskUnblocked > TaskCompleted > TaskReopened > TaskStarted > TaskCompleted > TaskArchived";
        let long = rows(&[(long_label, 40.0), ("TaskCreated", 0.0), ("x", 1e9)]);
        for chart in [
            bar_chart("t", &short, LabelPlace::Left, BAR),
            bar_chart("t", &long, LabelPlace::Left, BAR),
            bar_chart("t", &long, LabelPlace::Above, BAR),
            bar_chart("t", &[], LabelPlace::Left, BAR),
        ] {
            assert_eq!(chart.problems(), Vec::<String>::new(), "{chart:#?}");
        }
        let svg = bar_chart("t", &short, LabelPlace::Left, BAR).to_svg();
        assert!(svg.contains("data-label=\"in_progress\" data-value=\"60\""));
    }

    #[test]
    fn column_charts_space_their_axis_labels() {
        for count in [1, 2, 7, 30, 90, 400] {
            let columns: Vec<Column> = (0..count)
                .map(|i| Column {
                    label: format!("2026-03-{:02}", i % 28 + 1),
                    value: ((i * 37) % 11) as f64 * 1234.0,
                })
                .collect();
            let chart = column_chart("t", &columns, "events");
            assert_eq!(chart.problems(), Vec::<String>::new(), "{count} columns");
        }
        let zeros = [Column {
            label: "<1h".into(),
            value: 0.0,
        }];
        assert_eq!(
            column_chart("t", &zeros, "streams").problems(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_geometry_check_finds_what_it_is_for() {
        let text = |x: f64, text: &str| Mark::Text {
            x,
            y: 20.0,
            size: 12.0,
            anchor: Anchor::Start,
            text: text.into(),
            fill: INK,
        };
        let chart = Chart {
            width: 300.0,
            height: 40.0,
            title: "t".into(),
            marks: vec![text(10.0, "260 · 8.2h"), text(30.0, "46 · 7.4h")],
        };
        let problems = chart.problems();
        assert!(
            problems[0].contains("\"46 · 7.4h\" overlaps \"260 · 8.2h\""),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("right margin")),
            "{problems:?}"
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(7.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(1.0), vec![0.0, 1.0]);
        assert_eq!(nice_ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(nice_ticks(f64::NAN), vec![0.0, 1.0]);
        assert_eq!(*nice_ticks(123_456.0).last().unwrap(), 150_000.0);
        assert_eq!(tick_text(150_000.0), "150k");
        assert_eq!(tick_text(2_500_000.0), "2.5M");
        assert_eq!(fit_text("abcdefghijkl", 12.0, 40.0), "abc…");
    }
}
