//! The optional TOML settings file, read and checked against the catalogue, its values turned
//! into the text of the environment variables they stand for, so every rule that validates the
//! environment validates the file too.
//!
//! Unknown sections and keys and values of the wrong TOML type are refused, all of them at once,
//! each named with the file. No message repeats a value from the file: it may be a secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::catalogue::{self, Kind, SettingKey};

/// A settings file that passed the checks: environment variable → value text.
#[derive(Debug)]
pub(crate) struct SettingsFile {
    path: PathBuf,
    values: HashMap<&'static str, String>,
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Missing, a directory, not readable, or not UTF-8.
    #[error("cannot read settings file {}: {error}", path.display())]
    Unreadable {
        /// The file named by `--config` or `ODEADEV_CONFIG`.
        path: PathBuf,
        /// Why it could not be read (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// Not valid TOML.
    #[error("settings file {} is not valid TOML: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's complaint and where (line and column, never the text there).
        reason: String,
    },
    /// Valid TOML with keys, types or values the gateway does not take.
    #[error("{}", describe_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every key that is wrong, sorted by key.
        problems: Vec<KeyProblem>,
    },
}

/// One key of the file that is unknown, has the wrong type or a value that is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key as written, `section.key` (or the section alone).
    pub key: String,
    /// The environment variable the key stands for, when it is a known key.
    pub var: Option<&'static str>,
    /// What is wrong with it.
    pub reason: String,
}

fn describe_problems(path: &Path, problems: &[KeyProblem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let named = match p.var {
                Some(var) => format!("{} ({var})", p.key),
                None => p.key.clone(),
            };
            format!(
                "invalid setting {named} in {}: {}",
                path.display(),
                p.reason
            )
        })
        .collect();
    lines.join("\n")
}

impl SettingsFile {
    /// Reads and checks the file at `path`.
    pub(crate) fn read(path: &Path) -> Result<SettingsFile, FileError> {
        let text = std::fs::read_to_string(path).map_err(|error| FileError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        SettingsFile::parse(path, &text)
    }

    /// Checks `text`, the contents of the file at `path`.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<SettingsFile, FileError> {
        let table: toml::Table = text.parse().map_err(|e| FileError::Syntax {
            path: path.to_path_buf(),
            reason: describe_syntax_error(text, &e),
        })?;
        let mut values = HashMap::new();
        let mut problems = Vec::new();
        for (section, body) in &table {
            if !catalogue::sections().contains(&section.as_str()) {
                problems.push(KeyProblem {
                    key: section.clone(),
                    var: None,
                    reason: format!(
                        "unknown section; the sections are {}",
                        catalogue::sections().join(", ")
                    ),
                });
                continue;
            }
            let Some(fields) = body.as_table() else {
                problems.push(KeyProblem {
                    key: section.clone(),
                    var: None,
                    reason: format!("must be a table: [{section}]"),
                });
                continue;
            };
            for (name, value) in fields {
                let key = format!("{section}.{name}");
                let Some(setting) = catalogue::by_key(section, name) else {
                    problems.push(KeyProblem {
                        key,
                        var: None,
                        reason: format!(
                            "unknown key; [{section}] takes {}",
                            catalogue::names_in(section).join(", ")
                        ),
                    });
                    continue;
                };
                match value_text(setting, value) {
                    Ok(text) => {
                        values.insert(setting.var, text);
                    }
                    Err(reason) => problems.push(KeyProblem {
                        key,
                        var: Some(setting.var),
                        reason,
                    }),
                }
            }
        }
        if !problems.is_empty() {
            return Err(FileError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok(SettingsFile {
            path: path.to_path_buf(),
            values,
        })
    }

    /// Where the file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The value the file gives the environment variable `var`, if it gives one; like a
    /// variable, an empty value counts as unset.
    pub(crate) fn get(&self, var: &str) -> Option<&str> {
        self.values
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// The text of the environment variable for a file value, or why the value has the wrong type.
fn value_text(setting: &SettingKey, value: &toml::Value) -> Result<String, String> {
    match setting.kind {
        Kind::Text => value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "must be a string".to_string()),
        Kind::Integer => value
            .as_integer()
            .map(|n| n.to_string())
            .ok_or_else(|| "must be an integer".to_string()),
        Kind::List => {
            let wrong = || "must be an array of strings".to_string();
            let items = value.as_array().ok_or_else(wrong)?;
            let texts: Option<Vec<&str>> = items.iter().map(toml::Value::as_str).collect();
            Ok(texts.ok_or_else(wrong)?.join(","))
        }
        Kind::Map => {
            let wrong = || "must be a table of strings, like { alloy = \"marcy\" }".to_string();
            let entries = value.as_table().ok_or_else(wrong)?;
            let mut pairs = Vec::with_capacity(entries.len());
            for (from, to) in entries {
                let to = to.as_str().ok_or_else(wrong)?;
                // The variable's form is `a=b,c=d`: these would change its meaning.
                if from.contains([',', '=']) || to.contains(',') {
                    return Err(format!("{from:?}: names cannot contain a comma or ="));
                }
                pairs.push(format!("{from}={to}"));
            }
            Ok(pairs.join(","))
        }
    }
}

/// The parser's message with the line and column it points at. The source line itself is left
/// out, as it may hold a secret.
fn describe_syntax_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(before) = error.span().and_then(|span| text.get(..span.start)) else {
        return message.to_string();
    };
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    format!("{message} at line {line}, column {column}")
}

#[cfg(test)]
mod tests;
