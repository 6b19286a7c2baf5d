//! What most tests of the `knap` binary use: `use knap_test_support::prelude::*;`.

pub use crate::archive::{gz, tar_gz_dir};
pub use crate::assert_out;
pub use crate::dir::{Tree, files_under};
pub use crate::git::git;
pub use crate::knap::{Knap, Out};
pub use crate::registry::{
    Pack, Site, entry, entry_with, git_entry, git_index_repo, git_pack, index, make_pack, publish,
    write_json,
};
pub use crate::root::{
    assert_consistent as assert_root_consistent, lock_of, pairs, refs_at_versions, versions,
};
pub use crate::server::{Logged, Reply, Req, Server, files, git_cgi};
pub use crate::{corpus, digest, example_index, sha, write};
