//! Rendering the libraries' progress [`Event`]s on stderr: progress bars
//! and spinners on a terminal (indicatif), one plain line per event with
//! `-v`, one JSON object per line with `--progress json` (for programs
//! that drive knap), nothing with `-q`, `--json` or `--progress none`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    multi: MultiProgress,
    /// The live bars and spinners, by URL or registry.
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Render {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
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
                s.set_message(format!("{registry}: fetching {url}"));
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
                b.set_message(url.clone());
                self.bar(url, b);
            }
            Event::Downloaded { url, bytes } => {
                if let Some(b) = self.bars.lock().expect("bars lock").get(&url) {
                    b.set_position(bytes);
                }
            }
            Event::DownloadFinished { url, .. } => self.finish(&url),
            Event::WaitingForLock { .. } | Event::Warning { .. } => {
                let _ = self.multi.println(line(&event));
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
            Mode::Off => {}
            Mode::Json => eprintln!(
                "{}",
                serde_json::to_string(&event).expect("an event serialises")
            ),
            Mode::Lines => {
                if !matches!(event, Event::Downloaded { .. }) {
                    eprintln!("{}", line(&event));
                }
            }
            Mode::Bars => self.render_bars(event),
        }
    }
}

/// An event in words.
pub fn line(event: &Event) -> String {
    match event {
        Event::Resolving { packs } => format!("resolving {packs} requested pack(s)"),
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
        Event::Verifying { pack, version } => format!("{pack} {version}: verifying"),
        Event::Committing { install, remove } => {
            format!("committing: {install} to install, {remove} to remove")
        }
        Event::Committed { root } => format!("committed {}", root.display()),
        Event::WaitingForLock { root } => format!(
            "waiting for another knap process to finish with {}",
            root.display()
        ),
        Event::Warning { message } => format!("warning: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
