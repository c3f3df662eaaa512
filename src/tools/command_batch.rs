//! `eventfold generate --commands N`: a deterministic batch of task-domain
//! commands against an output of a generated log, for `decide`'s tests and
//! benchmark.
//!
//! It reads of the output only what `decide` will: the ids in
//! `streams.parquet` (one column pair), then the snapshot of the share of
//! streams the batch touches (`--touch`) and of their projects. It follows
//! each touched stream's status, assignee and version as its commands would
//! change them, so a command meant to pass does (the actor is the one the
//! task model's rules want: the assignee or the project's owner completes, the
//! owner cancels), and it plants a share of commands (`--reject-rate`) that
//! must be rejected, one kind of rejection at a time, and counts them: a batch
//! whose decision rejects more, or fewer, than the planted count is a bug.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use arrow::array::{Array, AsArray};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::model::{Model, StateValue};
use crate::replay::StreamState;
use crate::sink::dataset::{self, TableReader};
use crate::sink::snapshot::{read_snapshot, stream_keys};
use crate::support::time::format_micros;
use crate::{Error, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct CommandBatchConfig {
    pub commands: u64,
    pub seed: u64,
    /// Share of the output's task and project streams the batch touches.
    pub touch: f64,
    /// Share of commands planted to be rejected.
    pub reject_rate: f64,
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommandBatchStats {
    pub commands: u64,
    /// Commands planted to be rejected, by the reason they must get.
    pub planted: std::collections::BTreeMap<&'static str, u64>,
    pub streams: u64,
}

impl CommandBatchStats {
    /// Every planted rejection.
    pub fn rejected(&self) -> u64 {
        self.planted.values().sum()
    }
}

/// A touched stream as its commands leave it.
#[derive(Debug, Clone)]
struct Sim {
    stream_id: String,
    task: bool,
    version: u64,
    status: String,
    assignee: Option<String>,
    creator: Option<String>,
    /// A task's project's owner, or a project's own.
    owner: Option<String>,
    project: Option<String>,
}

/// Who issues the planted unauthorised completions: a name no generated log
/// uses, so never a task's assignee, a project's owner or a lead (with
/// "mallory", one of the log's actors, some were allowed and the commands
/// after them on the stream met other versions than planned).
const INTRUDER: &str = "intruder";

const ACTORS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "judy", "victor",
];

/// Reads the (aggregate_type, stream_id) of every stream of the output.
fn stream_ids(out: &Path) -> Result<Vec<(String, String)>> {
    let path = dataset::locate(out, "streams").unwrap_or_else(|| out.join("streams.parquet"));
    let mut ids = Vec::new();
    for batch in TableReader::open(&path, Some(&["aggregate_type", "stream_id"]))? {
        let batch = batch?;
        let (types, streams) = (
            batch.column(0).as_string::<i32>(),
            batch.column(1).as_string::<i32>(),
        );
        for row in 0..batch.num_rows() {
            if types.is_valid(row) && streams.is_valid(row) {
                let aggregate = types.value(row);
                if aggregate == "task" || aggregate == "project" {
                    ids.push((aggregate.to_owned(), streams.value(row).to_owned()));
                }
            }
        }
    }
    // In key order whatever the table's layout (a folder of parts holds
    // the streams hash-partitioned): the batch depends on the streams only.
    ids.sort_unstable();
    Ok(ids)
}

fn text(model: &Model, state: &StreamState, field: &str) -> Option<String> {
    let aggregate = model.aggregate(&state.aggregate_type)?;
    match state.field(aggregate, field) {
        Some(StateValue::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// One command to write.
struct Draft<'a> {
    command: &'a str,
    stream: &'a str,
    actor: Option<String>,
    payload: Value,
    /// Its `expected_version`, if it gives one.
    expected: Option<u64>,
    /// Its id: a fresh one when `None`.
    id: Option<String>,
    /// Whether it has an `issued_at` (one without is malformed).
    timed: bool,
}

fn draft<'a>(
    command: &'a str,
    stream: &'a str,
    actor: Option<String>,
    payload: Value,
) -> Draft<'a> {
    Draft {
        command,
        stream,
        actor,
        payload,
        expected: None,
        id: None,
        timed: true,
    }
}

struct Writer<'a> {
    out: &'a mut dyn Write,
    rng: ChaCha8Rng,
    now: i64,
    seed: u64,
    stats: CommandBatchStats,
    /// Ids written, to plant duplicates.
    last_id: Option<String>,
}

