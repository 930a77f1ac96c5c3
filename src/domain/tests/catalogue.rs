//! The catalogue's prose against the real defaults: a default changed
//! without its description fails here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::domain::{BusinessHours, CATALOGUE, Criterion, Profile};

/// Settings the rules compare against, by name, in their stored form:
/// the profile's fields and its thresholds, without the scoring settings
/// (weights, knockouts, outcome thresholds) that no rule reads and the
/// account section's settings (their defaults are checked in `accounts`).
fn rule_settings(profile: &Profile) -> BTreeMap<String, Value> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(profile) else {
        panic!("a profile is stored as an object");
    };
    for not_read_by_a_rule in [
        "weights",
        "knockouts",
        "review_threshold",
        "disqualify_threshold",
        "accounts",
    ] {
        fields.remove(not_read_by_a_rule);
    }
    let Some(Value::Object(thresholds)) = fields.remove("thresholds") else {
        panic!("the thresholds are stored as an object");
    };
    fields.into_iter().chain(thresholds).collect()
}

/// Checks one "name = value (note)" line of `default_thresholds` against the
/// stored default of that setting.
fn check_stated_default(code: &str, line: &str, settings: &BTreeMap<String, Value>) {
    let (name, stated) = line
        .split_once(" = ")
        .unwrap_or_else(|| panic!("{code}: \"{line}\" is not \"name = value\""));
    let default = settings
        .get(name)
        .unwrap_or_else(|| panic!("{code}: {name} is not a setting a rule reads"));
    let (value, note) = stated.split_once(' ').unwrap_or((stated, ""));
    match value {
        "unset" => assert_eq!(default, &Value::Null, "{code}: {line}"),
        "[]" => assert_eq!(default, &Value::Array(Vec::new()), "{code}: {line}"),
        hours if hours.contains(':') => {
            let (start, end) = hours
                .split_once('-')
                .unwrap_or_else(|| panic!("{code}: \"{hours}\" is not HH:MM-HH:MM"));
            let stated = BusinessHours::parse(start, end)
                .unwrap_or_else(|e| panic!("{code}: \"{hours}\": {e:?}"));
            assert_eq!(
                serde_json::to_value(stated).ok().as_ref(),
                Some(default),
                "{code}: {line}"
            );
        }
        number => {
            let stated: f64 = number
                .parse()
                .unwrap_or_else(|_| panic!("{code}: \"{number}\" in \"{line}\" is not a value"));
            let default = default
                .as_f64()
                .unwrap_or_else(|| panic!("{code}: {name} is not a number"));
            assert_eq!(stated, default, "{code}: {line}");
            if let Some(fires_at) = note
                .strip_prefix("(fires at ")
                .and_then(|n| n.strip_suffix(')'))
            {
                // A `max_*` limit fires when reached; a number `*_allowed`
                // fires only when exceeded.
                let first_firing = if name.ends_with("_allowed") {
                    default + 1.0
                } else {
                    default
                };
                assert_eq!(fires_at.parse(), Ok(first_firing), "{code}: {line}");
            }
        }
    }
}

#[test]
fn stated_default_thresholds_are_the_profile_defaults() {
    let settings = rule_settings(&Profile::default());
    let mut described = BTreeSet::new();
    for def in &CATALOGUE {
        for line in def.default_thresholds {
            check_stated_default(def.code, line, &settings);
            described.extend(line.split_once(" = ").map(|(name, _)| name.to_owned()));
        }
    }
    let all: BTreeSet<String> = settings.into_keys().collect();
    assert_eq!(
        described, all,
        "every rule setting is described with its default"
    );
}

#[test]
fn lead_business_hours_in_the_description_are_the_default_hours() {
    let hours = BusinessHours::default();
    let stated = format!(
        "({}-{} local)",
        hours.start.strftime("%H:%M"),
        hours.end.strftime("%H:%M")
    );
    let description = Criterion::CountryTimezoneMismatch.def().description;
    assert!(description.contains(&stated), "{description}");
}
