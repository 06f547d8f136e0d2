//! Running the `sigbench` binary from tests: temporary folders, and child processes that
//! are bounded in time and killed when a test fails (a test fails, it never hangs or
//! leaves a process behind).

// Every test binary uses a different part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any one sigbench process may take in these tests.
pub const PROCESS_LIMIT: Duration = Duration::from_secs(30);

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "sigbench-{name}-{}-{nanos}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in the folder and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write a temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished process left.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout and stderr, for assertion messages.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The path after `prefix` (`report: `, `html: `, `junit: `) on a stdout line.
    pub fn path_after(&self, prefix: &str) -> PathBuf {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{}", self.text()))
    }
}

/// A running sigbench process; killed if dropped before [`Child::wait`] returns.
pub struct Child {
    child: Option<std::process::Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    what: String,
    /// One message per line the process wrote to stderr (after it is in the file).
    lines: std::sync::mpsc::Receiver<()>,
    /// Copies the stderr pipe into the file; joined before the file is read at exit.
    copier: Option<std::thread::JoinHandle<()>>,
}

impl Child {
    /// The process id (to send it a signal).
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Waits up to `limit` for a stderr line starting with `prefix` and returns the rest
    /// of it; panics (and the drop kills the process) if none comes. Woken by each line
    /// the process writes, not by a timer.
    pub fn stderr_line(&self, prefix: &str, limit: Duration) -> String {
        let line =
            self.stderr_line_where(&format!("'{prefix}…'"), limit, |l| l.starts_with(prefix));
        line[prefix.len()..].to_owned()
    }

    /// Waits up to `limit` for a stderr line that `wanted` accepts and returns it; panics
    /// (and the drop kills the process) if none comes (`what` names it). Woken by each
    /// line the process writes, not by a timer.
    pub fn stderr_line_where(
        &self,
        what: &str,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        let find = |text: &str| text.lines().find(|l| wanted(l)).map(str::to_owned);
        loop {
            let text = read(&self.stderr);
            if let Some(line) = find(&text) {
                return line;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(()) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no stderr line {what} within {limit:?}:\n{text}")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let text = read(&self.stderr);
                    return find(&text).unwrap_or_else(|| {
                        panic!("the process closed stderr without a line {what}:\n{text}")
                    });
                }
            }
        }
    }

    /// Sends SIGINT (as Ctrl-C would).
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits up to `limit` for the process to exit; kills it and panics if it takes longer.
    pub fn wait(mut self, limit: Duration) -> Output {
        let child = self.child.take().expect("waited once");
        let waited = wait_child(child, limit);
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
        let out = match waited {
            Ok(out) => out,
            Err(_) => panic!(
                "`{}` took over {limit:?}; killed it. Output so far:\n{}{}",
                self.what,
                read(&self.stdout),
                read(&self.stderr)
            ),
        };
        Output {
            code: out.status.code(),
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }
}

/// Waits up to `limit` for `child` to exit (on a thread blocked in `wait`, so the exit
/// itself ends the wait, not a poll); reads its piped output. When it takes longer it is
/// killed, and what it wrote comes back as the error.
pub fn wait_child(
    child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output, std::process::Output> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output().expect("wait for the child"));
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Ok(out),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            Err(rx.recv().expect("the killed child is reaped"))
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts `sigbench args…` in the crate's folder; its output goes to files in `dir`.
pub fn spawn(dir: &TempDir, args: &[&str]) -> Child {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let stdout = dir.join(&format!("proc-{n}.out"));
    let stderr = dir.join(&format!("proc-{n}.err"));
    let child = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("create stdout file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut child = child;
    let pipe = child.stderr.take().expect("stderr is piped");
    let mut file = File::create(&stderr).expect("create stderr file");
    let (tx, lines) = std::sync::mpsc::channel();
    let copier = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if writeln!(file, "{line}").is_err() {
                break;
            }
            let _ = tx.send(());
        }
    });
    Child {
        child: Some(child),
        stdout,
        stderr,
        what: format!("sigbench {}", args.join(" ")),
        lines,
        copier: Some(copier),
    }
}

/// Runs `sigbench args…` to completion within [`PROCESS_LIMIT`].
pub fn sigbench(dir: &TempDir, args: &[&str]) -> Output {
    spawn(dir, args).wait(PROCESS_LIMIT)
}

/// A small call scenario: `sessions` calls, a wrong expectation on hang-up when
/// `wrong_hangup` (so the report has failures with sample frames), and `thresholds`
/// (YAML lines under `thresholds:`, may be empty).
pub fn call_scenario(name: &str, sessions: u32, wrong_hangup: bool, thresholds: &str) -> String {
    let hangup = if wrong_hangup { "10404" } else { "200" };
    let thresholds = if thresholds.is_empty() {
        String::new()
    } else {
        format!("thresholds:\n{thresholds}")
    };
    format!(
        r#"name: {name}
roles:
  caller: {{}}
  callee: {{}}
load:
  sessions: {sessions}
  concurrency: 6
steps:
  - name: call
    as: caller
    call: {{ type: 1, account: "${{callee}}", requestId: "${{session}}" }}
    expect: 200
    save: {{ cid: data.channel.channelId }}
  - name: invite delivered
    as: callee
    await: INVITE
    match: {{ from: "${{caller}}", requestId: "${{session}}" }}
    within: 2s
  - name: hang up
    as: caller
    close: {{ channelId: "${{cid}}" }}
    expect: {hangup}
{thresholds}"#
    )
}
