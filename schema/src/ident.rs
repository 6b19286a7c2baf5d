//! Pack refs: `^[a-z][a-z0-9_-]*$`, at most 64 characters.

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
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("`{s}` is not lowercase hex after `sha256:`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
