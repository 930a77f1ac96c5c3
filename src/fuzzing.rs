//! Entry points of the fuzz targets in `fuzz/`: each takes any input, runs
//! it through the code the service or the CLI runs on it, and panics when a
//! property that must hold for every input is broken. Not an API: nothing
//! else calls these.

use std::io;

use jiff::civil::Date;
use prost::Message;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::cli::args::FileFormat;
use crate::cli::qualify;
use crate::cli::rows::{self, MAX_CELL_BYTES, RequestIds, RowError};
use crate::domain::account::{
    Account, ChurnStatus, ClientType, LifecycleClass, PlaybookStatus, ValueFactor, ValueStatus,
};
use crate::domain::{
    CATALOGUE, Evaluation, Facts, Outcome, Profile, SignalStatus, Stage, Violation, evaluate,
};
use crate::grpc::convert::{self, MAX_CRITERIA_ENTRIES, MAX_LIST_ENTRIES};
use crate::grpc::status::invalid_argument;
use crate::grpc::{bulk, requests};
use crate::proto::v1 as pb;
use crate::records::ProfileVersion;

/// The request messages the services take, in the order the first byte of
/// a `requests` input picks them (modulo their number).
pub const REQUESTS: [&str; 20] = [
    "QualifyLeadRequest",
    "GetLeadRequest",
    "ListLeadsRequest",
    "GetVerdictRequest",
    "ListVerdictsRequest",
    "ListCriteriaRequest",
    "GetProfileRequest",
    "UpdateProfileRequest",
    "ListProfileVersionsRequest",
    "OverrideVerdictRequest",
    "ClearOverrideRequest",
    "ListOverridesRequest",
    "QualifyLeadsRequest",
    "PreviewProfileRequest",
    "GetSignalStatsRequest",
    "WatchVerdictsRequest",
    "CreateApiKeyRequest",
    "ListApiKeysRequest",
    "RevokeApiKeyRequest",
    "ListAuditEventsRequest",
];

/// Most bytes of trailers a default gRPC client accepts (HTTP/2 header list
/// size: name, value and 32 bytes per field).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Most violations one request can have: every entry of the bounded lists
/// of a profile wrong, and every single field besides.
pub const MAX_VIOLATIONS_FOUND: usize = 4 * MAX_LIST_ENTRIES + 2 * MAX_CRITERIA_ENTRIES + 64;

/// Longest id or text the application is handed, in characters (the
/// longest bound of any text: an override's reason).
const MAX_TEXT_CHARS: usize = 2000;

