//! `check-config`: the effective settings, one per line, secrets redacted, each with where it
//! came from. Reaching it means every setting was valid.

use crate::config::LoadedSettings;

/// Prints `NAME = value  # origin` for every setting, names and values in aligned columns.
pub(super) fn print(loaded: &LoadedSettings) {
    let settings = loaded.effective();
    let name_width = settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let value_width = settings
        .iter()
        .map(|s| s.value.chars().count())
        .max()
        .unwrap_or(0);
    for setting in settings {
        println!(
            "{:name_width$} = {:value_width$}  # {}",
            setting.name, setting.value, setting.origin
        );
    }
}
