//! Running an installer or a probe: no input, a deadline (`wait-timeout`),
//! and the last lines it printed kept for the error that names it.
//!
//! Output is untrusted (packages' build scripts print what they like), so
//! each kept line loses its control characters and is cut to a length a
//! terminal can show.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::error::Tail;

/// How many lines of an installer's output an error shows.
pub const TAIL_LINES: usize = 20;
/// The longest line kept, in characters.
const LINE_CHARS: usize = 300;
/// The most stdout kept for a caller that reads it (a probe).
const STDOUT_MAX: usize = 1 << 20;

/// What a finished command gave.
#[derive(Debug)]
pub struct Ran {
    /// Its stdout, when asked for (at most 1 MiB).
    pub stdout: String,
    pub tail: Tail,
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failed {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It exited unsuccessfully; `status` in words.
    Status { status: String, tail: Tail },
    /// It ran past the deadline and was killed.
    Timeout { tail: Tail },
}

/// The command line as the user could type it (for messages).
pub fn shown(c: &Command) -> String {
    let mut s = quote(c.get_program());
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s
}

fn quote(a: &OsStr) -> String {
    let a = a.to_string_lossy();
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=./:@+,".contains(&b))
    {
        a.into_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// Runs `c` to its end or the deadline, keeping the last lines of its
/// output (and all of stdout when `keep_stdout`).
pub fn run(mut c: Command, timeout: Duration, keep_stdout: bool) -> Result<Ran, Failed> {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(Failed::Spawn)?;
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let (done_tx, done_rx) = mpsc::channel::<Vec<u8>>();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    for (stream, keep) in [
        (Box::new(stdout) as Box<dyn Read + Send>, keep_stdout),
        (Box::new(stderr), false),
    ] {
        let tail = tail.clone();
        let done = done_tx.clone();
        // Detached: a grandchild that keeps the pipe open (a build
        // backend left running) must not hold the caller past the end.
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut r = BufReader::new(stream);
            let mut line = Vec::new();
            while let Ok(n) = r.read_until(b'\n', &mut line) {
                if n == 0 {
                    break;
                }
                if keep && kept.len() < STDOUT_MAX {
                    kept.extend_from_slice(&line);
                }
                push_line(&tail, &line);
                line.clear();
            }
            let _ = done.send(kept);
        });
    }
    drop(done_tx);
    let status = match child.wait_timeout(timeout) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failed::Timeout {
                tail: snapshot(&tail),
            });
        }
        Err(e) => {
            let _ = child.kill();
            return Err(Failed::Spawn(e));
        }
    };
    // Both readers end when the pipes close; give them a moment.
    let mut stdout = Vec::new();
    for _ in 0..2 {
        match done_rx.recv_timeout(Duration::from_secs(2)) {
            Ok(kept) if !kept.is_empty() => stdout = kept,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let tail = snapshot(&tail);
    if !status.success() {
        return Err(Failed::Status {
            status: match status.code() {
                Some(c) => format!("exited with status {c}"),
                None => "was killed by a signal".into(),
            },
            tail,
        });
    }
    Ok(Ran {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        tail,
    })
}

fn push_line(tail: &Mutex<VecDeque<String>>, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let clean: String = text
        .trim_end()
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .take(LINE_CHARS)
        .collect();
    if clean.trim().is_empty() {
        return;
    }
    let mut t = tail.lock().expect("tail lock");
    if t.len() == TAIL_LINES {
        t.pop_front();
    }
    t.push_back(clean);
}

fn snapshot(tail: &Mutex<VecDeque<String>>) -> Tail {
    Tail(tail.lock().expect("tail lock").iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_without_control_characters() {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "exec 1>&2; for i in $(seq 1 30); do echo line $i; done; printf 'evil \\033[31mred\\n'; exit 3",
        ]);
        let Err(Failed::Status { status, tail }) = run(c, Duration::from_secs(20), false) else {
            panic!("a failing command fails");
        };
        assert_eq!(status, "exited with status 3");
        assert_eq!(tail.0.len(), TAIL_LINES);
        assert!(tail.0.contains(&"evil [31mred".to_owned()), "{tail:?}");
        assert!(!tail.0.contains(&"line 1".to_owned()));
    }

    #[test]
    fn a_command_past_its_deadline_is_stopped() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo started; sleep 30"]);
        let start = std::time::Instant::now();
        let Err(Failed::Timeout { tail }) = run(c, Duration::from_millis(300), false) else {
            panic!("a slow command times out");
        };
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(tail.0, vec!["started".to_owned()]);
    }

    #[test]
    fn stdout_is_kept_when_asked() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo one; echo two"]);
        let ran = run(c, Duration::from_secs(20), true).unwrap();
        assert_eq!(ran.stdout, "one\ntwo\n");
        assert_eq!(shown(&Command::new("a b")), "'a b'");
    }
}
