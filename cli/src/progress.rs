//! Rendering the libraries' progress [`Event`]s on stderr: progress bars
//! and spinners on a terminal (indicatif), one plain line per event with
//! `-v` plus a `step` line with its duration as each step ends
//! ([`Steps`]: resolving, fetching index, downloading, extracting,
//! verifying, committing), one JSON object per line with `--progress json`
//! (for programs that drive knap), nothing with `-q`, `--json` or
//! `--progress none`. A warning ([`Event::Warning`], from the libraries or
//! the commands) is a `warning:` line on stderr in every mode but JSON
//! (where it is an event like any other), unless `-q`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use knap_schema::progress::{Event, Reporter};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressChoice {
    /// Bars on a terminal, plain lines with `-v`, nothing otherwise.
    Auto,
    /// One JSON event per line on stderr.
    Json,
    /// Nothing.
    None,
}

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Json,
    Off,
}

impl Mode {
    /// The mode for the flags: `--progress json` always wins; `-q` and
    /// `--json` silence the rest; `-v` gives lines; a terminal gives bars.
    pub fn choose(choice: ProgressChoice, quiet: bool, json: bool, verbose: u8, tty: bool) -> Self {
        match choice {
            ProgressChoice::Json => Mode::Json,
            ProgressChoice::None => Mode::Off,
            ProgressChoice::Auto if quiet || json => Mode::Off,
            ProgressChoice::Auto if verbose > 0 => Mode::Lines,
            ProgressChoice::Auto if tty => Mode::Bars,
            ProgressChoice::Auto => Mode::Off,
        }
    }
}

/// Downloads smaller than this get no bar (an index of a few KiB would
/// only flicker).
const BAR_FROM: u64 = 256 * 1024;

/// The binary's [`Reporter`].
pub struct Render {
    mode: Mode,
    /// `-q`: warnings are not told (but with `--progress json`).
    quiet: bool,
    multi: MultiProgress,
    /// The live bars and spinners, by URL or registry.
    bars: Mutex<HashMap<String, ProgressBar>>,
    steps: Mutex<Steps>,
}

/// The steps under way (for `-v`): when each started, by a key naming the
/// step and what it is about; a step's line is printed when it ends.
#[derive(Default)]
pub struct Steps {
    started: HashMap<String, Instant>,
    /// What each pack being staged is staged from (`archive URL`), so
    /// that its extraction is timed from the end of its download.
    from: HashMap<String, String>,
}

impl Steps {
    fn start(&mut self, key: String) {
        self.started.insert(key, Instant::now());
    }

    /// The `step` line of the step `key`, if it was under way.
    fn end(&mut self, key: &str, step: &str, detail: &str) -> Option<String> {
        let started = self.started.remove(key)?;
        Some(format!(
            "step {step}: {detail} ({})",
            duration(started.elapsed())
        ))
    }

    /// The `step` lines that `event` ends, and the steps it starts.
    pub fn on(&mut self, event: &Event) -> Vec<String> {
        let mut out = Vec::new();
        match event {
            Event::Resolving { packs } => {
                self.start("resolving".into());
                self.from.insert(
                    "resolving".into(),
                    crate::output::count(*packs, "requested pack", "requested packs"),
                );
            }
            Event::FetchingIndex { registry, .. } => self.start(format!("index {registry}")),
            Event::IndexFetched { registry } => {
                out.extend(self.end(&format!("index {registry}"), "fetching index", registry))
            }
            Event::DownloadStarted { url, .. } => self.start(format!("download {url}")),
            Event::DownloadFinished { url, bytes } => {
                out.extend(self.end(
                    &format!("download {url}"),
                    "downloading",
                    &format!("{url} ({bytes} bytes)"),
                ));
                // The extraction of what this download was for starts now.
                let source = format!("archive {url}");
                let keys: Vec<String> = self
                    .from
                    .iter()
                    .filter(|(_, f)| **f == source)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    self.start(k);
                }
            }
            Event::Extracting {
                pack,
                version,
                from,
            } => {
                out.extend(self.end_resolving());
                let key = format!("extract {pack} {version}");
                self.start(key.clone());
                self.from.insert(key, from.clone());
            }
            Event::Verifying { pack, version } => {
                let key = format!("extract {pack} {version}");
                let from = self.from.remove(&key).unwrap_or_default();
                out.extend(self.end(&key, "extracting", &format!("{pack} {version} from {from}")));
                self.start(format!("verify {pack} {version}"));
            }
            Event::Verified { pack, version } => out.extend(self.end(
                &format!("verify {pack} {version}"),
                "verifying",
                &format!("{pack} {version}"),
            )),
            Event::Committing { install, remove } => {
                out.extend(self.end_resolving());
                self.start("commit".into());
                self.from.insert(
                    "commit".into(),
                    format!("{install} to install, {remove} to remove"),
                );
            }
            Event::Committed { root } => {
                let what = self.from.remove("commit").unwrap_or_default();
                out.extend(self.end(
                    "commit",
                    "committing",
                    &format!("{what} in {}", root.display()),
                ));
            }
            Event::EnvBuilding { pack, runtime, .. } => self.start(format!("env {pack} {runtime}")),
            Event::EnvBuilt {
                pack,
                runtime,
                dir,
                packages,
            } => out.extend(self.end(
                &format!("env {pack} {runtime}"),
                "building environment",
                &format!(
                    "{pack} {runtime}: {} in {}",
                    crate::output::count(*packages, "package", "packages"),
                    dir.display()
                ),
            )),
            Event::EnvFailed { pack, runtime, .. } => {
                self.started.remove(&format!("env {pack} {runtime}"));
            }
            Event::Downloaded { .. }
            | Event::Mirrored { .. }
            | Event::WaitingForLock { .. }
            | Event::SourceSkipped { .. }
            | Event::Warning { .. } => {}
        }
        out
    }

    fn end_resolving(&mut self) -> Option<String> {
        let what = self.from.remove("resolving")?;
        self.end("resolving", "resolving", &what)
    }
}

