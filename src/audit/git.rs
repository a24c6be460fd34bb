//! The `git` CLI, driven with an explicit author and committer: stage a folder, list its staged
//! changes, commit them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;

use super::message::{FileChange, Status};

/// Who the commits are by (author and committer alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "scim-operator".into(),
            email: "scim-operator@localhost".into(),
        }
    }
}

impl std::str::FromStr for Author {
    type Err = String;

    /// `Name <email>`.
    fn from_str(text: &str) -> Result<Author, String> {
        let (name, rest) = text.split_once('<').ok_or("expected `Name <email>`")?;
        let email = rest.strip_suffix('>').ok_or("expected `Name <email>`")?;
        let (name, email) = (name.trim(), email.trim());
        if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
            return Err("expected `Name <email>`".into());
        }
        Ok(Author {
            name: name.into(),
            email: email.into(),
        })
    }
}

/// A Git working tree.
#[derive(Clone, Debug)]
pub struct Git {
    dir: PathBuf,
    author: Author,
}

impl Git {
    /// The working tree at (or above) `dir`; `git init` when `dir` is in none.
    pub async fn open(dir: &Path, author: Author) -> anyhow::Result<Git> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let git = Git {
            dir: dir.to_path_buf(),
            author,
        };
        if git.run(&["rev-parse", "--is-inside-work-tree"], None).await.is_err() {
            git.run(&["init", "--quiet"], None).await?;
        }
        Ok(git)
    }

    /// The tree's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git` in the tree; its stdout, or an error with its stderr.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut command = tokio::process::Command::new("git");
        command
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", &self.author.name)
            .env("GIT_AUTHOR_EMAIL", &self.author.email)
            .env("GIT_COMMITTER_NAME", &self.author.name)
            .env("GIT_COMMITTER_EMAIL", &self.author.email)
            // Parsed output, never a pager or a prompt.
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("running git (is it installed?)")?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await?;
        }
        let output = child.wait_with_output().await?;
        if !output.status.success() {
            bail!(
                "git {} failed ({}): {}",
                args.first().unwrap_or(&""),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// Stages everything under `folder` (new, changed and removed files) and returns the staged
    /// changes there, relative to the tree.
    pub async fn stage(&self, folder: &str) -> anyhow::Result<Vec<FileChange>> {
        // `git add` refuses a pathspec that matches nothing: a folder not written nor tracked yet.
        let tracked = !self.run(&["ls-files", "--", folder], None).await?.is_empty();
        if !tracked && !self.dir.join(folder).exists() {
            return Ok(Vec::new());
        }
        self.run(&["add", "--all", "--", folder], None).await?;
        let listed = self
            .run(
                &["diff", "--cached", "--name-status", "--no-renames", "-z", "--", folder],
                None,
            )
            .await?;
        // Paths come relative to the repository root, which may be above this tree.
        let prefix = self.run(&["rev-parse", "--show-prefix"], None).await?;
        let prefix = prefix.trim_end();
        // `-z`: status NUL path NUL, repeated; paths unquoted.
        let fields: Vec<&str> = listed.split('\0').filter(|f| !f.is_empty()).collect();
        fields
            .chunks(2)
            .map(|pair| match pair {
                [letter, path] => Ok(FileChange {
                    status: Status::from_letter(letter).with_context(|| format!("git status {letter:?}"))?,
                    path: path.strip_prefix(prefix).unwrap_or(path).to_string(),
                }),
                _ => bail!("unexpected git diff output"),
            })
            .collect()
    }

    /// A file's content in `HEAD` (path relative to the tree).
    pub async fn show_head(&self, path: &str) -> anyhow::Result<String> {
        self.run(&["show", &format!("HEAD:./{path}")], None).await
    }

    /// Commits what is staged under `folder` with `message`; returns the commit id.
    pub async fn commit(&self, folder: &str, message: &str) -> anyhow::Result<String> {
        self.run(
            &["commit", "--quiet", "--no-verify", "--file=-", "--", folder],
            Some(message),
        )
        .await?;
        Ok(self.run(&["rev-parse", "HEAD"], None).await?.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_are_name_and_email() {
        let author: Author = "Audit Bot <audit@example.org>".parse().unwrap();
        assert_eq!(
            (author.name.as_str(), author.email.as_str()),
            ("Audit Bot", "audit@example.org")
        );
        for bad in ["no email", "<a@b>", "Name <>", "Name <a@b"] {
            assert!(bad.parse::<Author>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn stages_and_commits_one_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let git = Git::open(dir.path(), Author::default()).await.unwrap();
        assert!(git.stage("ns").await.unwrap().is_empty(), "no folder yet");
        std::fs::create_dir_all(dir.path().join("ns/workspaces")).unwrap();
        std::fs::write(dir.path().join("ns/workspaces/a.yaml"), "a\n").unwrap();
        std::fs::write(dir.path().join("other.txt"), "not ours\n").unwrap();
        let changes = git.stage("ns").await.unwrap();
        assert_eq!(
            changes,
            [FileChange {
                status: Status::Added,
                path: "ns/workspaces/a.yaml".into()
            }]
        );
        let id = git.commit("ns", "first\n").await.unwrap();
        assert_eq!(id.len(), 40);
        assert!(git.stage("ns").await.unwrap().is_empty(), "nothing left to commit");
        let log = git
            .run(&["log", "--format=%an <%ae>|%cn|%s", "--name-only"], None)
            .await
            .unwrap();
        assert!(
            log.starts_with("scim-operator <scim-operator@localhost>|scim-operator|first\n"),
            "{log}"
        );
        assert!(!log.contains("other.txt"), "{log}");
        std::fs::remove_file(dir.path().join("ns/workspaces/a.yaml")).unwrap();
        let removed = git.stage("ns").await.unwrap();
        assert_eq!(removed[0].status, Status::Deleted);
    }
}
