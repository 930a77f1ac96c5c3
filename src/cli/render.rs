//! Answers as tables for people: pure functions from messages to text.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::time::show;
use crate::proto::v1 as pb;

/// An enum value by its short name: `QUALIFIED`, `CONTACT`, `MAGIC_WAND`.
fn short(name: &'static str, prefix: &str) -> &'static str {
    name.strip_prefix(prefix).unwrap_or(name)
}

pub fn stage(n: i32) -> &'static str {
    pb::Stage::try_from(n).map_or("?", |s| short(s.as_str_name(), "STAGE_"))
}

pub fn outcome(n: i32) -> &'static str {
    pb::Outcome::try_from(n).map_or("?", |o| short(o.as_str_name(), "OUTCOME_"))
}

pub fn criterion(n: i32) -> &'static str {
    pb::Criterion::try_from(n).map_or("?", |c| short(c.as_str_name(), "CRITERION_"))
}

pub fn status(n: i32) -> &'static str {
    pb::SignalStatus::try_from(n).map_or("?", |s| short(s.as_str_name(), "SIGNAL_STATUS_"))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

fn right_align(t: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// `explain`: the lead, its outcomes and override, then every criterion of
/// its latest verdict.
pub fn lead(lead: &pb::Lead) -> String {
    let mut out = String::new();
    out.push_str(&format!("Lead:              {}\n", lead.lead_id));
    out.push_str(&format!("Stage:             {}\n", stage(lead.stage)));
    match &lead.latest_verdict {
        Some(v) => {
            out.push_str(&format!(
                "Outcome:           {} (score {})\n",
                outcome(v.outcome),
                v.score
            ));
            if !v.knockouts_fired.is_empty() {
                let k: Vec<&str> = v.knockouts_fired.iter().map(|c| criterion(*c)).collect();
                out.push_str(&format!("Knockouts fired:   {}\n", k.join(", ")));
            }
        }
        None => out.push_str("Outcome:           - (no verdict)\n"),
    }
    out.push_str(&format!(
        "Effective outcome: {}",
        outcome(lead.effective_outcome)
    ));
    if !lead.effective_outcome_reason.is_empty() {
        out.push_str(&format!(" ({})", lead.effective_outcome_reason));
    }
    out.push('\n');
    match &lead.active_override {
        Some(o) => {
            let until = match &o.expire_time {
                Some(t) => format!("until {}", show(Some(t))),
                None => "until replaced".to_owned(),
            };
            out.push_str(&format!(
                "Override:          {} by {}, {} {}: {}\n",
                outcome(o.outcome),
                o.author,
                show(o.create_time.as_ref()),
                until,
                o.reason
            ));
        }
        None => out.push_str("Override:          none\n"),
    }
    let Some(v) = &lead.latest_verdict else {
        return out;
    };
    out.push_str(&format!(
        "Verdict:           {}, profile version {}, evaluated {}\n",
        v.verdict_id,
        v.profile_version,
        show(v.evaluate_time.as_ref())
    ));
    let mut t = table(&[
        "Stage",
        "Criterion",
        "Status",
        "Weight",
        "Evidence",
        "Remedy / missing facts",
    ]);
    for s in &v.signals {
        let mut status_text = status(s.status).to_owned();
        if s.knockout {
            status_text.push_str(" (knockout)");
        }
        let remedy = if s.missing_facts.is_empty() {
            s.remedy.clone()
        } else {
            format!("missing: {}", s.missing_facts.join(", "))
        };
        t.add_row(vec![
            stage(s.stage).to_owned(),
            criterion(s.criterion).to_owned(),
            status_text,
            s.weight.to_string(),
            s.evidence.clone(),
            remedy,
        ]);
    }
    right_align(&mut t, &[3]);
    out.push_str(&t.to_string());
    out.push('\n');
    if let Some(account) = &v.account {
        out.push_str(&self::account(account));
    }
    out
}

fn enum_name<E: TryFrom<i32>>(n: i32, name: fn(&E) -> &'static str, prefix: &str) -> &'static str {
    E::try_from(n).map_or("?", |e| short(name(&e), prefix))
}

fn missing(facts: &[String]) -> String {
    if facts.is_empty() {
        String::new()
    } else {
        format!("missing: {}", facts.join(", "))
    }
}

/// The account section of a verdict: value, lifecycle, churn and playbook.
fn account(a: &pb::Account) -> String {
    let mut out = String::new();
    if let Some(value) = &a.value {
        let status = enum_name(value.status, pb::ValueStatus::as_str_name, "VALUE_STATUS_");
        let score = match (value.score, value.tier) {
            (Some(score), tier) => format!(
                ", score {score}, tier {}",
                enum_name(tier, pb::ValueTier::as_str_name, "VALUE_TIER_")
            ),
            (None, _) => String::new(),
        };
        out.push_str(&format!("Client value:      {status}{score}\n"));
        let mut t = table(&["Factor", "Status", "Points", "Evidence / missing facts"]);
        for f in &value.factors {
            let evidence = if f.missing_facts.is_empty() {
                f.evidence.clone()
            } else {
                missing(&f.missing_facts)
            };
            t.add_row(vec![
                enum_name(f.factor, pb::ValueFactor::as_str_name, "VALUE_FACTOR_").to_owned(),
                enum_name(f.status, pb::ValueStatus::as_str_name, "VALUE_STATUS_").to_owned(),
                format!("{:.2} of {}", f.points, f.weight),
                evidence,
            ]);
        }
        right_align(&mut t, &[2]);
        out.push_str(&t.to_string());
        out.push('\n');
    }
    if let Some(life) = &a.lifecycle {
        let class = |n| enum_name(n, pb::LifecycleClass::as_str_name, "LIFECYCLE_CLASS_");
        out.push_str(&format!("Lifecycle:         {}", class(life.class)));
        if !life.also_matched.is_empty() {
            let also: Vec<&str> = life.also_matched.iter().map(|c| class(*c)).collect();
            out.push_str(&format!(" (also {})", also.join(", ")));
        }
        if life.knockout {
            out.push_str(" - disqualifies the lead (black_list_knockout)");
        }
        out.push_str(&format!(
            "\n  {}\n  Action: {}\n",
            life.evidence, life.action
        ));
        if !life.missing_facts.is_empty() {
            out.push_str(&format!("  {}\n", missing(&life.missing_facts)));
        }
    }
    if let Some(churn) = &a.churn {
        let status = enum_name(churn.status, pb::ChurnStatus::as_str_name, "CHURN_STATUS_");
        let urgent = if churn.urgent { ", urgent" } else { "" };
        out.push_str(&format!(
            "Churn:             {status}{urgent}\n  {}\n",
            churn.evidence
        ));
        if !churn.action.is_empty() {
            out.push_str(&format!("  Action: {}\n", churn.action));
        }
    }
    let mut t = table(&[
        "Client type",
        "Status",
        "Evidence / missing facts",
        "Advice",
    ]);
    for e in &a.playbook {
        let matched = e.status == pb::PlaybookStatus::Matched as i32;
        let evidence = if e.missing_facts.is_empty() {
            e.evidence.clone()
        } else {
            missing(&e.missing_facts)
        };
        t.add_row(vec![
            enum_name(e.client_type, pb::ClientType::as_str_name, "CLIENT_TYPE_").to_owned(),
            enum_name(
                e.status,
                pb::PlaybookStatus::as_str_name,
                "PLAYBOOK_STATUS_",
            )
            .to_owned(),
            evidence,
            if matched {
                e.advice.clone()
            } else {
                String::new()
            },
        ]);
    }
    out.push_str("Playbook:\n");
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

/// `leads`: one row per lead.
pub fn leads(leads: &[pb::Lead]) -> String {
    let mut t = table(&[
        "Lead",
        "Stage",
        "Outcome",
        "Effective outcome",
        "Score",
        "Updated",
    ]);
    for l in leads {
        let (out, score) = l
            .latest_verdict
            .as_ref()
            .map_or(("-", "-".to_owned()), |v| {
                (outcome(v.outcome), v.score.to_string())
            });
        let mut effective = outcome(l.effective_outcome).to_owned();
        if l.active_override.is_some() {
            effective.push_str(" (override)");
        }
        t.add_row(vec![
            l.lead_id.clone(),
            stage(l.stage).to_owned(),
            out.to_owned(),
            effective,
            score,
            show(l.update_time.as_ref()),
        ]);
    }
    right_align(&mut t, &[4]);
    format!("{t}\n")
}

/// `criteria`: the catalogue.
pub fn criteria(criteria: &[pb::CriterionInfo]) -> String {
    let mut t = table(&[
        "#",
        "Code",
        "Stage",
        "Weight",
        "Title",
        "Facts read",
        "Default thresholds",
    ]);
    for c in criteria {
        t.add_row(vec![
            c.criterion.to_string(),
            c.code.clone(),
            stage(c.stage).to_owned(),
            c.default_weight.to_string(),
            c.title.clone(),
            c.facts_read.join("\n"),
            c.default_thresholds.join("\n"),
        ]);
    }
    right_align(&mut t, &[0, 3]);
    format!("{t}\n")
}

/// `profile get`: every setting of the profile, unset ones as their
/// default.
pub fn profile(p: &pb::Profile) -> String {
    let json = super::json::to_json(p);
    let desc = super::json::pool()
        .get_message_by_name("leadqual.v1.Profile")
        .expect("Profile is in the descriptor set");
    let mut t = table(&["Setting", "Value"]);
    for field in desc.fields() {
        let name = field.name();
        if name == "version" || name == "create_time" {
            continue;
        }
        let value = match json.get(name) {
            None => "(not set)".to_owned(),
            Some(serde_json::Value::Array(items)) if items.is_empty() => "(none)".to_owned(),
            Some(serde_json::Value::String(s)) if s.is_empty() => "(not set)".to_owned(),
            Some(v) => setting_text(v),
        };
        t.add_row(vec![name.to_owned(), value]);
    }
    format!(
        "Profile version {} (created {})\n{t}\n",
        p.version,
        show(p.create_time.as_ref())
    )
}

fn setting_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => short_enum(s).to_owned(),
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => items
            .iter()
            .map(setting_text)
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::Array(items) => items
            .iter()
            .map(setting_text)
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Object(map) => match (map.get("criterion"), map.get("weight")) {
            (Some(c), Some(w)) => format!("{} = {w}", setting_text(c)),
            _ => match (map.get("start"), map.get("end")) {
                (Some(serde_json::Value::String(s)), Some(serde_json::Value::String(e))) => {
                    format!("{s}-{e}")
                }
                _ => v.to_string(),
            },
        },
        other => other.to_string(),
    }
}

fn short_enum(s: &str) -> &str {
    s.strip_prefix("CRITERION_").unwrap_or(s)
}

/// `preview`: the outcome matrix, the criteria that fire more or less
/// often, and a sample of changed leads.
pub fn preview(p: &pb::PreviewProfileResponse) -> String {
    let mut out = format!(
        "{} leads re-evaluated at {} under the candidate and under profile version {}: \
         {} would change outcome.\n\n",
        p.leads_evaluated,
        show(p.evaluate_time.as_ref()),
        p.current_profile_version,
        p.leads_changed
    );
    let outcomes = [
        pb::Outcome::Qualified,
        pb::Outcome::NeedsReview,
        pb::Outcome::Disqualified,
    ];
    let mut header = vec!["now \\ candidate".to_owned()];
    header.extend(outcomes.iter().map(|o| outcome(*o as i32).to_owned()));
    let mut t = table(&[]);
    t.set_header(header);
    for from in outcomes {
        let mut row = vec![outcome(from as i32).to_owned()];
        for to in outcomes {
            let leads: i64 = p
                .transitions
                .iter()
                .filter(|tr| tr.from == from as i32 && tr.to == to as i32)
                .map(|tr| tr.leads)
                .sum();
            row.push(leads.to_string());
        }
        t.add_row(row);
    }
    right_align(&mut t, &[1, 2, 3]);
    out.push_str(&format!(
        "Outcomes (rows: now, columns: candidate)\n{t}\n\n"
    ));

    let mut shifts: Vec<&pb::CriterionShift> = p
        .criteria
        .iter()
        .filter(|c| c.fired_after != c.fired_before)
        .collect();
    shifts.sort_by_key(|c| {
        (
            std::cmp::Reverse((c.fired_after - c.fired_before).abs()),
            c.criterion,
        )
    });
    if shifts.is_empty() {
        out.push_str("No criterion would fire more or less often.\n");
    } else {
        let mut t = table(&["Criterion", "Fires now", "Would fire", "Change"]);
        for c in shifts {
            t.add_row(vec![
                criterion(c.criterion).to_owned(),
                c.fired_before.to_string(),
                c.fired_after.to_string(),
                format!("{:+}", c.fired_after - c.fired_before),
            ]);
        }
        right_align(&mut t, &[1, 2, 3]);
        out.push_str(&format!(
            "Criteria that would fire more or less often\n{t}\n"
        ));
    }

    if !p.sample.is_empty() {
        let mut t = table(&["Lead", "Now", "Candidate", "Newly fired", "Cleared"]);
        for c in &p.sample {
            let fired = |v: &Option<pb::Verdict>| -> Vec<i32> {
                v.as_ref().map_or_else(Vec::new, |v| {
                    v.signals
                        .iter()
                        .filter(|s| s.status == pb::SignalStatus::Fired as i32)
                        .map(|s| s.criterion)
                        .collect()
                })
            };
            let before = fired(&c.current);
            let after = fired(&c.candidate);
            let names = |xs: Vec<i32>| -> String {
                xs.into_iter().map(criterion).collect::<Vec<_>>().join(", ")
            };
            let verdict = |v: &Option<pb::Verdict>| {
                v.as_ref().map_or("-".to_owned(), |v| {
                    let knockouts: Vec<&str> =
                        v.knockouts_fired.iter().map(|c| criterion(*c)).collect();
                    if knockouts.is_empty() {
                        format!("{} ({})", outcome(v.outcome), v.score)
                    } else {
                        format!(
                            "{} ({}, knockout {})",
                            outcome(v.outcome),
                            v.score,
                            knockouts.join(", ")
                        )
                    }
                })
            };
            t.add_row(vec![
                c.lead_id.clone(),
                verdict(&c.current),
                verdict(&c.candidate),
                names(
                    after
                        .iter()
                        .copied()
                        .filter(|x| !before.contains(x))
                        .collect(),
                ),
                names(
                    before
                        .iter()
                        .copied()
                        .filter(|x| !after.contains(x))
                        .collect(),
                ),
            ]);
        }
        out.push_str(&format!(
            "\nSample of changed leads ({} of {})\n{t}\n",
            p.sample.len(),
            p.leads_changed
        ));
    }
    out
}

/// `stats`: criteria, outcomes per stage, what disqualifies.
pub fn stats(s: &pb::GetSignalStatsResponse, range: &str) -> String {
    let mut out = format!(
        "{} leads counted, over their latest verdict ({range}).\n\n",
        s.leads
    );
    let mut t = table(&[
        "Criterion",
        "Fired",
        "Clear",
        "Unknown",
        "Not applicable",
        "Most missing facts",
    ]);
    for c in &s.criteria {
        let missing = c
            .missing_facts
            .iter()
            .map(|m| format!("{} ({})", m.fact, m.leads))
            .collect::<Vec<_>>()
            .join(", ");
        t.add_row(vec![
            criterion(c.criterion).to_owned(),
            c.fired.to_string(),
            c.clear.to_string(),
            c.unknown.to_string(),
            c.not_applicable.to_string(),
            missing,
        ]);
    }
    right_align(&mut t, &[1, 2, 3, 4]);
    out.push_str(&format!("{t}\n\n"));

    let mut t = table(&["Stage", "Qualified", "Needs review", "Disqualified"]);
    for st in &s.stages {
        t.add_row(vec![
            stage(st.stage).to_owned(),
            st.qualified.to_string(),
            st.needs_review.to_string(),
            st.disqualified.to_string(),
        ]);
    }
    right_align(&mut t, &[1, 2, 3]);
    out.push_str(&format!("Latest outcomes per stage\n{t}\n\n"));

    if s.disqualifying.is_empty() {
        out.push_str("No disqualified lead in the range.\n");
    } else {
        let mut t = table(&["Criterion", "Disqualified leads", "As knockout"]);
        for d in &s.disqualifying {
            t.add_row(vec![
                criterion(d.criterion).to_owned(),
                d.leads.to_string(),
                d.as_knockout.to_string(),
            ]);
        }
        right_align(&mut t, &[1, 2]);
        out.push_str(&format!("What disqualifies\n{t}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn verdict(outcome: pb::Outcome, score: i32, fired: &[pb::Criterion]) -> pb::Verdict {
        pb::Verdict {
            verdict_id: "v-1".into(),
            lead_id: "L-1".into(),
            stage: pb::Stage::Contact as i32,
            outcome: outcome as i32,
            score,
            profile_version: 2,
            evaluate_time: ts(1_767_225_600),
            signals: fired
                .iter()
                .map(|c| pb::Signal {
                    criterion: *c as i32,
                    stage: pb::Stage::Contact as i32,
                    status: pb::SignalStatus::Fired as i32,
                    weight: 10,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The table row whose first cell is `first`, as its cells.
    fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
        text.lines()
            .map(|l| {
                l.split(['│', '┆'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
            })
            .find(|cells| cells.first() == Some(&first))
            .unwrap_or_else(|| panic!("no row {first} in\n{text}"))
    }

    #[test]
    fn explain_shows_outcomes_the_override_and_every_signal() {
        let mut v = verdict(pb::Outcome::NeedsReview, 35, &[]);
        v.signals = vec![
            pb::Signal {
                criterion: pb::Criterion::Disrespectful as i32,
                stage: pb::Stage::Contact as i32,
                status: pb::SignalStatus::Fired as i32,
                weight: 30,
                knockout: false,
                evidence: "2 disrespectful incidents; at most 0 allowed".into(),
                remedy: "no further incidents".into(),
                missing_facts: vec![],
            },
            pb::Signal {
                criterion: pb::Criterion::WithholdsAnswers as i32,
                stage: pb::Stage::Contact as i32,
                status: pb::SignalStatus::Unknown as i32,
                evidence: "questions not known".into(),
                missing_facts: vec!["questions_asked".into(), "questions_answered".into()],
                ..Default::default()
            },
        ];
        let lead = pb::Lead {
            lead_id: "L-1".into(),
            stage: pb::Stage::Contact as i32,
            latest_verdict: Some(v),
            effective_outcome: pb::Outcome::Qualified as i32,
            effective_outcome_reason: "override by jane".into(),
            active_override: Some(pb::VerdictOverride {
                outcome: pb::Outcome::Qualified as i32,
                author: "jane".into(),
                reason: "known customer".into(),
                create_time: ts(1_767_225_600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = super::lead(&lead);
        assert!(
            text.contains("Outcome:           NEEDS_REVIEW (score 35)"),
            "{text}"
        );
        assert!(
            text.contains("Effective outcome: QUALIFIED (override by jane)"),
            "{text}"
        );
        assert!(
            text.contains("Override:          QUALIFIED by jane, 2026-01-01 00:00:00Z until replaced: known customer"),
            "{text}"
        );
        assert_eq!(
            row(&text, "CONTACT"),
            [
                "CONTACT",
                "DISRESPECTFUL",
                "FIRED",
                "30",
                "2 disrespectful incidents; at most 0 allowed",
                "no further incidents"
            ]
        );
        assert!(
            text.contains("missing: questions_asked, questions_answered"),
            "{text}"
        );
    }

    #[test]
    fn explain_shows_the_account_section_in_a_sellers_words() {
        use crate::domain::{Profile, Stage, evaluate};
        use jiff::civil::date;
        // SPEC-ACCOUNTS' worked example, evaluated on its date.
        let facts = crate::domain::tests::accounts::acme_42();
        let evaluation = evaluate(
            &facts,
            &Profile::default(),
            Stage::Study,
            date(2026, 11, 23),
        );
        let account = evaluation.account.as_ref().expect("an account section");
        let mut v = verdict(pb::Outcome::Qualified, 0, &[]);
        v.account = Some(crate::grpc::account::account_to_wire(account));
        let lead = pb::Lead {
            lead_id: "acme-42".into(),
            latest_verdict: Some(v),
            ..Default::default()
        };
        let text = super::lead(&lead);
        assert!(
            text.contains("Client value:      ASSESSED, score 75, tier A"),
            "{text}"
        );
        assert_eq!(
            &row(&text, "REFERRALS")[..3],
            ["REFERRALS", "ASSESSED", "13.33 of 20"]
        );
        assert!(text.contains("Lifecycle:         BUYER\n"), "{text}");
        assert!(text.contains("missing: strategic_account"), "{text}");
        assert!(
            text.contains("Churn:             AT_RISK, urgent"),
            "{text}"
        );
        assert!(
            text.contains("no contact for 120 days; 90 is the limit"),
            "{text}"
        );
        let scope = row(&text, "SCOPE_CREEP");
        assert_eq!(scope[1], "MATCHED", "{text}");
        assert!(scope[3].starts_with("scope in writing"), "{text}");
        assert_eq!(row(&text, "URGENT")[1], "NOT_MATCHED", "{text}");
        assert_eq!(
            row(&text, "INDECISIVE")[2],
            "missing: decision_postponements"
        );
    }

    #[test]
    fn a_lead_without_override_says_so() {
        let lead = pb::Lead {
            lead_id: "L-2".into(),
            stage: pb::Stage::Identification as i32,
            latest_verdict: Some(verdict(pb::Outcome::Qualified, 0, &[])),
            effective_outcome: pb::Outcome::Qualified as i32,
            ..Default::default()
        };
        let text = super::lead(&lead);
        assert!(text.contains("Override:          none"), "{text}");
        assert!(
            text.contains("Verdict:           v-1, profile version 2"),
            "{text}"
        );
    }

    #[test]
    fn leads_are_listed_one_row_each_with_the_override_marked() {
        let a = pb::Lead {
            lead_id: "A".into(),
            stage: pb::Stage::Study as i32,
            latest_verdict: Some(verdict(pb::Outcome::Disqualified, 75, &[])),
            effective_outcome: pb::Outcome::Qualified as i32,
            active_override: Some(pb::VerdictOverride::default()),
            update_time: ts(1_767_225_600),
            ..Default::default()
        };
        let text = leads(&[a]);
        assert_eq!(
            row(&text, "A"),
            [
                "A",
                "STUDY",
                "DISQUALIFIED",
                "QUALIFIED (override)",
                "75",
                "2026-01-01 00:00:00Z"
            ]
        );
    }

    #[test]
    fn the_preview_matrix_counts_each_transition_once() {
        let p = pb::PreviewProfileResponse {
            current_profile_version: 3,
            leads_evaluated: 10,
            leads_changed: 3,
            transitions: vec![
                pb::OutcomeTransition {
                    from: pb::Outcome::Qualified as i32,
                    to: pb::Outcome::Qualified as i32,
                    leads: 7,
                },
                pb::OutcomeTransition {
                    from: pb::Outcome::Qualified as i32,
                    to: pb::Outcome::Disqualified as i32,
                    leads: 2,
                },
                pb::OutcomeTransition {
                    from: pb::Outcome::NeedsReview as i32,
                    to: pb::Outcome::Qualified as i32,
                    leads: 1,
                },
            ],
            criteria: vec![
                pb::CriterionShift {
                    criterion: pb::Criterion::MagicWand as i32,
                    fired_before: 4,
                    fired_after: 4,
                },
                pb::CriterionShift {
                    criterion: pb::Criterion::OutsideTerritory as i32,
                    fired_before: 0,
                    fired_after: 2,
                },
                pb::CriterionShift {
                    criterion: pb::Criterion::Disorganized as i32,
                    fired_before: 1,
                    fired_after: 0,
                },
            ],
            sample: vec![
                pb::ChangedLead {
                    lead_id: "L-9".into(),
                    current: Some(verdict(pb::Outcome::Qualified, 0, &[])),
                    candidate: Some(verdict(
                        pb::Outcome::Disqualified,
                        40,
                        &[pb::Criterion::OutsideTerritory],
                    )),
                },
                pb::ChangedLead {
                    lead_id: "L-10".into(),
                    current: Some(verdict(
                        pb::Outcome::NeedsReview,
                        30,
                        &[pb::Criterion::Disrespectful],
                    )),
                    candidate: Some(pb::Verdict {
                        knockouts_fired: vec![pb::Criterion::Disrespectful as i32],
                        ..verdict(
                            pb::Outcome::Disqualified,
                            30,
                            &[pb::Criterion::Disrespectful],
                        )
                    }),
                },
            ],
            ..Default::default()
        };
        let text = preview(&p);
        assert!(
            text.contains("10 leads re-evaluated") && text.contains("3 would change outcome"),
            "{text}"
        );
        assert_eq!(row(&text, "QUALIFIED"), ["QUALIFIED", "7", "0", "2"]);
        assert_eq!(row(&text, "NEEDS_REVIEW"), ["NEEDS_REVIEW", "1", "0", "0"]);
        assert_eq!(row(&text, "DISQUALIFIED"), ["DISQUALIFIED", "0", "0", "0"]);
        assert_eq!(
            row(&text, "OUTSIDE_TERRITORY"),
            ["OUTSIDE_TERRITORY", "0", "2", "+2"]
        );
        assert_eq!(row(&text, "DISORGANIZED"), ["DISORGANIZED", "1", "0", "-1"]);
        assert!(
            !text.contains("MAGIC_WAND"),
            "an unchanged criterion is not listed: {text}"
        );
        assert_eq!(
            row(&text, "L-9"),
            [
                "L-9",
                "QUALIFIED (0)",
                "DISQUALIFIED (40)",
                "OUTSIDE_TERRITORY"
            ]
        );
    }

    #[test]
    fn stats_show_criteria_stages_and_what_disqualifies() {
        let s = pb::GetSignalStatsResponse {
            leads: 12,
            criteria: vec![pb::CriterionStats {
                criterion: pb::Criterion::WithholdsAnswers as i32,
                fired: 2,
                clear: 3,
                unknown: 6,
                not_applicable: 1,
                missing_facts: vec![pb::MissingFactCount {
                    fact: "questions_asked".into(),
                    leads: 6,
                }],
            }],
            stages: vec![pb::StageOutcomes {
                stage: pb::Stage::Contact as i32,
                qualified: 5,
                needs_review: 4,
                disqualified: 3,
            }],
            disqualifying: vec![pb::DisqualifyingCriterion {
                criterion: pb::Criterion::Disrespectful as i32,
                leads: 3,
                as_knockout: 1,
            }],
        };
        let text = stats(&s, "the last 7 days");
        assert!(
            text.starts_with("12 leads counted, over their latest verdict (the last 7 days)."),
            "{text}"
        );
        assert_eq!(
            row(&text, "WITHHOLDS_ANSWERS"),
            [
                "WITHHOLDS_ANSWERS",
                "2",
                "3",
                "6",
                "1",
                "questions_asked (6)"
            ]
        );
        assert_eq!(row(&text, "CONTACT"), ["CONTACT", "5", "4", "3"]);
        assert_eq!(row(&text, "DISRESPECTFUL"), ["DISRESPECTFUL", "3", "1"]);
    }

    #[test]
    fn a_profile_lists_every_setting_with_defaults_named() {
        let p = pb::Profile {
            version: 4,
            min_employees: Some(10),
            target_verticals: vec!["saas".into(), "fintech".into()],
            weights: vec![
                pb::CriterionWeight {
                    criterion: pb::Criterion::MagicWand as i32,
                    weight: 40,
                },
                pb::CriterionWeight {
                    criterion: pb::Criterion::Disorganized as i32,
                    weight: 5,
                },
            ],
            seller_business_hours: Some(pb::BusinessHours {
                start: "08:00".into(),
                end: "17:00".into(),
            }),
            ..Default::default()
        };
        let text = profile(&p);
        assert!(text.starts_with("Profile version 4"), "{text}");
        assert_eq!(row(&text, "min_employees"), ["min_employees", "10"]);
        assert_eq!(row(&text, "max_employees"), ["max_employees", "(not set)"]);
        assert_eq!(
            row(&text, "target_verticals"),
            ["target_verticals", "saas, fintech"]
        );
        assert_eq!(row(&text, "weights"), ["weights", "MAGIC_WAND = 40"]);
        assert!(
            text.lines()
                .any(|l| l.contains("DISORGANIZED = 5") && !l.contains("weights")),
            "one weight per line: {text}"
        );
        assert_eq!(
            row(&text, "seller_business_hours"),
            ["seller_business_hours", "08:00-17:00"]
        );
        assert_eq!(row(&text, "knockouts"), ["knockouts", "(none)"]);
    }

    #[test]
    fn criteria_are_listed_with_their_facts() {
        let c = pb::CriterionInfo {
            criterion: 19,
            code: "MEETING_DISRUPTIONS".into(),
            stage: pb::Stage::Recommendation as i32,
            title: "Meeting disruptions".into(),
            facts_read: vec!["meetings_cancelled".into(), "meetings_rescheduled".into()],
            default_thresholds: vec!["max_meeting_disruptions = 3".into()],
            default_weight: 20,
            ..Default::default()
        };
        let text = criteria(&[c]);
        assert_eq!(
            row(&text, "19"),
            [
                "19",
                "MEETING_DISRUPTIONS",
                "RECOMMENDATION",
                "20",
                "Meeting disruptions",
                "meetings_cancelled",
                "max_meeting_disruptions = 3"
            ]
        );
        assert!(text.contains("meetings_rescheduled"), "{text}");
    }
}
