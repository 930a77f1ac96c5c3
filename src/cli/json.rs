//! API messages as JSON for machines, through the compiled descriptors: the
//! proto field names (`lead_id`, `effective_outcome`), enum values by their
//! proto names (`OUTCOME_QUALIFIED`), timestamps in RFC 3339, 64-bit integers
//! as JSON numbers. Every field without presence is written, defaults
//! included, so the shape is stable; an `optional` fact or setting that is
//! unset, and an unset message, are left out (unknown is not zero).

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, SerializeOptions};

/// The descriptors of the API, decoded once.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into the binary decodes")
    })
}

/// Which message a generated type is.
pub trait Named: Message + Default {
    /// Its full proto name, e.g. `leadqual.v1.Lead`.
    const FULL_NAME: &'static str;
}

macro_rules! named {
    ($($ty:ident => $name:literal),+ $(,)?) => {
        $(impl Named for crate::proto::v1::$ty {
            const FULL_NAME: &'static str = $name;
        })+
    };
}

named! {
    Lead => "leadqual.v1.Lead",
    LeadFacts => "leadqual.v1.LeadFacts",
    Profile => "leadqual.v1.Profile",
    CriterionInfo => "leadqual.v1.CriterionInfo",
    PreviewProfileResponse => "leadqual.v1.PreviewProfileResponse",
    GetSignalStatsResponse => "leadqual.v1.GetSignalStatsResponse",
    VerdictOverride => "leadqual.v1.VerdictOverride",
}

fn dynamic<T: Named>(message: &T) -> DynamicMessage {
    let desc = pool()
        .get_message_by_name(T::FULL_NAME)
        .expect("every named message is in the descriptor set");
    let mut dynamic = DynamicMessage::new(desc);
    dynamic
        .merge(message.encode_to_vec().as_slice())
        .expect("a message re-decodes under its own descriptor");
    dynamic
}

/// The message as a JSON value.
pub fn to_json<T: Named>(message: &T) -> serde_json::Value {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    dynamic(message)
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a message always serializes to JSON")
}

/// A message from JSON of the shape [`to_json`] writes (camelCase names and
/// enum numbers are accepted too); unknown fields are refused.
pub fn from_json<T: Named>(json: &str) -> Result<T, String> {
    let desc = pool()
        .get_message_by_name(T::FULL_NAME)
        .expect("every named message is in the descriptor set");
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let dynamic =
        DynamicMessage::deserialize(desc, &mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    let message = T::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| e.to_string())?;
    debug_assert_eq!(dynamic.descriptor().full_name(), T::FULL_NAME);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;

    #[test]
    fn a_profile_round_trips_through_json_with_proto_names() {
        let profile = pb::Profile {
            version: 3,
            create_time: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            min_employees: Some(0),
            target_verticals: vec!["saas".into()],
            seller_business_hours: Some(pb::BusinessHours {
                start: "08:00".into(),
                end: "17:00".into(),
            }),
            min_overlap_hours: Some(2.5),
            weights: vec![pb::CriterionWeight {
                criterion: pb::Criterion::MagicWand as i32,
                weight: 40,
            }],
            knockouts: vec![pb::Criterion::Disrespectful as i32],
            ..Default::default()
        };
        let json = to_json(&profile);
        assert_eq!(json["version"], 3);
        assert_eq!(json["create_time"], "2026-01-01T00:00:00Z");
        assert_eq!(json["min_employees"], 0, "a set zero is written");
        assert!(
            json.get("max_employees").is_none(),
            "an unset bound is left out"
        );
        assert_eq!(
            json["seller_timezone"], "",
            "fields without presence are always written"
        );
        assert_eq!(json["weights"][0]["criterion"], "CRITERION_MAGIC_WAND");
        assert_eq!(json["knockouts"][0], "CRITERION_DISRESPECTFUL");
        assert_eq!(json["seller_business_hours"]["start"], "08:00");
        let back: pb::Profile = from_json(&json.to_string()).expect("reads back");
        assert_eq!(back, profile);
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_refused() {
        let err = from_json::<pb::Profile>(r#"{"min_employes": 3}"#).expect_err("unknown");
        assert!(err.contains("min_employes"), "{err}");
        let err =
            from_json::<pb::Profile>(r#"{"knockouts": ["CRITERION_NOPE"]}"#).expect_err("bad");
        assert!(err.contains("CRITERION_NOPE"), "{err}");
        assert!(from_json::<pb::Profile>(r#"{"minEmployees": 3}"#).is_ok());
        assert!(
            from_json::<pb::Profile>(r#"{} {}"#).is_err(),
            "one document only"
        );
    }

    #[test]
    fn unknown_facts_are_left_out_of_a_lead() {
        let lead = pb::Lead {
            lead_id: "L".into(),
            stage: pb::Stage::Contact as i32,
            facts: Some(pb::LeadFacts {
                questions_asked: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = to_json(&lead);
        assert_eq!(json["stage"], "STAGE_CONTACT");
        assert_eq!(json["effective_outcome"], "OUTCOME_UNSPECIFIED");
        assert_eq!(json["facts"], serde_json::json!({"questions_asked": 0}));
        assert!(json.get("active_override").is_none());
    }
}
