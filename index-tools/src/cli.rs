//! The command line of `knap-index`, exactly as in `cli.md`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use knap_trust::{KeySpec, Role};

#[derive(Debug, Parser)]
#[command(
    name = "knap-index",
    version,
    about = "Make index entries and archives from packs; maintain and validate knap indices"
)]
pub struct Cli {
    /// Print the result as JSON where a command has a JSON form (checksum,
    /// validate), and an error as a JSON object on stderr; before or after
    /// the command
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a minimal valid pack (pack.yaml, one action, a README) into a new directory
    New(NewArgs),
    /// Print the pack tree digest of a pack directory
    Checksum(ChecksumArgs),
    /// Print the index entry of a pack directory as JSON
    Entry(EntryArgs),
    /// Add or replace one entry in an index file
    Update(UpdateArgs),
    /// Merge several index files into one
    Merge(MergeArgs),
    /// Validate index, entry and sparse files; list every problem with its JSON path
    Validate(ValidateArgs),
    /// Make a reproducible .tar.gz archive of a pack directory
    Pack(PackArgs),
    /// Build the static site of a registry: index.json, the sparse layout and browsable pages
    Build(BuildArgs),
    /// Make signing keys for a signed (TUF) registry
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write or update the TUF metadata (tuf/) of a site or registry repository
    Sign(SignArgs),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The directory to write the pack into (new, or empty)
    pub dir: PathBuf,
    /// The pack's ref (default: the directory's name)
    #[arg(long = "ref", value_name = "REF")]
    pub pack_ref: Option<String>,
    /// The author written to pack.yaml
    #[arg(long, default_value = "Your Name")]
    pub author: String,
    /// The license written to pack.yaml (an SPDX identifier)
    #[arg(long, default_value = "Apache-2.0")]
    pub license: String,
}

#[derive(Debug, Args)]
pub struct ChecksumArgs {
    pub pack_dir: PathBuf,
    /// `--json` (a global flag): print {"ref","version","checksum","files","bytes"}
    #[arg(skip)]
    pub json: bool,
}

