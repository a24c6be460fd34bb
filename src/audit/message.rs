//! Which SCIM requests caused a set of file changes, and the commit message that names them.
//!
//! A derived object is attributed to the Users and Groups it is derived from: a RoleBinding to
//! its user and that user's groups feeding its workspace, a Workspace to the groups in its spec.
//! Their [`LAST_REQUEST`](crate::scim::trace::LAST_REQUEST) annotations name the requests; a
//! request counts once: after a commit names it, it is not named again for later changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::scim::trace::Trace;

/// How a file changed, as `git diff --name-status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Added,
    Modified,
    Deleted,
}

impl Status {
    /// From a `--name-status` letter.
    pub fn from_letter(letter: &str) -> Option<Status> {
        match letter.chars().next()? {
            'A' => Some(Status::Added),
            'M' | 'T' => Some(Status::Modified),
            'D' => Some(Status::Deleted),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Modified => "modified",
            Status::Deleted => "removed",
        }
    }
}

/// One changed file, its path relative to the working tree (`<ns>/<kind>/<name>.yaml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub status: Status,
    pub path: String,
}

impl FileChange {
    /// The object behind the file: (folder, name), e.g. `("rolebindings", "ada-sales")`.
    fn object(&self) -> Option<(String, String)> {
        let mut parts = self.path.rsplit('/');
        let name = parts.next()?.strip_suffix(".yaml")?;
        let folder = parts.next()?;
        Some((folder.to_string(), name.to_string()))
    }
}

/// A User or Group that derived objects come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    User(String),
    Group(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::User(id) => write!(f, "Users/{id}"),
            Source::Group(id) => write!(f, "Groups/{id}"),
        }
    }
}

/// What the cluster holds now.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Derived object (folder, name) → the Users and Groups it comes from.
    pub derived: BTreeMap<(String, String), BTreeSet<Source>>,
    /// Every existing User and Group → its raw trace annotation, if any.
    pub traces: BTreeMap<Source, Option<String>>,
}

/// Why a file changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// A SCIM request, from a User's or Group's trace.
    Request(Trace),
    /// The User or Group is gone (a delete leaves no trace to read).
    Deleted(Source),
    /// A trace annotation that is not one this server writes.
    Unreadable(Source),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Request(trace) => trace.fmt(f),
            Cause::Deleted(source) => write!(f, "{source} deleted (request not recorded)"),
            Cause::Unreadable(source) => write!(f, "{source} (its request annotation is unreadable)"),
        }
    }
}

/// What the watcher remembers between commits.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Sources of every derived object seen, so that a removed object's sources are known.
    known: BTreeMap<(String, String), BTreeSet<Source>>,
    /// The trace of each source as last named in a commit (or found in step at start).
    named: BTreeMap<Source, Option<String>>,
}

impl Ledger {
    /// Learns the current sources of derived objects (removed ones are remembered).
    pub fn observe(&mut self, sources: &Sources) {
        for (object, from) in &sources.derived {
            self.known.insert(object.clone(), from.clone());
        }
    }

    /// Learns the sources of a removed file from its last committed content (after a restart,
    /// the watcher never saw the object).
    pub fn learn_from_file(&mut self, change: &FileChange, content: &str) {
        if let Some(object) = change.object() {
            let from = sources_in_file(&object.0, content);
            self.known.insert(object, from);
        }
    }

    /// Whether the sources of a changed file are known.
    pub fn knows(&self, change: &FileChange) -> bool {
        change.object().is_some_and(|(folder, name)| {
            matches!(folder.as_str(), "users" | "groups") || self.known.contains_key(&(folder, name))
        })
    }

    /// Takes every current trace as already named: the tree was found in step with the cluster.
    pub fn settle(&mut self, sources: &Sources) {
        self.named = sources.traces.clone();
    }

    /// The causes of each change: the requests on its sources not named by an earlier commit.
    pub fn attribute(&self, changes: &[FileChange], sources: &Sources) -> Vec<(FileChange, BTreeSet<Cause>)> {
        changes
            .iter()
            .map(|change| {
                let causes = self
                    .sources_of(change, sources)
                    .into_iter()
                    .filter_map(|source| self.cause(&source, sources))
                    .collect();
                (change.clone(), causes)
            })
            .collect()
    }

