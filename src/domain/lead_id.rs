//! Caller-chosen identifiers that can only be built valid.

use std::fmt;

/// A lead's id within a tenant: 1–128 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadId(String);

/// An idempotency key for QualifyLead: 1–128 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

const MAX_ID_CHARS: usize = 128;

fn check_printable(value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err("must not be empty".into());
    }
    if chars > MAX_ID_CHARS {
        return Err(format!(
            "must be at most {MAX_ID_CHARS} characters, got {chars}"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("must contain only printable characters".into());
    }
    if value.trim() != value {
        return Err("must not start or end with white space".into());
    }
    Ok(())
}

impl LeadId {
    /// Accepts 1–128 printable characters without surrounding white space.
    pub fn parse(value: &str) -> Result<Self, String> {
        check_printable(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestId {
    /// Accepts 1–128 printable characters without surrounding white space.
    pub fn parse(value: &str) -> Result<Self, String> {
        check_printable(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_id_accepts_one_to_128_printable_characters() {
        assert!(LeadId::parse("a").is_ok());
        assert!(LeadId::parse(&"x".repeat(128)).is_ok());
        assert!(LeadId::parse("acme corp / lead #7 — Zürich").is_ok());
    }

    #[test]
    fn lead_id_rejects_empty_too_long_and_control_characters() {
        assert!(LeadId::parse("").is_err());
        assert!(LeadId::parse(&"x".repeat(129)).is_err());
        assert!(LeadId::parse("a\nb").is_err());
        assert!(LeadId::parse(" padded").is_err());
    }
}
