//! The profile page, its edit form and the preview of a candidate: pure
//! functions from what the application returns to HTML, in the style of
//! [`super::pages`].

use std::collections::BTreeSet;

use axum::http::StatusCode;
use maud::{Markup, html};

use super::SignedIn;
use super::pages::{layout, outcome_badge, time, title_case};
use super::profile::{
    DEFAULT, Kind, ProfileForm, SECTIONS, Section, Setting, input_of, invalid_inputs, weight_name,
};
use crate::domain::{CATALOGUE, Criterion, Outcome, Violation};
use crate::proto::v1 as pb;
use crate::qualification::Preview;
use crate::records::ProfileVersion;

const OUTCOMES: [Outcome; 3] = [
    Outcome::Qualified,
    Outcome::NeedsReview,
    Outcome::Disqualified,
];

/// What `/profile` shows.
pub struct Shown<'a> {
    /// The version shown, every setting spelled out.
    pub wire: &'a pb::Profile,
    pub current_version: i64,
    /// A page of versions, newest first.
    pub versions: &'a [ProfileVersion],
    /// The version below which older ones are listed, when there are more.
    pub older: Option<i64>,
    /// The edit form, for an admin looking at the current version.
    pub form: Option<&'a ProfileForm>,
}

fn created(wire: &pb::Profile) -> String {
    wire.create_time
        .and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
        .map(time)
        .unwrap_or_default()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A setting's value as read: its text, or what its absence means.
fn shown_value(s: &Setting, values: &ProfileForm) -> Markup {
    let text = values.value(s.name);
    html! {
        @match s.kind {
            Kind::Flag => { @if text.is_empty() { "No" } @else { "Yes" } }
            _ if text.is_empty() => { span class="note" { (s.unset) } }
            _ => { (text) }
        }
    }
}

fn section_table(section: &Section, values: &ProfileForm) -> Markup {
    html! {
        h3 id={ "view-" (section.id) } { (section.title) }
        table class="settings" aria-labelledby={ "view-" (section.id) } {
            thead { tr { th scope="col" { "Setting" } th scope="col" { "Value" } } }
            tbody {
                @for s in section.settings {
                    tr {
                        th scope="row" { (s.label) " " code class="note" { (s.name) } }
                        td { (shown_value(s, values)) }
                    }
                }
            }
        }
    }
}

fn criteria_table(values: &ProfileForm) -> Markup {
    html! {
        h3 id="view-criteria" { "Criteria: weights and knockouts" }
        table class="settings" aria-labelledby="view-criteria" {
            thead { tr {
                th scope="col" { "Criterion" } th scope="col" { "Stage" }
                th scope="col" class="num" { "Weight" } th scope="col" { "Knockout" }
            } }
            tbody {
                @for def in &CATALOGUE {
                    tr {
                        th scope="row" { code { (def.code) } br; span class="note" { (def.title) } }
                        td { (title_case(def.stage.code())) }
                        td class="num" { (values.value(&weight_name(def.criterion))) }
                        td { @if values.is_knockout(def.criterion) { strong { "Knockout" } } @else { "No" } }
                    }
                }
            }
        }
    }
}

/// Every setting of a profile, read-only.
fn settings(values: &ProfileForm) -> Markup {
    html! {
        @for section in SECTIONS {
            (section_table(section, values))
            @if section.id == "outcome" { (criteria_table(values)) }
        }
    }
}

fn input(s: &Setting, form: &ProfileForm, invalid: &BTreeSet<String>) -> Markup {
    let value = form.value(s.name);
    let bad = invalid.contains(s.name).then_some("true");
    // Empty means the default for most settings: no need to say so.
    let hint = (s.unset != DEFAULT).then(|| format!("hint-{}", s.name));
    html! {
        div class="field" {
            @if s.kind == Kind::Flag {
                label {
                    input type="checkbox" id=(s.name) name=(s.name) value="true"
                        checked[!value.is_empty()] aria-invalid=[bad];
                    " " (s.label) " " code class="note" { (s.name) }
                }
            } @else {
                label for=(s.name) { (s.label) " " code class="note" { (s.name) } }
                @match s.kind {
                    Kind::Whole => {
                        input type="number" step="1" id=(s.name) name=(s.name) value=(value)
                            aria-invalid=[bad] aria-describedby=[hint.as_deref()];
                    }
                    Kind::Decimal => {
                        input type="number" step="any" id=(s.name) name=(s.name) value=(value)
                            aria-invalid=[bad] aria-describedby=[hint.as_deref()];
                    }
                    Kind::Time => {
                        input type="time" id=(s.name) name=(s.name) value=(value)
                            aria-invalid=[bad] aria-describedby=[hint.as_deref()];
                    }
                    Kind::List => {
                        input type="text" id=(s.name) name=(s.name) value=(value)
                            maxlength="16384" aria-invalid=[bad] aria-describedby=[hint.as_deref()];
                    }
                    _ => {
                        input type="text" id=(s.name) name=(s.name) value=(value)
                            maxlength="200" aria-invalid=[bad] aria-describedby=[hint.as_deref()];
                    }
                }
                @if let Some(hint) = &hint {
                    span class="note" id=(hint) { "Empty: " (s.unset) "." }
                }
            }
        }
    }
}

/// The edit form: "Preview impact" (first, so Enter previews) and
/// "Publish", over the version it was opened on.
fn edit_form(user: &SignedIn, form: &ProfileForm, invalid: &BTreeSet<String>) -> Markup {
    html! {
        form method="post" action="/profile" class="profile" {
            input type="hidden" name="csrf" value=(user.csrf);
            input type="hidden" name="expected_version" value=(form.expected_version);
            @for section in SECTIONS {
                fieldset id={ "edit-" (section.id) } {
                    legend { (section.title) }
                    p class="note" { (section.note) }
                    @for s in section.settings { (input(s, form, invalid)) }
                }
                @if section.id == "outcome" { (criteria_inputs(form, invalid)) }
            }
            p class="actions" {
                button type="submit" formaction="/profile/preview" { "Preview impact" }
                " "
                button type="submit" class="publish" { "Publish" }
            }
            p class="note" { "Publishing stores a new version over version " (form.expected_version)
                "; if someone else has published since, nothing is stored." }
        }
    }
}

fn criteria_inputs(form: &ProfileForm, invalid: &BTreeSet<String>) -> Markup {
    html! {
        fieldset id="edit-criteria" {
            legend { "Criteria: weights and knockouts" }
            p class="note" { "A weight from 0 to 100 adds to the score when the criterion fires; a knockout disqualifies on its own. An empty weight is the criterion's default." }
            table class="settings" {
                thead { tr {
                    th scope="col" { "Criterion" } th scope="col" { "Stage" }
                    th scope="col" { "Weight" } th scope="col" { "Knockout" }
                } }
                tbody {
                    @for def in &CATALOGUE {
                        @let name = weight_name(def.criterion);
                        tr {
                            th scope="row" {
                                label for=(name) { code { (def.code) } br; span class="note" { (def.title) } }
                            }
                            td { (title_case(def.stage.code())) }
                            td { input type="number" step="1" id=(name) name=(name) value=(form.value(&name))
                                    aria-invalid=[invalid.contains(&name).then_some("true")]; }
                            td { label {
                                input type="checkbox" name="knockouts" value=(def.code)
                                    checked[form.is_knockout(def.criterion)];
                                " Knockout"
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn versions_table(shown: &Shown) -> Markup {
    html! {
        section aria-labelledby="versions" {
            h2 id="versions" { "Versions" }
            table {
                caption { "Newest first" }
                thead { tr { th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Status" } } }
                tbody {
                    @for v in shown.versions {
                        tr {
                            td { a href={ "/profile?version=" (v.version) } { "Version " (v.version) } }
                            td { (time(v.created_at)) }
                            td {
                                @if v.version == shown.current_version { "Current" }
                                @if v.version == shown.wire.version && v.version != shown.current_version { "Shown above" }
                            }
                        }
                    }
                }
            }
            @if let Some(older) = shown.older {
                p { a rel="next" href={ "/profile?before=" (older) } { "Older versions" } }
            }
        }
    }
}

/// `/profile`: a version's settings, the versions, and the edit form.
pub fn profile(user: &SignedIn, shown: &Shown) -> Markup {
    let wire = shown.wire;
    let values = ProfileForm::of(wire);
    let current = wire.version == shown.current_version;
    let title = if current {
        "Profile".to_owned()
    } else {
        format!("Profile version {}", wire.version)
    };
    layout(
        Some(user),
        &title,
        html! {
            h1 { (title) }
            @if current {
                p class="summary" { "Current version " strong { (wire.version) } ", published " (created(wire)) "." }
            } @else {
                p class="summary" { "Version " strong { (wire.version) } ", published " (created(wire))
                    ", read-only. The current version is " (shown.current_version) ": "
                    a href="/profile" { "see the current profile" } "." }
            }
            section aria-labelledby="settings" {
                h2 id="settings" { "Settings" }
                (settings(&values))
            }
            @if current {
                section aria-labelledby="edit" {
                    h2 id="edit" { "Edit" }
                    @match shown.form {
                        Some(form) => {
                            p { "Change the settings, preview their impact on the stored leads, then publish them as version " (wire.version + 1) "." }
                            (edit_form(user, form, &BTreeSet::new()))
                        }
                        None => { p class="note" { "Editing the profile needs the admin role." } }
                    }
                }
            }
            (versions_table(shown))
        },
    )
}

/// A refused form: what is wrong, and the form again with the values sent.
pub fn refused(
    user: &SignedIn,
    status: StatusCode,
    message: &str,
    violations: &[Violation],
    form: &ProfileForm,
) -> Markup {
    let invalid = invalid_inputs(violations);
    let heading = status.canonical_reason().unwrap_or("Error");
    layout(
        Some(user),
        heading,
        html! {
            h1 { (heading) }
            p role="alert" { (message) }
            @if !violations.is_empty() {
                ul class="violations" {
                    @for v in violations {
                        li {
                            @match input_of(v) {
                                Some(input) => { a href={ "#" (input) } { (v.field) } }
                                None => { (v.field) }
                            }
                            ": " (v.description)
                        }
                    }
                }
            }
            p { a href="/profile" { "Back to the current profile" } }
            section aria-labelledby="edit" {
                h2 id="edit" { "Your values" }
                (edit_form(user, form, &invalid))
            }
        },
    )
}

/// Publishing refused: another version was published since the form was
/// opened. The form keeps the values sent, now over that version.
pub fn conflict(
    user: &SignedIn,
    opened_on: &str,
    current: &ProfileVersion,
    form: &ProfileForm,
) -> Markup {
    layout(
        Some(user),
        "Conflict",
        html! {
            h1 { "Someone else published first" }
            p role="alert" {
                "Someone else published version " (current.version) " first (" (time(current.created_at))
                "), after you opened this form on version " (opened_on) ". Nothing was stored."
            }
            p { a href={ "/profile?version=" (current.version) } { "See version " (current.version) }
                " before deciding. Publishing the form below replaces version " (current.version) " with your values." }
            section aria-labelledby="edit" {
                h2 id="edit" { "Your values" }
                (edit_form(user, form, &BTreeSet::new()))
            }
        },
    )
}

fn leads_of(transitions: &[(Outcome, Outcome, i64)], from: Outcome, to: Outcome) -> i64 {
    transitions
        .iter()
        .find(|(f, t, _)| *f == from && *t == to)
        .map_or(0, |(_, _, n)| *n)
}

fn outcome_matrix(p: &Preview) -> Markup {
    html! {
        table class="matrix" {
            caption { "Leads by outcome under the current profile (rows) and under the candidate (columns)" }
            thead { tr {
                td {}
                @for to in OUTCOMES { th scope="col" { "To " (title_case(to.code())) } }
            } }
            tbody {
                @for from in OUTCOMES {
                    tr {
                        th scope="row" { "From " (title_case(from.code())) }
                        @for to in OUTCOMES {
                            @let n = leads_of(&p.transitions, from, to);
                            td class="num" { @if from == to { (n) " " span class="note" { "(same)" } } @else { (n) } }
                        }
                    }
                }
            }
        }
        @let changes: Vec<_> = p.transitions.iter().filter(|(f, t, _)| f != t).collect();
        @if changes.is_empty() {
            p { "No lead would change outcome." }
        } @else {
            ul class="transitions" {
                @for (from, to, n) in changes {
                    li { (title_case(from.code())) " → " (title_case(to.code())) ": " (plural(*n, "lead", "leads")) }
                }
            }
        }
    }
}

fn criteria_shifts(p: &Preview) -> Markup {
    let shifted: Vec<&(Criterion, i64, i64)> =
        p.criteria.iter().filter(|(_, b, a)| b != a).collect();
    html! {
        @if shifted.is_empty() {
            p { "No criterion would fire more or less often." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Criterion" } th scope="col" class="num" { "Fires now" }
                    th scope="col" class="num" { "With the candidate" } th scope="col" { "Change" }
                } }
                tbody {
                    @for (criterion, before, after) in shifted {
                        tr {
                            th scope="row" { code { (criterion.code()) } br; span class="note" { (criterion.def().title) } }
                            td class="num" { (before) }
                            td class="num" { (after) }
                            td { @if after > before { "Fires more (+" (after - before) ")" }
                                 @else { "Fires less (−" (before - after) ")" } }
                        }
                    }
                }
            }
        }
    }
}

fn changed_leads(p: &Preview) -> Markup {
    html! {
        @if p.sample.is_empty() {
            p { "None." }
        } @else {
            table {
                caption { "The first " (p.sample.len()) " of " (plural(p.leads_changed, "changed lead", "changed leads")) ", by lead id" }
                thead { tr {
                    th scope="col" { "Lead" } th scope="col" { "Now" }
                    th scope="col" { "With the candidate" } th scope="col" { "Knockouts fired" }
                } }
                tbody {
                    @for (now, then) in &p.sample {
                        @let knockouts: Vec<&str> = then.evaluation.knockouts_fired().into_iter().map(Criterion::code).collect();
                        tr {
                            td { a href=(super::lead_href(&now.lead_id)) { (now.lead_id) } }
                            td { (outcome_badge(Some(now.evaluation.outcome))) " score " (now.evaluation.score) }
                            td { (outcome_badge(Some(then.evaluation.outcome))) " score " (then.evaluation.score) }
                            td { (knockouts.join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

/// What the candidate would change, and the candidate in the form.
pub fn preview(user: &SignedIn, p: &Preview, form: &ProfileForm) -> Markup {
    let opened_on = form.expected_version.trim().parse::<i64>().ok();
    let stale = opened_on.filter(|v| p.current_version != 0 && *v != p.current_version);
    layout(
        Some(user),
        "Preview",
        html! {
            h1 { "Impact of the candidate profile" }
            p class="summary" {
                "Re-evaluated " (plural(p.leads_evaluated, "stored lead", "stored leads"))
                " under the current profile (version " (p.current_version) ") and under the candidate, as of "
                (time(p.evaluated_at)) ": " strong { (plural(p.leads_changed, "lead changes", "leads change")) } " outcome. "
                "Nothing is stored until you publish."
            }
            @if let Some(opened_on) = stale {
                p role="alert" { "Version " (p.current_version) " was published after this form was opened on version "
                    (opened_on) "; publishing it will be refused. "
                    a href="/profile" { "Start again from the current profile" } "." }
            }
            section aria-labelledby="outcomes" {
                h2 id="outcomes" { "Outcomes" }
                (outcome_matrix(p))
            }
            section aria-labelledby="criteria" {
                h2 id="criteria" { "Criteria that fire more or less" }
                (criteria_shifts(p))
            }
            section aria-labelledby="changed" {
                h2 id="changed" { "Changed leads" }
                (changed_leads(p))
            }
            section aria-labelledby="edit" {
                h2 id="edit" { "The candidate" }
                p { "Adjust it and preview again, or publish it." }
                (edit_form(user, form, &BTreeSet::new()))
            }
        },
    )
}
