//! Where settings come from: defaults, then the optional settings file (`--config`, else
//! `ODEADEV_CONFIG`), then the environment, then `serve --bind`; and, for `check-config`,
//! where each effective value came from.
//!
//! The file is layered under the environment behind [`Env`], so [`Settings::load`] validates
//! both with the same rules; an error about a value from the file names its key and the file.

use std::fmt;
use std::path::{Path, PathBuf};

use super::catalogue::{SettingKey, SETTINGS};
use super::file::{FileError, KeyProblem, SettingsFile};
use super::{Env, SettingError, Settings};

/// The variable that names the settings file when `--config` is not given.
pub const CONFIG_VAR: &str = "ODEADEV_CONFIG";

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Nothing set it: the built-in default.
    Default,
    /// The settings file, under this `section.key`.
    File(&'static str),
    /// An environment variable.
    Environment,
    /// A command-line option (`--config`, `serve --bind`).
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(key) => write!(f, "file {key}"),
            Origin::Environment => f.write_str("environment"),
            Origin::CommandLine => f.write_str("command line"),
        }
    }
}

/// One effective setting as `check-config` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSetting {
    /// The environment variable.
    pub name: &'static str,
    /// Its effective value as the variable would spell it, secrets redacted.
    pub value: String,
    /// Where the value came from.
    pub origin: Origin,
}

/// Validated settings, with where each value came from.
#[derive(Debug)]
pub struct LoadedSettings {
    /// The settings themselves.
    pub settings: Settings,
    /// The settings file read, and what named it.
    file: Option<(PathBuf, Origin)>,
    /// The origin of each setting, in catalogue order.
    origins: Vec<Origin>,
}

impl LoadedSettings {
    /// Every setting with its effective value (secrets redacted) and origin: the settings file
    /// first, then the catalogue in order.
    pub fn effective(&self) -> Vec<EffectiveSetting> {
        let file = match &self.file {
            Some((path, origin)) => EffectiveSetting {
                name: CONFIG_VAR,
                value: path.display().to_string(),
                origin: *origin,
            },
            None => EffectiveSetting {
                name: CONFIG_VAR,
                value: "unset".to_string(),
                origin: Origin::Default,
            },
        };
        let settings =
            SETTINGS
                .iter()
                .zip(&self.origins)
                .map(|(setting, origin)| EffectiveSetting {
                    name: setting.var,
                    value: (setting.show)(&self.settings),
                    origin: *origin,
                });
        std::iter::once(file).chain(settings).collect()
    }
}

/// Settings that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read, is not TOML, or holds a key, type or value the
    /// gateway does not take.
    #[error(transparent)]
    File(#[from] FileError),
    /// A value from the environment (or the command line) is not valid.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// The environment over the settings file.
struct Layers<'a> {
    env: &'a dyn Env,
    file: Option<&'a SettingsFile>,
}

impl Env for Layers<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .or_else(|| self.file?.get(name).map(str::to_string))
    }
}

impl Layers<'_> {
    fn origin(&self, setting: &SettingKey) -> Origin {
        if self.env.get(setting.var).is_some() {
            Origin::Environment
        } else if self.file.and_then(|f| f.get(setting.var)).is_some() {
            Origin::File(setting.key)
        } else {
            Origin::Default
        }
    }
}

impl Settings {
    /// Reads the settings file named by `config_flag` (`--config`), else by `ODEADEV_CONFIG`,
    /// if either names one; layers `env` over it and `bind_override` (`serve --bind`) over
    /// both; and validates every setting as [`Settings::load`] does.
    pub fn load_layered(
        env: &dyn Env,
        config_flag: Option<&Path>,
        bind_override: Option<&str>,
    ) -> Result<LoadedSettings, ConfigError> {
        let named = match config_flag {
            Some(path) => Some((path.to_path_buf(), Origin::CommandLine)),
            None => env
                .get(CONFIG_VAR)
                .map(|path| (PathBuf::from(path.trim()), Origin::Environment)),
        };
        let file = named
            .as_ref()
            .map(|(path, _)| SettingsFile::read(path))
            .transpose()?;
        let layers = Layers {
            env,
            file: file.as_ref(),
        };
        let origins: Vec<Origin> = SETTINGS
            .iter()
            .map(|setting| match bind_override {
                Some(_) if setting.var == "ODEADEV_BIND" => Origin::CommandLine,
                _ => layers.origin(setting),
            })
            .collect();
        let settings = Settings::load(&layers, bind_override).map_err(|error| {
            let from_file = SETTINGS
                .iter()
                .zip(&origins)
                .find(|(setting, _)| setting.var == error.name);
            match (from_file, &file) {
                (Some((setting, Origin::File(key))), Some(file)) => {
                    ConfigError::File(FileError::Invalid {
                        path: file.path().to_path_buf(),
                        problems: vec![KeyProblem {
                            key: (*key).to_string(),
                            var: Some(setting.var),
                            reason: error.reason,
                        }],
                    })
                }
                _ => ConfigError::Setting(error),
            }
        })?;
        Ok(LoadedSettings {
            settings,
            file: named,
            origins,
        })
    }
}

#[cfg(test)]
mod tests;
