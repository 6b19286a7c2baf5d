//! What environments the installed packs need and which of them already
//! exist: for each pack, its dependency files, the interpreter (checked
//! against what the pack asks), the environment id and directory, and
//! whether that directory holds a complete environment. Pure reading: the
//! plan is what an embedding program that builds environments itself (as
//! Attune's workers do) needs to know.

use std::path::{Path, PathBuf};

use knap_schema::env::{EnvDir, EnvPackage, Runtime};
use knap_schema::lock::Lockfile;
use knap_schema::{Checksum, PackRef};

use crate::asks;
use crate::error::EnvError;
use crate::inputs::{self, Inputs};
use crate::store::EnvStore;
use crate::toolchain::{Interpreter, ToolError, Toolchain};

/// Where a planned environment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planned {
    /// Built from these very inputs and named by `knap.lock`: no work.
    Current,
    /// Built from these inputs but not (yet) named by `knap.lock`: no
    /// work, only recording.
    Unrecorded,
    /// To build.
    Build,
}

/// One environment a pack needs.
#[derive(Debug, Clone)]
pub struct PlannedEnv {
    pub pack: PackRef,
    /// `<root>/<ref>`.
    pub pack_dir: PathBuf,
    pub inputs: Inputs,
    pub interpreter: Interpreter,
    pub id: Checksum,
    pub dir: EnvDir,
    /// `<envs_dir>/<ref>/<dir>`.
    pub path: PathBuf,
    pub state: Planned,
    /// What `knap.lock` records for this pack and runtime, if anything:
    /// the packages a locked build installs.
    pub recorded: Option<Vec<EnvPackage>>,
    /// Whether the recorded environment has this very id (a rebuild of
    /// the same inputs, which reproduces the recorded versions).
    pub recorded_same_id: bool,
}

impl PlannedEnv {
    pub fn runtime(&self) -> Runtime {
        self.inputs.runtime
    }
}

/// The environments of a set of packs.
#[derive(Debug, Default)]
pub struct EnvPlan {
    /// The packs planned for.
    pub packs: Vec<PackRef>,
    pub envs: Vec<PlannedEnv>,
    /// Packs whose environment cannot be planned (no interpreter, one that
    /// does not meet the pack's requirement, unreadable files).
    pub failed: Vec<EnvError>,
}

impl EnvPlan {
    /// Whether anything is to be built.
    pub fn needs_work(&self) -> bool {
        self.envs.iter().any(|e| e.state == Planned::Build)
    }
}

pub(crate) fn tool_error(pack: &PackRef, runtime: Runtime, e: ToolError) -> EnvError {
    match e {
        ToolError::Missing { what, looked } => EnvError::Missing {
            pack: pack.clone(),
            runtime,
            what,
            looked,
        },
        ToolError::Probe { program, message } => EnvError::Probe {
            pack: pack.clone(),
            runtime,
            program,
            message,
        },
    }
}

/// Plans the environments of `packs` (every locked pack when empty) of
/// the root at `root`, whose state is `lock`.
pub fn plan(
    root: &Path,
    lock: &Lockfile,
    packs: &[PackRef],
    tools: &Toolchain,
    store: &EnvStore,
) -> EnvPlan {
    let mut out = EnvPlan::default();
    let refs: Vec<&PackRef> = if packs.is_empty() {
        lock.packs.iter().map(|p| &p.pack_ref).collect()
    } else {
        packs.iter().collect()
    };
    for pack in refs {
        out.packs.push(pack.clone());
        let pack_dir = pack.dir_in(root);
        let (envs, errors) = plan_pack(pack, &pack_dir, lock, tools, store);
        out.envs.extend(envs);
        out.failed.extend(errors);
    }
    out
}

/// The environments of one pack that can be planned, and an error for
/// each that cannot.
fn plan_pack(
    pack: &PackRef,
    pack_dir: &Path,
    lock: &Lockfile,
    tools: &Toolchain,
    store: &EnvStore,
) -> (Vec<PlannedEnv>, Vec<EnvError>) {
    let found = match inputs::detect(pack, pack_dir) {
        Ok(f) if f.is_empty() => return (Vec::new(), Vec::new()),
        Ok(f) => f,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let manifest = match knap_schema::manifest::read_pack_dir(pack_dir) {
        Ok(m) => m,
        Err(source) => {
            return (
                Vec::new(),
                vec![EnvError::Manifest {
                    pack: pack.clone(),
                    source,
                }],
            );
        }
    };
    let mut envs = Vec::new();
    let mut errors = Vec::new();
    for inputs in found {
        let runtime = inputs.runtime;
        let interpreter = match tools.interpreter(runtime) {
            Ok(i) => i.clone(),
            Err(e) => {
                errors.push(tool_error(pack, runtime, e));
                continue;
            }
        };
        let unmet: Vec<String> = asks::asks(&manifest, runtime)
            .iter()
            .filter(|a| !a.met_by(&interpreter.version))
            .map(ToString::to_string)
            .collect();
        if !unmet.is_empty() {
            errors.push(EnvError::Interpreter {
                pack: pack.clone(),
                runtime,
                asked: unmet.join(" and "),
                found: interpreter.describe(),
            });
            continue;
        }
        let id = inputs::env_id(&inputs, &interpreter);
        let dir = knap_schema::env::EnvDir::new(runtime, &interpreter.version, &id);
        let path = store.env_path(pack, &dir);
        let recorded = lock.envs_of(pack).iter().find(|e| e.runtime == runtime);
        let complete = EnvStore::read_record(&path, &dir).is_some_and(|r| r.id == id);
        let state = match (complete, recorded) {
            (true, Some(r)) if r.dir == dir => Planned::Current,
            (true, _) => Planned::Unrecorded,
            (false, _) => Planned::Build,
        };
        envs.push(PlannedEnv {
            pack: pack.clone(),
            pack_dir: pack_dir.to_owned(),
            recorded: recorded.map(|r| r.packages.clone()),
            recorded_same_id: recorded.is_some_and(|r| r.id == id),
            inputs,
            interpreter,
            id,
            dir,
            path,
            state,
        });
    }
    (envs, errors)
}