    /// Records a commit: its sources' traces are named, removed objects forgotten.
    pub fn committed(&mut self, changes: &[FileChange], sources: &Sources) {
        for change in changes {
            for source in self.sources_of(change, sources) {
                self.named
                    .insert(source.clone(), sources.traces.get(&source).cloned().flatten());
            }
            if change.status == Status::Deleted
                && let Some(object) = change.object()
            {
                self.known.remove(&object);
            }
        }
    }

    fn sources_of(&self, change: &FileChange, sources: &Sources) -> BTreeSet<Source> {
        let Some((folder, name)) = change.object() else {
            return BTreeSet::new();
        };
        match folder.as_str() {
            "users" => BTreeSet::from([Source::User(name)]),
            "groups" => BTreeSet::from([Source::Group(name)]),
            _ => {
                let key = (folder, name);
                sources
                    .derived
                    .get(&key)
                    .or_else(|| self.known.get(&key))
                    .cloned()
                    .unwrap_or_default()
            }
        }
    }

    fn cause(&self, source: &Source, sources: &Sources) -> Option<Cause> {
        let Some(trace) = sources.traces.get(source) else {
            // Gone: a cause once, unless it was already gone when last named.
            return (self.named.get(source) != Some(&None)).then(|| Cause::Deleted(source.clone()));
        };
        if self.named.get(source) == Some(trace) {
            return None;
        }
        let trace = trace.as_ref()?;
        Some(match Trace::parse(trace) {
            Some(parsed) => Cause::Request(parsed),
            None => Cause::Unreadable(source.clone()),
        })
    }
}