impl Writer<'_> {
    fn actor(&mut self) -> String {
        ACTORS[self.rng.gen_range(0..ACTORS.len())].to_owned()
    }

    /// Writes one command; `None` fields are left out.
    fn write(&mut self, draft: Draft) -> Result<()> {
        let Draft {
            command,
            stream,
            actor,
            payload,
            expected,
            id,
            timed,
        } = draft;
        self.now += self.rng.gen_range(1..60) * 1_000_000;
        let n = self.stats.commands;
        let id = id.unwrap_or_else(|| format!("cmd-{}-{n}", self.seed));
        let mut line = json!({
            "command_id": id,
            "command_type": command,
            "stream_id": stream,
            "actor": actor,
            "correlation_id": format!("gen-{}", n / 100),
            "payload": payload,
        });
        if timed {
            line["issued_at"] = Value::from(format_micros(self.now));
        }
        if let Some(version) = expected {
            line["expected_version"] = Value::from(version);
        }
        serde_json::to_writer(&mut *self.out, &line)?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::io("commands", e))?;
        self.stats.commands += 1;
        // A command without issued_at is no command: its id plants no duplicate.
        if timed {
            self.last_id = Some(id);
        }
        Ok(())
    }

    fn planted(&mut self, reason: &'static str) {
        *self.stats.planted.entry(reason).or_insert(0) += 1;
    }
}

