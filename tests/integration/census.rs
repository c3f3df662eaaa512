//! `census` end to end: event shapes, payload fields and the model's gaps.

use crate::util::{repo, Dir};
use serde_json::Value;

#[test]
fn census_of_the_sample_names_shapes_fields_and_what_the_model_misses() {
    let dir = Dir::new();
    let model = repo().join("testdata/tasks/model.toml");
    let stdout = dir.ok(&["census", "--format", "json", "-m", model.to_str().unwrap()]);
    let census: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&census["records"], &census["events"], &census["rejects"]),
        (&Value::from(3045), &Value::from(3036), &Value::from(9))
    );
    let shapes = census["shapes"].as_array().unwrap();
    let shape = |aggregate: &str, event: &str| {
        shapes
            .iter()
            .find(|s| s["aggregate_type"] == aggregate && s["event_type"] == event)
            .unwrap_or_else(|| panic!("no shape {aggregate} {event}"))
    };
    // Counted apart from eventfold: lines of the sample naming TaskAssigned.
    let bytes = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let assigned = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event_type"] == "TaskAssigned")
        .count();
    let task_assigned = shape("task", "TaskAssigned");
    assert_eq!(task_assigned["count"], assigned);
    assert_eq!(task_assigned["model"]["status"], "handled");
    assert_eq!(
        task_assigned["model"]["paths"],
        serde_json::json!([{"path": "assignee", "missing": 1, "missing_share": 0.004}])
    );
    assert_eq!(task_assigned["fields"]["assignee"]["present"], assigned - 1);
    assert_eq!(
        shape("task", "TaskTeleported")["model"]["status"],
        "no handler"
    );
    assert_eq!(
        shape("invoice", "InvoiceSent")["model"]["status"],
        "aggregate not in model"
    );
    let created = shape("task", "TaskCreated");
    assert_eq!(
        created["fields"]["priority"]["types"]["number"],
        created["count"]
    );

    let table = dir.ok(&["census", "-m", model.to_str().unwrap()]);
    assert!(
        table.contains("  ! the model reads assignee but it is missing in 1 of 243 events (0.4%)"),
        "{table}"
    );
}
