//! The README's examples say what the code does: each example that can run here is run and
//! compared with the text the README shows.

use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The text between the first pair of backticks after `marker`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let rest = &text[at + marker.len()..];
    let start = rest.find('`').expect("an opening backtick") + 1;
    let len = rest[start..].find('`').expect("a closing backtick");
    &rest[start..start + len]
}

#[test]
fn the_sla_json_example_is_the_exact_output() {
    let readme = readme();
    // The example's line: `flare sla --json <instant>` prints exactly one object:
    let line = readme
        .lines()
        .find(|l| l.starts_with("`flare sla --json "))
        .expect("README shows `flare sla --json <instant>`");
    let instant = line["`flare sla --json ".len()..]
        .split('`')
        .next()
        .expect("the instant");
    let shown = quoted_after(&readme, "prints exactly one object:");
    let out = Command::new(env!("CARGO_BIN_EXE_flare"))
        .args(["sla", "--json", instant])
        .env_remove("FLARE_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run flare");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), shown);
}
