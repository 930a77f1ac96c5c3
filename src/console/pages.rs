//! The console's pages: pure functions from what the application returns to
//! HTML. maud escapes every value it writes; statuses carry words as well as
//! colours.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use super::{SignedIn, lead_href, query_value};
use crate::auth::Role;
use crate::domain::account::{Account, ChurnStatus, PlaybookStatus, ValueStatus};
use crate::domain::{Outcome, SignalStatus, Stage};
use crate::qualification::LeadView;
use crate::records::VerdictRecord;

pub(super) fn title_case(code: &str) -> String {
    let lower = code.replace('_', " ").to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn outcome_badge(outcome: Option<Outcome>) -> Markup {
    match outcome {
        Some(o) => html! {
            span class={ "badge " (o.code().to_ascii_lowercase()) } { (title_case(o.code())) }
        },
        None => html! { span class="badge none" { "No verdict" } },
    }
}

pub(super) fn time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// The frame of every page: the navigation, who is signed in, sign-out.
pub(super) fn layout(user: Option<&SignedIn>, title: &str, body: Markup) -> Markup {
    layout_refreshing(user, title, false, body)
}

/// [`layout`], reloading itself every second while `refresh` (a job's
/// progress, without JavaScript).
pub(super) fn layout_refreshing(
    user: Option<&SignedIn>,
    title: &str,
    refresh: bool,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="1"; }
                title { (title) " · leadqual" }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                header class="top" {
                    a class="brand" href="/leads" { "leadqual" }
                    @if let Some(user) = user {
                        nav aria-label="Main" {
                            a href="/leads" { "Review queue" }
                            a href="/funnel" { "Funnel" }
                            a href="/profile" { "Profile" }
                            @if user.caller.role.includes(Role::Scorer) { a href="/import" { "Import" } }
                            @if user.caller.role.includes(Role::Admin) { a href="/audit" { "Audit" } }
                        }
                        div class="who" {
                            span { "Tenant " strong { (user.caller.tenant) } " · "
                                (title_case(user.caller.role.code())) }
                            form method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(user.csrf);
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn error(
    user: Option<&SignedIn>,
    status: StatusCode,
    message: &str,
    fields: &[String],
) -> Markup {
    let heading = status.canonical_reason().unwrap_or("Error");
    layout(
        user,
        heading,
        html! {
            h1 { (heading) }
            p role="alert" { (message) }
            @if !fields.is_empty() {
                ul class="violations" { @for f in fields { li { (f) } } }
            }
            p { a href="/leads" { "Back to the review queue" } }
        },
    )
}

pub fn sign_in(csrf: &str, next: &str, problem: Option<&str>) -> Markup {
    layout(
        None,
        "Sign in",
        html! {
            h1 { "Sign in" }
            p { "Sign in with an API key of your tenant. Its role decides what you can see and do here, as over the API." }
            @if let Some(problem) = problem {
                p role="alert" class="problem" { (problem) }
            }
            form method="post" action="/sign-in" class="stack" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input type="password" id="key" name="key" autocomplete="off" autofocus
                    placeholder="lq_…" maxlength="4096";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The review queue: leads by effective outcome and stage, newest first.
pub fn queue(
    user: &SignedIn,
    leads: &[LeadView],
    outcome: Option<Outcome>,
    stage: Option<Stage>,
    next: Option<&str>,
) -> Markup {
    let outcomes = [
        Outcome::NeedsReview,
        Outcome::Disqualified,
        Outcome::Qualified,
    ];
    let query = |after: &str| {
        let mut q = Vec::new();
        if let Some(o) = outcome {
            q.push(format!("outcome={}", o.code().to_ascii_lowercase()));
        }
        if let Some(s) = stage {
            q.push(format!("stage={}", s.code().to_ascii_lowercase()));
        }
        q.push(format!("after={}", query_value(after)));
        q.join("&")
    };
    layout(
        Some(user),
        "Review queue",
        html! {
            h1 { "Review queue" }
            form method="get" action="/leads" class="filters" role="search" {
                label { "Outcome in force "
                    select name="outcome" {
                        option value="" selected[outcome.is_none()] { "Any" }
                        @for o in outcomes {
                            option value=(o.code().to_ascii_lowercase()) selected[outcome == Some(o)] { (title_case(o.code())) }
                        }
                    }
                }
                label { "Stage "
                    select name="stage" {
                        option value="" selected[stage.is_none()] { "Any" }
                        @for s in Stage::ALL {
                            option value=(s.code().to_ascii_lowercase()) selected[stage == Some(s)] { (title_case(s.code())) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            form method="get" action="/leads" class="filters" role="search" {
                label { "Lead id " input type="search" name="lead_id" maxlength="128"; }
                button type="submit" { "Open" }
            }
            @if leads.is_empty() {
                p { "No leads match." }
            } @else {
                table class="queue" {
                    caption { "Most recently qualified first" }
                    thead { tr {
                        th scope="col" { "Lead" } th scope="col" { "Stage" }
                        th scope="col" { "Outcome in force" } th scope="col" class="num" { "Score" }
                        th scope="col" { "Top fired criteria" } th scope="col" { "Updated" }
                    } }
                    tbody {
                        @for view in leads {
                            @let (effective, _) = view.effective_outcome();
                            @let verdict = view.latest_verdict.as_ref();
                            tr {
                                td { a href=(lead_href(&view.lead.lead_id)) { (view.lead.lead_id) } }
                                td { (title_case(view.lead.stage.code())) }
                                td { (outcome_badge(effective))
                                    @if view.active_override.is_some() { " " span class="note" { "(override)" } } }
                                td class="num" { @if let Some(v) = verdict { (v.evaluation.score) } }
                                td { @if let Some(v) = verdict { (top_fired(v)) } }
                                td { (time(view.lead.updated_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { a rel="next" href={ "/leads?" (query(next)) } { "Next page" } }
            }
        },
    )
}

/// The three heaviest fired criteria of a verdict.
fn top_fired(v: &VerdictRecord) -> String {
    let mut fired: Vec<_> = v
        .evaluation
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .collect();
    fired.sort_by_key(|s| std::cmp::Reverse(s.weight));
    let codes: Vec<&str> = fired.iter().take(3).map(|s| s.criterion.code()).collect();
    codes.join(", ")
}

fn status_badge(status: SignalStatus) -> Markup {
    html! { span class={ "status " (status.code().to_ascii_lowercase()) } { (title_case(status.code())) } }
}

/// The score over time as an SVG line, oldest on the left.
fn score_chart(history: &[VerdictRecord]) -> Markup {
    let points: Vec<(usize, i32)> = history
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| (i, v.evaluation.score))
        .collect();
    let (w, h) = (600.0, 160.0);
    let step = if points.len() > 1 {
        (w - 40.0) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy = |(i, score): (usize, i32)| {
        (
            20.0 + step * i as f64,
            h - 20.0 - f64::from(score) * (h - 40.0) / 100.0,
        )
    };
    let line: Vec<String> = points
        .iter()
        .map(|&p| {
            let (x, y) = xy(p);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let scores: Vec<String> = points.iter().map(|(_, s)| s.to_string()).collect();
    html! {
        figure {
            svg class="chart" viewBox={ "0 0 " (w) " " (h) } role="img"
                aria-label={ "Score of the last " (points.len()) " verdicts, oldest first: " (scores.join(", ")) } {
                line x1="20" y1=(h - 20.0) x2=(w - 20.0) y2=(h - 20.0) class="axis" {}
                line x1="20" y1="20" x2="20" y2=(h - 20.0) class="axis" {}
                text x="0" y="24" class="tick" { "100" }
                text x="8" y=(h - 16.0) class="tick" { "0" }
                polyline points=(line.join(" ")) class="score" {}
                @for p in &points {
                    @let (x, y) = xy(*p);
                    circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" class="dot" {}
                }
            }
            figcaption { "Score over time, oldest first: " (scores.join(" → ")) }
        }
    }
}

fn account_section(a: &Account) -> Markup {
    let v = &a.value;
    html! {
        section aria-labelledby="account" {
            h2 id="account" { "As a client" }
            h3 { "Value: " (title_case(v.status.code()))
                @if let (Some(score), Some(tier)) = (v.score, v.tier) { ", score " (score) ", tier " (tier.code()) } }
            table {
                thead { tr { th scope="col" { "Factor" } th scope="col" { "Status" } th scope="col" class="num" { "Points" } th scope="col" { "Evidence" } } }
                tbody {
                    @for f in &v.factors {
                        tr {
                            td { (title_case(f.factor.code())) }
                            td { (title_case(f.status.code())) }
                            td class="num" { (format!("{:.2}", f.points)) " of " (f.weight) }
                            td { @if f.status == ValueStatus::Unknown { "missing: " (f.missing_facts.join(", ")) } @else { (f.evidence) } }
                        }
                    }
                }
            }
            h3 { "Lifecycle: " (title_case(a.lifecycle.class.code()))
                @if a.lifecycle.knockout { " — disqualifies the lead (black list)" } }
            p { (a.lifecycle.evidence) }
            p { strong { "Action: " } (a.lifecycle.action) }
            @if !a.lifecycle.missing_facts.is_empty() {
                p class="note" { "Not known yet: " (a.lifecycle.missing_facts.join(", ")) }
            }
            h3 { "Churn: " (title_case(a.churn.status.code()))
                @if a.churn.urgent { " — urgent" } }
            p { (a.churn.evidence) }
            @if a.churn.status == ChurnStatus::AtRisk { p { strong { "Action: " } (a.churn.action) } }
            h3 { "Handling playbook" }
            table {
                thead { tr { th scope="col" { "Client type" } th scope="col" { "Status" } th scope="col" { "Evidence" } th scope="col" { "Advice" } } }
                tbody {
                    @for e in &a.playbook {
                        tr {
                            td { (title_case(e.client_type.code())) }
                            td { (title_case(e.status.code())) }
                            td { @if e.status == PlaybookStatus::Unknown { "missing: " (e.missing_facts.join(", ")) } @else { (e.evidence) } }
                            td { @if e.status == PlaybookStatus::Matched { (e.advice) } }
                        }
                    }
                }
            }
        }
    }
}

/// A lead: facts, the latest verdict stage by stage, the account section,
/// the history, and the override in force with its forms.
pub fn lead(
    user: &SignedIn,
    view: &LeadView,
    history: &[VerdictRecord],
    can_override: bool,
) -> Markup {
    let lead = &view.lead;
    let (effective, reason) = view.effective_outcome();
    let facts = serde_json::to_value(&lead.facts).unwrap_or_default();
    let lead_path = lead_href(&lead.lead_id);
    layout(
        Some(user),
        &lead.lead_id,
        html! {
            h1 { "Lead " (lead.lead_id) }
            p class="summary" {
                (outcome_badge(effective)) " "
                span { (reason) }
            }
            p { "Stage " strong { (title_case(lead.stage.code())) } " · updated " (time(lead.updated_at)) }
            section aria-labelledby="override" {
                h2 id="override" { "Override" }
                @match &view.active_override {
                    Some(o) => {
                        p { "In force: " (outcome_badge(Some(o.outcome))) " by " (o.author) ", " (time(o.created_at))
                            @if let Some(until) = o.expires_at { ", until " (time(until)) }
                            ": " (o.reason) }
                    }
                    None => { p { "None in force." } }
                }
                @if can_override {
                    form method="post" action={ (lead_path) "/override" } class="stack" {
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="outcome" { "Outcome" }
                        select id="outcome" name="outcome" required {
                            @for o in [Outcome::Qualified, Outcome::NeedsReview, Outcome::Disqualified] {
                                option value=(o.code().to_ascii_lowercase()) { (title_case(o.code())) }
                            }
                        }
                        label for="reason" { "Reason" }
                        textarea id="reason" name="reason" required maxlength="2000" rows="2" {}
                        label for="author" { "Decided by" }
                        input id="author" name="author" required maxlength="200" placeholder="jane@seller.example";
                        label for="expires" { "Until (optional)" }
                        input id="expires" name="expires" type="date";
                        button type="submit" { "Override" }
                    }
                    @if view.active_override.is_some() {
                        form method="post" action={ (lead_path) "/override/clear" } class="stack" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            label for="clear-reason" { "Why withdraw it" }
                            input id="clear-reason" name="reason" required maxlength="2000";
                            button type="submit" { "Withdraw the override" }
                        }
                    }
                } @else {
                    p class="note" { "Overriding needs the scorer role." }
                }
            }
            @if let Some(v) = &view.latest_verdict {
                section aria-labelledby="verdict" {
                    h2 id="verdict" { "Latest verdict" }
                    p { "Score " strong { (v.evaluation.score) } " · " (outcome_badge(Some(v.evaluation.outcome)))
                        " · profile version " (v.profile_version) " · " (time(v.evaluated_at)) }
                    @for stage in Stage::ALL {
                        h3 { (title_case(stage.code())) }
                        table class="signals" {
                            thead { tr {
                                th scope="col" { "Criterion" } th scope="col" { "Status" } th scope="col" class="num" { "Weight" }
                                th scope="col" { "Evidence" } th scope="col" { "Remedy or missing facts" }
                            } }
                            tbody {
                                @for s in v.evaluation.signals.iter().filter(|s| s.stage() == stage) {
                                    tr {
                                        td { (s.criterion.code()) @if s.knockout { " (knockout)" } }
                                        td { (status_badge(s.status)) }
                                        td class="num" { (s.weight) }
                                        td { (s.evidence) }
                                        td { @if s.missing_facts.is_empty() { (s.remedy) } @else { "missing: " (s.missing_facts.join(", ")) } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(account) = &v.evaluation.account { (account_section(account)) }
            }
            section aria-labelledby="facts" {
                h2 id="facts" { "Facts" }
                @if let Some(map) = facts.as_object() {
                    @if map.is_empty() { p { "None known yet." } }
                    dl class="facts" {
                        @for (name, value) in map {
                            dt { (name) }
                            dd { @match value { serde_json::Value::String(s) => { (s) } other => { (other.to_string()) } } }
                        }
                    }
                }
            }
            section aria-labelledby="history" {
                h2 id="history" { "History" }
                @if history.len() > 1 { (score_chart(history)) }
                table {
                    thead { tr { th scope="col" { "Evaluated" } th scope="col" { "Stage" } th scope="col" { "Outcome" } th scope="col" class="num" { "Score" } th scope="col" { "Profile" } } }
                    tbody {
                        @for v in history {
                            tr {
                                td { (time(v.evaluated_at)) }
                                td { (title_case(v.evaluation.stage.code())) }
                                td { (outcome_badge(Some(v.evaluation.outcome))) }
                                td class="num" { (v.evaluation.score) }
                                td { "v" (v.profile_version) }
                            }
                        }
                    }
                }
            }
        },
    )
}
