//! The identifiers of knap's formats, as types that hold only valid values:
//!
//! - [`PackRef`]: a pack ref, `^[a-z][a-z0-9_-]*$`, at most 64 characters,
//!   and the only way to name a pack's directory ([`PackRef::dir_in`]);
//! - [`Checksum`]: `sha256:` and 64 lowercase hex digits, parsed once;
//! - [`CommitId`]: a git commit as an index pins it (40 lowercase hex).
//!
//! Each reads (serde) by validating, so a document that holds an invalid
//! value is refused where it is read, and writes back the text it was read
//! from. The `check_*` functions say what is wrong with a string without
//! building the type (for validators that report every problem).

use std::borrow::Borrow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The longest ref allowed.
pub const MAX_REF_LEN: usize = 64;

/// Checks a pack ref; the error says what is wrong with it.
pub fn check_ref(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("the ref is empty".into());
    }
    if r.len() > MAX_REF_LEN {
        return Err(format!(
            "the ref `{r}` is {} characters long; at most {MAX_REF_LEN} are allowed",
            r.len()
        ));
    }
    let first = r.as_bytes()[0];
    if !first.is_ascii_lowercase() {
        return Err(format!(
            "the ref `{r}` must start with a lowercase letter (a-z)"
        ));
    }
    if let Some(bad) = r
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "the ref `{r}` contains {bad:?}; only lowercase letters, digits, '_' and '-' are allowed"
        ));
    }
    Ok(())
}

pub fn is_valid_ref(r: &str) -> bool {
    check_ref(r).is_ok()
}