/// `requests`: the first byte picks a message of [`REQUESTS`], the rest is
/// decoded as it; a message that decodes is checked as its handler checks
/// it before anything is stored.
pub fn request(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match usize::from(kind) % REQUESTS.len() {
        0 => check::<pb::QualifyLeadRequest, _>(bytes, |r| {
            convert::qualify_command(r).map(|c| {
                accepted_id(c.lead_id.as_str());
                if let Some(id) = &c.request_id {
                    accepted_id(id.as_str());
                }
                accepted_facts(&c.facts);
            })
        }),
        1 => check::<pb::GetLeadRequest, _>(bytes, |r| {
            requests::get_lead(&r).map(|id| accepted_id(id.as_str()))
        }),
        2 => check::<pb::ListLeadsRequest, _>(bytes, |r| {
            requests::list_leads(&r).map(|(_, page)| accepted_page(page.size))
        }),
        3 => check::<pb::GetVerdictRequest, _>(bytes, |r| {
            requests::get_verdict(&r).map(accepted_text)
        }),
        4 => check::<pb::ListVerdictsRequest, _>(bytes, |r| {
            requests::list_verdicts(&r).map(|(id, page)| {
                accepted_id(id.as_str());
                accepted_page(page.size);
            })
        }),
        5 => check::<pb::ListCriteriaRequest, _>(bytes, |_| Ok(())),
        6 => check::<pb::GetProfileRequest, _>(bytes, |r| {
            requests::get_profile(&r).map(|version| assert!(version >= 0))
        }),
        7 => check::<pb::UpdateProfileRequest, _>(bytes, |r| {
            requests::update_profile(r).map(|(profile, expected)| {
                accepted_profile(&profile);
                assert!(expected.is_none_or(|v| v >= 1));
            })
        }),
        8 => check::<pb::ListProfileVersionsRequest, _>(bytes, |r| {
            requests::list_profile_versions(&r).map(|page| accepted_page(page.size))
        }),
        9 => check::<pb::OverrideVerdictRequest, _>(bytes, |r| {
            convert::override_command(r).map(|c| {
                accepted_id(c.lead_id.as_str());
                accepted_text(&c.reason);
                accepted_text(&c.author);
            })
        }),
        10 => check::<pb::ClearOverrideRequest, _>(bytes, |r| {
            convert::clear_override_command(&r).map(|(id, reason)| {
                accepted_id(id.as_str());
                accepted_text(&reason);
            })
        }),
        11 => check::<pb::ListOverridesRequest, _>(bytes, |r| {
            requests::list_overrides(&r).map(|(id, page)| {
                id.iter().for_each(|id| accepted_id(id.as_str()));
                accepted_page(page.size);
            })
        }),
        12 => {
            if let Ok(item) = pb::QualifyLeadsRequest::decode(bytes) {
                stream_item(item);
            }
        }
        13 => check::<pb::PreviewProfileRequest, _>(bytes, |r| {
            requests::preview_profile(r).map(|(profile, sample)| {
                accepted_profile(&profile);
                assert!((1..=crate::qualification::MAX_PREVIEW_SAMPLE).contains(&sample));
            })
        }),
        14 => check::<pb::GetSignalStatsRequest, _>(bytes, |r| {
            convert::signal_stats_query(&r).map(|(start, end, _)| {
                if let (Some(start), Some(end)) = (start, end) {
                    assert!(start < end);
                }
            })
        }),
        15 => check::<pb::WatchVerdictsRequest, _>(bytes, |r| {
            requests::watch_verdicts(&r).map(|_| ())
        }),
        16 => check::<pb::CreateApiKeyRequest, _>(bytes, |r| {
            requests::create_api_key(&r).map(|(roles, _)| assert!(!roles.is_empty()))
        }),
        17 => check::<pb::ListApiKeysRequest, _>(bytes, |r| {
            requests::list_api_keys(&r).map(|page| accepted_page(page.size))
        }),
        18 => check::<pb::RevokeApiKeyRequest, _>(bytes, |r| {
            requests::revoke_api_key(&r).map(accepted_text)
        }),
        19 => check::<pb::ListAuditEventsRequest, _>(bytes, |r| {
            requests::list_audit_events(&r).map(|(filter, page)| {
                filter.lead_id.iter().for_each(|id| accepted_id(id));
                accepted_page(page.size);
            })
        }),
        _ => unreachable!("the kind is taken modulo the number of requests"),
    }
}

/// Decodes `bytes` as `M` and checks it twice with `checked`, which asserts
/// what holds of an accepted request: both times alike, and a rejection
/// becomes a bounded INVALID_ARGUMENT.
fn check<M, F>(bytes: &[u8], checked: F)
where
    M: Message + Default + Clone,
    F: Fn(M) -> Result<(), Vec<Violation>>,
{
    let Ok(message) = M::decode(bytes) else {
        return;
    };
    let first = checked(message.clone());
    assert_eq!(first, checked(message), "checking is deterministic");
    if let Err(violations) = first {
        rejected(&violations);
    }
}

/// A rejection names at least one field, has a bounded number of
/// violations, and its status fits in a default client's trailers.
fn rejected(violations: &[Violation]) -> Status {
    assert!(!violations.is_empty(), "a rejection names what is wrong");
    assert!(
        violations.len() <= MAX_VIOLATIONS_FOUND,
        "{} violations: a repeated field is not bounded",
        violations.len()
    );
    for v in violations {
        assert!(!v.field.is_empty(), "a violation without a field: {v:?}");
        assert!(
            !v.description.is_empty(),
            "a violation without a reason: {v:?}"
        );
    }
    let status = invalid_argument(violations);
    bounded_status(&status);
    status
}

