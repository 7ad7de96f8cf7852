//! The error every validating constructor returns: which input field broke which rule.

/// A field broke a rule; shown to clients as `"<field>: <message>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The field's name as the caller spelled it (`name`, `email`, `expires_at`, …).
    pub field: &'static str,
    /// The rule it broke.
    pub message: String,
}

impl InvalidField {
    /// `field` broke the rule `message` states.
    pub fn new(field: &'static str, message: impl Into<String>) -> InvalidField {
        InvalidField {
            field,
            message: message.into(),
        }
    }
}
