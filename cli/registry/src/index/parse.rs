//! Parsing and validating index documents: a sparse `config.json` and
//! `packs/<ref>.json` (with `knap_schema::validate`), a cached whole index,
//! files read under the size limit; and the error of a document that is not
//! a valid index, its problems listed by JSON path.

use std::path::Path;

use knap_schema::index::Entry;
use knap_schema::sparse::{SparseConfig, SparsePack};
use knap_schema::validate::{validate_sparse_config, validate_sparse_pack};
use knap_schema::{Index, Problems};

use crate::error::RegistryError;
use crate::http::FetchError;

/// The refs that have a `<ref>.json` in a `packs/` directory.
pub fn sparse_refs_in(dir: &Path) -> Vec<String> {
    let mut refs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let r = name.strip_suffix(".json")?;
            knap_schema::ident::is_valid_ref(r).then(|| r.to_owned())
        })
        .collect();
    refs.sort();
    refs
}

/// Reads and validates `packs/<ref>.json` under `dir`; `None` when absent.
/// (A pack file knap wrote to its cache: it was bounded when it was
/// fetched; a local registry's own files go through
/// [`read_sparse_pack_file_limited`].)
pub fn read_sparse_pack_file(
    registry: &str,
    dir: &Path,
    pack_ref: &str,
) -> Result<Option<Vec<Entry>>, RegistryError> {
    read_sparse_pack_file_limited(registry, dir, pack_ref, u64::MAX)
}

/// [`read_sparse_pack_file`], refusing a file larger than `limit` bytes
/// before it is read (`KNAP_MAX_INDEX_SIZE`, exit 4).
pub fn read_sparse_pack_file_limited(
    registry: &str,
    dir: &Path,
    pack_ref: &str,
    limit: u64,
) -> Result<Option<Vec<Entry>>, RegistryError> {
    if !knap_schema::ident::is_valid_ref(pack_ref) {
        return Ok(None);
    }
    let path = dir.join("packs").join(format!("{pack_ref}.json"));
    match read_limited(registry, &path, limit)? {
        Ok(bytes) => parse_sparse_pack(registry, &path.display().to_string(), &bytes, pack_ref)
            .map(|p| Some(p.versions)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::Other {
            registry: registry.to_owned(),
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

pub fn format_problems(p: &Problems) -> String {
    let errors: Vec<String> = p.errors().map(|e| format!("  {e}")).collect();
    let shown = errors.len().min(20);
    let mut s = errors[..shown].join("\n");
    if errors.len() > shown {
        s.push_str(&format!("\n  ... and {} more", errors.len() - shown));
    }
    s
}

pub fn invalid(registry: &str, location: &str, problems: String) -> RegistryError {
    RegistryError::Invalid {
        registry: registry.to_owned(),
        location: location.to_owned(),
        problems,
    }
}

/// `bytes` as text; a document that is not UTF-8 is invalid.
pub fn utf8_text<'a>(
    registry: &str,
    location: &str,
    bytes: &'a [u8],
) -> Result<&'a str, RegistryError> {
    std::str::from_utf8(bytes)
        .map_err(|_| invalid(registry, location, "  $: not UTF-8 text".into()))
}

/// Parses a cached whole index that validated when it was stored.
pub fn parse_trusted_index(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<Index, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| {
        invalid(
            registry,
            location,
            format!("  $: {e} (the cached copy is damaged; run `knap update {registry}`)"),
        )
    })
}

/// Parses and validates a sparse `config.json`.
pub fn parse_sparse_config(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<SparseConfig, RegistryError> {
    let text = utf8_text(registry, location, bytes)?;
    let c: SparseConfig = knap_schema::json::from_json_str(text)
        .map_err(|e| invalid(registry, location, format!("  error: {e}")))?;
    let p = validate_sparse_config(&c);
    if p.has_errors() {
        return Err(invalid(registry, location, format_problems(&p)));
    }
    Ok(c)
}

/// Parses and validates a sparse `packs/<ref>.json`.
pub fn parse_sparse_pack(
    registry: &str,
    location: &str,
    bytes: &[u8],
    pack_ref: &str,
) -> Result<SparsePack, RegistryError> {
    let text = utf8_text(registry, location, bytes)?;
    let p: SparsePack = knap_schema::json::from_json_str(text)
        .map_err(|e| invalid(registry, location, format!("  error: {e}")))?;
    let problems = validate_sparse_pack(&p, Some(pack_ref));
    if problems.has_errors() {
        return Err(invalid(registry, location, format_problems(&problems)));
    }
    Ok(p)
}

/// A document over the size limit (`KNAP_MAX_INDEX_SIZE`), from a local or
/// git registry (HTTP fetches report [`FetchError::TooLarge`]).
pub fn too_large(registry: &str, location: &str, size: u64, limit: u64) -> RegistryError {
    RegistryError::Fetch {
        registry: registry.to_owned(),
        source: FetchError::TooLarge {
            url: format!("{location} ({size} bytes)"),
            limit,
        },
    }
}

/// Reads the file at `path`, refusing it (before reading it) when it is
/// larger than `limit` bytes.
pub fn read_limited(
    registry: &str,
    path: &Path,
    limit: u64,
) -> Result<std::io::Result<Vec<u8>>, RegistryError> {
    use std::io::Read;
    // Never blocks: a FIFO or device is refused (exit 4) before any read.
    let (file, meta) = match knap_schema::fs::open(path, knap_schema::fs::Links::Follow) {
        Ok(f) => f,
        Err(knap_schema::fs::FileError::Io { error, .. }) => return Ok(Err(error)),
        Err(e) => {
            let location = path.display().to_string();
            return Err(invalid(registry, &location, format!("  $: {}", e.reason())));
        }
    };
    let size = meta.len();
    if size > limit {
        return Err(too_large(
            registry,
            &path.display().to_string(),
            size,
            limit,
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // A file that grows while it is read still stops at the limit.
    match file.take(limit.saturating_add(1)).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > limit => Err(too_large(
            registry,
            &path.display().to_string(),
            bytes.len() as u64,
            limit,
        )),
        Ok(_) => Ok(Ok(bytes)),
        Err(e) => Ok(Err(e)),
    }
}

/// `1 pack`, `2 packs`, `0 packs`: for the reports of `update`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