/// Writes the batch against the output at `out` (of the task model).
pub fn generate_commands(
    out: &Path,
    config: &CommandBatchConfig,
    sink: &mut dyn Write,
) -> Result<CommandBatchStats> {
    let model = crate::model::load_model(&out.join("model.toml"))?;
    if model.aggregate("task").is_none() || !model.commands.contains_key("CompleteTask") {
        return Err(Error::usage(format!(
            "{}: --commands writes task-domain commands, and this output's model has no task commands",
            out.display()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let ids = stream_ids(out)?;
    if ids.is_empty() {
        return Err(Error::usage(format!(
            "{} holds no task or project streams",
            out.display()
        )));
    }
    let touch =
        ((ids.len() as f64 * config.touch.clamp(0.0, 1.0)).ceil() as usize).clamp(1, ids.len());
    let mut chosen: Vec<usize> = sample(&mut rng, ids.len(), touch).into_vec();
    chosen.sort_unstable();
    let keys = stream_keys(
        chosen
            .iter()
            .map(|i| (ids[*i].0.as_str(), ids[*i].1.as_str())),
    )?;
    let mut snapshot: Vec<StreamState> = read_snapshot(out, &model, &keys)?.into_values().collect();
    snapshot.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
    // The owners of the touched tasks' projects.
    let projects: Vec<String> = snapshot
        .iter()
        .filter_map(|s| text(&model, s, "project_id"))
        .collect();
    let owners: HashMap<String, Option<String>> = read_snapshot(
        out,
        &model,
        &stream_keys(projects.iter().map(|p| ("project", p.as_str())))?,
    )?
    .into_values()
    .map(|s| (s.stream_id.clone(), text(&model, &s, "owner")))
    .collect();
    let now = snapshot
        .iter()
        .filter_map(|s| s.updated_at)
        .max()
        .unwrap_or(0)
        + 3_600_000_000;
    let mut sims: Vec<Sim> = snapshot
        .iter()
        .map(|s| {
            let task = s.aggregate_type == "task";
            let project = if task {
                text(&model, s, "project_id")
            } else {
                None
            };
            Sim {
                stream_id: s.stream_id.clone(),
                task,
                version: s.version,
                status: s.status.as_deref().unwrap_or("").to_owned(),
                assignee: text(&model, s, "assignee"),
                creator: text(&model, s, "created_by"),
                owner: if task {
                    project
                        .as_ref()
                        .and_then(|p| owners.get(p).cloned().flatten())
                } else {
                    text(&model, s, "owner")
                },
                project,
            }
        })
        .collect();
    if sims.is_empty() {
        return Err(Error::usage(format!(
            "{}: none of the streams drawn has a state to decide against",
            out.display()
        )));
    }
    let rules = model
        .aggregate("task")
        .and_then(|t| t.handlers.get("TaskCompleted"))
        .is_some_and(|h| h.allowed.is_some());
    let mut writer = Writer {
        out: sink,
        rng,
        now,
        seed: config.seed,
        stats: CommandBatchStats {
            streams: sims.len() as u64,
            ..CommandBatchStats::default()
        },
        last_id: None,
    };
    let mut created = 0u64;
    let mut alive: Vec<usize> = (0..sims.len()).collect();
    while writer.stats.commands < config.commands {
        if writer.rng.gen_bool(config.reject_rate.clamp(0.0, 1.0)) {
            plant(&mut writer, &sims, rules)?;
            continue;
        }
        if writer.rng.gen_range(0..20) == 0 {
            // A new task in the project of a touched task.
            let from = writer.rng.gen_range(0..sims.len());
            let project =
                (sims[from..].iter().chain(&sims[..from])).find_map(|s| s.project.clone());
            if let Some(project) = project {
                created += 1;
                let stream = format!("task-c{}-{created}", config.seed);
                let actor = writer.actor();
                let title = format!("Generated task {created}");
                writer.write(draft(
                    "CreateTask",
                    &stream,
                    Some(actor.clone()),
                    json!({"title": title, "project_id": project, "priority": 2}),
                ))?;
                let owner = owners.get(&project).cloned().flatten();
                alive.push(sims.len());
                sims.push(Sim {
                    stream_id: stream,
                    task: true,
                    version: 1,
                    status: "open".into(),
                    assignee: None,
                    creator: Some(actor),
                    owner,
                    project: Some(project),
                });
                continue;
            }
        }
        // A touched stream with something to do (`alive` holds those that
        // may have: a stream that has none leaves it); when none has, a
        // planted rejection instead.
        let mut stepped = false;
        while !stepped && !alive.is_empty() {
            let at = writer.rng.gen_range(0..alive.len());
            let index = alive[at];
            stepped = live(&sims[index]) && step(&mut writer, &mut sims[index])?;
            if !stepped {
                alive.swap_remove(at);
            }
        }
        if !stepped {
            plant(&mut writer, &sims, rules)?;
        }
    }
    Ok(writer.stats)
}

/// Writes the next command of `sim` that must pass; `false` when it has none.
fn step(writer: &mut Writer, sim: &mut Sim) -> Result<bool> {
    let stream = sim.stream_id.clone();
    let doer = sim
        .assignee
        .clone()
        .or_else(|| sim.creator.clone())
        .unwrap_or_else(|| writer.actor());
    if !sim.task {
        if sim.status != "active" {
            return Ok(false);
        }
        let owner = sim.owner.clone().unwrap_or_else(|| writer.actor());
        if writer.rng.gen_bool(0.5) {
            let member = writer.actor();
            writer.write(draft(
                "AddProjectMember",
                &stream,
                Some(owner),
                json!({"member": member}),
            ))?;
        } else {
            let name = format!("Renamed {}", writer.stats.commands);
            writer.write(Draft {
                expected: Some(sim.version),
                ..draft("RenameProject", &stream, Some(owner), json!({"name": name}))
            })?;
        }
        sim.version += 1;
        return Ok(true);
    }
    let pick = writer.rng.gen_range(0..10);
    let (command, actor, payload, status): (&str, String, Value, Option<&str>) =
        match (sim.status.as_str(), &sim.assignee) {
            ("open", None) => {
                let assignee = writer.actor();
                sim.assignee = Some(assignee.clone());
                ("AssignTask", doer, json!({"assignee": assignee}), None)
            }
            ("open", Some(assignee)) => match pick {
                0..=3 => (
                    "StartTask",
                    assignee.clone(),
                    json!({}),
                    Some("in_progress"),
                ),
                4 => ("EstimateTask", doer, json!({"hours": 3.5}), None),
                5 => ("LabelTask", doer, json!({"label": "backend"}), None),
                6 => ("CommentOnTask", doer, json!({"text": "looking"}), None),
                7 => (
                    "BlockTask",
                    doer,
                    json!({"reason": "waiting"}),
                    Some("blocked"),
                ),
                _ => ("CompleteTask", assignee.clone(), json!({}), Some("done")),
            },
            ("in_progress", _) => {
                match (pick, sim.assignee.clone().or_else(|| sim.owner.clone())) {
                    // Completed by the assignee, else the project's owner: whom the rules allow.
                    (0..=4, Some(completer)) => {
                        ("CompleteTask", completer, json!({}), Some("done"))
                    }
                    (5..=6, _) => (
                        "BlockTask",
                        doer,
                        json!({"reason": "waiting"}),
                        Some("blocked"),
                    ),
                    _ => ("CommentOnTask", doer, json!({"text": "progress"}), None),
                }
            }
            ("blocked", _) => match (pick, &sim.owner) {
                (0..=1, Some(owner)) => ("CancelTask", owner.clone(), json!({}), Some("cancelled")),
                _ => ("UnblockTask", doer, json!({}), Some("in_progress")),
            },
            ("done" | "cancelled", _) => match pick {
                0..=5 => (
                    "ReopenTask",
                    sim.owner.clone().unwrap_or(doer),
                    json!({}),
                    Some("open"),
                ),
                _ => (
                    "ArchiveTask",
                    sim.owner.clone().unwrap_or(doer),
                    json!({}),
                    Some("archived"),
                ),
            },
            _ => return Ok(false),
        };
    writer.write(Draft {
        expected: Some(sim.version),
        ..draft(command, &stream, Some(actor), payload)
    })?;
    sim.version += 1;
    if let Some(status) = status {
        sim.status = status.to_owned();
    }
    Ok(true)
}

/// One of `sims` that `wanted` accepts, drawn at random (a few tries: a
/// batch against a large output finds one at once, and a miss costs nothing
/// but a planted rejection of another kind).
fn find<'s>(
    writer: &mut Writer,
    sims: &'s [Sim],
    wanted: impl Fn(&Sim) -> bool,
) -> Option<&'s Sim> {
    (0..32)
        .map(|_| &sims[writer.rng.gen_range(0..sims.len())])
        .find(|s| wanted(s))
}

/// Whether a stream has a command that can pass.
fn live(sim: &Sim) -> bool {
    if sim.task {
        sim.status != "archived"
    } else {
        sim.status == "active"
    }
}

/// Writes one command that must be rejected, of a kind drawn at random.
fn plant(writer: &mut Writer, sims: &[Sim], rules: bool) -> Result<()> {
    let actor = Some(writer.actor());
    let kind = writer.rng.gen_range(0..9);
    let target = match kind {
        2 => find(writer, sims, |s| s.task),
        4 => find(writer, sims, |s| s.task && s.status != "blocked"),
        5 => find(writer, sims, |s| {
            s.task
                && s.assignee.is_none()
                && matches!(s.status.as_str(), "open" | "in_progress" | "blocked")
        }),
        7 if rules => find(writer, sims, |s| {
            s.task && matches!(s.status.as_str(), "open" | "in_progress")
        }),
        _ => Some(&sims[writer.rng.gen_range(0..sims.len())]),
    };
    let Some(sim) = target else {
        let stream = sims[0].stream_id.clone();
        writer.write(Draft {
            timed: false,
            ..draft("StartTask", &stream, actor, json!({}))
        })?;
        writer.planted("malformed");
        return Ok(());
    };
    let stream = sim.stream_id.clone();
    match kind {
        0 => {
            writer.write(draft("TeleportTask", &stream, actor, json!({})))?;
            writer.planted("unknown_command");
        }
        1 => {
            let missing = format!("task-missing-{}", writer.stats.commands);
            writer.write(draft("StartTask", &missing, actor, json!({})))?;
            writer.planted("unknown_stream");
        }
        2 => {
            writer.write(draft(
                "CreateTask",
                &stream,
                actor,
                json!({"title": "again", "project_id": sim.project}),
            ))?;
            writer.planted("stream_exists");
        }
        3 => {
            let command = if sim.task {
                "RenameTask"
            } else {
                "RenameProject"
            };
            let key = if sim.task { "title" } else { "name" };
            writer.write(Draft {
                expected: Some(sim.version + 7),
                ..draft(command, &stream, actor, json!({ key: "stale" }))
            })?;
            writer.planted("version_conflict");
        }
        4 => {
            writer.write(draft("UnblockTask", &stream, actor, json!({})))?;
            writer.planted("transition_not_allowed");
        }
        5 => {
            writer.write(draft("UnassignTask", &stream, actor, json!({})))?;
            writer.planted("precondition_failed");
        }
        6 if writer.last_id.is_some() => {
            let id = writer.last_id.clone();
            writer.write(Draft {
                id,
                ..draft("TeleportTask", &stream, actor, json!({}))
            })?;
            writer.planted("duplicate_command_id");
        }
        7 if rules => {
            writer.write(draft(
                "CompleteTask",
                &stream,
                Some(INTRUDER.into()),
                json!({}),
            ))?;
            writer.planted("unauthorised");
        }
        _ => {
            writer.write(Draft {
                timed: false,
                ..draft("StartTask", &stream, actor, json!({}))
            })?;
            writer.planted("malformed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::INTRUDER;

    #[test]
    fn the_planted_intruder_acts_in_no_generated_log() {
        let people = crate::tools::generate::ACTORS.iter().map(|(name, _)| *name);
        assert!(people.chain(super::ACTORS).all(|name| name != INTRUDER));
    }
}
