//! Progress bars drawn while fetching (only when the caller allows it).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-count bar for one download.
pub fn download_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}")
            .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A spinner for work without a known size (git clone and fetch).
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
