//! A field of a request that failed validation, and why.

/// A field of a request that failed validation, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Field path as on the wire, e.g. `profile.max_employees`.
    pub field: String,
    /// What is wrong with it, for the caller to fix.
    pub description: String,
}

impl Violation {
    /// A violation of `field`, described for the caller.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}
