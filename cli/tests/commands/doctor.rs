//! `knap doctor` against this machine: installed packs state runtimes and
//! version requirements in the ways real packs do (see the corpus:
//! `runtime_deps`, StackStorm's `python_versions` and `stackstorm_version`,
//! the object form of `dependencies` with `python_version`); the report
//! must agree with what `python3 --version` and `node --version` say when
//! the test runs them itself, and probes must be cached until the
//! executable changes or `--refresh`.

use std::path::Path;
use std::process::Command;

use knap_test_support::prelude::*;
use serde_json::Value;

/// `major.minor.patch` from `CMD --version`, if CMD runs.
fn machine_version(cmd: &str) -> Option<semver::Version> {
    let o = Command::new(cmd).arg("--version").output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let word = text
        .split_whitespace()
        .find(|w| w.trim_start_matches('v').contains('.'))?;
    let mut parts: Vec<u64> = word
        .trim_start_matches('v')
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect();
    parts.resize(3, 0);
    Some(semver::Version::new(parts[0], parts[1], parts[2]))
}

/// An executable `name` in `dir` that prints `name version VERSION` and
/// leaves `name.ran` beside itself whenever it runs.
fn write_tool(dir: &Path, name: &str, version: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("#!/bin/sh\ntouch \"$0.ran\"\necho \"{name} version {version}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn check<'a>(report: &'a Value, pack: &str, field: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pack"] == pack && c["field"] == field)
        .unwrap_or_else(|| panic!("no {pack} {field} check in {report:#}"))
}

#[test]
fn doctor_checks_runtimes_and_versions_against_this_machine_and_caches_probes() {
    let mut site = Site::new();
    site.publish_with_manifest(
        "st2style",
        "1.0.0",
        &[],
        "python_versions:\n  - \"3\"\nstackstorm_version: \">=3.0.0\"\n",
        &[],
    );
    site.publish_with_manifest(
        "oldpy",
        "1.0.0",
        &[],
        "python_versions:\n  - \"4\"\n  - \"5\"\n",
        &[],
    );
    site.publish_with_manifest(
        "attunestyle",
        "1.0.0",
        &[],
        "runtime_deps:\n  - python3\n  - shell\n  - native\ndependencies:\n  python_version: \">=3.0\"\n",
        &[],
    );
    site.publish_with_manifest(
        "nodepack",
        "1.0.0",
        &["attunestyle@^1"],
        "runtime_deps:\n  - nodejs>=18\n  - knap-no-such-runtime\n  - ruby>=3.3\n  - mytool>=1.3\n",
        &[],
    );
    let mut k = site.knap();
    // `ruby` (a runtime knap knows: it runs `ruby --version`) and `mytool`
    // (one it does not: it only looks for it) are scripts of the test, ahead
    // of everything else on knap's PATH.
    let bin = tempfile::tempdir().unwrap();
    write_tool(bin.path(), "ruby", "3.2.9");
    write_tool(bin.path(), "mytool", "1.2.9");
    k.set(
        "PATH",
        &format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let root = k.dir.path().join("root");
    k.at(
        &root,
        &["install", "st2style", "oldpy", "nodepack", "attunestyle"],
    )
    .ok();

    let o = k.at(&root, &["doctor", "--json"]);
    assert_eq!(o.code, 1, "requirements are not met: {o:?}");
    assert!(o.stderr.contains("not met on this machine"), "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["ok"], false);

    // Python, as this machine has it.
    let py = machine_version("python3");
    let c = check(&r, "st2style", "python_versions");
    match &py {
        Some(v) => {
            assert_eq!(c["version"], v.to_string());
            assert_eq!(c["status"], if v.major == 3 { "ok" } else { "not met" });
        }
        None => assert_eq!(c["status"], "missing"),
    }
    let c = check(&r, "oldpy", "python_versions");
    assert_eq!(c["requirement"], "4, 5");
    assert_eq!(
        c["status"],
        if py.is_some() { "not met" } else { "missing" }
    );
    let c = check(&r, "attunestyle", "dependencies.python_version");
    assert_eq!(c["requirement"], ">=3.0");
    if let Some(v) = &py {
        assert_eq!(c["status"], if v.major >= 3 { "ok" } else { "not met" });
    }
    // StackStorm itself.
    let c = check(&r, "st2style", "stackstorm_version");
    assert_eq!(c["tool"], "st2");
    if machine_version("st2").is_none() {
        assert_eq!(c["status"], "missing");
    }
    // runtime_deps, one check each.
    let rows: Vec<&Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "runtime_deps")
        .collect();
    let status = |req: &str| {
        rows.iter()
            .find(|c| c["requirement"] == req)
            .unwrap_or_else(|| panic!("{req}"))["status"]
            .clone()
    };
    assert_eq!(status("shell"), "ok");
    assert_eq!(status("native"), "ok");
    assert_eq!(status("knap-no-such-runtime"), "missing");
    assert_eq!(status("ruby>=3.3"), "not met", "3.2.9 < 3.3");
    assert_eq!(status("mytool>=1.3"), "unknown");
    assert!(
        !bin.path().join("mytool.ran").exists(),
        "a program knap does not know is never run"
    );
    assert!(bin.path().join("ruby.ran").exists());
    match machine_version("node") {
        Some(v) => assert_eq!(
            status("nodejs>=18"),
            if v.major >= 18 { "ok" } else { "not met" }
        ),
        None => assert_eq!(status("nodejs>=18"), "missing"),
    }
    // A pack dependency, against what is installed.
    let c = check(&r, "nodepack", "pack dependency");
    assert_eq!(c["requirement"], "attunestyle@^1");
    assert_eq!(c["found"], "attunestyle 1.0.0");
    assert_eq!(c["status"], "ok");
    assert!(
        r["probes"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["cached"] == false)
    );

    // The human table says the same.
    let text = k.at(&root, &["doctor"]);
    assert_eq!(text.code, 1);
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains("knap-no-such-runtime"))
        .unwrap();
    assert!(
        line.starts_with("nodepack") && line.contains("missing"),
        "{line}"
    );
    assert!(text.stdout.lines().next().unwrap().starts_with("PACK"));

    // Cached: the second run probes nothing; a changed executable is
    // probed again; --refresh probes everything.
    let again = k.at(&root, &["doctor", "--json"]).json();
    assert!(
        again["probes"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["cached"] == true)
    );
    std::fs::remove_file(bin.path().join("ruby.ran")).unwrap();
    k.at(&root, &["doctor", "--json"]);
    assert!(
        !bin.path().join("ruby.ran").exists(),
        "a cached probe runs nothing"
    );
    write_tool(bin.path(), "ruby", "3.30.0");
    let changed = k.at(&root, &["doctor", "--json"]).json();
    assert_eq!(changed["probes"]["ruby"]["cached"], false);
    assert_eq!(changed["probes"]["ruby"]["version"], "3.30.0");
    assert_eq!(changed["probes"]["python3"]["cached"], true);
    let ruby = changed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["requirement"] == "ruby>=3.3")
        .unwrap();
    assert_eq!(ruby["status"], "ok");
    let fresh = k.at(&root, &["doctor", "--json", "--refresh"]).json();
    assert!(
        fresh["probes"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["cached"] == false)
    );

    // Only met requirements: exit 0.
    k.at(&root, &["uninstall", "nodepack", "oldpy", "st2style"])
        .ok();
    let o = k.at(&root, &["doctor"]);
    if py.is_some_and(|v| v.major >= 3) {
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.contains("0 not met"), "{}", o.stdout);
    }
}

