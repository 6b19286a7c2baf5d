//! The answer to a `GET` or `HEAD` of a file under the served directory:
//! the file with its `Content-Type`, `ETag` and `Last-Modified`, `304` to a
//! conditional request it matches, `404` for anything that is not a file
//! inside the directory (`..`, encoded slashes and NUL are refused), `405`
//! for other methods. A directory answers with its `index.html`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use jiff::Timestamp;
use jiff::fmt::rfc2822::{DateTimeParser, DateTimePrinter};

/// A response before it becomes a `hyper::Response`.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    fn status(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Answer {
            body: Bytes::from(format!("{status}\n")),
            status,
            headers,
        }
    }
}

/// RFC 9110's IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let ts = Timestamp::from_second(i64::try_from(secs).ok()?).ok()?;
    DateTimePrinter::new().timestamp_to_rfc9110_string(&ts).ok()
}

/// Seconds since the epoch of an HTTP date (RFC 2822's form, which
/// includes IMF-fixdate).
fn parse_http_date(s: &str) -> Option<u64> {
    let ts = DateTimeParser::new().parse_timestamp(s.trim()).ok()?;
    u64::try_from(ts.as_second()).ok()
}

/// The file `target` (a request path) names under `root`, if it is one
/// the server may show.
fn file_path(root: &Path, target: &str) -> Option<PathBuf> {
    let decoded = percent_decode(target)?;
    let mut path = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => path.push(s),
        }
    }
    Some(path)
}

/// `%XX` decoding of a path; `None` when it is malformed, would decode to
/// a slash (a path segment must stay one segment) or is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if byte == b'/' {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        Some("gz") | Some("tgz") => "application/gzip",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The answer to `method target` with the request's `headers`.
pub(crate) async fn answer(
    root: &Path,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        let mut a = Answer::status(StatusCode::METHOD_NOT_ALLOWED);
        a.headers
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return a;
    }
    let Some(mut path) = file_path(root, target) else {
        return Answer::status(StatusCode::NOT_FOUND);
    };
    let mut meta = match tokio::fs::metadata(&path).await {
        Ok(m) => m,
        Err(_) => return Answer::status(StatusCode::NOT_FOUND),
    };
    if meta.is_dir() {
        path.push("index.html");
        meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            _ => return Answer::status(StatusCode::NOT_FOUND),
        };
    }
    if !meta.is_file() {
        return Answer::status(StatusCode::NOT_FOUND);
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!(
        "\"{:x}-{:x}-{:x}\"",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
        meta.len()
    );
    let mut out = HeaderMap::new();
    out.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex digits and quotes"),
    );
    if let Some(d) = http_date(modified) {
        out.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&d).expect("an HTTP date"),
        );
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110, 13.2.2).
    let not_modified = match headers.get(header::IF_NONE_MATCH) {
        Some(v) => v
            .to_str()
            .map(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
            .unwrap_or(false),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date)
            .is_some_and(|since| since_epoch.as_secs() <= since),
    };
    if not_modified {
        return Answer {
            status: StatusCode::NOT_MODIFIED,
            headers: out,
            body: Bytes::new(),
        };
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    let body = if method == Method::HEAD {
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        Bytes::new()
    } else {
        match tokio::fs::read(&path).await {
            Ok(b) => Bytes::from(b),
            Err(_) => return Answer::status(StatusCode::NOT_FOUND),
        }
    };
    Answer {
        status: StatusCode::OK,
        headers: out,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            file_path(root, "/packs/a.json"),
            Some(PathBuf::from("/srv/packs/a.json"))
        );
        assert_eq!(
            file_path(root, "/a%20b.json"),
            Some(PathBuf::from("/srv/a b.json"))
        );
        assert_eq!(file_path(root, "/packs/../../etc/passwd"), None);
        assert_eq!(file_path(root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(file_path(root, "/a%2fb"), None);
        assert_eq!(file_path(root, "/a%00b"), None);
        assert_eq!(file_path(root, "/a%zz"), None);
        assert_eq!(file_path(root, "/a\\..\\b"), None);
    }

    #[test]
    fn http_dates_round_trip() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        let s = http_date(t).unwrap();
        assert_eq!(s, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date(&s), Some(784_111_777));
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
