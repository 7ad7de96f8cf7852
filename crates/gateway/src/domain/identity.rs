//! Who holds an account: a user's display name and email, and the name and lifetime of each
//! of their API keys. Each type has one constructor, which applies the rule and names the
//! field that broke it.

use chrono::{DateTime, Duration, Utc};

use super::field::InvalidField;
use super::unicode::{folded, has_invisible, invisible_class, CONTROL, SPACE};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 200;
/// Longest key name, in characters.
pub const MAX_KEY_NAME: usize = 100;
/// Longest email, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest key lifetime an admin may give in days (about ten years).
pub const MAX_KEY_DAYS: i64 = 3650;

/// The rule of [`DisplayName`] and [`KeyName`] as a pattern (ECMA-262, for the API document):
/// no control character, and one character at least that is not white space.
pub fn printable_pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
}

/// The shape [`Email::parse`] checks, as a pattern for the API document: a local part and a
/// domain holding a dot not at either end, around one `@`, with no white space, control or
/// invisible character. (The length bound is on the folded form; see [`MAX_EMAIL`].)
pub fn email_pattern() -> String {
    let not = format!("@{CONTROL}{SPACE}{}", invisible_class());
    format!("^[^{not}]+@[^{not}.][^{not}]*\\.[^{not}]*[^{not}.]$")
}

/// `raw` trimmed, if it is 1 to `max` characters as sent with no control characters and not
/// all white space. The length is counted as sent, as the API document's `maxLength` is.
fn printable(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidField> {
    let value = raw.trim();
    if value.is_empty() || raw.chars().count() > max || raw.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_string())
}

/// A user's display name: 1 to 200 printable characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks and trims `raw` (field `name`).
    pub fn parse(raw: &str) -> Result<DisplayName, InvalidField> {
        printable("name", raw, MAX_DISPLAY_NAME).map(DisplayName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An email address of a plausible shape: one `@` with something before it, a dot inside the
/// domain, no spaces, control or invisible characters, at most 254 bytes. Nothing is sent to
/// it, so no more is checked. It is kept in its one folded form (trimmed, NFKC, lower case:
/// see `unicode::folded`), so that twins written another way (`ÉMILE@`, fullwidth letters, a
/// decomposed accent) are the same address, and the database's uniqueness holds on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks and trims `raw` (field `email`).
    pub fn parse(raw: &str) -> Result<Email, InvalidField> {
        if has_invisible(raw) {
            return Err(InvalidField::new(
                "email",
                "must not contain invisible characters (zero-width spaces, joiners, direction marks)",
            ));
        }
        // The shape is checked as written, as the API document's pattern states it; folding
        // can add what was not written (NFKC spells `´` as a space and a combining accent).
        let written = raw.trim();
        let folded = folded(written);
        let email = folded.as_str();
        let valid = email.len() <= MAX_EMAIL
            && !written.chars().any(|c| c.is_whitespace() || c.is_control())
            && written.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if !valid {
            return Err(InvalidField::new("email", "must be a valid email address"));
        }
        Ok(Email(email.to_string()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An API key's name: 1 to 100 printable characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// The name of a key issued without one.
    pub const DEFAULT: &'static str = "key";

    /// Checks and trims `raw` (field `name`).
    pub fn parse(raw: &str) -> Result<KeyName, InvalidField> {
        printable("name", raw, MAX_KEY_NAME).map(KeyName)
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// When a new key expires: at a given future time, after a number of days, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyExpiry(Option<DateTime<Utc>>);

impl KeyExpiry {
    /// From `expires_at` or `expires_in_days` (1..=3650), at most one of them, as of `now`.
    pub fn parse(
        expires_at: Option<DateTime<Utc>>,
        expires_in_days: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<KeyExpiry, InvalidField> {
        match (expires_at, expires_in_days) {
            (Some(_), Some(_)) => Err(InvalidField::new(
                "expires_in_days",
                "give either expires_at or expires_in_days, not both",
            )),
            (Some(at), None) if at <= now => {
                Err(InvalidField::new("expires_at", "must be in the future"))
            }
            (Some(at), None) => Ok(KeyExpiry(Some(at))),
            (None, Some(days)) if !(1..=MAX_KEY_DAYS).contains(&days) => Err(InvalidField::new(
                "expires_in_days",
                format!("must be between 1 and {MAX_KEY_DAYS}"),
            )),
            (None, Some(days)) => Ok(KeyExpiry(Some(now + Duration::days(days)))),
            (None, None) => Ok(KeyExpiry(None)),
        }
    }

    /// The expiry time, `None` for a key that never expires.
    pub fn at(self) -> Option<DateTime<Utc>> {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(error: InvalidField) -> String {
        error.to_string()
    }

    #[test]
    fn display_names_are_trimmed_printable_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert_eq!(
            DisplayName::parse(&"é".repeat(200)).unwrap().as_str().len(),
            400
        );
        for bad in ["", "   ", "a\u{7}b", &"a".repeat(201)] {
            assert_eq!(
                message(DisplayName::parse(bad).unwrap_err()),
                "name: must be 1 to 200 printable characters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            Email::parse(" ada@example.com ").unwrap().as_str(),
            "ada@example.com"
        );
        assert!(Email::parse("a@b.co.uk").is_ok());
        let too_long = format!("{}@example.com", "a".repeat(243));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "ada@.example.com",
            "ada@example.com.",
            "ada@ex@ample.com",
            "a da@example.com",
            "ada@exa\tmple.com",
            too_long.as_str(),
        ] {
            assert_eq!(
                message(Email::parse(bad).unwrap_err()),
                "email: must be a valid email address",
                "{bad:?}"
            );
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(242))).is_ok());
    }

    #[test]
    fn key_names_are_trimmed_printable_and_bounded() {
        assert_eq!(KeyName::parse(" ci ").unwrap().into_string(), "ci");
        assert_eq!(
            KeyName::parse(KeyName::DEFAULT).unwrap().into_string(),
            "key"
        );
        for bad in ["", " ", "new\nline", &"k".repeat(101)] {
            assert_eq!(
                message(KeyName::parse(bad).unwrap_err()),
                "name: must be 1 to 100 printable characters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn key_expiry_is_a_future_time_or_a_number_of_days_never_both() {
        let now = Utc::now();
        assert_eq!(KeyExpiry::parse(None, None, now).unwrap().at(), None);
        let at = now + Duration::hours(1);
        assert_eq!(
            KeyExpiry::parse(Some(at), None, now).unwrap().at(),
            Some(at)
        );
        assert_eq!(
            KeyExpiry::parse(None, Some(30), now).unwrap().at(),
            Some(now + Duration::days(30))
        );
        assert_eq!(
            message(KeyExpiry::parse(Some(now), None, now).unwrap_err()),
            "expires_at: must be in the future"
        );
        for days in [0, -1, 3651] {
            assert_eq!(
                message(KeyExpiry::parse(None, Some(days), now).unwrap_err()),
                "expires_in_days: must be between 1 and 3650"
            );
        }
        assert_eq!(
            message(KeyExpiry::parse(Some(at), Some(1), now).unwrap_err()),
            "expires_in_days: give either expires_at or expires_in_days, not both"
        );
    }
}