/// `12 ms`, `1.25 s`.
fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

impl Render {
    pub fn new(mode: Mode, quiet: bool) -> Self {
        Self {
            mode,
            quiet,
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            steps: Mutex::new(Steps::default()),
        }
    }

    fn bar(&self, key: String, bar: ProgressBar) {
        let bar = self.multi.add(bar);
        self.bars.lock().expect("bars lock").insert(key, bar);
    }

    fn finish(&self, key: &str) {
        if let Some(b) = self.bars.lock().expect("bars lock").remove(key) {
            b.finish_and_clear();
        }
    }

    fn render_bars(&self, event: Event) {
        match event {
            Event::FetchingIndex { registry, url } => {
                let s = ProgressBar::new_spinner();
                s.set_message(
                    knap_schema::text::for_terminal_unstyled(&format!(
                        "{registry}: fetching {url}"
                    ))
                    .into_owned(),
                );
                s.enable_steady_tick(Duration::from_millis(120));
                self.bar(format!("index {registry}"), s);
            }
            Event::IndexFetched { registry } => self.finish(&format!("index {registry}")),
            Event::DownloadStarted { url, total } if total.is_none_or(|n| n >= BAR_FROM) => {
                let b = ProgressBar::new(total.unwrap_or(0));
                b.set_style(
                    ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}")
                        .expect("a valid template"),
                );
                b.set_message(knap_schema::text::for_terminal_unstyled(&url).into_owned());
                self.bar(url, b);
            }
            Event::Downloaded { url, bytes } => {
                if let Some(b) = self.bars.lock().expect("bars lock").get(&url) {
                    b.set_position(bytes);
                }
            }
            Event::DownloadFinished { url, .. } => self.finish(&url),
            Event::EnvBuilding {
                ref pack,
                ref runtime,
                ..
            } => {
                let s = ProgressBar::new_spinner();
                s.set_message(knap_schema::text::for_terminal_unstyled(&line(&event)).into_owned());
                s.enable_steady_tick(Duration::from_millis(120));
                self.bar(format!("env {pack} {runtime}"), s);
            }
            Event::EnvBuilt {
                ref pack,
                ref runtime,
                ..
            }
            | Event::EnvFailed {
                ref pack,
                ref runtime,
                ..
            } => self.finish(&format!("env {pack} {runtime}")),
            Event::Warning { message } if !self.quiet => {
                // indicatif writes as it is: styled only when stderr is.
                let text = if knap_term::stderr_colored() {
                    warning_line(&message)
                } else {
                    format!("warning: {}", crate::flags::repeat(&message))
                };
                // The message was made safe before the style was added.
                let _ = self.multi.println(knap_schema::text::for_terminal(&text));
            }
            Event::WaitingForLock { .. } => {
                let _ = self
                    .multi
                    .println(knap_schema::text::for_terminal_unstyled(&line(&event)));
            }
            _ => {}
        }
    }
}

/// Set once a root's commit has started (`committing`): from then on an
/// interrupt no longer stops the command, since something is being
/// installed (see `main`'s handling of Ctrl-C).
static COMMIT_STARTED: AtomicBool = AtomicBool::new(false);

/// Whether a commit has started in this process.
pub fn commit_started() -> bool {
    COMMIT_STARTED.load(Ordering::SeqCst)
}

impl Reporter for Render {
    fn report(&self, event: Event) {
        if matches!(event, Event::Committing { .. }) {
            COMMIT_STARTED.store(true, Ordering::SeqCst);
        }
        match self.mode {
            Mode::Json => {
                knap_term::err_json(&serde_json::to_string(&event).expect("an event serialises"))
            }
            Mode::Off => {
                if let Event::Warning { message } = &event
                    && !self.quiet
                {
                    knap_term::err(&warning_line(message));
                }
            }
            Mode::Lines => {
                for step in self.steps.lock().expect("steps lock").on(&event) {
                    knap_term::err(&step);
                }
                match &event {
                    Event::Downloaded { .. } | Event::Verified { .. } => {}
                    Event::Warning { message } => knap_term::err(&warning_line(message)),
                    _ => knap_term::err(&line(&event)),
                }
            }
            Mode::Bars => self.render_bars(event),
        }
    }
}

