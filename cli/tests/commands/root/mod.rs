//! The install root as a module of its own: `knap.lock` as untrusted
//! input (`lock_file`), crash recovery (`crash_recovery`), the root's lock
//! across a download (`locking`), and the private area `.knap`
//! (`private_area`).

mod crash_recovery;
mod lock_file;
mod locking;
mod private_area;
