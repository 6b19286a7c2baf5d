//! How text that did not come from knap itself is shown: the one escaping
//! function of every printer and every error message.
//!
//! Strings from outside knap (an index, `pack.yaml`, `knap.lock`, archive
//! entry names, server and git messages, command-line arguments) may hold
//! characters a terminal acts on: C0 controls (ESC starts a sequence that
//! clears the screen or, with OSC, sets the window title), DEL, C1 controls
//! (U+009B is a one-character CSI) and the Unicode bidi controls that
//! reorder what is shown (embeddings, overrides, isolates and marks).
//! [`escape`] writes each as a visible escape (`\u{1b}`, `\n`), so that
//! such text reaches the terminal as text.
//!
//! Printers apply [`for_terminal`] to everything they write (knap's own
//! colour codes are the only escape sequences kept); text knap has not
//! styled (errors, warnings, progress lines) goes through
//! [`for_terminal_unstyled`] first, which keeps no escape sequence at all,
//! so that a colour code from outside (`ESC [ 8 m` hides what follows) is
//! escaped there too. JSON output goes
//! through [`for_json`], which keeps JSON's own escaping (`\u009b`), so the
//! document still holds the same strings.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: a C0 control, DEL, a C1
/// control, or a bidi control (ALM, LRM, RLM, U+202A..U+202E embeddings
/// and overrides, U+2066..U+2069 isolates), or a line or paragraph
/// separator.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with every [`is_unsafe`] character escaped (`\n`, `\r`, `\t`, else
/// `\u{hex}`); everything else, backslashes included, is kept. Borrowed
/// when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// A value shown through [`escape`] (for `format!`).
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Text that knap has not styled (an error's message, causes and hint, a
/// warning, a progress line), made safe for a terminal: line breaks are
/// kept and every other [`is_unsafe`] character is escaped, colour codes
/// included, since any there came from outside; the credentials of URLs
/// are hidden. Styling is added after this ([`for_terminal`] then keeps it).
pub fn for_terminal_unstyled(text: &str) -> Cow<'_, str> {
    let redacted = crate::urls::redact_userinfo(text);
    if !redacted.chars().any(|c| is_unsafe(c) && c != '\n') {
        return redacted;
    }
    let mut out = String::with_capacity(redacted.len() + 16);
    for c in redacted.chars() {
        if c == '\n' {
            out.push('\n');
        } else {
            push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// Text a printer writes, made safe for a terminal: line breaks and knap's
/// own colour codes (SGR sequences, `ESC [ digits ; ... m`) are kept, every
/// other [`is_unsafe`] character is escaped as [`escape`] does, and the
/// credentials of URLs are hidden ([`crate::urls::redact_userinfo`]).
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    let redacted = crate::urls::redact_userinfo(text);
    if !redacted.chars().any(|c| is_unsafe(c) && c != '\n') {
        return redacted;
    }
    let mut out = String::with_capacity(redacted.len() + 16);
    let mut rest = redacted.as_ref();
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}'
            && let Some(n) = sgr_len(rest)
        {
            out.push_str(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        if c == '\n' {
            out.push('\n');
        } else {
            push_escaped(&mut out, c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The length of the SGR sequence `s` starts with (`ESC [ [0-9;]* m`).
fn sgr_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 3 || b[0] != 0x1b || b[1] != b'[' {
        return None;
    }
    let params = b[2..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b';')
        .count();
    (b.get(2 + params) == Some(&b'm')).then_some(3 + params)
}

/// A JSON document made safe for a terminal with JSON's own escaping:
/// DEL, C1 controls and bidi controls (which `serde_json` writes raw)
/// become `\uXXXX`, so the document holds the same strings. (They can only
/// be inside strings; the line breaks of pretty JSON are kept.) URL
/// credentials are hidden as [`for_terminal`] does.
pub fn for_json(json: &str) -> Cow<'_, str> {
    let redacted = crate::urls::redact_userinfo(json);
    if !redacted.chars().any(|c| is_unsafe(c) && c != '\n') {
        return redacted;
    }
    let mut out = String::with_capacity(redacted.len() + 16);
    for c in redacted.chars() {
        if is_unsafe(c) && c != '\n' {
            // Every such character is in the BMP: one `\uXXXX`.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstyled_text_keeps_no_escape_sequence_not_even_a_colour_code() {
        let text = "a\u{1b}[8mhidden\u{1b}[0m\nnext \u{202e}line";
        assert_eq!(
            for_terminal_unstyled(text),
            "a\\u{1b}[8mhidden\\u{1b}[0m\nnext \\u{202e}line"
        );
        // The printers' last pass keeps colour codes: the ones knap adds
        // after this.
        assert!(for_terminal(text).contains("\u{1b}[8m"));
        assert_eq!(for_terminal_unstyled("plain\ntext"), "plain\ntext");
    }

    #[test]
    fn controls_and_bidi_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("plain C:\\dir ünï"), "plain C:\\dir ünï");
        assert_eq!(escape("a\u{1b}]0;t\u{7}b"), "a\\u{1b}]0;t\\u{7}b");
        assert_eq!(escape("x\u{9b}2J\u{7f}"), "x\\u{9b}2J\\u{7f}");
        assert_eq!(escape("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(
            escape("\u{2066}a\u{2069}\u{200f}"),
            "\\u{2066}a\\u{2069}\\u{200f}"
        );
        assert_eq!(escape("l1\nl2\t\r"), "l1\\nl2\\t\\r");
    }

    #[test]
    fn the_terminal_form_keeps_line_breaks_and_colour_codes_only() {
        let styled = "\u{1b}[31merror\u{1b}[0m: a\nb";
        assert_eq!(for_terminal(styled), styled);
        assert_eq!(
            for_terminal("\u{1b}[31mx\u{1b}[2J\u{1b}]0;pwn\u{7}"),
            "\u{1b}[31mx\\u{1b}[2J\\u{1b}]0;pwn\\u{7}"
        );
        assert_eq!(for_terminal("\u{1b}"), "\\u{1b}");
        assert_eq!(for_terminal("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn json_keeps_its_own_escaping() {
        let doc = serde_json::to_string_pretty(&serde_json::json!({"d": "a\u{9b}\u{202e}\u{1b}"}))
            .unwrap();
        let safe = for_json(&doc);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["d"], "a\u{9b}\u{202e}\u{1b}");
    }
}