/// What doctor says, against a PATH that holds only tools the test wrote
/// (so the report is the same on every machine): every kind of need (a
/// runtime by name and with a requirement, `python_versions`, a
/// `*_version` requirement, `native`, a pack dependency, one that is not
/// met and one that is missing), text and JSON; nothing installed.
#[test]
fn doctor_reports_each_need_met_not_met_or_missing() {
    let mut site = Site::new();
    site.publish("base", "1.0.0", &[], &[]);
    site.publish_with_manifest(
        "needy",
        "1.0.0",
        &["base@^1"],
        "runtime_deps:\n  - python3\n  - nodejs>=18\n  - native\n  - ruby@>=4\npython_versions:\n  - \"3\"\nstackstorm_version: \">=3.8\"\n",
        &[],
    );
    let mut k = site.knap_local();
    let bin = k.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_tool(&bin, "python3", "3.11.7");
    write_tool(&bin, "node", "20.1.0");
    write_tool(&bin, "ruby", "3.2.9");
    k.set("PATH", bin.to_str().unwrap());
    assert_out!("nothing_installed", k.run(&["doctor"]));
    k.run(&["install", "needy"]).ok();
    assert_out!("text", k.run(&["--color", "never", "doctor"]));
    assert_out!("json", k.run(&["--json", "doctor", "--refresh"]));
}

/// `--json` is a global flag: before the subcommand and after it alike,
/// the report is the JSON document and the error the JSON object, whose
/// message sends nobody "above" (the details are in the document).
#[test]
fn doctor_json_before_or_after_the_command_gives_one_error_without_see_above() {
    let mut site = Site::new();
    site.publish_with_manifest("needy", "1.0.0", &[], "runtime_deps:\n  - ruby@>=4\n", &[]);
    let mut k = site.knap_local();
    let bin = k.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_tool(&bin, "ruby", "3.2.9");
    k.set("PATH", bin.to_str().unwrap());
    k.run(&["install", "needy"]).ok();
    let before = k.run(&["--json", "doctor"]).code(1);
    let after = k.run(&["doctor", "--json"]).code(1);
    for o in [&before, &after] {
        assert_eq!(o.json()["ok"], false, "{o:?}");
        let e = o.error_json();
        assert_eq!(
            e["error"]["message"],
            "1 requirement of the installed packs is not met on this machine",
            "{o:?}"
        );
    }
    // The same report (the second run reads the probe from its cache).
    assert_eq!(before.json()["checks"], after.json()["checks"]);
    // In text, the table is above the error.
    let text = k.run(&["--color", "never", "doctor"]).code(1);
    assert!(
        text.stderr.contains(
            "1 requirement of the installed packs is not met on this machine (see above)"
        ),
        "{text:?}"
    );
}
