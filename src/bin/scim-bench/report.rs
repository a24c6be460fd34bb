//! The result table (Markdown, so it pastes into BENCHMARKS.md as printed).

use std::fmt::Write as _;
use std::time::Duration;

/// Whether a measurement meets its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Miss,
    /// No target: reported for context.
    Info,
    /// Not measured in this build (e.g. no controller).
    NotRun,
}

/// One line of the table.
pub struct Row {
    pub item: &'static str,
    pub what: String,
    pub value: String,
    pub reference: String,
    pub ratio: String,
    pub target: String,
    pub status: Status,
}

/// The table plus free-form notes (breakdowns, CPU per process).
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// Functional failures (a run that did not converge, …); the process exits non-zero.
    pub failures: Vec<String>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        item: &'static str,
        what: impl Into<String>,
        value: impl Into<String>,
        reference: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        status: Status,
    ) {
        self.rows.push(Row {
            item,
            what: what.into(),
            value: value.into(),
            reference: reference.into(),
            ratio: ratio.into(),
            target: target.into(),
            status,
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  {note}");
        self.notes.push(note);
    }

    /// The Markdown table and notes.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "| # | measurement | SCIM / operator | reference (same run) | ratio | target | status |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let status = match r.status {
                Status::Pass => "PASS",
                Status::Miss => "MISS",
                Status::Info => "info",
                Status::NotRun => "not run",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.item, r.what, r.value, r.reference, r.ratio, r.target, status
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        for f in &self.failures {
            let _ = writeln!(out, "- **FAILED:** {f}");
        }
        out
    }
}

/// `12.3 ms`, `1.52 s`.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `123.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `0.93×`.
pub fn ratio(x: f64) -> String {
    format!("{x:.2}×")
}

/// Pass when `ok`.
pub fn status(ok: bool) -> Status {
    if ok { Status::Pass } else { Status::Miss }
}