/// The sources named in an exported file: a RoleBinding's `spec.user`, a Workspace's
/// `spec.groups[].group`. Read line by line: `export` writes them in a fixed, byte-stable shape.
pub fn sources_in_file(folder: &str, content: &str) -> BTreeSet<Source> {
    let field = |line: &str, key: &str| {
        let line = line.trim_start().trim_start_matches("- ");
        line.strip_prefix(key).map(|v| v.trim().to_string())
    };
    let spec = content.split_once("\nspec:\n").map_or("", |(_, s)| s);
    match folder {
        "rolebindings" => spec
            .lines()
            .filter(|l| l.starts_with("  user:"))
            .filter_map(|l| field(l, "user:"))
            .map(Source::User)
            .collect(),
        "workspaces" => spec
            .lines()
            .filter_map(|l| field(l, "group:"))
            .map(Source::Group)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The commit message: a subject naming the namespace, the number of files and the first
/// request, then every file with its causes, then the distinct requests.
pub fn render(namespace: &str, attributed: &[(FileChange, BTreeSet<Cause>)]) -> String {
    let requests: BTreeSet<&Trace> = attributed
        .iter()
        .flat_map(|(_, causes)| causes)
        .filter_map(|c| match c {
            Cause::Request(t) => Some(t),
            _ => None,
        })
        .collect();
    let files = match attributed.len() {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    };
    let mut message = match requests.iter().next() {
        None => format!("{namespace}: {files} changed, no SCIM request recorded\n"),
        Some(first) if requests.len() == 1 => format!("{namespace}: {files} changed by {first}\n"),
        Some(first) => format!(
            "{namespace}: {files} changed by {first} and {} more requests\n",
            requests.len() - 1
        ),
    };
    message.push_str("\nFiles:\n");
    for (change, causes) in attributed {
        let _ = writeln!(message, "  {} {}", change.status.word(), change.path);
        if causes.is_empty() {
            message.push_str("    by no SCIM request since the last commit\n");
        }
        for cause in causes {
            let _ = writeln!(message, "    by {cause}");
        }
    }
    if !requests.is_empty() {
        message.push_str("\nRequests:\n");
        for request in requests {
            let _ = writeln!(message, "  {request}");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "0123456789abcdef0123456789abcdef";
    const R2: &str = "fedcba9876543210fedcba9876543210";

    fn change(status: Status, path: &str) -> FileChange {
        FileChange {
            status,
            path: path.into(),
        }
    }

    fn sources(user_trace: &str, group_trace: Option<&str>) -> Sources {
        let mut s = Sources::default();
        s.derived.insert(
            ("rolebindings".into(), "u1-sales".into()),
            BTreeSet::from([Source::User("u1".into()), Source::Group("g1".into())]),
        );
        s.derived.insert(
            ("workspaces".into(), "sales".into()),
            BTreeSet::from([Source::Group("g1".into())]),
        );
        s.traces.insert(Source::User("u1".into()), Some(user_trace.into()));
        if let Some(t) = group_trace {
            s.traces.insert(Source::Group("g1".into()), Some(t.into()));
        }
        s
    }

    #[test]
    fn each_file_names_the_requests_on_its_sources_once() {
        let mut ledger = Ledger::default();
        let now = sources(&format!("PATCH Groups/g1 {R2}"), Some(&format!("POST Groups/g1 {R1}")));
        ledger.observe(&now);
        let changes = [
            change(Status::Added, "ns/rolebindings/u1-sales.yaml"),
            change(Status::Added, "ns/workspaces/sales.yaml"),
        ];
        let attributed = ledger.attribute(&changes, &now);
        let message = render("ns", &attributed);
        assert!(
            message.starts_with(&format!(
                "ns: 2 files changed by PATCH Groups/g1 request {R2} and 1 more requests\n"
            )),
            "{message}"
        );
        assert!(message.contains(&format!(
            "  added ns/workspaces/sales.yaml\n    by POST Groups/g1 request {R1}\n"
        )));
        assert!(message.contains(&format!(
            "\nRequests:\n  PATCH Groups/g1 request {R2}\n  POST Groups/g1 request {R1}\n"
        )));
        ledger.committed(&changes, &now);

        // The same traces are not named again; a new request on the user is.
        let later = sources(&format!("PUT Users/u1 {R1}"), Some(&format!("POST Groups/g1 {R1}")));
        let changes = [change(Status::Modified, "ns/rolebindings/u1-sales.yaml")];
        let causes = &ledger.attribute(&changes, &later)[0].1;
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(
            causes.first().unwrap().to_string(),
            format!("PUT Users/u1 request {R1}")
        );
        ledger.committed(&changes, &later);
        let message = render("ns", &ledger.attribute(&changes, &later));
        assert!(
            message.starts_with("ns: 1 file changed, no SCIM request recorded\n"),
            "{message}"
        );
        assert!(message.contains("by no SCIM request since the last commit"));
    }

    #[test]
    fn a_removed_objects_sources_are_remembered_and_a_deleted_group_is_named() {
        let mut ledger = Ledger::default();
        let before = sources(&format!("POST Users/u1 {R1}"), Some(&format!("POST Groups/g1 {R1}")));
        ledger.observe(&before);
        ledger.settle(&before);
        let mut after = Sources::default();
        after
            .traces
            .insert(Source::User("u1".into()), Some(format!("POST Users/u1 {R1}")));
        ledger.observe(&after);
        let changes = [change(Status::Deleted, "ns/workspaces/sales.yaml")];
        let attributed = ledger.attribute(&changes, &after);
        assert_eq!(
            attributed[0].1,
            BTreeSet::from([Cause::Deleted(Source::Group("g1".into()))])
        );
        assert!(render("ns", &attributed).contains("  removed ns/workspaces/sales.yaml\n    by Groups/g1 deleted"));
    }

    #[test]
    fn sources_are_read_from_exported_files() {
        let binding = "apiVersion: v\nkind: RoleBinding\nmetadata:\n  labels:\n    scim-operator.io/user: u1\n  name: u1-sales\nspec:\n  role: admin\n  user: u1\n  userName: ada@example.com\n  workspace: sales\n";
        assert_eq!(
            sources_in_file("rolebindings", binding),
            BTreeSet::from([Source::User("u1".into())])
        );
        let workspace = "kind: Workspace\nspec:\n  displayName: Sales\n  groups:\n  - displayName: ws-Sales-role-admin\n    group: g1\n    role: admin\n  - displayName: ws-Sales-role-member\n    group: g2\n    role: member\n";
        assert_eq!(
            sources_in_file("workspaces", workspace),
            BTreeSet::from([Source::Group("g1".into()), Source::Group("g2".into())])
        );
    }

    #[test]
    fn an_edited_annotation_is_not_repeated() {
        let now = sources("PATCH Users/u1 ada@example.com", None);
        let ledger = Ledger::default();
        let changes = [change(Status::Modified, "ns/rolebindings/u1-sales.yaml")];
        let message = render("ns", &ledger.attribute(&changes, &now));
        assert!(!message.contains("ada@example.com"), "{message}");
        assert!(
            message.contains("Users/u1 (its request annotation is unreadable)"),
            "{message}"
        );
    }
}
