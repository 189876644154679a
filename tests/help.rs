//! The rendered `--help` of every command, compared with insta snapshots, and every example
//! command line in it parsed by the real CLI definition.

use clap::{CommandFactory, Parser};
use gather::cli::Cli;

/// Every command's path from the top (`[]`, `["fetch"]`, `["summary", "merge"]`, ...).
fn command_paths(command: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    if command.is_hide_set() {
        return;
    }
    out.push(path.clone());
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = path.clone();
        path.push(sub.get_name().to_owned());
        command_paths(sub, path, out);
    }
}

/// `gather PATH --help` as printed (no color, 100 columns).
fn rendered_help(path: &[String]) -> String {
    let mut command = Cli::command().term_width(100);
    command.build();
    let mut command = &mut command;
    for name in path {
        command = command.find_subcommand_mut(name).unwrap();
    }
    command.render_long_help().to_string()
}

fn all_helps() -> Vec<(Vec<String>, String)> {
    let mut paths = Vec::new();
    command_paths(&Cli::command(), Vec::new(), &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let help = rendered_help(&path);
            (path, help)
        })
        .collect()
}

#[test]
fn every_commands_help_matches_its_snapshot() {
    for (path, help) in all_helps() {
        let name = if path.is_empty() {
            "gather".to_owned()
        } else {
            format!("gather-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, help);
    }
}

#[test]
fn help_shows_braces_and_line_continuations_as_written() {
    let fetch = rendered_help(&["fetch".to_owned()]);
    assert!(fetch.contains("and {n}, the item's"), "{fetch}");
    assert!(fetch.contains("--name '{n}.json'"), "{fetch}");
    assert!(!fetch.contains('\x1b'));
    for (path, help) in all_helps() {
        for line in help
            .lines()
            .filter(|line| line.trim_start().starts_with("gather "))
        {
            assert!(
                line.len() < 100,
                "{path:?}: an example line too long: {line}"
            );
        }
    }
}

/// The example command lines of `help`: `\` continuations joined, comments cut, and the
/// `gather ...` part of a pipeline.
fn examples(help: &str) -> Vec<Vec<String>> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in help.lines() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .iter()
        .filter(|line| !line.starts_with("Usage:") && !line.contains("<COMMAND>"))
        .filter_map(|line| {
            let words = shlex::split(line)?;
            // A command line: `gather` first, or after a pipe; not prose that names gather.
            let start = (0..words.len())
                .find(|&i| words[i] == "gather" && (i == 0 || words[i - 1] == "|"))?;
            let end = words[start..]
                .iter()
                .position(|word| {
                    word.starts_with('#') || word == "|" || word == ">" || word == ">>"
                })
                .map_or(words.len(), |i| start + i);
            Some(words[start..end].to_vec())
        })
        .collect()
}

#[test]
fn every_example_in_the_help_parses() {
    let mut count = 0;
    for (path, help) in all_helps() {
        for example in examples(&help) {
            if let Err(e) = Cli::try_parse_from(&example) {
                panic!("{path:?}: `{}` does not parse:\n{e}", example.join(" "));
            }
            count += 1;
        }
    }
    assert!(count >= 20, "only {count} examples found");
}

#[test]
fn completions_for_every_shell_and_man_pages_are_printed() {
    let gather = || assert_cmd::Command::cargo_bin("gather").unwrap();
    for (shell, marker) in [
        ("bash", "_gather()"),
        ("zsh", "#compdef gather"),
        ("fish", "complete -c gather"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = gather().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker}");
        assert!(script.contains("oauth2-bearer"), "{shell}");
    }
    let page = gather().args(["man", "fetch"]).output().unwrap();
    assert!(page.status.success());
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(page.contains(".TH gather-fetch 1"), "{page}");
    assert!(page.contains("{n}, the item"), "{page}");
    assert!(!page.contains('\x1b'));
    gather().args(["man", "nope"]).assert().code(2);
    gather().args(["completions", "tcsh"]).assert().code(2);
}