/// INVALID_ARGUMENT with a BadRequest, in trailers a default client takes.
pub fn bounded_status(status: &Status) {
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest");
    assert!(!bad_request.field_violations.is_empty());
    let mut trailers = http::HeaderMap::new();
    status
        .add_header(&mut trailers)
        .expect("a status always makes valid trailers");
    let size: usize = trailers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    assert!(
        size <= MAX_TRAILER_BYTES,
        "trailers of {size} bytes for {} violations",
        bad_request.field_violations.len()
    );
}

/// A QualifyLeads item is answered as QualifyLead answers its request.
fn stream_item(item: pb::QualifyLeadsRequest) {
    let unary = item.request.clone().map(convert::qualify_command);
    let correlation_ok = item.correlation_id.chars().count() <= 128
        && !item.correlation_id.chars().any(char::is_control);
    let (correlation_id, result) = bulk::validate(item.clone());
    assert!(correlation_id.chars().count() <= 128);
    assert!(!correlation_id.chars().any(char::is_control));
    if correlation_ok {
        assert_eq!(correlation_id, item.correlation_id);
    }
    match result {
        Ok(command) => {
            assert!(correlation_ok);
            match unary {
                Some(Ok(unary)) => assert_eq!(unary.lead_id, command.lead_id),
                other => panic!("an item accepted that QualifyLead refuses: {other:?}"),
            }
        }
        Err(status) => {
            bounded_status(&status);
            if let Some(Err(violations)) = &unary {
                rejected(violations);
            }
            let pb::qualify_leads_response::Result::Error(answer) = bulk::error(&status) else {
                panic!("a refused item is answered with an error");
            };
            assert_eq!(answer.code, Code::InvalidArgument as i32);
            assert_eq!(answer.details.len(), 1, "the BadRequest is kept");
            assert!(answer.encoded_len() <= MAX_TRAILER_BYTES);
        }
    }
}

/// A lead or request id as [`crate::domain::LeadId`] promises it.
fn accepted_id(id: &str) {
    let chars = id.chars().count();
    assert!((1..=128).contains(&chars), "an id of {chars} characters");
    assert!(!id.chars().any(char::is_control));
    assert_eq!(id.trim(), id);
}

/// Text handed to the application is bounded and not blank.
fn accepted_text(text: &str) {
    assert!(!text.trim().is_empty());
    let chars = text.chars().count();
    assert!(chars <= MAX_TEXT_CHARS, "a text of {chars} characters");
}

fn accepted_page(size: i64) {
    assert!((1..=1000).contains(&size), "page size {size}");
}

/// Facts as the engine and storage expect them; sent back to the caller
/// (as a lead's facts) they are accepted again, unchanged.
fn accepted_facts(facts: &Facts) {
    for label in [
        &facts.vertical,
        &facts.business_model,
        &facts.territory,
        &facts.country,
        &facts.timezone,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!label.is_empty() && label.trim() == label);
        assert!(label.chars().count() <= 200);
        assert!(!label.chars().any(char::is_control));
    }
    for count in [
        facts.employee_count,
        facts.annual_revenue_usd,
        facts.budget_usd,
    ]
    .into_iter()
    .flatten()
    {
        assert!(count >= 0);
    }
    let mut violations = Vec::new();
    let again = convert::facts(convert::facts_to_wire(facts), "facts", &mut violations);
    assert_eq!(violations, [], "stored facts are accepted again");
    assert_eq!(&again, facts, "facts are the same once sent back");
    assert_eq!(
        Facts::from_json(&facts.to_json()).ok().as_ref(),
        Some(facts)
    );
}