/// A git commit id as an index must pin it: 40 lowercase hex digits.
pub fn is_commit_sha(s: &str) -> bool {
    crate::hex::is_lower_hex(s, 40)
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn check_checksum(s: &str) -> Result<(), String> {
    let Some(hex) = s.strip_prefix("sha256:") else {
        return Err(format!(
            "`{s}` is not a checksum: expected `sha256:` followed by 64 lowercase hex digits"
        ));
    };
    if hex.len() != 64 {
        return Err(format!(
            "`{s}` has {} hex digits after `sha256:`; a SHA-256 has exactly 64",
            hex.len()
        ));
    }
    if !crate::hex::is_lower_hex(hex, 64) {
        return Err(format!("`{s}` is not lowercase hex after `sha256:`"));
    }
    Ok(())
}

/// A valid pack ref.
///
/// It compares, hashes and orders as its text, borrows as `str` (so a map
/// keyed by refs is looked up with a `&str`) and dereferences to `str`; it
/// is deliberately not `AsRef<Path>`: a pack's directory is named only by
/// [`PackRef::dir_in`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackRef(Box<str>);

/// Why a string is not a pack ref.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", crate::text::Escaped(reason))]
pub struct RefError {
    pub input: String,
    pub reason: String,
}

impl PackRef {
    pub fn parse(s: &str) -> Result<Self, RefError> {
        check_ref(s).map_err(|reason| RefError {
            input: s.to_owned(),
            reason,
        })?;
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory of this pack under `root` (`<root>/<ref>`): a single
    /// normal path component, never `..`, absolute or empty.
    pub fn dir_in(&self, root: &Path) -> PathBuf {
        root.join(&*self.0)
    }
}

impl std::ops::Deref for PackRef {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for PackRef {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PackRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl FromStr for PackRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, RefError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PackRef {
    type Error = RefError;
    fn try_from(s: String) -> Result<Self, RefError> {
        check_ref(&s).map_err(|reason| RefError {
            input: s.clone(),
            reason,
        })?;
        Ok(Self(s.into_boxed_str()))
    }
}

impl PartialEq<str> for PackRef {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for PackRef {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for PackRef {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<PackRef> for str {
    fn eq(&self, other: &PackRef) -> bool {
        self == &*other.0
    }
}

impl PartialEq<PackRef> for &str {
    fn eq(&self, other: &PackRef) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<PackRef> for String {
    fn eq(&self, other: &PackRef) -> bool {
        **self == *other.0
    }
}

impl From<PackRef> for String {
    fn from(r: PackRef) -> String {
        r.0.into_string()
    }
}

impl serde::Serialize for PackRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PackRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(format!("invalid pack ref: {e}")))
    }
}

impl schemars::JsonSchema for PackRef {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PackRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*$",
            "maxLength": MAX_REF_LEN,
        })
    }
}

/// A SHA-256 written `sha256:<64 lowercase hex>`: an archive's checksum or
/// a pack tree digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum([u8; 32]);

/// Why a string is not a checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChecksumError(pub String);

impl Checksum {
    pub fn parse(s: &str) -> Result<Self, ChecksumError> {
        check_checksum(s).map_err(ChecksumError)?;
        let hex = &s.as_bytes()["sha256:".len()..];
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Ok(Self(out))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(data).into())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without `sha256:`.
    pub fn hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

impl FromStr for Checksum {
    type Err = ChecksumError;
    fn from_str(s: &str) -> Result<Self, ChecksumError> {
        Self::parse(s)
    }
}

impl PartialEq<str> for Checksum {
    fn eq(&self, other: &str) -> bool {
        Checksum::parse(other).is_ok_and(|c| c == *self)
    }
}

impl PartialEq<&str> for Checksum {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Checksum {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

impl serde::Serialize for Checksum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Checksum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Checksum {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Checksum".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$",
        })
    }
}

/// A git commit id as an index and `knap.lock` pin it: 40 lowercase hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(Box<str>);

impl CommitId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if is_commit_sha(s) {
            Ok(Self(s.into()))
        } else {
            Err(format!(
                "`{s}` is not a git commit id: expected 40 lowercase hex digits"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::ops::Deref for CommitId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for CommitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for CommitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for CommitId {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommitId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{40}$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_ref_holds_only_valid_refs_and_names_one_directory() {
        for bad in [
            "",
            "../../victim",
            "/any/dir",
            "a/b",
            "A",
            "a\\b",
            ".",
            "a b",
        ] {
            assert!(PackRef::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_value::<PackRef>(serde_json::json!(bad)).is_err());
        }
        let r = PackRef::parse("hello_world-2").unwrap();
        assert_eq!(r, "hello_world-2");
        assert_eq!(
            r.dir_in(Path::new("/root")),
            Path::new("/root/hello_world-2")
        );
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"hello_world-2\"");
        let map: std::collections::BTreeMap<PackRef, u8> = [(r.clone(), 1)].into();
        assert_eq!(map.get("hello_world-2"), Some(&1));
    }

    #[test]
    fn a_checksum_is_parsed_once_and_written_back_as_read() {
        let text = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let c = Checksum::parse(&text).unwrap();
        assert_eq!(c.to_string(), text);
        assert_eq!(c.hex(), &text[7..]);
        assert_eq!(c, text.as_str());
        assert_eq!(
            Checksum::of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let back: Checksum = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(back, c);
        assert!(Checksum::parse("sha256:abc").is_err());
        assert!(Checksum::parse(&text.to_uppercase()).is_err());
    }

    #[test]
    fn refs() {
        assert!(check_ref("aws").is_ok());
        assert!(check_ref("nodejs_example").is_ok());
        assert!(check_ref("invalid-has-dash").is_ok());
        assert!(check_ref("").is_err());
        assert!(check_ref("Digital Ocean").is_err());
        assert!(check_ref("1pack").is_err());
        assert!(check_ref(&"a".repeat(64)).is_ok());
        assert!(check_ref(&"a".repeat(65)).is_err());
    }

    #[test]
    fn checksums() {
        assert!(check_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_checksum(&format!("sha256:{}", "a".repeat(65))).is_err());
        assert!(check_checksum(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(check_checksum(&"a".repeat(64)).is_err());
        assert!(is_commit_sha("0ca87f5d99b7e82c145a3d5c4ef5fb0b8228c5c2"));
        assert!(!is_commit_sha("v2.1.0"));
    }
}
