//! AIP-158 pagination: page sizes and opaque page tokens. A token carries the
//! position after the last item returned and the scope (the list and its
//! filters) it belongs to; a token used with other filters is rejected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::Violation;

/// Page size when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger page sizes are treated as this.
pub const MAX_PAGE_SIZE: i64 = 1000;

#[derive(Serialize, Deserialize)]
struct Token<C> {
    scope: String,
    after: C,
}

/// Validates `page_size` and decodes `page_token` for the list `scope`.
pub fn parse<C: DeserializeOwned>(
    page_size: i32,
    page_token: &str,
    scope: &str,
    violations: &mut Vec<Violation>,
) -> (i64, Option<C>) {
    let size = match i64::from(page_size) {
        n if n < 0 => {
            violations.push(Violation::new(
                "page_size",
                format!("must be >= 0, got {n}"),
            ));
            DEFAULT_PAGE_SIZE
        }
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    if page_token.is_empty() {
        return (size, None);
    }
    let decoded = URL_SAFE_NO_PAD
        .decode(page_token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token<C>>(&bytes).ok());
    match decoded {
        Some(token) if token.scope == scope => (size, Some(token.after)),
        Some(_) => {
            violations.push(Violation::new(
                "page_token",
                "belongs to a listing with other parameters; repeat the request's filters",
            ));
            (size, None)
        }
        None => {
            violations.push(Violation::new(
                "page_token",
                "is not a page token returned by this service",
            ));
            (size, None)
        }
    }
}

/// The token of the page after `after` in the list `scope`.
pub fn token<C: Serialize>(scope: &str, after: C) -> String {
    let token = Token {
        scope: scope.to_owned(),
        after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("page tokens always serialise"))
}

/// The token after the last of `items` when `more` follow, else "" (the
/// last page).
pub fn next_token<T, C: Serialize>(
    scope: &str,
    items: &[T],
    more: bool,
    cursor: impl Fn(&T) -> C,
) -> String {
    match items.last() {
        Some(last) if more => token(scope, cursor(last)),
        _ => String::new(),
    }
}

/// The position of a newest-first listing, `(create time, id)` of the last
/// item returned, as a token carries it: microseconds and the id.
pub fn newest_first_position(after: Option<(i64, String)>) -> Option<(jiff::Timestamp, String)> {
    let (micros, id) = after?;
    jiff::Timestamp::from_microsecond(micros)
        .ok()
        .map(|t| (t, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_within_its_scope_only() {
        let t = token("leads|stage=CONTACT", "lead-0042");
        let mut v = Vec::new();
        let (size, after) = parse::<String>(10, &t, "leads|stage=CONTACT", &mut v);
        assert_eq!((size, after.as_deref()), (10, Some("lead-0042")));
        assert!(v.is_empty());
        parse::<String>(10, &t, "leads|stage=STUDY", &mut v);
        assert_eq!(v[0].field, "page_token");
    }

    #[test]
    fn page_size_defaults_caps_and_rejects_negatives() {
        let mut v = Vec::new();
        assert_eq!(parse::<String>(0, "", "s", &mut v).0, DEFAULT_PAGE_SIZE);
        assert_eq!(parse::<String>(5000, "", "s", &mut v).0, MAX_PAGE_SIZE);
        assert!(v.is_empty());
        parse::<String>(-1, "", "s", &mut v);
        assert_eq!(v[0].field, "page_size");
        parse::<String>(1, "garbage!", "s", &mut v);
        assert_eq!(v[1].field, "page_token");
    }
}