/// A profile as the engine expects it; as GetProfile returns it, it is
/// accepted again unchanged, and its stored form reads back the same.
fn accepted_profile(profile: &Profile) {
    assert_eq!(profile.violations("profile"), []);
    for list in [
        &profile.target_verticals,
        &profile.target_business_models,
        &profile.territories,
        &profile.countries,
    ] {
        assert!(list.len() <= MAX_LIST_ENTRIES);
    }
    assert!(profile.knockouts.windows(2).all(|w| w[0] < w[1]));
    let served = convert::profile_to_wire(&ProfileVersion {
        tenant: "t".to_owned(),
        version: 1,
        profile: profile.clone(),
        created_at: jiff::Timestamp::UNIX_EPOCH,
    });
    let mut violations = Vec::new();
    let again = convert::profile(served, &mut violations);
    assert_eq!(violations, [], "a served profile is accepted again");
    assert_eq!(&again, profile, "a profile is the same once served");
    let stored = serde_json::to_string(profile).expect("a profile serialises");
    let read: Profile = serde_json::from_str(&stored).expect("a stored profile reads back");
    assert_eq!(&read, profile, "a profile is the same once stored");
}

/// `rows`: the first byte picks CSV or JSON Lines, the rest is the file
/// `leadqual qualify` reads.
pub fn rows(data: &[u8]) {
    let Some((&kind, input)) = data.split_first() else {
        return;
    };
    let format = if kind % 2 == 0 {
        FileFormat::Csv
    } else {
        FileFormat::Jsonl
    };
    // Lines as the CSV reader ends rows: at a \n, or a \r not before one.
    let lines = input
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && input.get(i + 1) != Some(&b'\n')))
        .count() as u64
        + 1;
    let mut last_line = 0;
    let mut last_end = 0;
    let mut ids = RequestIds::default();
    let mut hand_on =
        |line: u64, end: u64, lead_id: String, parsed: Result<rows::ParsedRow, RowError>| -> bool {
            assert!(line > last_line, "line {line} after line {last_line}");
            assert!(line <= lines, "line {line} of {lines}");
            assert!(end >= last_end && end <= input.len() as u64, "end {end}");
            (last_line, last_end) = (line, end);
            match parsed {
                Ok(rows::ParsedRow { mut request }) => {
                    assert_eq!(request.lead_id, lead_id, "the lead id as written");
                    assert!(!lead_id.is_empty() && lead_id.trim() == lead_id);
                    assert!(lead_id.len() <= MAX_CELL_BYTES);
                    let facts = request.facts.as_ref().expect("a row carries facts");
                    for text in [
                        &facts.vertical,
                        &facts.business_model,
                        &facts.territory,
                        &facts.country,
                        &facts.timezone,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        assert!(!text.is_empty() && text.len() <= MAX_CELL_BYTES);
                    }
                    let own = request.request_id.clone();
                    ids.assign(&mut request);
                    if own.is_empty() {
                        let derived = request.request_id.strip_prefix("row-").expect("row-");
                        assert_eq!(derived.len(), 64);
                    } else {
                        assert_eq!(request.request_id, own);
                    }
                }
                Err(error) => assert!(!error.problems.is_empty(), "a bad row says why"),
            }
            true
        };
    let input: Box<dyn io::Read + Send> = Box::new(io::Cursor::new(input.to_vec()));
    if let Ok(Some((line, message))) = qualify::read_rows(input, format, &mut hand_on) {
        assert!(line >= 1 && !message.is_empty());
    }
}

