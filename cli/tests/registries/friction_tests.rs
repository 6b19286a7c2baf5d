//! What a newcomer hit (issue 14), each checked as a person sees it: the
//! output and the exit code. `info` says who made a pack and what it holds;
//! `search` lines up; `registry add` can be run twice; `list` keeps its
//! FROM column short; `outdated` hints only when it has something to say;
//! `uninstall --force` warns in plain words.

use std::path::Path;

use serde_json::json;

use crate::install_tests::{digest, git_pack};
use crate::root_tests::{Site, at};
use crate::{Knap, entry, index, write_json};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A knap with a local registry `local` holding `entries`.
fn local_registry(entries: Vec<serde_json::Value>) -> Knap {
    let k = Knap::new();
    let file = k.dir.path().join("site/index.json");
    write_json(&file, &index("Local", entries));
    k.run(&["registry", "add", "local", s(&file)]).ok();
    k
}

#[test]
fn info_shows_author_license_homepage_and_contents() {
    let mut e = entry("jira", "1.2.0", &[]);
    e["email"] = json!("dev@example.org");
    e["homepage"] = json!("https://jira.example.org/pack");
    e["repository"] = json!("https://github.com/example/jira");
    e["license"] = json!("MIT");
    e["contents"] = json!({
        "actions": [
            {"name": "create_issue", "description": "Create an issue"},
            {"name": "close_issue", "description": "Close an issue"},
        ],
        "sensors": [{"name": "issue_sensor", "description": "Watch issues"}],
        "triggers": [], "rules": [], "workflows": [],
    });
    let k = local_registry(vec![entry("jira", "1.0.0", &[]), e]);
    let o = k.run(&["--color", "never", "info", "jira"]).ok();
    let out = &o.stdout;
    for line in [
        "  author: Test Author <dev@example.org>",
        "  license: MIT",
        "  homepage: https://jira.example.org/pack",
        "  repository: https://github.com/example/jira",
        "  contents of 1.2.0:",
        "    2 actions: create_issue, close_issue",
        "    1 sensor: issue_sensor",
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` missing:\n{out}");
    }
    // A requirement picks the version described.
    let o = k.run(&["--color", "never", "info", "jira@=1.0.0"]).ok();
    assert!(
        o.stdout.lines().any(|l| l == "  license: Apache-2.0"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("  contents of 1.0.0: none listed"),
        "{}",
        o.stdout
    );
    let v = k.run(&["info", "jira", "--json"]).ok().json();
    let newest = &v["versions"][1];
    assert_eq!(newest["author"], "Test Author");
    assert_eq!(newest["license"], "MIT");
    assert_eq!(newest["homepage"], "https://jira.example.org/pack");
    assert_eq!(newest["contents"]["actions"][0]["name"], "create_issue");
}

#[test]
fn search_columns_line_up_across_registries_of_any_name_length() {
    let k = Knap::new();
    for (name, r, version) in [
        ("a", "core", "1.0.0"),
        ("long-registry-name", "netbox", "10.20.30"),
    ] {
        let file = k.dir.path().join(format!("{name}/index.json"));
        write_json(&file, &index(name, vec![entry(r, version, &[])]));
        k.run(&["registry", "add", name, s(&file)]).ok();
    }
    let o = k.run(&["--color", "never", "search"]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[0].starts_with("REF "), "{}", o.stdout);
    let column = |l: &str, word: &str| l.find(word).unwrap_or_else(|| panic!("{word} in {l}"));
    let desc = lines[0].find("DESCRIPTION").unwrap();
    assert_eq!(column(lines[1], "Does core things"), desc, "{}", o.stdout);
    assert_eq!(column(lines[2], "Does netbox things"), desc, "{}", o.stdout);
    let reg = lines[0].find("REGISTRY").unwrap();
    assert_eq!(column(lines[1], "[a]"), reg, "{}", o.stdout);
    assert_eq!(
        column(lines[2], "[long-registry-name]"),
        reg,
        "{}",
        o.stdout
    );
}

#[test]
fn registry_add_run_twice_is_a_no_op_other_flags_are_applied_and_another_url_is_refused() {
    let k = Knap::new();
    let dir = k.dir.path().join("reg");
    write_json(
        &dir.join("index.json"),
        &index("Reg", vec![entry("core", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "mine", s(&dir)]).ok();
    let before = std::fs::read(k.config()).unwrap();
    let o = k.run(&["registry", "add", "mine", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout
            .contains("registry `mine` is already configured with")
            && o.stdout.contains("nothing changed"),
        "{}",
        o.stdout
    );
    assert_eq!(
        std::fs::read(k.config()).unwrap(),
        before,
        "the config is untouched"
    );
    let v = k
        .run(&["registry", "add", "mine", s(&dir), "--json"])
        .ok()
        .json();
    assert_eq!(v["unchanged"], true);
    // Another priority or token is applied, and said.
    let o = k
        .run(&[
            "registry",
            "add",
            "mine",
            s(&dir),
            "--priority",
            "5",
            "--token-env",
            "MINE_TOKEN",
        ])
        .ok();
    assert!(
        o.stdout.contains("updated registry `mine`")
            && o.stdout.contains("priority 100 -> 5")
            && o.stdout.contains("token from $MINE_TOKEN"),
        "{}",
        o.stdout
    );
    let v = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(v[0]["priority"], 5, "{v}");
    assert_eq!(v[0]["token_env"], "MINE_TOKEN", "{v}");
    let before = std::fs::read(k.config()).unwrap();

    let other = k.dir.path().join("other");
    write_json(&other.join("index.json"), &index("Other", vec![]));
    let o = k.run(&["registry", "add", "mine", s(&other)]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains("already exists with the URL"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("knap registry remove mine"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(k.config()).unwrap(), before);
}

#[test]
fn list_shortens_a_git_url_in_the_from_column_and_v_or_json_show_it_whole() {
    let work = tempfile::tempdir().unwrap();
    let (pack, sha1) = git_pack(work.path(), "gitlisted", "0.2.0");
    let file_url = url::Url::from_directory_path(&pack).unwrap().to_string();
    let k = Knap::new();
    let root = k.dir.path().join("root");
    k.run(&[
        "--root",
        s(&root),
        "install",
        &format!("git+{file_url}#{sha1}"),
    ])
    .ok();
    assert_eq!(digest(&root.join("gitlisted")), digest(&pack));

    let o = at(&k, &root, &["--color", "never", "list"]).ok();
    let short = format!("git file:///…/gitlisted-0.2.0#{}", &sha1[..7]);
    assert!(o.stdout.contains(&short), "{}", o.stdout);
    assert!(
        !o.stdout.contains(&sha1),
        "the full commit only with -v:\n{}",
        o.stdout
    );
    let widest = o.stdout.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 100, "a line of {widest} characters:\n{}", o.stdout);

    let o = at(&k, &root, &["--color", "never", "-v", "list"]).ok();
    assert!(
        o.stdout.contains(&format!("git {file_url}#{sha1}")),
        "{}",
        o.stdout
    );
    let v = at(&k, &root, &["list", "--json"]).ok().json();
    assert_eq!(v["packs"][0]["source"]["url"], file_url.as_str());
}

#[test]
fn outdated_hints_at_latest_only_when_it_is_beyond_wanted() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    at(&k, &root, &["install", "core@^1"]).ok();
    site.publish("core", "1.1.0", &[], &[]);
    let o = at(&k, &root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("core  1.0.0    1.1.0   1.1.0"),
        "{}",
        o.stdout
    );
    assert!(
        !o.stdout.contains("beyond"),
        "WANTED = LATEST: {}",
        o.stdout
    );
    assert!(
        o.stdout.contains("`knap upgrade` installs WANTED"),
        "{}",
        o.stdout
    );

    site.publish("core", "2.0.0", &[], &[]);
    let o = at(&k, &root, &["--color", "never", "outdated"]).ok();
    assert!(o.stdout.contains("1.1.0   2.0.0"), "{}", o.stdout);
    assert!(o.stdout.contains("for LATEST beyond it"), "{}", o.stdout);
}

#[test]
fn uninstall_force_prints_a_plain_warning() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("app", "1.0.0", &["core@^1"], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    at(&k, &root, &["install", "app"]).ok();
    let o = at(&k, &root, &["--color", "never", "uninstall", "core"]);
    assert_eq!(o.code, 3, "{o:?}");
    let o = at(
        &k,
        &root,
        &["--color", "never", "uninstall", "core", "--force"],
    )
    .ok();
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("warning: --force: ") && l.contains("knap doctor")),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains(" WARN"),
        "no tracing-style line: {}",
        o.stderr
    );
    assert!(o.stdout.contains("removed core"), "{}", o.stdout);
    let o = at(&k, &root, &["-q", "uninstall", "app"]).ok();
    assert_eq!(o.stderr, "");
}

/// Two local registries: `mine` lists diskwatch (needing hello@^1),
/// `example` lists hello.
fn mine_and_example() -> Knap {
    let k = Knap::new();
    let mine = k.dir.path().join("mine/index.json");
    write_json(
        &mine,
        &index("Mine", vec![entry("diskwatch", "1.0.0", &["hello@^1"])]),
    );
    let example = k.dir.path().join("example/index.json");
    write_json(
        &example,
        &index("Example", vec![entry("hello", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "mine", s(&mine)]).ok();
    k.run(&["registry", "add", "example", s(&example)]).ok();
    k
}

#[test]
fn install_with_registry_says_it_restricts_dependencies_and_who_provides_them() {
    let k = mine_and_example();
    let root = k.dir.path().join("root");
    let o = at(&k, &root, &["install", "diskwatch", "--registry", "mine"]);
    assert_eq!(o.code, 3, "{o:?}");
    for words in [
        "registry `mine` provides no pack named `hello` (required by diskwatch 1.0.0)",
        "`--registry mine` restricts the dependencies too",
        "registry `example` provides `hello`",
        "drop `--registry`",
    ] {
        assert!(o.stderr.contains(words), "`{words}` missing: {}", o.stderr);
    }
    let o = k.run(&["info", "hello", "--registry", "mine"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains("`--registry mine` hides it: registry `example` provides `hello`"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_mistyped_or_miscased_ref_gets_the_nearest_refs_across_registries() {
    let k = mine_and_example();
    let root = k.dir.path().join("root");
    let o = at(&k, &root, &["install", "diskwach"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains("did you mean `diskwatch` (registry `mine`)?"),
        "{}",
        o.stderr
    );
    let o = at(&k, &root, &["install", "helo"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains("did you mean `hello` (registry `example`)?"),
        "{}",
        o.stderr
    );
    let o = k.run(&["info", "diskwach"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains("did you mean `diskwatch` (registry `mine`)?"),
        "{}",
        o.stderr
    );
    let o = at(&k, &root, &["install", "kubernetes"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        !o.stderr.contains("did you mean"),
        "nothing near: {}",
        o.stderr
    );

    // Another case: the ref, and no path unless one exists.
    let cwd = tempfile::tempdir().unwrap();
    let run_in = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_knap"));
        c.args(["--root", s(&root)])
            .args(args)
            .current_dir(cwd.path());
        k.isolate(&mut c);
        c.output().unwrap()
    };
    let o = run_in(&["install", "Diskwatch"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("did you mean `diskwatch` (registry `mine`)?"),
        "{err}"
    );
    assert!(
        !err.contains("./Diskwatch"),
        "no such path, so none is suggested: {err}"
    );
    std::fs::create_dir(cwd.path().join("Diskwatch")).unwrap();
    let o = run_in(&["install", "Diskwatch"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("write it as a path: `./Diskwatch`"), "{err}");
}

#[test]
fn a_broken_local_pack_is_reported_at_its_own_path_and_a_new_root_is_not_left_behind() {
    let k = Knap::new();
    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken/num");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("pack.yaml"),
        "ref: num\nversion: 1.0\nauthor: A\n",
    )
    .unwrap();
    let root = k.dir.path().join("root3");
    let o = at(&k, &root, &["install", s(&broken)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "{}: invalid pack manifest",
            broken.join("pack.yaml").display()
        )),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("field `version`"), "{}", o.stderr);
    assert!(!o.stderr.contains("staging"), "{}", o.stderr);
    assert!(!root.exists(), "the failed install made no root");

    // In an archive: named as the archive's pack.yaml, not the staging path.
    let pack = crate::install_tests::make_pack(work.path(), "num", "1.0.0", &[]);
    std::fs::write(
        pack.join("pack.yaml"),
        "ref: num\nversion: 1.0\nauthor: A\n",
    )
    .unwrap();
    let archive = work.path().join("num.tar.gz");
    std::fs::write(&archive, crate::install_tests::tar_gz(&pack)).unwrap();
    let o = at(&k, &root, &["install", s(&archive)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("pack.yaml: invalid pack manifest"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("staging"), "{}", o.stderr);
    assert!(!root.exists());

    // A root that was there keeps what it had.
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("notes.txt"), "mine").unwrap();
    let o = at(&k, &root, &["install", s(&broken)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// Marks `r` `version` yanked in the site's index.
fn yank(site: &mut Site, r: &str, version: &str) {
    let key = (r.to_owned(), semver::Version::parse(version).unwrap());
    site.entries.get_mut(&key).unwrap()["yanked"] = json!(true);
    let entries: Vec<serde_json::Value> = site.entries.values().cloned().collect();
    write_json(&site.dir.path().join("index.json"), &index("Site", entries));
}

#[test]
fn a_yanked_install_is_reported_by_outdated_and_upgrade_says_downgraded_and_why() {
    let mut site = Site::new();
    site.publish("p", "1.0.0", &[], &[]);
    site.publish("p", "1.1.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    at(&k, &root, &["install", "p"]).ok();
    yank(&mut site, "p", "1.1.0");

    let o = at(&k, &root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("p    1.1.0 (yanked)  1.0.0"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr
            .contains("warning: p 1.1.0 is yanked: `knap upgrade p` moves it to 1.0.0"),
        "{}",
        o.stderr
    );
    assert!(!o.stdout.contains("up to date"), "{}", o.stdout);
    let v = at(&k, &root, &["outdated", "--json"]).ok().json();
    assert_eq!(v["packs"][0]["yanked"], true);
    assert_eq!(v["packs"][0]["outdated"], true);

    let o = at(&k, &root, &["--color", "never", "upgrade"]).ok();
    assert!(
        o.stdout
            .contains("downgraded p 1.1.0 -> 1.0.0 (1.1.0 was yanked)"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("upgraded"), "{}", o.stdout);
    let o = at(&k, &root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("the installed pack is up to date"),
        "{}",
        o.stdout
    );

    let o = at(&k, &root, &["--color", "never", "install", "p@=1.1.0"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("you asked for p@=1.1.0, which only the yanked p 1.1.0 satisfies: a yanked version is installed only when knap.lock already names it (available: 1.0.0; yanked, so not chosen: 1.1.0)"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("))"), "no nested brackets: {}", o.stderr);
}

#[test]
fn update_says_one_pack_and_one_version_in_the_singular() {
    let k = local_registry(vec![entry("core", "1.0.0", &[])]);
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(o.stdout.contains("1 version of 1 pack"), "{}", o.stdout);
    assert!(
        !o.stdout.contains("1 packs") && !o.stdout.contains("1 versions"),
        "{}",
        o.stdout
    );
    let k = local_registry(vec![
        entry("core", "1.0.0", &[]),
        entry("core", "1.1.0", &[]),
    ]);
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(o.stdout.contains("2 versions of 1 pack"), "{}", o.stdout);
}

#[test]
fn git_errors_name_the_commit_or_the_repository_with_the_right_exit_code() {
    let work = tempfile::tempdir().unwrap();
    let (pack, _) = git_pack(work.path(), "gp", "1.0.0");
    let not_git = work.path().join("not-git");
    std::fs::create_dir(&not_git).unwrap();
    let k = Knap::new();
    let root = k.dir.path().join("root");
    let missing = "a".repeat(40);
    let url = |p: &Path| url::Url::from_directory_path(p).unwrap().to_string();

    let o = at(
        &k,
        &root,
        &["install", &format!("git+{}#{missing}", url(&pack))],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("commit {missing} is not in {}", url(&pack))),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("An object with id"), "{}", o.stderr);

    let o = at(
        &k,
        &root,
        &["install", &format!("git+{}#{missing}", url(&not_git))],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("{} is not a git repository", url(&not_git))),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("Could not verify"), "{}", o.stderr);

    let gone = work.path().join("gone");
    let o = at(
        &k,
        &root,
        &[
            "install",
            &format!("git+file://{}#{missing}", gone.display()),
        ],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("is not a git repository") && o.stderr.contains("does not exist"),
        "{}",
        o.stderr
    );

    // A server that cannot be reached is a network failure (exit 5), with the URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let down = format!("http://127.0.0.1:{port}/repo.git");
    let o = at(&k, &root, &["install", &format!("git+{down}#{missing}")]);
    assert_eq!(o.code, 5, "{o:?}");
    assert!(o.stderr.contains(&down), "{}", o.stderr);
    assert!(!root.exists(), "nothing was installed");
}

#[test]
fn registry_add_reads_the_registry_first_and_refuses_one_it_cannot_read() {
    let k = Knap::new();
    let nowhere = k.dir.path().join("does-not-exist");
    let o = k.run_exactly(&["registry", "add", "bad", s(&nowhere)]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("cannot read registry `bad`"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("it was not added"), "{}", o.stderr);
    assert!(o.stderr.contains("--no-fetch"), "{}", o.stderr);
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list, json!([]), "nothing was added");

    // --no-fetch adds it unread (offline set-up).
    let o = k
        .run(&["registry", "add", "bad", s(&nowhere), "--no-fetch"])
        .ok();
    assert!(o.stdout.contains("without reading it"), "{}", o.stdout);
    k.run(&["registry", "remove", "bad"]).ok();

    // A readable one is read once, which fills the cache.
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let o = k
        .run_exactly(&["registry", "add", "site", &site.server.url("/")])
        .ok();
    assert!(o.stdout.contains("added registry `site`"), "{}", o.stdout);
    assert!(!o.stdout.contains("without reading it"), "{}", o.stdout);
    let requests = site.server.requests().len();
    assert!(requests >= 1, "read once at add");
    let hits = k
        .run(&["--offline", "search", "core", "--json"])
        .ok()
        .json();
    assert_eq!(hits[0]["ref"], "core", "the cache was filled");
}

#[test]
fn a_git_registry_with_relative_archive_urls_is_flagged_at_update_and_in_info() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let mut rel = entry("relpack", "1.0.0", &[]);
    rel["install_sources"][0]["url"] = json!("archives/relpack-1.0.0.tar.gz");
    write_json(
        &work.join("index.json"),
        &index("Git", vec![entry("core", "1.0.0", &[]), rel]),
    );
    crate::git(&work, &["init", "-q"]);
    crate::git(&work, &["add", "index.json"]);
    crate::git(&work, &["commit", "-q", "-m", "index"]);
    crate::git(tmp.path(), &["clone", "-q", "--bare", "work", "index.git"]);
    let k = Knap::new();
    let url = format!("git+file://{}", tmp.path().join("index.git").display());
    k.run(&["registry", "add", "gitreg", &url]).ok();
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(
        o.stderr
            .contains("warning: registry `gitreg`: 1 version names an archive by a relative URL"),
        "{}",
        o.stderr
    );
    let o = k.run(&["--color", "never", "info", "relpack"]).ok();
    assert!(
        o.stdout
            .contains("source: archive archives/relpack-1.0.0.tar.gz")
            && o.stdout.contains(
                "[a relative URL in a git registry: nothing serves it, so install fails]"
            ),
        "{}",
        o.stdout
    );
    let o = k.run(&["--color", "never", "info", "core"]).ok();
    assert!(!o.stdout.contains("relative URL"), "{}", o.stdout);
}

#[test]
fn a_request_no_version_matches_says_so_once_with_the_versions_once() {
    let k = local_registry(vec![
        entry("diskwatch", "1.0.0", &[]),
        entry("diskwatch", "1.2.0", &[]),
    ]);
    let root = k.dir.path().join("root");
    let o = at(&k, &root, &["--color", "never", "install", "diskwatch@9"]);
    assert_eq!(o.code, 3, "{o:?}");
    let err = &o.stderr;
    assert_eq!(
        err.matches("no available version of diskwatch satisfies")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.matches("you asked for diskwatch@^9").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("1.0.0, 1.2.0").count(), 1, "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    // What to do is a hint of its own, naming the pack.
    assert!(
        err.contains(
            "\nhint: ask for one of the available versions (`knap info diskwatch` lists them)"
        ),
        "{err}"
    );
    // --json: the same explanation once, the hint apart.
    let o = at(&k, &root, &["--json", "install", "diskwatch@9"]);
    assert_eq!(o.code, 3, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(o.stderr.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "not_found");
    let message = v["error"]["message"].as_str().unwrap();
    assert_eq!(message.matches("1.0.0, 1.2.0").count(), 1, "{message}");
    assert!(!message.contains("hint"), "{message}");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("knap info diskwatch")
    );
}

#[test]
fn a_down_sparse_server_is_named_once_and_cannot_connect_said_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut k = Knap::new();
    k.set("KNAP_HTTP_RETRIES", "0");
    let url = format!("http://127.0.0.1:{port}/");
    k.run(&["registry", "add", "down", &format!("sparse+{url}")])
        .ok();
    let root = k.dir.path().join("root");
    let config = format!("{url}config.json");
    for args in [
        &["install", "diskwatch"][..],
        &["search", "disk"],
        &["update"],
    ] {
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        let o = at(&k, &root, &all);
        assert_eq!(o.code, 5, "{args:?}: {o:?}");
        let err = &o.stderr;
        assert_eq!(err.matches(&config).count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("cannot connect").count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("registry `down`").count(), 1, "{args:?}: {err}");
    }
    // registry add of a server that is down: refused, the cause once.
    let o = k.run_exactly(&["registry", "add", "down2", &format!("sparse+{url}")]);
    assert_eq!(o.code, 5, "{o:?}");
    assert_eq!(o.stderr.matches(&config).count(), 1, "{}", o.stderr);
    assert_eq!(
        o.stderr.matches("cannot connect").count(),
        1,
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("it was not added"), "{}", o.stderr);
}
