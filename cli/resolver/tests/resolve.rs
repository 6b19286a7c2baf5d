//! Resolution against an in-memory registry of real index entries: newest
//! fitting versions, conflicts explained, yanked and locked versions,
//! unknown refs, requirement syntax, diamonds.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use knap_resolver::{Candidate, Candidates, Options, ResolveError, Resolved, Upgrade, resolve};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::{Checksum, Dependency, Entry};

/// A registry: entries parsed from index JSON, like the client's, read
/// as candidates.
#[derive(Default)]
struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    fn add(&mut self, pack: &str, version: &str, deps: &[&str]) -> &mut Self {
        self.add_entry(pack, version, deps, false)
    }

    fn add_yanked(&mut self, pack: &str, version: &str, deps: &[&str]) -> &mut Self {
        self.add_entry(pack, version, deps, true)
    }

    fn add_entry(&mut self, pack: &str, version: &str, deps: &[&str], yanked: bool) -> &mut Self {
        let json = serde_json::json!({
            "ref": pack,
            "label": pack,
            "description": "",
            "version": version,
            "author": "test",
            "license": "MIT",
            "keywords": [],
            "runtime_deps": [],
            "dependencies": {"packs": deps},
            "install_sources": [{
                "type": "archive",
                "url": format!("{pack}-{version}.tar.gz"),
                "checksum": format!("sha256:{}", "0".repeat(64)),
            }],
            "contents": {},
            "yanked": yanked,
        });
        self.entries.push(serde_json::from_value(json).unwrap());
        self
    }
}

impl Candidates for Registry {
    type Error = Infallible;
    fn versions(&self, pack_ref: &str) -> Result<Vec<Candidate>, Infallible> {
        Ok(self
            .entries
            .iter()
            .filter(|e| e.pack_ref == pack_ref)
            .map(Candidate::from_entry)
            .collect())
    }
}

fn roots(specs: &[&str]) -> Vec<Dependency> {
    specs
        .iter()
        .map(|s| Dependency::parse(s).unwrap())
        .collect()
}

fn versions(resolved: &[Resolved]) -> BTreeMap<String, String> {
    resolved
        .iter()
        .map(|r| (r.pack_ref.to_string(), r.version.to_string()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn lock(pairs: &[(&str, &str)]) -> Lockfile {
    let mut lock = Lockfile::default();
    for (r, v) in pairs {
        lock.packs.push(LockedPack {
            pack_ref: r.parse().unwrap(),
            version: v.parse().unwrap(),
            registry: Some("test".into()),
            source: LockedSource::Archive {
                url: format!("{r}-{v}.tar.gz"),
                checksum: Checksum::from_bytes([0; 32]),
            },
            tree: Checksum::from_bytes([0; 32]),
            dependencies: vec![],
            installed_at: "2026-01-01T00:00:00Z".into(),
            yanked: false,
            signed: None,
        });
    }
    lock
}

#[test]
fn transitive_resolution_picks_newest_fitting() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["lib@^1.1"])
        .add("app", "2.0.0-beta.1", &["lib@^2"])
        .add("lib", "1.0.0", &[])
        .add("lib", "1.1.0", &["core"])
        .add("lib", "1.4.2", &["core@~0.3"])
        .add("lib", "2.0.0", &[])
        .add("core", "0.2.0", &[])
        .add("core", "0.3.0", &[])
        .add("core", "0.3.7", &[])
        .add("core", "0.4.0", &[]);
    let out = resolve(&reg, &roots(&["app"]), &Options::default()).unwrap();
    // app 2.0.0-beta.1 is a pre-release: `*` does not match it.
    assert_eq!(
        versions(&out),
        map(&[("app", "1.0.0"), ("core", "0.3.7"), ("lib", "1.4.2")])
    );
    // Sorted by ref, with the dependencies each was resolved with.
    let refs: Vec<&str> = out.iter().map(|r| r.pack_ref()).collect();
    assert_eq!(refs, ["app", "core", "lib"]);
    let deps = |i: usize| -> Vec<String> {
        out[i]
            .dependencies
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(deps(0), ["lib@^1.1"]);
    assert_eq!(deps(2), ["core@~0.3"]);
    assert!(out[1].dependencies.is_empty());
}

#[test]
fn conflict_names_all_parties_and_both_requirements() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["lib@^2"])
        .add("tool", "1.0.0", &["lib@^1"])
        .add("lib", "1.0.0", &[])
        .add("lib", "1.2.0", &[])
        .add("lib", "2.0.0", &[]);
    let err = resolve(&reg, &roots(&["app", "tool"]), &Options::default()).unwrap_err();
    let ResolveError::NoSolution(no) = &err else {
        panic!("expected NoSolution, got {err:?}");
    };
    let message = &no.to_string();
    assert_eq!(no.packs(), ["app", "lib", "tool"]);
    for needle in [
        "app 1.0.0 depends on lib@^2",
        "tool 1.0.0 depends on lib@^1",
        "app 1.0.0 asks for lib@^2",
        "tool 1.0.0 asks for lib@^1",
        "you asked for app and tool",
        "lib: 1.0.0, 1.2.0, 2.0.0",
    ] {
        assert!(
            message.contains(needle),
            "missing `{needle}` in:\n{message}"
        );
    }
    assert_eq!(err.to_string(), *message);
    // The explanation is PubGrub's derivation, told in words.
    assert!(message.contains(&no.explanation()), "{message}");
    assert!(no.derivation().packages().len() >= 3);
    assert!(no.hint().unwrap().contains("knap info"));
    assert!(!message.contains("hint"), "the hint is separate: {message}");
}

