//! Issue 21.6, pictures that tell the truth: every `flow` SVG, on the sample and
//! on the real logs of `testdata/real/`, read back from the file it wrote and
//! checked by `tools::geometry::check`: no edge through a node it does not
//! join, no label on a node, a label or under a line, no wide empty margins.

use eventfold::tools::geometry::{check, from_svg, Limits};

use crate::util::{repo, Dir};

/// Draws both graphs of `aggregate` in `out` and checks them; returns how many
/// nodes and edges were drawn, for the callers to pin.
fn check_flows(dir: &Dir, out: &str, aggregate: &str) -> Vec<(usize, usize)> {
    let mut drawn = Vec::new();
    for by in ["status", "event"] {
        let file = format!("{out}-{aggregate}-{by}.svg");
        let args = [
            "flow",
            "--out",
            out,
            "--aggregate",
            aggregate,
            "--by",
            by,
            "--format",
            "svg",
            "-o",
            &file,
        ];
        dir.ok(&args);
        let svg = std::fs::read_to_string(dir.join(&file)).unwrap();
        let drawing = from_svg(&svg).unwrap();
        let problems = check(&drawing, &Limits::default());
        assert!(
            problems.is_empty(),
            "{file}:\n{}",
            problems
                .iter()
                .map(|p| format!("  {p}\n"))
                .collect::<String>()
        );
        // What was checked is what was drawn: one label per edge and the title,
        // and every edge ends on its two nodes.
        assert_eq!(drawing.labels.len(), drawing.paths.len() + 1, "{file}");
        assert!(
            drawing
                .paths
                .iter()
                .all(|p| p.from.is_some() && p.to.is_some()),
            "{file}: an edge does not end on a node"
        );
        drawn.push((drawing.shapes.len(), drawing.paths.len()));
    }
    drawn
}

#[test]
fn the_samples_flows_are_drawn_honestly() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    assert_eq!(check_flows(&dir, "out", "task"), [(7, 14), (16, 104)]);
    assert_eq!(check_flows(&dir, "out", "project"), [(2, 1), (4, 11)]);
}

#[test]
fn the_real_logs_flows_are_drawn_honestly() {
    let dir = Dir::new();
    for (name, aggregate, drawn) in [
        ("volvo", "incident", [(5, 8), (9, 29)]),
        ("helpdesk", "ticket", [(6, 10), (9, 20)]),
        ("github", "issue", [(3, 4), (6, 11)]),
    ] {
        let folder = repo().join("testdata/real").join(name);
        let folder = folder.to_str().unwrap();
        dir.ok(&[
            "run",
            "-i",
            folder,
            "--mapping",
            &format!("{folder}/mapping.toml"),
            "--model",
            &format!("{folder}/model.toml"),
            "--out",
            name,
        ]);
        assert_eq!(check_flows(&dir, name, aggregate), drawn, "{name}");
    }
}