/// `engine`: facts and a profile as a caller sends them, a stage and a
/// date. Facts or a profile the API refuses are skipped; the rest are
/// evaluated, and the verdict must be what the SPEC says it is.
pub fn engine(facts: pb::LeadFacts, profile: pb::Profile, stage: i32, date: Date) {
    let mut violations = Vec::new();
    let facts = convert::facts(facts, "facts", &mut violations);
    let profile = convert::profile(profile, &mut violations);
    let Some(stage) = convert::stage_from_wire(stage) else {
        return;
    };
    if !violations.is_empty() {
        return;
    }
    let evaluation = evaluate(&facts, &profile, stage, date);
    spec_verdict(&evaluation, &profile, stage);
    assert_eq!(
        evaluation,
        evaluate(&facts, &profile, stage, date),
        "the same input gives the same verdict"
    );
    // What is stored and read back gives the same verdict.
    let stored_facts = Facts::from_json(&facts.to_json()).expect("stored facts read back");
    let stored_profile: Profile =
        serde_json::from_str(&serde_json::to_string(&profile).expect("a profile serialises"))
            .expect("a stored profile reads back");
    assert_eq!(
        evaluation,
        evaluate(&stored_facts, &stored_profile, stage, date),
        "stored facts and profile give the same verdict"
    );
    // A later stage only adds criteria: the earlier ones stay as they were.
    for later in Stage::ALL.into_iter().filter(|s| *s > stage) {
        let further = evaluate(&facts, &profile, later, date);
        spec_verdict(&further, &profile, later);
        for (now, then) in evaluation.signals.iter().zip(&further.signals) {
            if now.status != SignalStatus::NotApplicable {
                assert_eq!(now, then, "a later stage changed an earlier criterion");
            }
        }
        assert!(further.score >= evaluation.score);
    }
}

/// SPEC section 3: one signal per criterion in catalogue order, applicable
/// up to the lead's stage; score the capped sum of fired weights; outcome
/// from knockouts and thresholds.
/// What SPEC-ACCOUNTS says of any account section.
fn spec_account(a: &Account, profile: &Profile) {
    let s = &profile.accounts;
    let factors: Vec<ValueFactor> = a.value.factors.iter().map(|f| f.factor).collect();
    assert_eq!(factors, ValueFactor::ALL);
    let types: Vec<ClientType> = a.playbook.iter().map(|p| p.client_type).collect();
    assert_eq!(types, ClientType::ALL);
    match a.value.status {
        ValueStatus::Assessed => {
            let score = a.value.score.expect("an assessed value has a score");
            assert!((0..=100).contains(&score), "{score}");
            let points: f64 = a.value.factors.iter().map(|f| f.points).sum();
            assert!(
                (f64::from(score) - points).abs() <= 0.5 + 1e-6,
                "{score} {points}"
            );
            assert!(a.value.tier.is_some());
        }
        ValueStatus::Unknown | ValueStatus::NotApplicable => {
            assert_eq!((a.value.score, a.value.tier), (None, None));
        }
    }
    for f in &a.value.factors {
        assert!(f.points >= 0.0 && f.points <= f64::from(f.weight), "{f:?}");
        assert!(!f.evidence.to_string().is_empty(), "{f:?}");
        assert_eq!(
            f.status == ValueStatus::Unknown,
            !f.missing_facts.is_empty()
        );
    }
    let life = &a.lifecycle;
    assert!(!life.also_matched.contains(&life.class));
    assert_eq!(
        life.knockout,
        life.class == LifecycleClass::BlackList && s.black_list_knockout
    );
    assert!(!life.evidence.to_string().is_empty() && !life.action.to_string().is_empty());
    for entry in &a.playbook {
        assert!(!entry.evidence.to_string().is_empty() && !entry.advice.to_string().is_empty());
        assert_eq!(
            entry.status == PlaybookStatus::Unknown,
            !entry.missing_facts.is_empty()
        );
    }
    if a.churn.status == ChurnStatus::AtRisk {
        let days = a
            .churn
            .days_since_last_contact
            .expect("at risk since a known day");
        assert!(days >= s.churn_contact_gap_days);
    }
}