#[test]
fn a_conflict_does_not_speak_of_the_versions_between_those_listed() {
    // Every version of app needs core@^1; the user asks for core@^2. The
    // versions between app's (1.0.0 < v < 1.1.0) are not a fact to tell.
    let mut reg = Registry::default();
    reg.add("core", "1.0.0", &[])
        .add("core", "1.1.0", &[])
        .add("core", "2.0.0", &[])
        .add("app", "1.0.0", &["core@^1"])
        .add("app", "1.1.0", &["core@^1"]);
    let err = resolve(&reg, &roots(&["app", "core@^2"]), &Options::default()).unwrap_err();
    let ResolveError::NoSolution(no) = &err else {
        panic!("expected NoSolution, got {err:?}");
    };
    let explanation = no.explanation();
    assert!(!explanation.contains("no version of app"), "{explanation}");
    assert!(
        explanation.contains("every version of app depends on core@^1"),
        "{explanation}"
    );
    assert!(
        explanation.contains("you asked for core@^2"),
        "{explanation}"
    );
}

#[test]
fn no_version_matches_says_what_exists() {
    let mut reg = Registry::default();
    reg.add("lib", "1.0.0", &[]).add("lib", "1.2.0", &[]);
    let err = resolve(&reg, &roots(&["lib@^3"]), &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ResolveError::NoSolution(_)), "{err:?}");
    assert!(msg.contains("you asked for lib@^3"), "{msg}");
    assert!(msg.contains("1.0.0, 1.2.0"), "{msg}");
    // Each fact once: the request and the versions are said once.
    assert_eq!(msg.matches("you asked for lib@^3").count(), 1, "{msg}");
    assert_eq!(msg.matches("1.0.0, 1.2.0").count(), 1, "{msg}");
}

#[test]
fn conflict_is_avoided_by_backtracking() {
    // app 1.1.0 conflicts with tool; app 1.0.0 does not: pick it.
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["lib@^1"])
        .add("app", "1.1.0", &["lib@^2"])
        .add("tool", "1.0.0", &["lib@^1"])
        .add("lib", "1.0.0", &[])
        .add("lib", "2.0.0", &[]);
    let out = resolve(&reg, &roots(&["app", "tool"]), &Options::default()).unwrap();
    assert_eq!(
        versions(&out),
        map(&[("app", "1.0.0"), ("lib", "1.0.0"), ("tool", "1.0.0")])
    );
}

