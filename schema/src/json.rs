//! Reading JSON into knap's types with the JSON path of what is wrong
//! (`$.packs[3].version: ...`): the one reader of every JSON file format
//! (an index and its entries, the sparse layout, `knap.lock`), so that
//! `knap-index validate`, the client and the install root name a bad value
//! the same way.

use serde_json::Value;

/// Why a document could not be read as an index or entry at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// JSON path of the offending value (`$` for the document).
    pub path: String,
    pub message: String,
}

/// Reads JSON into `T`, reporting the JSON path of a type error. The
/// document is read as plain JSON first: tracking the path costs about as
/// much again, so it is done only to tell what was wrong with a document
/// that failed (the same deserializer, so the same outcome).
pub fn from_json_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(located)
}

/// Reads a JSON value into `T`, reporting the JSON path of a type error.
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value).map_err(located)
}

/// A deserialisation error with its JSON path (`$` for the document).
fn located<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ParseError {
    let path = e.path().to_string();
    ParseError {
        path: if path == "." || path.is_empty() {
            "$".to_owned()
        } else {
            format!("$.{path}")
        },
        message: e.into_inner().to_string(),
    }
}
