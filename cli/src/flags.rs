//! The global flags that a command knap suggests repeats: after
//! `knap --root r1 verify`, the hint is `knap --root r1 install`, since a
//! plain `knap install` would act on another root (and likewise for a
//! `--config` file). Every `knap …` command quoted in backticks in what
//! knap prints (errors, their causes and hints, reports, warnings) gets
//! the `--root` and `--config` given on the command line; a value from the
//! environment (`KNAP_ROOT`, `KNAP_CONFIG`) needs no repeating. `--root`
//! is not added to the commands that read no install root (`registry`,
//! `search`, `info`, `update`, `completions`).

use std::borrow::Cow;
use std::path::Path;
use std::sync::OnceLock;

/// What this run was given: ` --root DIR`, ` --config FILE`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Given {
    root: Option<String>,
    config: Option<String>,
}

static GIVEN: OnceLock<Given> = OnceLock::new();

/// The commands that read no install root.
const ROOTLESS: &[&str] = &["registry", "search", "info", "update", "completions"];

impl Given {
    pub fn new(root: Option<&Path>, config: Option<&Path>) -> Self {
        let quoted = |p: &Path| shell_word(&p.display().to_string());
        Given {
            root: root.map(quoted),
            config: config.map(quoted),
        }
    }

    /// Makes these the flags every printed suggestion repeats (once, at
    /// start-up).
    pub fn install(self) {
        let _ = GIVEN.set(self);
    }

    /// `text` with the flags added to each `` `knap COMMAND… `` in it.
    pub fn repeat<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if (self.root.is_none() && self.config.is_none()) || !text.contains("`knap ") {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(at) = rest.find("`knap ") {
            let (before, after) = rest.split_at(at + "`knap".len());
            out.push_str(before);
            let command = after[1..].split([' ', '`']).next().unwrap_or_default();
            if let Some(c) = &self.config {
                out.push_str(" --config ");
                out.push_str(c);
            }
            if let Some(r) = &self.root
                && !ROOTLESS.contains(&command)
            {
                out.push_str(" --root ");
                out.push_str(r);
            }
            rest = after;
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// [`Given::repeat`] with this run's flags.
pub fn repeat(text: &str) -> Cow<'_, str> {
    match GIVEN.get() {
        Some(g) => g.repeat(text),
        None => Cow::Borrowed(text),
    }
}

/// `word` as a shell reads it back: as it is when it holds only safe
/// characters, else in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./,:=+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quoted_knap_command_gets_the_flags_it_needs() {
        let g = Given::new(Some(Path::new("r1")), None);
        assert_eq!(
            g.repeat("run `knap install` to restore them; see `knap info REF`"),
            "run `knap --root r1 install` to restore them; see `knap info REF`"
        );
        let g = Given::new(Some(Path::new("my root")), Some(Path::new("c.toml")));
        assert_eq!(
            g.repeat("`knap verify`, `knap update corp`; knap install"),
            "`knap --config c.toml --root 'my root' verify`, `knap --config c.toml update corp`; knap install"
        );
        assert_eq!(Given::default().repeat("`knap install`"), "`knap install`");
    }
}