#[test]
fn yanked_skipped_unless_locked() {
    let mut reg = Registry::default();
    reg.add("lib", "1.0.0", &[]).add_yanked("lib", "1.1.0", &[]);

    let fresh = resolve(&reg, &roots(&["lib"]), &Options::default()).unwrap();
    assert_eq!(versions(&fresh), map(&[("lib", "1.0.0")]));

    // Only yanked versions fit: no solution, and the message says so.
    let err = resolve(&reg, &roots(&["lib@=1.1.0"]), &Options::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("which only the yanked lib 1.1.0 satisfies")
            && err
                .to_string()
                .contains("(available: 1.0.0; yanked, so not chosen: 1.1.0)"),
        "{err}"
    );

    let locked = Options {
        lock: Some(lock(&[("lib", "1.1.0")])),
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["lib"]), &locked).unwrap();
    assert_eq!(versions(&out), map(&[("lib", "1.1.0")]));

    // A lock naming another version does not make the yanked one choosable.
    let other = Options {
        lock: Some(lock(&[("lib", "1.0.0")])),
        upgrade: Upgrade::All,
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["lib"]), &other).unwrap();
    assert_eq!(versions(&out), map(&[("lib", "1.0.0")]));

    // Upgrading a ref drops its lock, yanked pin included.
    let upgrade = Options {
        lock: Some(lock(&[("lib", "1.1.0")])),
        upgrade: Upgrade::Packs(BTreeSet::from(["lib".parse().unwrap()])),
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["lib"]), &upgrade).unwrap();
    assert_eq!(versions(&out), map(&[("lib", "1.0.0")]));
}

#[test]
fn locked_version_kept_when_newer_exists_and_moved_when_asked() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["lib@^1"])
        .add("app", "1.1.0", &["lib@^1"])
        .add("lib", "1.0.0", &[])
        .add("lib", "1.5.0", &[]);
    let previous = lock(&[("app", "1.0.0"), ("lib", "1.0.0")]);

    let keep = Options {
        lock: Some(previous.clone()),
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["app"]), &keep).unwrap();
    assert_eq!(versions(&out), map(&[("app", "1.0.0"), ("lib", "1.0.0")]));

    let only_lib = Options {
        lock: Some(previous.clone()),
        upgrade: Upgrade::Packs(BTreeSet::from(["lib".parse().unwrap()])),
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["app"]), &only_lib).unwrap();
    assert_eq!(versions(&out), map(&[("app", "1.0.0"), ("lib", "1.5.0")]));

    let all = Options {
        lock: Some(previous),
        upgrade: Upgrade::All,
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["app"]), &all).unwrap();
    assert_eq!(versions(&out), map(&[("app", "1.1.0"), ("lib", "1.5.0")]));
}

#[test]
fn locked_version_yields_to_a_new_requirement() {
    // The lock is a preference: a request the locked version cannot meet
    // moves it (the client's `--locked` is what forbids that).
    let mut reg = Registry::default();
    reg.add("lib", "1.0.0", &[]).add("lib", "2.0.0", &[]);
    let opts = Options {
        lock: Some(lock(&[("lib", "1.0.0")])),
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["lib@^2"]), &opts).unwrap();
    assert_eq!(versions(&out), map(&[("lib", "2.0.0")]));
}

