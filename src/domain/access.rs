//! Who may do what: the roles an API key carries.

/// A role of an API key. Admin includes scorer, scorer includes reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read leads, verdicts, profiles and the criteria.
    Reader = 1,
    /// Also qualify leads and override verdicts.
    Scorer = 2,
    /// Also change profiles, manage keys and read the audit trail.
    Admin = 3,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Scorer, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Reader => "READER",
            Role::Scorer => "SCORER",
            Role::Admin => "ADMIN",
        }
    }

    /// Accepts the code in any case: `admin`, `ADMIN`.
    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(code.trim()))
    }

    /// Whether holding `self` allows what `needed` allows.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_includes_scorer_includes_reader() {
        assert!(Role::Admin.includes(Role::Scorer));
        assert!(Role::Admin.includes(Role::Reader));
        assert!(Role::Scorer.includes(Role::Reader));
        assert!(!Role::Scorer.includes(Role::Admin));
        assert!(!Role::Reader.includes(Role::Scorer));
    }

    #[test]
    fn codes_parse_in_any_case() {
        assert_eq!(Role::from_code("admin"), Some(Role::Admin));
        assert_eq!(Role::from_code("SCORER"), Some(Role::Scorer));
        assert_eq!(Role::from_code("owner"), None);
    }
}
