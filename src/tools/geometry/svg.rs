//! Reading a picture's geometry back from the SVG file it was written as, so
//! a test checks what a reader is shown rather than what the layout meant.

use super::{text_width, Drawing, Label, Path, Rect, Shape};

/// Reads the geometry back from an SVG as eventfold draws them: `<rect>`s with
/// a position are shapes, `<path>`s (absolute `M`, `L`, `C`, `S`, outside `<defs>`)
/// are paths, joined to the shapes their ends touch, and `<text>`s are labels
/// sized from the font (`font-size`, `text-anchor`, bold), except the text
/// centred inside a shape, which is its caption. The canvas is the root's
/// `width` and `height`. Good enough to check a picture from what was written,
/// including one drawn by an older layout or another program of the same kind.
pub fn from_svg(svg: &str) -> Result<Drawing, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut drawing = Drawing::default();
    let mut texts: Vec<(f64, f64, f64, String, bool, String)> = Vec::new();
    let mut path_data: Vec<String> = Vec::new();
    let (mut in_defs, mut in_text) = (0usize, None::<usize>);
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match &event {
            Event::Start(element) | Event::Empty(element) => {
                let get = |name: &str| -> Option<String> {
                    let attr = element.try_get_attribute(name).ok()??;
                    attr.unescape_value().ok().map(|v| v.into_owned())
                };
                let number = |name: &str| get(name).and_then(|v| v.parse::<f64>().ok());
                let empty = matches!(event, Event::Empty(_));
                match element.local_name().as_ref() {
                    b"svg" => {
                        drawing.width = number("width").unwrap_or(0.0);
                        drawing.height = number("height").unwrap_or(0.0);
                    }
                    b"defs" if !empty => in_defs += 1,
                    b"rect" if in_defs == 0 => {
                        if let (Some(x), Some(y), Some(width), Some(height)) =
                            (number("x"), number("y"), number("width"), number("height"))
                        {
                            drawing.shapes.push(Shape {
                                name: format!("rect {}", drawing.shapes.len()),
                                rect: Rect::new(x, y, width, height),
                            });
                        }
                    }
                    b"path" if in_defs == 0 => path_data.extend(get("d")),
                    b"text" if !empty => {
                        let size = number("font-size").unwrap_or(12.0);
                        let bold = get("font-weight").is_some_and(|w| w == "bold");
                        let anchor = get("text-anchor").unwrap_or_default();
                        let (x, y) = (number("x").unwrap_or(0.0), number("y").unwrap_or(0.0));
                        texts.push((x, y, size, String::new(), bold, anchor));
                        in_text = Some(texts.len() - 1);
                    }
                    _ => {}
                }
            }
            Event::Text(text) => {
                if let Some(index) = in_text {
                    texts[index]
                        .3
                        .push_str(&text.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(entity) => {
                if let Some(index) = in_text {
                    let name = entity.decode().map_err(|e| e.to_string())?;
                    texts[index].3.push(match name.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => '&',
                    });
                }
            }
            Event::End(element) => match element.local_name().as_ref() {
                b"defs" => in_defs = in_defs.saturating_sub(1),
                b"text" => in_text = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    let boxes: Vec<(String, Rect)> = texts
        .into_iter()
        .map(|(x, baseline, size, text, bold, anchor)| {
            let width = text_width(&text, size) * if bold { 1.1 } else { 1.0 };
            let left = match anchor.as_str() {
                "middle" => x - width / 2.0,
                "end" => x - width,
                _ => x,
            };
            (
                text,
                Rect::new(left, baseline - 0.95 * size, width, 1.2 * size),
            )
        })
        .collect();
    // A shape's caption is the text nearest its centre, if that text's centre
    // is inside it; any other text there is a label lying on it.
    let centre = |r: &Rect| (r.x + r.width / 2.0, r.y + r.height / 2.0);
    let mut captions: Vec<Option<usize>> = vec![None; boxes.len()];
    for (index, shape) in drawing.shapes.iter_mut().enumerate() {
        let (cx, cy) = centre(&shape.rect);
        let inside = |(_, r): &&(String, Rect)| {
            let (x, y) = centre(r);
            shape.rect.x <= x
                && x <= shape.rect.right()
                && shape.rect.y <= y
                && y <= shape.rect.bottom()
        };
        let nearest = boxes
            .iter()
            .enumerate()
            .filter(|(t, b)| captions[*t].is_none() && inside(b))
            .min_by(|(_, a), (_, b)| {
                let d = |r: &Rect| (centre(r).0 - cx).hypot(centre(r).1 - cy);
                d(&a.1).total_cmp(&d(&b.1))
            })
            .map(|(t, _)| t);
        if let Some(text) = nearest {
            captions[text] = Some(index);
            shape.name = boxes[text].0.clone();
        }
    }
    for ((text, rect), caption) in boxes.into_iter().zip(captions) {
        if caption.is_none() {
            drawing.labels.push(Label { text, rect });
        }
    }
    for d in path_data {
        let points = flatten_path(&d)?;
        let touching = |point: Option<&(f64, f64)>| -> Option<usize> {
            let (x, y) = *point?;
            let distance = |r: &Rect| {
                let dx = (r.x - x).max(x - r.right()).max(0.0);
                let dy = (r.y - y).max(y - r.bottom()).max(0.0);
                dx.hypot(dy)
            };
            (0..drawing.shapes.len())
                .filter(|i| distance(&drawing.shapes[*i].rect) <= 2.0)
                .min_by(|a, b| {
                    distance(&drawing.shapes[*a].rect)
                        .total_cmp(&distance(&drawing.shapes[*b].rect))
                })
        };
        let (from, to) = (touching(points.first()), touching(points.last()));
        drawing.paths.push(Path { from, to, points });
    }
    Ok(drawing)
}

/// SVG path data with absolute `M`, `L`, `C` and `S` as a polyline, each curve in
/// 16 steps.
fn flatten_path(d: &str) -> Result<Vec<(f64, f64)>, String> {
    let spaced = d.replace(',', " ");
    let mut tokens = spaced.split_whitespace().peekable();
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut command = 'M';
    let mut last_control = (0.0, 0.0);
    let next_number =
        |tokens: &mut std::iter::Peekable<std::str::SplitWhitespace>| -> Result<f64, String> {
            let token = tokens
                .next()
                .ok_or_else(|| format!("path \"{d}\" ends early"))?;
            token
                .parse::<f64>()
                .map_err(|_| format!("path \"{d}\": \"{token}\" is not a number"))
        };
    while let Some(token) = tokens.peek() {
        if let Some(letter) = token.chars().next().filter(|c| c.is_ascii_alphabetic()) {
            command = letter;
            tokens.next();
            continue;
        }
        match command {
            'M' | 'L' => {
                let point = (next_number(&mut tokens)?, next_number(&mut tokens)?);
                points.push(point);
                last_control = point;
            }
            'C' | 'S' => {
                let at = *points
                    .last()
                    .ok_or_else(|| format!("path \"{d}\" starts with a curve"))?;
                let mut control = [(0.0, 0.0); 3];
                // S: the first control point mirrors the last curve's second.
                let first = if command == 'S' { 1 } else { 0 };
                control[0] = (2.0 * at.0 - last_control.0, 2.0 * at.1 - last_control.1);
                for slot in &mut control[first..] {
                    *slot = (next_number(&mut tokens)?, next_number(&mut tokens)?);
                }
                last_control = control[1];
                for step in 1..=16 {
                    let t = f64::from(step) / 16.0;
                    let u = 1.0 - t;
                    let mix = |a: f64, b: f64, c: f64, e: f64| {
                        u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * e
                    };
                    points.push((
                        mix(at.0, control[0].0, control[1].0, control[2].0),
                        mix(at.1, control[0].1, control[1].1, control[2].1),
                    ));
                }
            }
            other => return Err(format!("path \"{d}\": command {other} is not read")),
        }
    }
    Ok(points)
}