#[test]
fn unknown_ref_is_not_found() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["ghost@^1"]);

    let err = resolve(&reg, &roots(&["nope"]), &Options::default()).unwrap_err();
    match &err {
        ResolveError::NotFound {
            pack_ref,
            required_by,
        } => {
            assert_eq!(pack_ref, "nope");
            assert_eq!(required_by, &["the request"]);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("`nope`"), "{err}");

    let err = resolve(&reg, &roots(&["app"]), &Options::default()).unwrap_err();
    match &err {
        ResolveError::NotFound {
            pack_ref,
            required_by,
        } => {
            assert_eq!(pack_ref, "ghost");
            assert_eq!(required_by, &["app 1.0.0"]);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("required by app 1.0.0"), "{err}");
}

#[test]
fn union_and_space_and_requirements() {
    let mut reg = Registry::default();
    for v in [
        "1.0.0", "1.3.0", "1.4.0", "1.9.0", "2.0.0", "2.5.0", "3.0.0", "3.1.4", "4.0.0",
    ] {
        reg.add("lib", v, &[]);
    }
    let pick = |spec: &str| {
        let out = resolve(&reg, &roots(&[spec]), &Options::default()).unwrap();
        out[0].version.to_string()
    };
    assert_eq!(pick("lib@^1 || ^3.1"), "3.1.4");
    assert_eq!(pick("lib@^1 || ~2.0"), "2.0.0");
    assert_eq!(pick("lib@>=1.4 <2"), "1.9.0");
    assert_eq!(pick("lib@>= 1.3, < 1.9"), "1.4.0");
    // Two packs asking with both syntaxes meet in the intersection.
    let mut reg2 = Registry::default();
    reg2.add("a", "1.0.0", &["lib@^1 || ^3"])
        .add("b", "1.0.0", &["lib@>=1.3 <3.1"]);
    for v in ["1.0.0", "1.3.0", "1.9.0", "2.5.0", "3.0.0", "3.1.4"] {
        reg2.add("lib", v, &[]);
    }
    let out = resolve(&reg2, &roots(&["a", "b"]), &Options::default()).unwrap();
    assert_eq!(
        versions(&out),
        map(&[("a", "1.0.0"), ("b", "1.0.0"), ("lib", "3.0.0")])
    );
}

#[test]
fn diamond() {
    // top -> left, right; left -> base ^1.1; right -> base >=1.0, <1.3.
    let mut reg = Registry::default();
    reg.add("top", "1.0.0", &["left", "right@^2"])
        .add("left", "1.0.0", &["base@^1.1"])
        .add("right", "1.0.0", &["base@^1"])
        .add("right", "2.0.0", &["base@>=1.0, <1.3"])
        .add("right", "2.1.0", &["base@^2"])
        .add("base", "1.0.0", &[])
        .add("base", "1.1.0", &[])
        .add("base", "1.2.5", &[])
        .add("base", "1.3.0", &[])
        .add("base", "2.0.0", &[]);
    let out = resolve(&reg, &roots(&["top"]), &Options::default()).unwrap();
    // right 2.1.0 needs base ^2, which left cannot take: right 2.0.0.
    assert_eq!(
        versions(&out),
        map(&[
            ("base", "1.2.5"),
            ("left", "1.0.0"),
            ("right", "2.0.0"),
            ("top", "1.0.0"),
        ])
    );
}

#[test]
fn invalid_dependency_string_makes_that_version_unusable() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &[])
        .add("app", "1.1.0", &["lib=1.0"])
        .add("lib", "1.0.0", &[]);
    let out = resolve(&reg, &roots(&["app"]), &Options::default()).unwrap();
    assert_eq!(versions(&out), map(&[("app", "1.0.0")]));

    let err = resolve(&reg, &roots(&["app@=1.1.0"]), &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("app 1.1.0 cannot be used"), "{msg}");
    assert!(msg.contains("lib@=1.0"), "{msg}");
}

#[test]
fn no_deps_resolves_only_the_request() {
    let mut reg = Registry::default();
    reg.add("app", "1.0.0", &["ghost"]);
    let opts = Options {
        no_deps: true,
        ..Options::default()
    };
    let out = resolve(&reg, &roots(&["app"]), &opts).unwrap();
    assert_eq!(versions(&out), map(&[("app", "1.0.0")]));
}

