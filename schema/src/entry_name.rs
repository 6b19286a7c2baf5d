//! The names a file inside a pack may have, whatever it comes from (an
//! archive entry, a git tree entry), and how such a name is shown in a
//! message.
//!
//! A pack's names are untrusted text: a name component is refused when it
//! is empty, `.` or `..`, holds a separator (`/`, `\`) or a control
//! character (C0, DEL, C1: terminal escapes and newlines), is longer than
//! [`MAX_COMPONENT_BYTES`], or is a `.git` in any of the spellings a file
//! system or git treats as `.git` ([`is_dot_git`]). A whole path is refused
//! past [`MAX_PATH_BYTES`] or [`MAX_DEPTH`] components.
//!
//! [`escape`] renders any name (even one that is refused, even one that is
//! not UTF-8) so that printing it cannot move the cursor, clear the screen,
//! start a new line or reorder the text around it.

use std::fmt::Write as _;

/// The longest name component in bytes (what Linux, macOS and Windows file
/// systems take).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// The longest path inside a pack, in bytes (it must still fit under an
/// install root within the system's 4096-byte path limit).
pub const MAX_PATH_BYTES: usize = 1024;
/// The deepest nesting inside a pack.
pub const MAX_DEPTH: usize = 64;

/// Why a name component is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("it has an empty component")]
    Empty,
    #[error("it has a `.` or `..` component")]
    Dots,
    #[error("it contains a NUL byte")]
    Nul,
    #[error("it contains a backslash (a Windows separator)")]
    Backslash,
    #[error("it contains a `/` inside one name")]
    Slash,
    #[error("it contains a control character (a terminal escape or a line break)")]
    Control,
    #[error("a component is longer than 255 bytes")]
    ComponentTooLong,
    #[error("it is longer than 1024 bytes")]
    PathTooLong,
    #[error("it is nested deeper than 64 directories")]
    TooDeep,
    #[error(
        "it is a `.git` (in some spelling): git would read it as a repository's control directory, and the pack tree digest cannot see it"
    )]
    DotGit,
}

/// Code points that HFS+ ignores in names (so `.g\u{200c}it` is `.git`
/// there), as git's own `is_hfs_dotgit` lists them.
fn hfs_ignorable(c: char) -> bool {
    matches!(c,
        '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}')
}

/// True when `name` (one component) would be taken for `.git` by git or by
/// some file system: any case (`.GIT`), trailing dots or spaces (`.git.`,
/// `.git `, Windows drops them), an NTFS stream (`.git::$INDEX_ALLOCATION`),
/// the 8.3 short name `git~1`, and HFS+ ignorable code points.
pub fn is_dot_git(name: &str) -> bool {
    let folded: String = name.chars().filter(|c| !hfs_ignorable(*c)).collect();
    let base = folded.split(':').next().unwrap_or("");
    let base = base.trim_end_matches(['.', ' ']);
    base.eq_ignore_ascii_case(".git") || base.eq_ignore_ascii_case("git~1")
}

/// Checks one name component.
pub fn check_component(name: &str) -> Result<(), NameProblem> {
    match name {
        "" => return Err(NameProblem::Empty),
        "." | ".." => return Err(NameProblem::Dots),
        _ => {}
    }
    if name.contains('\0') {
        return Err(NameProblem::Nul);
    }
    if name.chars().any(char::is_control) {
        return Err(NameProblem::Control);
    }
    if name.contains('\\') {
        return Err(NameProblem::Backslash);
    }
    if name.contains('/') {
        return Err(NameProblem::Slash);
    }
    if name.len() > MAX_COMPONENT_BYTES {
        return Err(NameProblem::ComponentTooLong);
    }
    if is_dot_git(name) {
        return Err(NameProblem::DotGit);
    }
    Ok(())
}

/// Checks a whole `/`-separated relative path of checked components.
pub fn check_path(components: &[&str]) -> Result<(), NameProblem> {
    if components.len() > MAX_DEPTH {
        return Err(NameProblem::TooDeep);
    }
    let len = components.iter().map(|c| c.len() + 1).sum::<usize>();
    if len.saturating_sub(1) > MAX_PATH_BYTES {
        return Err(NameProblem::PathTooLong);
    }
    for c in components {
        check_component(c)?;
    }
    Ok(())
}

/// `raw` made safe to print: control characters, backslashes, format
/// characters that reorder text (bidi controls) and bytes that are not
/// UTF-8 become `\n`, `\t`, `\\`, `\u{202e}`, `\xff`; everything else is
/// kept. A name longer than 300 bytes is cut, with `…` at the end.
pub fn escape(raw: &[u8]) -> String {
    let mut out = String::new();
    let cut = raw.len() > 300;
    let raw = &raw[..raw.len().min(300)];
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control()
                    || hfs_ignorable(c)
                    || matches!(
                        c,
                        '\u{2028}' | '\u{2029}' | '\u{2066}'..='\u{2069}' | '\u{061c}'
                    ) =>
                {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// [`escape`] for text.
pub fn escape_str(s: &str) -> String {
    escape(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_git_spellings() {
        for n in [
            ".git",
            ".GIT",
            ".Git",
            ".git.",
            ".git ",
            ".git. . ",
            ".git::$INDEX_ALLOCATION",
            "GIT~1",
            ".g\u{200c}it",
            "\u{feff}.git",
        ] {
            assert!(is_dot_git(n), "{n:?}");
            assert_eq!(check_component(n), Err(NameProblem::DotGit), "{n:?}");
        }
        for n in [".gitignore", ".github", "git", ".git-x", "x.git", ".gi"] {
            assert!(!is_dot_git(n), "{n:?}");
            assert_eq!(check_component(n), Ok(()), "{n:?}");
        }
    }

    #[test]
    fn components() {
        assert_eq!(check_component(""), Err(NameProblem::Empty));
        assert_eq!(check_component(".."), Err(NameProblem::Dots));
        assert_eq!(check_component("a\u{1b}[2J"), Err(NameProblem::Control));
        assert_eq!(check_component("a\nb"), Err(NameProblem::Control));
        assert_eq!(check_component("a\u{9b}b"), Err(NameProblem::Control));
        assert_eq!(check_component("a\\b"), Err(NameProblem::Backslash));
        assert_eq!(
            check_component(&"x".repeat(256)),
            Err(NameProblem::ComponentTooLong)
        );
        assert_eq!(check_component(&"x".repeat(255)), Ok(()));
        assert_eq!(check_path(&["a"; 65]), Err(NameProblem::TooDeep));
        let long = "y".repeat(200);
        assert_eq!(
            check_path(&[long.as_str(); 6]),
            Err(NameProblem::PathTooLong)
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(b"plain name.txt"), "plain name.txt");
        assert_eq!(escape(b"a\x1b[31mred\nb"), "a\\u{1b}[31mred\\nb");
        assert_eq!(escape("\u{202e}txt.exe".as_bytes()), "\\u{202e}txt.exe");
        assert_eq!(escape(b"bad\xff"), "bad\\xff");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
        assert!(escape(&[b'z'; 400]).ends_with('…'));
    }
}
