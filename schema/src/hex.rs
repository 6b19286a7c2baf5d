//! Lowercase hex: the one spelling of the SHA-256 digests, commit ids and
//! key ids knap writes and reads. A `sha2` digest formats itself the same
//! way (`format!("{:x}", Sha256::digest(..))`); [`encode`] is for bytes held
//! elsewhere ([`crate::Checksum`], per-file hashes, TUF key ids).

/// `bytes` as lowercase hex, two digits a byte.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// True when `s` is exactly `len` lowercase hex digits.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn encode_agrees_with_sha2s_own_lower_hex() {
        let d = Sha256::digest(b"knap");
        assert_eq!(encode(&d), format!("{d:x}"));
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn only_lowercase_hex_of_the_length_is_lower_hex() {
        assert!(is_lower_hex("00ff", 4));
        assert!(!is_lower_hex("00FF", 4));
        assert!(!is_lower_hex("00f", 4));
        assert!(!is_lower_hex("00fg", 4));
    }
}
