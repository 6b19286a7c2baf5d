//! Printing errors: the exit code and the message of any error a command
//! returns.

use knap_registry::error::{Kind, KnapError};

/// The kind of any error: a [`KnapError`] or a registry error anywhere in
/// the chain, else [`Kind::Other`].
pub fn kind_of(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(k) = cause.downcast_ref::<KnapError>() {
            return k.kind;
        }
        if let Some(r) = cause.downcast_ref::<knap_registry::registry::RegistryError>() {
            return r.kind();
        }
        if let Some(r) = cause.downcast_ref::<knap_registry::index_set::OpenError>() {
            return r.kind();
        }
    }
    Kind::Other
}