/// `warning: MESSAGE`, `warning` styled, the message made safe first
/// (no escape sequence from outside among knap's own).
fn warning_line(message: &str) -> String {
    format!(
        "{}: {}",
        knap_term::paint(knap_term::style::WARNING, "warning"),
        knap_schema::text::for_terminal_unstyled(&crate::flags::repeat(message))
    )
}

/// An event in words.
pub fn line(event: &Event) -> String {
    match event {
        Event::Resolving { packs } => format!(
            "resolving {}",
            crate::output::count(*packs, "requested pack", "requested packs")
        ),
        Event::FetchingIndex { registry, url } => format!("{registry}: fetching {url}"),
        Event::IndexFetched { registry } => format!("{registry}: fetched"),
        Event::DownloadStarted { url, total } => match total {
            Some(n) => format!("downloading {url} ({n} bytes)"),
            None => format!("downloading {url}"),
        },
        Event::Downloaded { url, bytes } => format!("{url}: {bytes} bytes"),
        Event::DownloadFinished { url, bytes } => format!("downloaded {url} ({bytes} bytes)"),
        Event::Extracting {
            pack,
            version,
            from,
        } => format!("{pack} {version}: staging from {from}"),
        Event::Mirrored {
            pack,
            version,
            source,
            url,
            ..
        } => format!("{pack} {version}: {source} is fetched from the mirror, at {url}"),
        Event::Verifying { pack, version } => format!("{pack} {version}: verifying"),
        Event::Verified { pack, version } => format!("{pack} {version}: verified"),
        Event::Committing { install, remove } => {
            format!("committing: {install} to install, {remove} to remove")
        }
        Event::Committed { root } => format!("committed {}", root.display()),
        Event::WaitingForLock { root } => format!(
            "waiting for another knap process to finish with {}",
            root.display()
        ),
        Event::EnvBuilding {
            pack,
            runtime,
            installer,
            ..
        } => format!("{pack}: building the {runtime} environment with {installer}"),
        Event::EnvBuilt {
            pack,
            runtime,
            dir,
            packages,
        } => format!(
            "{pack}: {runtime} environment built ({}) in {}",
            crate::output::count(*packages, "package", "packages"),
            dir.display()
        ),
        Event::EnvFailed {
            pack,
            runtime,
            message,
        } => format!("{pack}: the {runtime} environment failed: {message}"),
        Event::SourceSkipped {
            pack,
            version,
            reason,
        } => format!("{pack} {version}: install source not used: {reason}"),
        Event::Warning { message } => format!("warning: {}", crate::flags::repeat(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_is_timed_from_its_start_to_its_end() {
        let mut s = Steps::default();
        let url = "https://r.example/a.tar.gz".to_string();
        let ev = |e: Event, s: &mut Steps| s.on(&e);
        assert!(ev(Event::Resolving { packs: 1 }, &mut s).is_empty());
        let from = format!("archive {url}");
        let out = ev(
            Event::Extracting {
                pack: "a".into(),
                version: "1.0.0".into(),
                from: from.clone(),
            },
            &mut s,
        );
        assert_eq!(out.len(), 1);
        assert!(
            out[0].starts_with("step resolving: 1 requested pack ("),
            "{out:?}"
        );
        ev(
            Event::DownloadStarted {
                url: url.clone(),
                total: None,
            },
            &mut s,
        );
        let out = ev(Event::DownloadFinished { url, bytes: 3 }, &mut s);
        assert!(out[0].starts_with("step downloading: https://r.example/a.tar.gz (3 bytes) ("));
        let out = ev(
            Event::Verifying {
                pack: "a".into(),
                version: "1.0.0".into(),
            },
            &mut s,
        );
        assert!(out[0].starts_with(&format!("step extracting: a 1.0.0 from {from} (")));
        assert!(out[0].ends_with(" ms)"), "{out:?}");
        // A step that never started prints nothing.
        assert!(
            ev(
                Event::IndexFetched {
                    registry: "r".into()
                },
                &mut s
            )
            .is_empty()
        );
    }

    #[test]
    fn the_flags_choose_the_mode() {
        use ProgressChoice::*;
        assert_eq!(Mode::choose(Json, true, true, 0, false), Mode::Json);
        assert_eq!(Mode::choose(None, false, false, 2, true), Mode::Off);
        assert_eq!(Mode::choose(Auto, true, false, 0, true), Mode::Off);
        assert_eq!(Mode::choose(Auto, false, true, 0, true), Mode::Off);
        assert_eq!(Mode::choose(Auto, false, false, 1, true), Mode::Lines);
        assert_eq!(Mode::choose(Auto, false, false, 0, true), Mode::Bars);
        assert_eq!(Mode::choose(Auto, false, false, 0, false), Mode::Off);
    }
}
