//! A deterministic synthetic task-tracking log, for the sample, the tests and
//! the benchmarks.
//!
//! The generator simulates projects and tasks moving through the lifecycle of
//! `testdata/tasks/model.toml`, with ~25 actors in several UTC offsets and a
//! clock that advances through working days. Everything random comes from one
//! ChaCha8 stream seeded by the caller, and nothing depends on hash-map order or
//! the wall clock, so a seed names one log exactly. Memory is bounded by the
//! number of open tasks (capped), not by the number of events, so it streams
//! 10M-event logs. With an anomaly rate, that share of records are anomalies:
//! broken streams the replay must report and malformed records ingest must reject;
//! and that share of completions and cancellations is done by anyone, which
//! the model's authorisation rules flag. Otherwise the actors are whom the
//! rules allow: a task's assignee or its project's owner completes it, the owner
//! or the lead cancels it. Who acts is drawn from a second stream, so a seed
//! stream of its own: the events, times and payloads of a seed do not depend
//! on who does them.

use std::io::Write;

use chrono::{DateTime, Datelike, FixedOffset, Offset, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Records (lines) to write.
    pub events: u64,
    pub seed: u64,
    /// Share of records that are anomalies, 0.0 to 1.0.
    pub anomaly_rate: f64,
    /// The first event's time, microseconds since the epoch.
    pub start_micros: i64,
    /// Multiplies every gap between two events (1.0: seconds to an hour). Below
    /// 1 the log is squeezed into fewer working days (and, since the nights it
    /// crosses differ, it is a different log).
    pub time_scale: f64,
}

/// The mean gap between events at `time_scale` 1, in seconds (from `tick`'s
/// distribution: 70% 5–300 s, 20% 300–1800 s, 10% 1800–3600 s).
pub const MEAN_GAP_SECONDS: f64 = 0.7 * 152.0 + 0.2 * 1050.0 + 0.1 * 2700.0;

/// Working seconds in a generated day (07:00 to 18:00).
pub const WORKING_DAY_SECONDS: f64 = 11.0 * 3600.0;

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            events: 1000,
            seed: 42,
            anomaly_rate: 0.0,
            // 2026-01-05T08:00:00Z, a Monday.
            start_micros: 1_767_600_000_000_000,
            time_scale: 1.0,
        }
    }
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GenerateStats {
    pub lines: u64,
    pub events: u64,
    pub anomalies: u64,
    pub projects: u64,
    pub tasks: u64,
}

/// The people of a generated log, with their UTC offsets in hours.
pub(crate) const ACTORS: [(&str, i32); 24] = [
    ("alice", 0),
    ("bob", 0),
    ("carol", 1),
    ("dave", 1),
    ("erin", 1),
    ("frank", 0),
    ("grace", -5),
    ("heidi", -5),
    ("ivan", 1),
    ("judy", 0),
    ("mallory", -5),
    ("niaj", 5),
    ("olivia", 0),
    ("peggy", 1),
    ("rupert", -5),
    ("sybil", 5),
    ("trent", 0),
    ("uma", 1),
    ("victor", -5),
    ("walter", 0),
    ("xena", 5),
    ("yusuf", 1),
    ("zoe", 0),
    ("quinn", -5),
];
const LABELS: [&str; 8] = [
    "bug", "feature", "ui", "backend", "docs", "security", "perf", "chore",
];
const WORDS: [&str; 16] = [
    "login",
    "report",
    "export",
    "billing",
    "search",
    "onboarding",
    "cache",
    "api",
    "dashboard",
    "invoice",
    "sync",
    "upload",
    "alerts",
    "profile",
    "audit",
    "import",
];
const VERBS: [&str; 8] = [
    "Fix", "Add", "Refactor", "Document", "Speed up", "Test", "Redesign", "Remove",
];
const REASONS: [&str; 4] = [
    "waiting for review",
    "blocked by upstream",
    "needs design",
    "missing access",
];
/// The lead of `testdata/tasks/roles.toml`, who may do anything, and the share
/// of completions and cancellations (in percent) the lead does.
const LEAD: &str = "grace";
const LEAD_PERCENT: u32 = 5;
/// Mixed into the seed for the stream that picks who does what.
const CREW_SEED: u64 = 0x6372_6577;
/// Open tasks kept at most; bounds the generator's memory.
const MAX_OPEN_TASKS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Uncreated,
    Open,
    InProgress,
    Blocked,
    Done,
    Cancelled,
}

