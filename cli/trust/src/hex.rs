//! Lowercase hex for key ids and sha256 digests: [`knap_schema::hex`].

pub(crate) use knap_schema::hex::encode;

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    knap_schema::hex::is_lower_hex(s, 64)
}

/// The SHA-256 of `bytes`, in lowercase hex (`sha2` formats it so).
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}
