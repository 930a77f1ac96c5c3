//! Times on the command line: RFC 3339 (`2026-03-01T00:00:00Z`) or an age
//! relative to now (`90s`, `30m`, `24h`, `7d`, `2w`).

use jiff::{SignedDuration, Timestamp};

/// Which way a relative time counts from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relative {
    /// `7d` is seven days ago (for --since, --until).
    Ago,
    /// `7d` is seven days from now (for --expire).
    FromNow,
}

/// Reads `text` as an RFC 3339 time, or as that long before or after `now`.
pub fn parse_time(text: &str, now: Timestamp, relative: Relative) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(age) = parse_age(text) {
        let age = age?;
        let at = match relative {
            Relative::Ago => now.checked_sub(age),
            Relative::FromNow => now.checked_add(age),
        };
        return at.map_err(|_| format!("{text:?} reaches too far"));
    }
    text.parse::<Timestamp>().map_err(|_| {
        format!("{text:?} is not a time: use RFC 3339 (2026-03-01T09:00:00Z) or an age such as 24h or 7d")
    })
}

/// `Some` when `text` looks like an age (digits then one unit letter).
fn parse_age(text: &str) -> Option<Result<SignedDuration, String>> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let seconds_per_unit: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(seconds_per_unit))
            .map(SignedDuration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long an age")),
    )
}

/// A timestamp on the wire.
pub fn to_wire(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

/// A wire timestamp for people: RFC 3339 in UTC, to the second.
pub fn show(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else {
        return "-".to_owned();
    };
    match Timestamp::new(t.seconds, 0) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => format!("{}s", t.seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-10T12:00:00Z".parse().expect("a time")
    }

    #[test]
    fn rfc3339_times_are_read_as_written() {
        assert_eq!(
            parse_time("2026-03-01T09:30:00Z", now(), Relative::Ago),
            Ok("2026-03-01T09:30:00Z".parse().expect("a time"))
        );
        assert_eq!(
            parse_time("2026-03-01T09:30:00+02:00", now(), Relative::Ago),
            Ok("2026-03-01T07:30:00Z".parse().expect("a time"))
        );
    }

    #[test]
    fn ages_count_back_from_now() {
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        assert_eq!(
            parse_time("7d", now(), Relative::Ago),
            Ok(at("2026-03-03T12:00:00Z"))
        );
        assert_eq!(
            parse_time("24h", now(), Relative::Ago),
            Ok(at("2026-03-09T12:00:00Z"))
        );
        assert_eq!(
            parse_time("30m", now(), Relative::Ago),
            Ok(at("2026-03-10T11:30:00Z"))
        );
        assert_eq!(
            parse_time("90s", now(), Relative::Ago),
            Ok(at("2026-03-10T11:58:30Z"))
        );
        assert_eq!(
            parse_time("2w", now(), Relative::Ago),
            Ok(at("2026-02-24T12:00:00Z"))
        );
        assert_eq!(parse_time("0h", now(), Relative::Ago), Ok(now()));
    }

    #[test]
    fn an_expiry_counts_forward() {
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        assert_eq!(
            parse_time("7d", now(), Relative::FromNow),
            Ok(at("2026-03-17T12:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-04-01T00:00:00Z", now(), Relative::FromNow),
            Ok(at("2026-04-01T00:00:00Z"))
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        for bad in ["yesterday", "7", "d", "7y", "-7d", "2026-03-01", "", "7 d"] {
            let err = parse_time(bad, now(), Relative::Ago).expect_err(bad);
            assert!(
                err.contains("RFC 3339") || err.contains("too"),
                "{bad}: {err}"
            );
        }
        assert!(parse_time("99999999999999999w", now(), Relative::Ago).is_err());
    }

    #[test]
    fn wire_times_show_in_utc_to_the_second() {
        let t = to_wire("2026-03-01T09:30:05.250Z".parse().expect("a time"));
        assert_eq!(t.nanos, 250_000_000);
        assert_eq!(show(Some(&t)), "2026-03-01 09:30:05Z");
        assert_eq!(show(None), "-");
    }
}
