//! `FLARE__SECTION__KEY` environment overrides, applied to the parsed TOML before it is read.

use super::problem::Problem;

/// `FLARE__SLACK__0__BOT_TOKEN=x` sets `slack[0].bot_token`.
pub(super) fn apply_env_override(
    root: &mut toml::Value,
    var: &str,
    value: &str,
    problems: &mut Vec<Problem>,
) {
    let parts: Vec<String> = var["FLARE__".len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if parts.iter().any(|p| p.is_empty()) {
        problems.push(Problem {
            key: var.to_string(),
            reason: "malformed override: use FLARE__SECTION__KEY".into(),
        });
        return;
    }
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = match node {
            toml::Value::Table(t) => {
                if last {
                    let parsed = match t.get(part) {
                        Some(toml::Value::String(_)) => parse_env_value(value, true),
                        _ => parse_env_value(value, false),
                    };
                    t.insert(part.clone(), parsed);
                    return;
                }
                let is_index = parts[i + 1].parse::<usize>().is_ok();
                t.entry(part.clone()).or_insert_with(|| {
                    if is_index {
                        toml::Value::Array(Vec::new())
                    } else {
                        toml::Value::Table(toml::Table::new())
                    }
                })
            }
            toml::Value::Array(a) => {
                let Ok(idx) = part.parse::<usize>() else {
                    problems.push(Problem {
                        key: var.to_string(),
                        reason: format!("`{part}` should be an index into a list"),
                    });
                    return;
                };
                if idx > a.len() {
                    problems.push(Problem {
                        key: var.to_string(),
                        reason: format!("index {idx} skips entries (the list has {})", a.len()),
                    });
                    return;
                }
                if idx == a.len() {
                    a.push(toml::Value::Table(toml::Table::new()));
                }
                if last {
                    a[idx] = parse_env_value(value, false);
                    return;
                }
                &mut a[idx]
            }
            _ => {
                problems.push(Problem {
                    key: var.to_string(),
                    reason: "overrides a key that is not a section".into(),
                });
                return;
            }
        };
        node = next;
    }
}

/// Environment values are TOML values when they parse as one (`true`, `5`, `["a","b"]`) and
/// plain strings otherwise; a key the file sets to a string stays a string. (A secret that looks
/// like a number belongs in a `*_file`, or quoted: `FLARE__X__PASSWORD='"1234"'`.)
fn parse_env_value(value: &str, prefer_string: bool) -> toml::Value {
    if prefer_string && !value.starts_with('[') {
        return toml::Value::String(value.to_string());
    }
    match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.into())),
        Err(_) => toml::Value::String(value.to_string()),
    }
}