/// Where the entry says the pack can be installed from.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// A git repository URL holding the pack at its root
    #[arg(long, requires = "git_ref", value_name = "URL")]
    pub git_url: Option<String>,
    /// The commit (40 hex digits) the git source pins
    #[arg(long, requires = "git_url", value_name = "SHA")]
    pub git_ref: Option<String>,
    /// Accept a branch or tag as --git-ref (development only; never publish it)
    #[arg(long)]
    pub allow_mutable_ref: bool,
    /// The local git repository holding the --git-ref commit (default: the one holding PACK_DIR); its tree is hashed, never the work tree
    #[arg(long, value_name = "DIR", requires = "git_ref")]
    pub repo: Option<PathBuf>,
    /// An archive URL (absolute, or relative to the index)
    #[arg(long, value_name = "URL")]
    pub archive_url: Option<String>,
    /// The archive's checksum, sha256:HEX
    #[arg(
        long,
        value_name = "sha256:HEX",
        requires = "archive_url",
        conflicts_with = "archive"
    )]
    pub archive_checksum: Option<String>,
    /// The archive file, to compute its checksum
    #[arg(long, value_name = "FILE", requires = "archive_url")]
    pub archive: Option<PathBuf>,
    /// The pack's repository home page (default: the https git URL without .git)
    #[arg(long, value_name = "URL")]
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct EntryArgs {
    pub pack_dir: PathBuf,
    #[command(flatten)]
    pub sources: SourceArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The index file to update
    #[arg(long, value_name = "INDEX.json")]
    pub index: PathBuf,
    /// The pack directory to make the entry from
    #[arg(required_unless_present = "entry", conflicts_with = "entry")]
    pub pack_dir: Option<PathBuf>,
    /// An entry file made by `knap-index entry`
    #[arg(long, value_name = "ENTRY.json")]
    pub entry: Option<PathBuf>,
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Create the index if it does not exist (needs --name and --url)
    #[arg(long, requires_all = ["name", "url"])]
    pub create: bool,
    /// The registry name, for --create
    #[arg(long)]
    pub name: Option<String>,
    /// The registry URL, for --create
    #[arg(long)]
    pub url: Option<String>,
    /// Replace a published (ref, version) whose content differs
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prefer {
    First,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompatArg {
    Attune,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The merged index to write
    #[arg(short = 'o', long = "output", value_name = "OUT.json")]
    pub output: PathBuf,
    /// The index files to merge; the first gives the registry identity
    #[arg(required = true, num_args = 1.., value_name = "IN.json")]
    pub inputs: Vec<PathBuf>,
    /// Which input wins when one (ref, version) differs between inputs
    #[arg(long, value_enum)]
    pub prefer: Option<Prefer>,
    /// Emit the Attune form: the newest non-yanked version of each ref, no knap additions
    #[arg(long, value_enum)]
    pub compat: Option<CompatArg>,
    /// With --compat attune: where the merged index is served, to make relative source URLs absolute (needed when there are any)
    #[arg(long, value_name = "URL", value_parser = parse_base_url, requires = "compat")]
    pub base_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// index.json, entry or sparse files, or directories holding them
    #[arg(required = true, num_args = 1.., value_name = "FILE_OR_DIR")]
    pub paths: Vec<PathBuf>,
    /// Also check the Attune schema and policy
    #[arg(long, value_enum)]
    pub compat: Option<CompatArg>,
    /// `--json` (a global flag): print the problems as JSON on stdout
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    pub pack_dir: PathBuf,
    /// The archive to write (.tar.gz)
    #[arg(short = 'o', long = "output", value_name = "FILE.tar.gz")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// index.json, a registry directory (entries/ and/or index.json), or a directory of entry files (<ref>/<version>.json)
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// The site directory to write; an existing site there is replaced as a whole
    #[arg(short = 'o', long = "output", value_name = "SITE_DIR")]
    pub output: PathBuf,
    /// Where the site is served (https://owner.github.io/repo/): written as registry_url, used for canonical links, and the base that relative source URLs resolve against in the site's index.json (required when there are any; default: the index's registry_url)
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    pub base_url: Option<String>,
    /// The registry name (default: the registry_name of SRC's index.json)
    #[arg(long)]
    pub name: Option<String>,
    /// Sign the site as it is built (a key file or env:VAR; several for several roles): the signed state of the previous publication (--previous, else the site being replaced) is carried over, and each key signs the roles its root gives it; without a previous publication, the keys sign every role of a new root
    #[arg(long, value_name = "KEY", num_args = 1..)]
    pub sign: Vec<KeySpec>,
    /// The previous publication of the site, whose signed state --sign continues: a copy of the published site, or any directory holding its tuf/ (the root chain, and the timestamp, snapshot and targets last published); default: SITE_DIR
    #[arg(long, value_name = "DIR", requires = "sign")]
    pub previous: Option<PathBuf>,
    /// A sentence or two about the registry, shown on its front page and
    /// written to config.json (default: the `description` of SRC's config.json)
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an ed25519 signing key into a new file (mode 0600) and print its key id
    Generate {
        /// The key file to create (never overwritten)
        #[arg(short = 'o', long = "output", value_name = "KEY_FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The built site or registry repository (index.json at its top)
    #[arg(value_name = "SITE_OR_REPO")]
    pub dir: PathBuf,
    /// A signing key for every role not named by --role: a file, or env:VAR for a CI secret
    #[arg(long, value_name = "KEY", num_args = 1..)]
    pub key: Vec<KeySpec>,
    /// A key for one role (repeat for several keys): ROLE=KEY, ROLE one of root, targets, snapshot, timestamp
    #[arg(long = "role", value_name = "ROLE=KEY", value_parser = parse_role_key)]
    pub roles: Vec<(Role, KeySpec)>,
    /// A key of the previous root, to sign a new root version (key rotation)
    #[arg(long, value_name = "KEY")]
    pub old_root_key: Vec<KeySpec>,
    /// Signatures needed for a role: ROLE=N (default: the current root's, else 1)
    #[arg(long, value_name = "ROLE=N", value_parser = parse_role_number)]
    pub threshold: Vec<(Role, u64)>,
    /// Validity of newly signed files: ROLE=DAYS (defaults root=365, targets=90, snapshot=7, timestamp=1)
    #[arg(long, value_name = "ROLE=DAYS", value_parser = parse_role_number)]
    pub expires: Vec<(Role, u64)>,
    /// Re-sign timestamp.json alone (the scheduled job that keeps a registry fresh)
    #[arg(long)]
    pub timestamp_only: bool,
}

fn parse_role_key(s: &str) -> Result<(Role, KeySpec), String> {
    let (role, key) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ROLE=KEY"))?;
    Ok((role.parse()?, key.parse()?))
}

fn parse_role_number(s: &str) -> Result<(Role, u64), String> {
    let (role, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ROLE=NUMBER"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: {n} is not a whole number"))?;
    if n == 0 {
        return Err(format!("`{s}`: must be at least 1"));
    }
    Ok((role.parse()?, n))
}

/// An absolute `https://` or `http://` URL without credentials, query or
/// fragment, ending in `/` (a site is a directory).
fn parse_base_url(s: &str) -> Result<String, String> {
    let mut u = url::Url::parse(s).map_err(|e| format!("`{s}` is not an absolute URL: {e}"))?;
    if !matches!(u.scheme(), "https" | "http") {
        return Err(format!("`{s}`: the site URL must be https:// (or http://)"));
    }
    if !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(format!(
            "`{s}`: a site URL has no credentials, query string or fragment"
        ));
    }
    if !u.path().ends_with('/') {
        let path = format!("{}/", u.path());
        u.set_path(&path);
    }
    Ok(u.to_string())
}