#[test]
fn source_error_is_reported_with_the_ref() {
    #[derive(Debug, thiserror::Error)]
    #[error("registry unreachable")]
    struct Down;
    struct Broken;
    impl Candidates for Broken {
        type Error = Down;
        fn versions(&self, _: &str) -> Result<Vec<Candidate>, Down> {
            Err(Down)
        }
    }
    let err = resolve(&Broken, &roots(&["app"]), &Options::default()).unwrap_err();
    assert!(
        matches!(&err, ResolveError::Candidates { pack_ref, .. } if pack_ref == "app"),
        "{err:?}"
    );
    // The cause is carried as the source, not repeated in the text.
    assert_eq!(err.to_string(), "cannot read the versions of `app`");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("registry unreachable"));
}

/// `big` with 10,000 versions (0.0.0 ... 9.99.9) and `req0` ... `reqN`,
/// each one version that constrains `big` with a range of its own: the
/// graph a registry can use to make resolution slow (issue 20, section 9).
struct ManyVersions {
    requirers: usize,
    extra: Option<String>,
    calls: std::cell::RefCell<BTreeMap<String, usize>>,
}

impl ManyVersions {
    fn new(requirers: usize) -> Self {
        ManyVersions {
            requirers,
            extra: None,
            calls: Default::default(),
        }
    }

    fn candidate(r: &str, v: &str, deps: &[String]) -> Candidate {
        Candidate {
            pack_ref: r.parse().unwrap(),
            version: v.parse().unwrap(),
            dependencies: deps.iter().map(|d| Dependency::parse(d).unwrap()).collect(),
            yanked: false,
            unusable: None,
        }
    }
}

impl Candidates for ManyVersions {
    type Error = Infallible;
    fn versions(&self, r: &str) -> Result<Vec<Candidate>, Infallible> {
        *self.calls.borrow_mut().entry(r.to_owned()).or_default() += 1;
        if r == "big" {
            // Newest first, as an index lists them.
            let mut out = Vec::new();
            for major in (0..10).rev() {
                for minor in (0..100).rev() {
                    for patch in (0..10).rev() {
                        out.push(Self::candidate(
                            "big",
                            &format!("{major}.{minor}.{patch}"),
                            &[],
                        ));
                    }
                }
            }
            return Ok(out);
        }
        if r == "extra" {
            return Ok(self
                .extra
                .iter()
                .map(|d| Self::candidate("extra", "1.0.0", std::slice::from_ref(d)))
                .collect());
        }
        let i: usize = r.strip_prefix("req").unwrap().parse().unwrap();
        assert!(i < self.requirers);
        let d = format!("big@>={}.{i}.0, <9.{}.0", i % 10, 99 - i);
        Ok(vec![Self::candidate(r, "1.0.0", &[d])])
    }
}

#[test]
fn forty_packs_constraining_one_pack_of_ten_thousand_versions_resolve_to_the_newest_that_fits_all()
{
    let source = ManyVersions::new(40);
    let asked: Vec<String> = (0..40).map(|i| format!("req{i}")).collect();
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let out = resolve(&source, &roots(&asked), &Options::default()).unwrap();
    let got = versions(&out);
    assert_eq!(got["big"], "9.59.9", "the lowest upper bound is <9.60.0");
    assert_eq!(got.len(), 41);
    // Each ref's versions were asked for once.
    assert!(
        source.calls.borrow().values().all(|n| *n == 1),
        "{:?}",
        source.calls.borrow()
    );
}

#[test]
fn a_conflict_over_ten_thousand_versions_is_explained_in_a_few_lines() {
    let mut source = ManyVersions::new(40);
    source.extra = Some("big@<1".into());
    let mut asked: Vec<String> = (0..40).map(|i| format!("req{i}")).collect();
    asked.push("extra".into());
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let err = resolve(&source, &roots(&asked), &Options::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ResolveError::NoSolution(_)), "{text}");
    assert!(text.contains("extra") && text.contains("big"), "{text}");
    assert!(
        text.len() < 20_000,
        "{} bytes:\n{}",
        text.len(),
        &text[..2000]
    );
}
