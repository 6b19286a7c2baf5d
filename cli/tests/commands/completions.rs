//! `knap completions SHELL`: the scripts are generated for every shell, and
//! the bash one completes subcommands and values when bash runs it.

use std::process::Command;

use knap_test_support::prelude::*;

/// Sources the bash script and calls its completion function the way bash
/// does for `words` (the last one being completed); returns COMPREPLY.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("knap.bash");
    std::fs::write(&file, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let cur = words[cword];
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}' || exit 9\n\
         complete -p knap >/dev/null || exit 8\n\
         COMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _knap knap '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        file.display(),
        quoted.join(" "),
        words.join(" "),
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        o.status.success(),
        "bash: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let k = Knap::new();
    for (shell, marker) in [
        ("bash", "complete -F _knap"),
        ("zsh", "#compdef knap"),
        ("fish", "complete -c knap"),
        ("elvish", "edit:completion:arg-completer[knap]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = k.run(&["completions", shell]).ok();
        assert!(o.stdout.contains(marker), "{shell}: no `{marker}`");
        for sub in ["install", "registry", "outdated", "completions"] {
            assert!(o.stdout.contains(sub), "{shell}: `{sub}` is not completed");
        }
        assert_eq!(o.stderr, "", "{shell}");
    }
    // No configuration is read or written to print a script.
    assert!(!k.config().exists());
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    // The valid shells are listed.
    assert_out!(Knap::new().run(&["completions", "tcsh"]));
}

#[test]
fn the_bash_completion_completes_subcommands_and_values() {
    let script = Knap::new().run(&["completions", "bash"]).ok().stdout;
    assert_eq!(bash_complete(&script, &["knap", "ins"]), ["install"]);
    assert_eq!(
        bash_complete(&script, &["knap", "up"]),
        ["update", "upgrade"]
    );
    assert_eq!(
        bash_complete(&script, &["knap", "registry", "set"]),
        ["set-priority"]
    );
    let shells = bash_complete(&script, &["knap", "completions", ""]);
    for s in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(shells.iter().any(|x| x == s), "{s} not in {shells:?}");
    }
    let flags = bash_complete(&script, &["knap", "install", "--lo"]);
    assert!(flags.iter().any(|f| f == "--locked"), "{flags:?}");
}