struct TaskSim {
    number: u64,
    version: u64,
    status: Status,
    assignee: Option<&'static str>,
    /// Its project's owner, once created.
    owner: Option<&'static str>,
    labels: Vec<&'static str>,
    last_event_id: String,
}

struct ProjectSim {
    number: u64,
    version: u64,
    members: Vec<&'static str>,
    last_event_id: String,
}

/// One line to write: the stream, what happened, and the payload JSON.
struct Line<'a> {
    aggregate: &'a str,
    number: u64,
    version: u64,
    event_type: &'a str,
    payload: String,
    causation: Option<String>,
    /// Who does it ([`Generator::task_actor`]); `None`: anyone.
    actor: Option<&'static str>,
}

struct Generator<'w> {
    rng: ChaCha8Rng,
    /// Who does what, drawn apart from `rng` so that the log's events, times
    /// and payloads stay those of the seed whatever the actors.
    crew: ChaCha8Rng,
    /// The anomaly rate: the share of completions and cancellations by anyone.
    unruly: f64,
    now: i64,
    time_scale: f64,
    out: &'w mut dyn Write,
    tasks: Vec<TaskSim>,
    projects: Vec<ProjectSim>,
    stats: GenerateStats,
    last_event_id: String,
    next_task_number: u64,
}

fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

