//! Runs the real `domain-scheduler` binary in a directory of its own.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// What one run of the binary left.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A working directory, and the environment every run gets.
#[derive(Debug)]
pub(crate) struct Cli {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// Every variable the binary reads besides its settings' own
/// (`settings::ENVIRONMENT`); all are removed from the inherited environment
/// so a developer's shell cannot change a test's outcome.
const READ_VARIABLES: &[&str] = &["RUST_LOG", "SSL_CERT_FILE", "SSL_CERT_DIR"];

impl Cli {
    pub(crate) fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let diagnostics = dir.path().join("diagnostics").display().to_string();
        Cli {
            dir,
            env: vec![("DIAGNOSTIC_DIR".into(), diagnostics)],
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn env(mut self, name: &str, value: &str) -> Cli {
        self.env.retain(|(existing, _)| existing != name);
        self.env.push((name.into(), value.into()));
        self
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Starts the binary and leaves it running.
    pub(crate) fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        let mut command = self.command(args);
        command.stdin(Stdio::null());
        command.spawn().unwrap()
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_domain-scheduler"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let settings_variables = domain_scheduler::settings::ENVIRONMENT
            .iter()
            .map(|(name, _)| *name);
        for name in READ_VARIABLES.iter().copied().chain(settings_variables) {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    pub(crate) async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = child.wait_with_output().await.unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The one line of an enqueue's stdout: `counts`, then the time it took.
pub(crate) fn assert_summary(run: &Run, counts: &str) {
    let line = run.stdout.trim();
    let rest = line
        .strip_prefix(counts)
        .unwrap_or_else(|| panic!("{line:?} starts with {counts:?}: {run:?}"));
    let seconds = rest
        .strip_prefix(" in ")
        .and_then(|rest| rest.strip_suffix('s'))
        .unwrap_or_else(|| panic!("{line:?} ends with the time"));
    assert!(seconds.parse::<f64>().is_ok(), "{line:?}");
}
