//! Signing keys: ed25519 in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`),
//! read from a file or from an environment variable (a CI secret). A key is
//! never taken from a command-line argument, where `ps` and shell history
//! would show it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tough::async_trait;
use tough::key_source::KeySource;
use tough::schema::key::Key;
use tough::sign::{Sign, parse_keypair};

use crate::hex;

/// Where a signing key is read from: `env:VAR` names an environment
/// variable holding the PEM text, anything else is a file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    File(PathBuf),
    Env(String),
}

impl FromStr for KeySpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(var) = s.strip_prefix("env:") {
            if var.is_empty() {
                return Err("'env:' needs the name of an environment variable".into());
            }
            return Ok(KeySpec::Env(var.to_string()));
        }
        if s.contains("-----BEGIN") {
            return Err("a key is read from a file or env:VAR, never from the command line".into());
        }
        if s.is_empty() {
            return Err("an empty key path".into());
        }
        Ok(KeySpec::File(PathBuf::from(s)))
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::File(p) => write!(f, "{}", p.display()),
            KeySpec::Env(v) => write!(f, "env:{v}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the environment variable {0} that should hold a signing key is not set (or not UTF-8)"
    )]
    EnvMissing(String),
    #[error("{origin} is not a signing key: {reason}")]
    Invalid { origin: String, reason: String },
    #[error("{path} already exists; knap-index never overwrites a key")]
    Exists { path: PathBuf },
    #[error("cannot write the key file {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate an ed25519 key: {0}")]
    Generate(String),
}

impl KeyError {
    /// The exit-code class: a key that already exists, is not set or is
    /// not a key is a usage error (2); failing to read, write or generate
    /// one other (1).
    pub fn kind(&self) -> knap_schema::ErrorKind {
        match self {
            KeyError::Exists { .. } | KeyError::EnvMissing(_) | KeyError::Invalid { .. } => {
                knap_schema::ErrorKind::Usage
            }
            KeyError::Read { .. } | KeyError::Write { .. } | KeyError::Generate(_) => {
                knap_schema::ErrorKind::Other
            }
        }
    }
}

/// A private signing key with its TUF key id.
#[derive(Clone)]
pub struct SigningKey {
    pkcs8: Vec<u8>,
    key: Key,
    key_id: String,
    origin: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random ed25519 key, and its PEM text.
    pub fn generate() -> Result<(SigningKey, String), KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref().to_vec()));
        let key = Self::from_pkcs8(doc.as_ref().to_vec(), "a new key".into())?;
        Ok((key, pem_text))
    }

    /// Generates a key into a new file `path` (mode 0600, never overwriting).
    pub fn generate_file(path: &Path) -> Result<SigningKey, KeyError> {
        let (mut key, text) = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists { path: path.into() }
            } else {
                KeyError::Write {
                    path: path.into(),
                    source,
                }
            }
        })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| KeyError::Write {
                path: path.into(),
                source,
            })?;
        key.origin = path.display().to_string();
        Ok(key)
    }

    /// Reads a key from where `spec` says.
    pub fn load(spec: &KeySpec) -> Result<SigningKey, KeyError> {
        let text = match spec {
            // A FIFO or device named as the key is refused, not waited on.
            KeySpec::File(path) => {
                knap_schema::fs::read(path, knap_schema::fs::Links::Follow, 64 * 1024).map_err(
                    |e| match e {
                        knap_schema::fs::FileError::Io { error, .. } => KeyError::Read {
                            path: path.clone(),
                            source: error,
                        },
                        other => KeyError::Invalid {
                            origin: path.display().to_string(),
                            reason: other.reason(),
                        },
                    },
                )?
            }
            KeySpec::Env(var) => std::env::var(var)
                .map_err(|_| KeyError::EnvMissing(var.clone()))?
                .into_bytes(),
        };
        Self::from_pem(&text, &spec.to_string())
    }

    /// Parses PEM text holding an ed25519 PKCS#8 private key.
    pub fn from_pem(text: &[u8], origin: &str) -> Result<SigningKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: origin.to_string(),
            reason,
        };
        let parsed = pem::parse(text).map_err(|e| invalid(format!("not PEM text ({e})")))?;
        if parsed.tag() != "PRIVATE KEY" {
            return Err(invalid(format!(
                "a PEM '{}' block, expected 'PRIVATE KEY' (made by knap-index keys generate)",
                parsed.tag()
            )));
        }
        Self::from_pkcs8(parsed.contents().to_vec(), origin.to_string())
    }

    fn from_pkcs8(pkcs8: Vec<u8>, origin: String) -> Result<SigningKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: origin.clone(),
            reason,
        };
        aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| invalid(format!("not an ed25519 PKCS#8 key ({e})")))?;
        let pair = parse_keypair(&pkcs8).map_err(|e| invalid(e.to_string()))?;
        let key = pair.tuf_key();
        let id = key.key_id().map_err(|e| invalid(e.to_string()))?;
        Ok(SigningKey {
            key_id: hex::encode(&id),
            pkcs8,
            key,
            origin,
        })
    }

    /// The TUF key id (hex of the sha256 of the canonical public key).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Where the key was read from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn public(&self) -> &Key {
        &self.key
    }

    pub(crate) fn source(&self) -> Box<dyn KeySource> {
        Box::new(MemoryKey(self.pkcs8.clone()))
    }
}

/// A key held in memory, as tough's signing wants a [`KeySource`].
struct MemoryKey(Vec<u8>);

impl fmt::Debug for MemoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryKey(..)")
    }
}

#[async_trait]
impl KeySource for MemoryKey {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(parse_keypair(&self.0)?))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("knap never writes a key back".into())
    }
}