impl Generator<'_> {
    fn hex_id(&mut self) -> String {
        format!("{:032x}", self.rng.gen::<u128>())
    }

    /// Moves the clock on by seconds to an hour, skipping nights and weekends.
    fn tick(&mut self) {
        let gap_seconds = match self.rng.gen_range(0..10) {
            0..=6 => self.rng.gen_range(5..300),
            7..=8 => self.rng.gen_range(300..1800),
            _ => self.rng.gen_range(1800..3600),
        };
        self.now += if self.time_scale == 1.0 {
            gap_seconds * 1_000_000
        } else {
            ((gap_seconds * 1_000_000) as f64 * self.time_scale).max(1.0) as i64
        };
        let Some(time) = DateTime::<Utc>::from_timestamp_micros(self.now) else {
            return;
        };
        let weekend = matches!(time.weekday(), Weekday::Sat | Weekday::Sun);
        if time.hour() >= 18 || time.hour() < 7 || weekend {
            let days = match time.weekday() {
                Weekday::Fri if time.hour() >= 18 => 3,
                Weekday::Sat => 2,
                _ if time.hour() < 7 => 0,
                _ => 1,
            };
            let midnight = time
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros());
            if let Some(midnight) = midnight {
                let minutes = self.rng.gen_range(0..90);
                self.now = midnight + (days * 24 * 3600 + 7 * 3600 + minutes * 60) * 1_000_000;
            }
        }
    }

    fn actor(&mut self) -> (&'static str, i32) {
        ACTORS[self.rng.gen_range(0..ACTORS.len())]
    }

    /// Who does `event_type` to a task whose assignee before it was
    /// `assignee`: whom the model's rules allow (its assignee or its project's
    /// owner completes it, the owner cancels it; a lead now and then), except
    /// for the anomaly rate's share of completions and cancellations, done by
    /// anyone at all (the planted `unauthorised_action`s); an assignment by
    /// the owner or the new assignee; other work mostly by the assignee.
    /// `None`: anyone.
    fn task_actor(
        &mut self,
        event_type: &str,
        assignee: Option<&'static str>,
        task: &TaskSim,
    ) -> Option<&'static str> {
        let roll = self.crew.gen_range(0..100);
        let unruly = self.unruly > 0.0 && self.crew.gen_bool(self.unruly);
        match event_type {
            "TaskCompleted" | "TaskCancelled" if unruly => None,
            "TaskCompleted" | "TaskCancelled" if roll < LEAD_PERCENT => Some(LEAD),
            "TaskCompleted" => assignee.filter(|_| roll < 80).or(task.owner),
            "TaskCancelled" => task.owner,
            "TaskCreated" if roll < 50 => task.owner,
            "TaskCreated" => {
                let project = self
                    .projects
                    .iter()
                    .find(|p| Some(p.members[0]) == task.owner);
                project.map(|p| p.members[self.crew.gen_range(0..p.members.len())])
            }
            "TaskAssigned" if roll < 50 => task.owner,
            "TaskAssigned" => task.assignee,
            _ => assignee.filter(|_| roll < 75),
        }
    }

    fn timestamp(&self, offset_hours: i32) -> String {
        let offset = FixedOffset::east_opt(offset_hours * 3600).unwrap_or_else(|| Utc.fix());
        DateTime::<Utc>::from_timestamp_micros(self.now)
            .map(|t| {
                t.with_timezone(&offset)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            })
            .unwrap_or_default()
    }

    /// Writes one event line; returns its event id.
    fn emit(
        &mut self,
        line: Line,
        event_id: Option<String>,
        occurred_at: Option<String>,
    ) -> std::io::Result<String> {
        let event_id = event_id.unwrap_or_else(|| self.hex_id());
        let (anyone, offset) = self.actor();
        let (actor, offset) = match line.actor {
            Some(actor) => *ACTORS
                .iter()
                .find(|(a, _)| *a == actor)
                .unwrap_or(&(actor, 0)),
            None => (anyone, offset),
        };
        let occurred_at = occurred_at.unwrap_or_else(|| quote(&self.timestamp(offset)));
        let correlation = self.hex_id();
        let causation = line.causation.map_or("null".to_owned(), |c| quote(&c));
        writeln!(
            self.out,
            r#"{{"event_id":"{event_id}","stream_id":"{}-{}","version":{},"event_type":"{}","occurred_at":{occurred_at},"payload":{},"metadata":{{"actor":"{actor}","correlation_id":"{correlation}","causation_id":{causation}}}}}"#,
            line.aggregate, line.number, line.version, line.event_type, line.payload
        )?;
        self.stats.lines += 1;
        self.last_event_id = event_id.clone();
        Ok(event_id)
    }

    fn create_project(&mut self) -> std::io::Result<()> {
        self.stats.projects += 1;
        let number = self.stats.projects;
        let owner = self.actor().0;
        let name = WORDS[self.rng.gen_range(0..WORDS.len())];
        let payload = format!(
            r#"{{"name":{},"owner":"{owner}"}}"#,
            quote(&format!("Project {name} {number}"))
        );
        let id = self.emit(
            Line {
                aggregate: "project",
                number,
                version: 1,
                event_type: "ProjectCreated",
                payload,
                causation: None,
                actor: Some(owner),
            },
            None,
            None,
        )?;
        self.projects.push(ProjectSim {
            number,
            version: 1,
            members: vec![owner],
            last_event_id: id,
        });
        Ok(())
    }

    fn project_event(&mut self) -> std::io::Result<()> {
        let index = self.rng.gen_range(0..self.projects.len());
        let member = self.actor().0;
        let project = &self.projects[index];
        let (event_type, payload) = match self.rng.gen_range(0..4) {
            0 => (
                "ProjectRenamed",
                format!(
                    r#"{{"name":"Project {} v{}"}}"#,
                    project.number,
                    project.version + 1
                ),
            ),
            1 if project.members.len() > 1 => {
                let gone = project.members[project.members.len() - 1];
                ("ProjectMemberRemoved", format!(r#"{{"member":"{gone}"}}"#))
            }
            _ => ("ProjectMemberAdded", format!(r#"{{"member":"{member}"}}"#)),
        };
        let line = Line {
            aggregate: "project",
            number: project.number,
            version: project.version + 1,
            event_type,
            payload,
            causation: Some(project.last_event_id.clone()),
            actor: Some(project.members[0]).filter(|_| self.crew.gen_range(0..100) < 70),
        };
        let id = self.emit(line, None, None)?;
        let project = &mut self.projects[index];
        project.version += 1;
        project.last_event_id = id;
        match event_type {
            "ProjectMemberRemoved" => {
                project.members.pop();
            }
            "ProjectMemberAdded" if !project.members.contains(&member) => {
                project.members.push(member)
            }
            _ => {}
        }
        Ok(())
    }

    fn new_task(&mut self) -> TaskSim {
        self.next_task_number += 1;
        TaskSim {
            number: self.next_task_number,
            version: 0,
            status: Status::Uncreated,
            assignee: None,
            owner: None,
            labels: Vec::new(),
            last_event_id: String::new(),
        }
    }

    /// A new task's payload, and its project's owner.
    fn created_payload(&mut self) -> (String, &'static str) {
        let project = &self.projects[self.rng.gen_range(0..self.projects.len())];
        let (project, owner) = (project.number, project.members[0]);
        let title = format!(
            "{} {}",
            VERBS[self.rng.gen_range(0..VERBS.len())],
            WORDS[self.rng.gen_range(0..WORDS.len())]
        );
        let payload = format!(
            r#"{{"title":{},"project_id":"project-{project}","priority":{},"urgent":{}}}"#,
            quote(&title),
            self.rng.gen_range(1..=4),
            self.rng.gen_bool(0.1)
        );
        (payload, owner)
    }

    /// Picks a new assignee for `task`; returns the payload.
    fn assign(&mut self, task: &mut TaskSim) -> String {
        let assignee = self.actor().0;
        task.assignee = Some(assignee);
        format!(r#"{{"assignee":"{assignee}"}}"#)
    }

    fn hours(&mut self) -> String {
        format!(
            r#"{{"hours":{}}}"#,
            f64::from(self.rng.gen_range(1..33)) / 2.0
        )
    }

    fn reason(&mut self) -> String {
        format!(
            r#"{{"reason":"{}"}}"#,
            REASONS[self.rng.gen_range(0..REASONS.len())]
        )
    }

    /// Labels a task, or takes the label off when it has it already.
    fn label_event(
        &mut self,
        task: &TaskSim,
        label: &'static str,
    ) -> (&'static str, String, Status) {
        let event_type = if task.labels.contains(&label) {
            "TaskUnlabelled"
        } else {
            "TaskLabelled"
        };
        (event_type, format!(r#"{{"label":"{label}"}}"#), task.status)
    }

    /// Picks a lifecycle-valid next event for `task`, updating its simulation.
    fn next_task_event(&mut self, task: &mut TaskSim) -> (&'static str, String) {
        let roll = self.rng.gen_range(0..100);
        let label = LABELS[self.rng.gen_range(0..LABELS.len())];
        let (event_type, payload, status) = match task.status {
            Status::Uncreated => {
                let (payload, owner) = self.created_payload();
                task.owner = Some(owner);
                ("TaskCreated", payload, Status::Open)
            }
            Status::Open => match roll {
                0..=29 if task.assignee.is_none() => {
                    ("TaskAssigned", self.assign(task), Status::Open)
                }
                30..=31 if task.assignee.is_some() => {
                    task.assignee = None;
                    ("TaskUnassigned", "{}".into(), Status::Open)
                }
                30..=41 => (
                    "TaskCommented",
                    format!(r#"{{"text":"note {}"}}"#, task.version),
                    Status::Open,
                ),
                42..=51 => ("TaskEstimated", self.hours(), Status::Open),
                52..=61 => self.label_event(task, label),
                62..=64 => (
                    "TaskRenamed",
                    format!(r#"{{"title":"Task {} renamed"}}"#, task.number),
                    Status::Open,
                ),
                85..=89 => ("TaskBlocked", self.reason(), Status::Blocked),
                90..=93 => ("TaskCancelled", "{}".into(), Status::Cancelled),
                94..=95 => ("TaskCompleted", "{}".into(), Status::Done),
                96..=99 => (
                    "TaskCommented",
                    r#"{"text":"any news?"}"#.into(),
                    Status::Open,
                ),
                _ => ("TaskStarted", "{}".into(), Status::InProgress),
            },
            Status::InProgress => match roll {
                30..=37 => ("TaskBlocked", self.reason(), Status::Blocked),
                38..=59 => ("TaskCompleted", "{}".into(), Status::Done),
                60..=67 => self.label_event(task, label),
                68..=75 => ("TaskEstimated", self.hours(), Status::InProgress),
                76..=79 => ("TaskAssigned", self.assign(task), Status::InProgress),
                80..=81 => ("TaskCancelled", "{}".into(), Status::Cancelled),
                _ => (
                    "TaskCommented",
                    format!(r#"{{"text":"progress {}"}}"#, task.version),
                    Status::InProgress,
                ),
            },
            Status::Blocked => match roll {
                0..=64 => ("TaskUnblocked", "{}".into(), Status::InProgress),
                65..=89 => (
                    "TaskCommented",
                    r#"{"text":"still blocked"}"#.into(),
                    Status::Blocked,
                ),
                _ => ("TaskCancelled", "{}".into(), Status::Cancelled),
            },
            Status::Done | Status::Cancelled => match roll {
                0..=19 => ("TaskReopened", "{}".into(), Status::Open),
                _ => ("TaskArchived", "{}".into(), Status::Done),
            },
        };
        match event_type {
            "TaskLabelled" => task.labels.push(label),
            "TaskUnlabelled" => task.labels.retain(|l| *l != label),
            _ => {}
        }
        if event_type != "TaskArchived" {
            task.status = status;
        }
        (event_type, payload)
    }

    /// Emits the next event of a task (creating tasks and projects as needed).
    fn task_step(&mut self) -> std::io::Result<()> {
        let open = self.tasks.len();
        if open == 0 || (open < MAX_OPEN_TASKS && self.rng.gen_bool(0.12)) {
            let task = self.new_task();
            self.tasks.push(task);
        }
        let mut index = self.rng.gen_range(0..self.tasks.len());
        if matches!(self.tasks[index].status, Status::Done | Status::Cancelled)
            && self.rng.gen_bool(0.7)
        {
            // Finished work is archived or reopened less often than open work moves.
            index = self.rng.gen_range(0..self.tasks.len());
        }
        let mut task = self.tasks.swap_remove(index);
        let assignee = task.assignee;
        let (event_type, payload) = self.next_task_event(&mut task);
        let actor = self.task_actor(event_type, assignee, &task);
        task.version += 1;
        let causation = (!task.last_event_id.is_empty()).then(|| task.last_event_id.clone());
        task.last_event_id = self.emit(
            Line {
                aggregate: "task",
                number: task.number,
                version: task.version,
                event_type,
                payload,
                causation,
                actor,
            },
            None,
            None,
        )?;
        self.stats.events += 1;
        self.stats.tasks += u64::from(event_type == "TaskCreated");
        if event_type != "TaskArchived" {
            self.tasks.push(task);
        }
        Ok(())
    }

    /// Emits one anomaly of a kind picked at random.
    fn anomaly(&mut self) -> std::io::Result<()> {
        self.stats.anomalies += 1;
        let kind = self.rng.gen_range(0..14);
        let live = self
            .tasks
            .iter()
            .position(|t| matches!(t.status, Status::Open | Status::InProgress));
        let ended = self
            .tasks
            .iter()
            .position(|t| matches!(t.status, Status::Done | Status::Cancelled));
        let comment = r#"{"text":"anomaly"}"#.to_owned();
        let (index, version_step, event_type, payload, event_id) = match (kind, live, ended) {
            (0, Some(i), _) => (i, 2, "TaskCommented", comment, None),
            (1, Some(i), _) => (i, 0, "TaskCommented", comment, None),
            (2, Some(i), _) => (
                i,
                1,
                "TaskCommented",
                comment,
                Some(self.last_event_id.clone()),
            ),
            (3, _, Some(i)) => (i, 1, "TaskCommented", comment, None),
            (4, Some(i), _) if self.tasks[i].status == Status::InProgress => {
                (i, 1, "TaskStarted", "{}".into(), None)
            }
            (5, Some(i), _) => (i, 1, "TaskTeleported", "{}".into(), None),
            (6, Some(i), _) => (i, 1, "TaskAssigned", "{}".into(), None),
            (7, Some(i), _) => (i, 1, "TaskEstimated", r#"{"hours":"three"}"#.into(), None),
            (8, _, _) => {
                let task = self.new_task();
                self.tasks.push(task);
                (self.tasks.len() - 1, 1, "TaskCommented", comment, None)
            }
            _ => return self.malformed(kind),
        };
        let task = &self.tasks[index];
        let line = Line {
            aggregate: "task",
            number: task.number,
            version: task.version + version_step,
            event_type,
            payload,
            causation: None,
            actor: None,
        };
        self.emit(line, event_id, None)?;
        let task = &mut self.tasks[index];
        task.version += version_step;
        Ok(())
    }

    /// Writes a record ingest must reject.
    fn malformed(&mut self, kind: u32) -> std::io::Result<()> {
        let time = quote(&self.timestamp(0));
        let record = match kind % 5 {
            0 => format!(r#"{{"event_id":"{}","stream_id":"task-1","version":"#, self.hex_id()),
            1 => format!(r#"{{"event_type":"TaskCommented","version":1,"occurred_at":{time},"payload":{{}}}}"#),
            2 => r#"{"stream_id":"task-1","version":1,"event_type":"TaskCommented","occurred_at":"yesterday","payload":{}}"#.to_owned(),
            3 => format!(r#"{{"stream_id":"task-1","version":"three","event_type":"TaskCommented","occurred_at":{time}}}"#),
            _ => format!(r#"["task-1",1,"TaskCommented",{time}]"#),
        };
        writeln!(self.out, "{record}")?;
        self.stats.lines += 1;
        Ok(())
    }
}

/// Writes `config.events` records to `out` and returns what was written.
pub fn generate(config: &GenerateConfig, out: &mut dyn Write) -> std::io::Result<GenerateStats> {
    generate_with_progress(config, out, &mut |_| {})
}

/// Records written between two calls of [`generate_with_progress`]'s callback.
pub const PROGRESS_EVERY: u64 = 1 << 14;

/// [`generate`], calling `progress` with the records written so far after
/// about every [`PROGRESS_EVERY`] records and once at the end: the library
/// reports, the caller draws (the command draws a bar on a terminal).
pub fn generate_with_progress(
    config: &GenerateConfig,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<GenerateStats> {
    let mut generator = Generator {
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        crew: ChaCha8Rng::seed_from_u64(config.seed ^ CREW_SEED),
        unruly: config.anomaly_rate.clamp(0.0, 1.0),
        now: config.start_micros,
        time_scale: config.time_scale,
        out,
        tasks: Vec::new(),
        projects: Vec::new(),
        stats: GenerateStats::default(),
        last_event_id: String::new(),
        next_task_number: 0,
    };
    let mut next_report = PROGRESS_EVERY;
    while generator.stats.lines < config.events {
        if generator.stats.lines >= next_report {
            progress(generator.stats.lines);
            next_report = generator.stats.lines + PROGRESS_EVERY;
        }
        generator.tick();
        if config.anomaly_rate > 0.0
            && generator.rng.gen_bool(config.anomaly_rate.min(1.0))
            && !generator.projects.is_empty()
        {
            generator.anomaly()?;
            continue;
        }
        let want_project =
            generator.projects.is_empty() || generator.stats.projects * 60 < generator.stats.tasks;
        if want_project {
            generator.create_project()?;
            generator.stats.events += 1;
        } else if generator.rng.gen_bool(0.03) {
            generator.project_event()?;
            generator.stats.events += 1;
        } else {
            generator.task_step()?;
        }
    }
    progress(generator.stats.lines);
    Ok(generator.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(config: &GenerateConfig) -> (Vec<String>, GenerateStats) {
        let mut out = Vec::new();
        let stats = generate(config, &mut out).unwrap();
        (
            String::from_utf8(out)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect(),
            stats,
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_log() {
        let config = GenerateConfig {
            events: 500,
            ..GenerateConfig::default()
        };
        assert_eq!(lines(&config), lines(&config));
        let other = GenerateConfig {
            seed: 7,
            ..config.clone()
        };
        assert_ne!(lines(&config).0, lines(&other).0);
        assert_eq!(lines(&config).0.len(), 500);
    }

    #[test]
    fn a_clean_log_has_contiguous_streams_that_start_with_creation() {
        let (lines, stats) = lines(&GenerateConfig {
            events: 3000,
            ..GenerateConfig::default()
        });
        assert_eq!(stats.anomalies, 0);
        let mut versions = std::collections::BTreeMap::new();
        let mut previous = i64::MIN;
        for line in &lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let stream = value["stream_id"].as_str().unwrap().to_owned();
            let version = value["version"].as_u64().unwrap();
            let last = versions.insert(stream.clone(), version).unwrap_or(0);
            assert_eq!(version, last + 1, "{line}");
            if version == 1 {
                assert!(
                    value["event_type"].as_str().unwrap().ends_with("Created"),
                    "{line}"
                );
            }
            let at = DateTime::parse_from_rfc3339(value["occurred_at"].as_str().unwrap())
                .unwrap()
                .timestamp_micros();
            assert!(at >= previous, "{line}");
            previous = at;
        }
        assert!(stats.projects > 1 && stats.tasks > 100, "{stats:?}");
    }

    #[test]
    fn progress_is_reported_as_records_are_written_without_changing_the_log() {
        let config = GenerateConfig {
            events: 3 * PROGRESS_EVERY + 5,
            ..GenerateConfig::default()
        };
        let (mut out, mut reported) = (Vec::new(), Vec::new());
        let stats = generate_with_progress(&config, &mut out, &mut |n| reported.push(n)).unwrap();
        assert_eq!(reported.len(), 4, "{reported:?}");
        assert!(reported.windows(2).all(|w| w[0] < w[1]), "{reported:?}");
        assert!(reported[0] >= PROGRESS_EVERY, "{reported:?}");
        assert_eq!(reported.last(), Some(&stats.lines));
        assert_eq!(stats.lines, config.events);
        let mut plain = Vec::new();
        generate(&config, &mut plain).unwrap();
        assert!(plain == out, "progress changes nothing in the log");
    }

    #[test]
    fn an_anomaly_rate_injects_anomalies() {
        let (_, stats) = lines(&GenerateConfig {
            events: 2000,
            anomaly_rate: 0.1,
            ..GenerateConfig::default()
        });
        assert!((100..300).contains(&stats.anomalies), "{stats:?}");
    }
}
