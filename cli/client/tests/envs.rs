//! What an embedding program learns of pack environments from an install
//! (Attune's API server installs with `no_envs` and leaves the builds to
//! its workers): the outcome names each environment the root's packs
//! need, its runtime, dependency files and directory, and nothing is
//! built. No index is needed: the pack is installed from its directory.

use knap_client::install::envs::Skipped;
use knap_client::{Client, Config, Env, Request, spec};
use knap_envs::Planned;
use knap_schema::env::Runtime;

#[tokio::test(flavor = "multi_thread")]
async fn a_no_envs_install_tells_which_environments_the_packs_need() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("src/p");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(pack.join("pack.yaml"), "ref: p\nversion: 1.0.0\n").unwrap();
    std::fs::write(pack.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    std::fs::write(
        pack.join("package.json"),
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"left-pad": "^1"}}"#,
    )
    .unwrap();
    let env = Env {
        cache_root: dir.path().join("cache"),
        offline: false,
        http: Default::default(),
        global_ca_file: None,
        reporter: knap_schema::progress::silent(),
    };
    let client = Client::new(Config::default(), env);
    let root = dir.path().join("root");
    let request = Request {
        specs: vec![spec::parse(pack.to_str().unwrap()).unwrap()],
        jobs: 1,
        no_envs: true,
        ..Request::default()
    };
    let outcome = client.install(&root, &request).await.unwrap();
    assert_eq!(outcome.installed.len(), 1);
    let envs = &outcome.envs;
    assert_eq!(envs.skipped, Some(Skipped::NoEnvs));
    assert_eq!(envs.envs_dir, root.join(".envs"));
    let needed: Vec<(String, Runtime, Vec<&str>, Planned)> = envs
        .needed
        .iter()
        .map(|e| {
            (
                e.pack.to_string(),
                e.runtime(),
                e.inputs.files.iter().map(|(n, _)| *n).collect(),
                e.state,
            )
        })
        .collect();
    assert_eq!(
        needed,
        [
            (
                "p".to_owned(),
                Runtime::Python,
                vec!["requirements.txt"],
                Planned::Build
            ),
            (
                "p".to_owned(),
                Runtime::Node,
                vec!["package.json"],
                Planned::Build
            ),
        ]
    );
    assert!(envs.needed[0].path.starts_with(root.join(".envs/p")));
    assert!(envs.ready.is_empty() && envs.failed.is_empty());
    assert!(!root.join(".envs").exists(), "nothing was built");
}