fn spec_verdict(e: &Evaluation, profile: &Profile, stage: Stage) {
    assert_eq!(e.signals.len(), 21);
    assert_eq!(e.stage, stage);
    let mut total = 0;
    for (signal, def) in e.signals.iter().zip(&CATALOGUE) {
        assert_eq!(signal.criterion, def.criterion);
        assert_eq!(signal.knockout, profile.is_knockout(def.criterion));
        assert_eq!(
            signal.status == SignalStatus::NotApplicable,
            def.stage > stage,
            "{:?} at stage {stage:?}",
            signal.criterion
        );
        match signal.status {
            SignalStatus::Fired => {
                assert_eq!(signal.weight, profile.weights.get(def.criterion));
                assert!(!signal.evidence.is_empty() && !signal.remedy.is_empty());
                assert!(signal.missing_facts.is_empty());
                total += signal.weight;
            }
            SignalStatus::Unknown => {
                assert_eq!(signal.weight, 0);
                assert!(!signal.evidence.is_empty(), "an unknown signal says why");
                for fact in &signal.missing_facts {
                    assert!(def.facts_read.contains(&fact.as_str()), "{fact}");
                }
            }
            SignalStatus::Clear | SignalStatus::NotApplicable => {
                assert_eq!(signal.weight, 0);
                assert!(signal.evidence.is_empty() && signal.missing_facts.is_empty());
            }
        }
    }
    assert_eq!(e.score, total.min(100));
    assert!((0..=100).contains(&e.score));
    let account = e
        .account
        .as_ref()
        .expect("a new verdict has its account section");
    spec_account(account, profile);
    let knocked_out = e
        .signals
        .iter()
        .any(|s| s.knockout && s.status == SignalStatus::Fired)
        || account.lifecycle.knockout;
    let expected = if knocked_out || e.score >= profile.disqualify_threshold {
        Outcome::Disqualified
    } else if e.score >= profile.review_threshold {
        Outcome::NeedsReview
    } else {
        Outcome::Qualified
    };
    assert_eq!(e.outcome, expected);
    let breakdown = e.stage_breakdown();
    assert_eq!(breakdown.iter().map(|b| b.score).sum::<i32>(), total);
    assert_eq!(
        breakdown
            .iter()
            .map(|b| b.fired + b.clear + b.unknown + b.not_applicable)
            .sum::<i32>(),
        21
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every input of a checked-in corpus (seeds and the inputs of fixed
    /// crashes), through its target's checks.
    fn corpus(target: &str, run: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).expect("the corpus is checked in") {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).expect("a corpus file");
            run(&data);
            inputs += 1;
        }
        inputs
    }

    #[test]
    fn the_requests_corpus_passes_its_checks() {
        assert!(corpus("requests", request) >= REQUESTS.len());
    }

    #[test]
    fn the_rows_corpus_passes_its_checks() {
        assert!(corpus("rows", rows) >= 2);
    }

    #[test]
    fn every_message_is_decoded_as_its_kind() {
        // The empty message of each kind, then one field of a wrong type.
        for kind in 0..REQUESTS.len() as u8 {
            request(&[kind]);
            request(&[kind, 0x0a, 0x01, 0xff]);
        }
    }

    #[test]
    fn a_lead_is_evaluated_as_the_spec_says_at_every_stage_and_date() {
        let facts = pb::LeadFacts {
            employee_count: Some(40),
            country: Some("DE".into()),
            timezone: Some("Asia/Kolkata".into()),
            disrespectful_incidents: Some(1),
            questions_asked: Some(0),
            questions_answered: Some(0),
            priority: Some(pb::Priority::NotNow as i32),
            meetings_cancelled: Some(3),
            max_material_repeats: Some(4),
            ..pb::LeadFacts::default()
        };
        let profile = pb::Profile {
            max_employees: Some(30),
            countries: vec!["de".into(), "AT".into()],
            seller_timezone: "America/Los_Angeles".into(),
            knockouts: vec![pb::Criterion::Disrespectful as i32],
            ..pb::Profile::default()
        };
        for stage in 1..=4 {
            for date in [
                jiff::civil::date(2025, 3, 9),
                jiff::civil::date(-9999, 1, 1),
            ] {
                engine(facts.clone(), profile.clone(), stage, date);
            }
        }
    }
}
