//! The profile page, `/profile`: the current profile with every setting
//! spelled out and its versions (`/profile?version=N` shows one read-only);
//! for admins, a form to preview a candidate's impact on the stored leads
//! (`POST /profile/preview`) and to publish it (`POST /profile`) over the
//! version it was opened on.
//!
//! The form is turned into a `pb::Profile` and checked by the gRPC path's
//! own functions, so a bad value is refused here exactly as over the API and
//! every violation names the same field.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{ConsoleState, MAX_FIELD_BYTES, SignedIn, app_error, html, profile_pages};
use crate::auth::Role;
use crate::domain::{CATALOGUE, Criterion, Violation};
use crate::error::AppError;
use crate::grpc::{convert, requests};
use crate::proto::v1 as pb;

/// Versions listed per page, newest first.
pub const VERSIONS_PAGE: i64 = 50;

/// Most fields a profile form may send: its settings, a weight and a
/// knockout box per criterion, with room to spare.
const MAX_FORM_FIELDS: usize = 400;

/// Longest comma-separated list accepted, in bytes (the gRPC path then
/// bounds its entries).
const MAX_LIST_BYTES: usize = 16 * 1024;

/// How a setting is entered and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number; empty is unset.
    Whole,
    /// A decimal number; empty is unset.
    Decimal,
    /// A checkbox.
    Flag,
    /// Comma-separated values; empty is none.
    List,
    /// An IANA time zone name; empty is none.
    Zone,
    /// A time of day, HH:MM.
    Time,
}

/// One setting of the form: its input name (the `pb::Profile` field, so
/// that a violation of `profile.{name}` points at it), label and kind.
pub struct Setting {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// What an empty value means, shown next to it.
    pub unset: &'static str,
}

/// A group of settings, shown as a table and edited as a fieldset.
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub note: &'static str,
    pub settings: &'static [Setting],
}

const fn setting(
    name: &'static str,
    label: &'static str,
    kind: Kind,
    unset: &'static str,
) -> Setting {
    Setting {
        name,
        label,
        kind,
        unset,
    }
}

pub const DEFAULT: &str = "the default";

/// Every setting but the criteria's weights and knockouts, in the order
/// shown. The criteria table comes after the outcome thresholds.
pub static SECTIONS: &[Section] = &[
    Section {
        id: "fit",
        title: "Ideal customer profile",
        note: "Identification criteria compare a lead against these. Lists are comma-separated.",
        settings: &[
            setting("min_employees", "Fewest employees", Kind::Whole, "no bound"),
            setting("max_employees", "Most employees", Kind::Whole, "no bound"),
            setting(
                "min_annual_revenue_usd",
                "Lowest annual revenue (USD)",
                Kind::Whole,
                "no bound",
            ),
            setting(
                "max_annual_revenue_usd",
                "Highest annual revenue (USD)",
                Kind::Whole,
                "no bound",
            ),
            setting(
                "target_verticals",
                "Target verticals",
                Kind::List,
                "any vertical",
            ),
            setting(
                "target_business_models",
                "Target business models",
                Kind::List,
                "any business model",
            ),
            setting("territories", "Territories", Kind::List, "any territory"),
            setting(
                "countries",
                "Countries (ISO codes, e.g. DE, FR)",
                Kind::List,
                "any country",
            ),
        ],
    },
    Section {
        id: "hours",
        title: "Seller's time zone and hours",
        note: "A lead must share enough business hours with the seller.",
        settings: &[
            setting(
                "seller_timezone",
                "Seller's time zone (IANA, e.g. Europe/Berlin)",
                Kind::Zone,
                "none: the country check only",
            ),
            setting(
                "seller_business_hours.start",
                "Business hours start",
                Kind::Time,
                "09:00 to 18:00",
            ),
            setting(
                "seller_business_hours.end",
                "Business hours end",
                Kind::Time,
                "09:00 to 18:00",
            ),
            setting(
                "min_overlap_hours",
                "Least overlap of business hours (hours)",
                Kind::Decimal,
                DEFAULT,
            ),
        ],
    },
    Section {
        id: "rules",
        title: "Rule thresholds",
        note: "Contact, study and recommendation criteria fire at these limits. Ratios are from 0 to 1.",
        settings: &[
            setting(
                "max_disrespectful_incidents",
                "Disrespectful incidents",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "min_answer_ratio",
                "Least share of questions answered",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "max_contradictions",
                "Contradictory statements",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "min_plan_completion",
                "Least share of plan steps completed",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "min_budget_usd",
                "Least budget (USD)",
                Kind::Whole,
                "no minimum",
            ),
            setting(
                "min_staff",
                "Least staff available",
                Kind::Whole,
                "no minimum",
            ),
            setting(
                "max_missed_sessions",
                "Missed sessions",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "min_assignment_completion",
                "Least share of assignments completed",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "max_meeting_disruptions",
                "Meetings cancelled or rescheduled",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "max_agreed_not_done",
                "Agreed actions not done",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "max_material_repeats_allowed",
                "Repeats of the same material allowed",
                Kind::Whole,
                DEFAULT,
            ),
        ],
    },
    Section {
        id: "outcome",
        title: "Outcome thresholds",
        note: "A score at the review threshold needs review; at the disqualify threshold, or with a knockout fired, the lead is disqualified.",
        settings: &[
            setting(
                "review_threshold",
                "Needs review from score",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "disqualify_threshold",
                "Disqualified from score",
                Kind::Whole,
                DEFAULT,
            ),
        ],
    },
    Section {
        id: "accounts",
        title: "Account section (clients)",
        note: "Value, lifecycle, churn and the handling playbook of clients. The four value weights sum to 100.",
        settings: &[
            setting(
                "value_weight_profit",
                "Value weight: profit",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_weight_referrals",
                "Value weight: referrals",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_weight_tenure",
                "Value weight: tenure",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_weight_cost_to_serve",
                "Value weight: cost to serve",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_profit_target_usd",
                "Profit target (USD)",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_referrals_target",
                "Referrals target",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "value_tenure_target_months",
                "Tenure target (months)",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "tier_a_min_score",
                "Tier A from value score",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "tier_b_min_score",
                "Tier B from value score",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "black_list_min_overdue_usd",
                "Black list from overdue receivables (USD)",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "black_list_knockout",
                "A black-listed client is disqualified (knockout)",
                Kind::Flag,
                "",
            ),
            setting(
                "vip_min_gross_profit_usd",
                "VIP from gross profit (USD)",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "adept_min_share_of_wallet",
                "Adept from share of wallet (0 to 1)",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "loyal_min_orders",
                "Loyal from orders",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "loyal_min_tenure_months",
                "Loyal from tenure (months)",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "churn_contact_gap_days",
                "At risk after days without contact",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "playbook_min_progress_requests_per_week",
                "Playbook: progress requests per week",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "playbook_min_decision_postponements",
                "Playbook: decision postponements",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "playbook_min_rush_requests",
                "Playbook: rush requests",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "playbook_min_median_reply_days",
                "Playbook: median reply time (days)",
                Kind::Decimal,
                DEFAULT,
            ),
            setting(
                "playbook_min_out_of_scope_changes",
                "Playbook: out-of-scope changes",
                Kind::Whole,
                DEFAULT,
            ),
            setting(
                "playbook_min_discount_requested_pct",
                "Playbook: discount requested (%)",
                Kind::Decimal,
                DEFAULT,
            ),
        ],
    },
];

/// The input name of a criterion's weight.
pub fn weight_name(criterion: Criterion) -> String {
    format!("weights.{}", criterion.code())
}

/// The settings as text, as a form shows and sends them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileForm {
    /// Each setting's text by input name (settings and `weights.CODE`).
    values: BTreeMap<String, String>,
    /// The codes of the criteria ticked as knockouts.
    pub knockouts: Vec<String>,
    /// The version the form was opened on.
    pub expected_version: String,
}

/// The form as a request: the profile, the version it must replace, and
/// the criterion of each listed weight (to name it in a violation).
pub struct Candidate {
    pub profile: pb::Profile,
    pub expected_version: Option<i64>,
    weight_codes: Vec<&'static str>,
}

/// A value of `pb::Profile` that a form field holds.
trait Scalar: Sized {
    fn show(&self) -> String;
    fn parse(text: &str, field: &str, v: &mut Vec<Violation>) -> Self;
}

impl Scalar for Option<i64> {
    fn show(&self) -> String {
        self.map(|n| n.to_string()).unwrap_or_default()
    }

    fn parse(text: &str, field: &str, v: &mut Vec<Violation>) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        text.parse()
            .map_err(|_| v.push(Violation::new(field, "must be a whole number")))
            .ok()
    }
}

impl Scalar for Option<i32> {
    fn show(&self) -> String {
        self.map(|n| n.to_string()).unwrap_or_default()
    }

    fn parse(text: &str, field: &str, v: &mut Vec<Violation>) -> Self {
        let wide = Option::<i64>::parse(text, field, v)?;
        i32::try_from(wide)
            .map_err(|_| {
                v.push(Violation::new(
                    field,
                    format!("must be between {} and {}", i32::MIN, i32::MAX),
                ))
            })
            .ok()
    }
}

impl Scalar for Option<f64> {
    fn show(&self) -> String {
        self.map(|n| n.to_string()).unwrap_or_default()
    }

    fn parse(text: &str, field: &str, v: &mut Vec<Violation>) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .or_else(|| {
                v.push(Violation::new(field, "must be a number, e.g. 0.5"));
                None
            })
    }
}

impl Scalar for Option<bool> {
    fn show(&self) -> String {
        match self {
            Some(true) => "true".to_owned(),
            _ => String::new(),
        }
    }

    /// A ticked box sends a value; an unticked one sends nothing.
    fn parse(text: &str, _: &str, _: &mut Vec<Violation>) -> Self {
        Some(!text.is_empty())
    }
}

/// The settings held in one `pb::Profile` field each, both ways.
macro_rules! scalars {
    ($($name:ident),+ $(,)?) => {
        #[cfg(test)]
        const SCALARS: &[&str] = &[$(stringify!($name)),+];

        fn scalars_to_form(p: &pb::Profile, form: &mut ProfileForm) {
            $(form.set(stringify!($name), Scalar::show(&p.$name));)+
        }

        fn scalars_to_wire(form: &ProfileForm, p: &mut pb::Profile, v: &mut Vec<Violation>) {
            $(p.$name = Scalar::parse(
                form.value(stringify!($name)),
                concat!("profile.", stringify!($name)),
                v,
            );)+
        }
    };
}

scalars!(
    min_employees,
    max_employees,
    min_annual_revenue_usd,
    max_annual_revenue_usd,
    min_overlap_hours,
    max_disrespectful_incidents,
    min_answer_ratio,
    max_contradictions,
    min_plan_completion,
    min_budget_usd,
    min_staff,
    max_missed_sessions,
    min_assignment_completion,
    max_meeting_disruptions,
    max_agreed_not_done,
    max_material_repeats_allowed,
    review_threshold,
    disqualify_threshold,
    value_weight_profit,
    value_weight_referrals,
    value_weight_tenure,
    value_weight_cost_to_serve,
    value_profit_target_usd,
    value_referrals_target,
    value_tenure_target_months,
    tier_a_min_score,
    tier_b_min_score,
    black_list_min_overdue_usd,
    vip_min_gross_profit_usd,
    adept_min_share_of_wallet,
    loyal_min_orders,
    loyal_min_tenure_months,
    black_list_knockout,
    churn_contact_gap_days,
    playbook_min_progress_requests_per_week,
    playbook_min_decision_postponements,
    playbook_min_rush_requests,
    playbook_min_median_reply_days,
    playbook_min_out_of_scope_changes,
    playbook_min_discount_requested_pct,
);

fn list_to_form(values: &[String]) -> String {
    values.join(", ")
}

/// Comma-separated values; blank pieces are separators only.
fn list_to_wire(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn setting_kind(name: &str) -> Option<Kind> {
    SECTIONS
        .iter()
        .flat_map(|s| s.settings)
        .find(|s| s.name == name)
        .map(|s| s.kind)
}

impl ProfileForm {
    /// The text of the setting `name`; empty when not set.
    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// Sets a setting's text; empty is the same as absent.
    fn set(&mut self, name: &str, text: String) {
        if !text.is_empty() {
            self.values.insert(name.to_owned(), text);
        }
    }

    pub fn is_knockout(&self, criterion: Criterion) -> bool {
        self.knockouts.iter().any(|k| k == criterion.code())
    }

    /// A stored profile, every setting spelled out, to edit over its version.
    pub fn of(profile: &pb::Profile) -> ProfileForm {
        let mut form = ProfileForm {
            expected_version: profile.version.to_string(),
            ..ProfileForm::default()
        };
        scalars_to_form(profile, &mut form);
        for (name, list) in [
            ("target_verticals", &profile.target_verticals),
            ("target_business_models", &profile.target_business_models),
            ("territories", &profile.territories),
            ("countries", &profile.countries),
        ] {
            form.set(name, list_to_form(list));
        }
        form.set("seller_timezone", profile.seller_timezone.clone());
        if let Some(hours) = &profile.seller_business_hours {
            form.set("seller_business_hours.start", hours.start.clone());
            form.set("seller_business_hours.end", hours.end.clone());
        }
        for w in &profile.weights {
            if let Some(c) = Criterion::from_number(w.criterion) {
                form.set(&weight_name(c), w.weight.to_string());
            }
        }
        form.knockouts = profile
            .knockouts
            .iter()
            .filter_map(|n| Criterion::from_number(*n))
            .map(|c| c.code().to_owned())
            .collect();
        form
    }

    /// A form as sent: every field bounded, unknown fields ignored, the
    /// first of a repeated field kept. Values too long are dropped, with a
    /// violation of their field.
    pub fn sent(pairs: Vec<(String, String)>) -> (ProfileForm, Vec<Violation>) {
        let mut form = ProfileForm::default();
        let mut v = Vec::new();
        if pairs.len() > MAX_FORM_FIELDS {
            v.push(Violation::new(
                "form",
                format!("at most {MAX_FORM_FIELDS} fields, got {}", pairs.len()),
            ));
            return (form, v);
        }
        let mut too_many_knockouts = false;
        for (name, value) in pairs {
            match name.as_str() {
                "csrf" => {}
                "expected_version" => {
                    if value.len() > 32 {
                        v.push(Violation::new(
                            "expected_version",
                            "must be a version number",
                        ));
                    } else {
                        form.expected_version = value;
                    }
                }
                "knockouts" => {
                    let code: String = value.chars().take(64).collect();
                    if form.knockouts.contains(&code) {
                        continue;
                    }
                    if form.knockouts.len() < convert::MAX_CRITERIA_ENTRIES {
                        form.knockouts.push(code);
                    } else if !too_many_knockouts {
                        too_many_knockouts = true;
                        v.push(Violation::new(
                            "profile.knockouts",
                            format!("at most {} entries", convert::MAX_CRITERIA_ENTRIES),
                        ));
                    }
                }
                _ => {
                    let max = match setting_kind(&name) {
                        Some(Kind::List) => MAX_LIST_BYTES,
                        Some(_) => MAX_FIELD_BYTES,
                        None if name
                            .strip_prefix("weights.")
                            .and_then(Criterion::from_code)
                            .is_some() =>
                        {
                            MAX_FIELD_BYTES
                        }
                        None => continue,
                    };
                    if value.len() > max {
                        v.push(Violation::new(
                            format!("profile.{name}"),
                            format!("must be at most {max} bytes"),
                        ));
                    } else if !value.is_empty() {
                        form.values.entry(name).or_insert(value);
                    }
                }
            }
        }
        (form, v)
    }

    /// The form as an UpdateProfile/PreviewProfile profile, with the
    /// violations of values that are not even numbers or criteria; the
    /// rest is for the gRPC path's checks.
    pub fn to_wire(&self, v: &mut Vec<Violation>) -> Candidate {
        let mut p = pb::Profile::default();
        scalars_to_wire(self, &mut p, v);
        p.target_verticals = list_to_wire(self.value("target_verticals"));
        p.target_business_models = list_to_wire(self.value("target_business_models"));
        p.territories = list_to_wire(self.value("territories"));
        p.countries = list_to_wire(self.value("countries"));
        p.seller_timezone = self.value("seller_timezone").trim().to_owned();
        let (start, end) = (
            self.value("seller_business_hours.start").trim(),
            self.value("seller_business_hours.end").trim(),
        );
        if !start.is_empty() || !end.is_empty() {
            p.seller_business_hours = Some(pb::BusinessHours {
                start: start.to_owned(),
                end: end.to_owned(),
            });
        }
        let mut weight_codes = Vec::new();
        for def in &CATALOGUE {
            let text = self.value(&weight_name(def.criterion)).trim();
            if text.is_empty() {
                continue;
            }
            let field = format!("profile.weights[{}].weight", weight_codes.len());
            match text.parse::<i32>() {
                Ok(weight) => {
                    weight_codes.push(def.code);
                    p.weights.push(pb::CriterionWeight {
                        criterion: def.criterion.number(),
                        weight,
                    });
                }
                Err(_) => v.push(Violation::new(
                    field,
                    format!("{}: must be a whole number", def.code),
                )),
            }
        }
        for code in &self.knockouts {
            match Criterion::from_code(code) {
                Some(c) => p.knockouts.push(c.number()),
                None => v.push(Violation::new(
                    "profile.knockouts",
                    "names a criterion that does not exist",
                )),
            }
        }
        let expected_version = match self.expected_version.trim() {
            "" => {
                v.push(Violation::new(
                    "expected_version",
                    "is required: the version this form was opened on",
                ));
                None
            }
            text => text
                .parse()
                .map_err(|_| v.push(Violation::new("expected_version", "must be a whole number")))
                .ok(),
        };
        Candidate {
            profile: p,
            expected_version,
            weight_codes,
        }
    }
}

impl Candidate {
    /// Names the criterion of a violation of a listed weight, whose field
    /// only says its position.
    fn explain(&self, mut violation: Violation) -> Violation {
        let index = violation
            .field
            .strip_prefix("profile.weights[")
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok());
        if let Some(code) = index.and_then(|i| self.weight_codes.get(i)) {
            violation.description = format!("{code}: {}", violation.description);
        }
        violation
    }
}

/// The input a violation points at (its id and name), if the form has one.
pub fn input_of(v: &Violation) -> Option<String> {
    let path = v.field.strip_prefix("profile.")?;
    if path.starts_with("weights[") {
        let code = v.description.split(':').next()?;
        return Criterion::from_code(code).map(weight_name);
    }
    let name = path.split('[').next().unwrap_or(path);
    setting_kind(name).map(|_| name.to_owned())
}

/// The inputs the violations point at, to mark them invalid.
pub fn invalid_inputs(violations: &[Violation]) -> BTreeSet<String> {
    violations.iter().filter_map(input_of).collect()
}

#[derive(Deserialize)]
pub struct ProfileQuery {
    /// A version to show instead of the current one.
    version: Option<String>,
    /// Where the list of versions starts: below this version.
    before: Option<String>,
}

/// A positive version number from the query, or a violation of `field`.
fn version_param(text: Option<&str>, field: &str, v: &mut Vec<Violation>) -> Option<i64> {
    let text = text.map(str::trim).filter(|s| !s.is_empty())?;
    match text.parse::<i64>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            v.push(Violation::new(
                field,
                "must be a version number (1 or more)",
            ));
            None
        }
    }
}

/// GET /profile: the current profile (or `?version=N`), its versions, and
/// the edit form for an admin.
pub async fn show(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Query(q): Query<ProfileQuery>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Reader) {
        return refused;
    }
    let mut bad = Vec::new();
    let version = version_param(q.version.as_deref(), "version", &mut bad).unwrap_or(0);
    let before = version_param(q.before.as_deref(), "before", &mut bad);
    let version = match requests::get_profile(&pb::GetProfileRequest { version }) {
        Ok(version) => version,
        Err(v) => {
            bad.extend(v);
            0
        }
    };
    if !bad.is_empty() {
        return app_error(Some(&user), AppError::InvalidArgument(bad));
    }
    let tenant = &user.caller.tenant;
    let current = match state.qualifier.current_profile(tenant).await {
        Ok(current) => current,
        Err(e) => return app_error(Some(&user), e),
    };
    let shown = if version == 0 || version == current.version {
        current.clone()
    } else {
        match state.qualifier.get_profile(tenant, version).await {
            Ok(shown) => shown,
            Err(e) => return app_error(Some(&user), e),
        }
    };
    let (versions, more) = match state
        .qualifier
        .list_profiles(tenant, before, VERSIONS_PAGE)
        .await
    {
        Ok(page) => page,
        Err(e) => return app_error(Some(&user), e),
    };
    let older = more.then(|| versions.last().map(|v| v.version)).flatten();
    let wire = convert::profile_to_wire(&shown);
    let form = (user.caller.role.includes(Role::Admin) && shown.version == current.version)
        .then(|| ProfileForm::of(&wire));
    html(
        StatusCode::OK,
        profile_pages::profile(
            &user,
            &profile_pages::Shown {
                wire: &wire,
                current_version: current.version,
                versions: &versions,
                older,
                form: form.as_ref(),
            },
        ),
    )
}

/// The form's CSRF token: the first `csrf` field.
fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(name, _)| name == "csrf")
        .map_or("", |(_, value)| value.as_str())
}

/// The form again, with what is wrong with it.
fn refused_form(
    user: &SignedIn,
    status: StatusCode,
    message: &str,
    violations: &[Violation],
    form: &ProfileForm,
) -> Response {
    html(
        status,
        profile_pages::refused(user, status, message, violations, form),
    )
}

/// POST /profile/preview: what the candidate would change over the stored
/// leads, with the candidate kept in the form to publish.
pub async fn preview(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = user
        .refused_csrf(csrf_of(&pairs))
        .or_else(|| user.refused_without(Role::Admin))
    {
        return refused;
    }
    let (form, mut violations) = ProfileForm::sent(pairs);
    let mut own = Vec::new();
    let candidate = form.to_wire(&mut own);
    // The version is checked when publishing; a preview does not need it.
    violations.extend(own.into_iter().filter(|v| v.field != "expected_version"));
    let checked = requests::preview_profile(pb::PreviewProfileRequest {
        profile: Some(candidate.profile.clone()),
        sample_size: 0,
    });
    let (profile, sample_size) = match checked {
        Ok(checked) if violations.is_empty() => checked,
        Ok(_) => return not_previewed(&user, &violations, &form),
        Err(v) => {
            violations.extend(v.into_iter().map(|v| candidate.explain(v)));
            return not_previewed(&user, &violations, &form);
        }
    };
    match state
        .qualifier
        .preview_profile(&user.caller.tenant, profile, sample_size)
        .await
    {
        Ok(preview) => html(
            StatusCode::OK,
            profile_pages::preview(&user, &preview, &form),
        ),
        Err(AppError::InvalidArgument(v)) => not_previewed(&user, &v, &form),
        Err(e) => app_error(Some(&user), e),
    }
}

/// POST /profile: stores the form as the next version, unless another was
/// published since the form was opened.
pub async fn publish(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = user
        .refused_csrf(csrf_of(&pairs))
        .or_else(|| user.refused_without(Role::Admin))
    {
        return refused;
    }
    let (form, mut violations) = ProfileForm::sent(pairs);
    let candidate = form.to_wire(&mut violations);
    let checked = requests::update_profile(pb::UpdateProfileRequest {
        profile: Some(candidate.profile.clone()),
        expected_version: candidate.expected_version,
    });
    let (profile, expected_version) = match checked {
        Ok(checked) if violations.is_empty() => checked,
        Ok(_) => return not_published(&user, &violations, &form),
        Err(v) => {
            violations.extend(v.into_iter().map(|v| candidate.explain(v)));
            return not_published(&user, &violations, &form);
        }
    };
    let tenant = &user.caller.tenant;
    match state
        .qualifier
        .update_profile(tenant, &user.caller.actor, profile, expected_version)
        .await
    {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(AppError::FailedPrecondition(_)) => {
            let current = match state.qualifier.current_profile(tenant).await {
                Ok(current) => current,
                Err(e) => return app_error(Some(&user), e),
            };
            let theirs = current.version;
            let mut form = form;
            let opened_on = std::mem::replace(&mut form.expected_version, theirs.to_string());
            html(
                StatusCode::CONFLICT,
                profile_pages::conflict(&user, opened_on.trim(), &current, &form),
            )
        }
        Err(AppError::InvalidArgument(v)) => not_published(&user, &v, &form),
        Err(e) => app_error(Some(&user), e),
    }
}

fn not_previewed(user: &SignedIn, violations: &[Violation], form: &ProfileForm) -> Response {
    refused_form(
        user,
        StatusCode::BAD_REQUEST,
        "The form has errors; nothing was previewed.",
        violations,
        form,
    )
}

fn not_published(user: &SignedIn, violations: &[Violation], form: &ProfileForm) -> Response {
    refused_form(
        user,
        StatusCode::BAD_REQUEST,
        "The form has errors; nothing was published.",
        violations,
        form,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Profile;
    use crate::domain::profile::ZoneName;
    use crate::records::ProfileVersion;

    fn wire_of(profile: Profile) -> pb::Profile {
        convert::profile_to_wire(&ProfileVersion {
            tenant: "t".into(),
            version: 7,
            profile,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    /// A profile with every setting away from its default.
    fn unusual() -> Profile {
        let mut p = Profile {
            min_employees: Some(11),
            max_employees: Some(900),
            min_annual_revenue_usd: Some(1_000),
            max_annual_revenue_usd: Some(9_000_000),
            target_verticals: vec!["saas".into(), "fin tech".into()],
            target_business_models: vec!["b2b".into()],
            territories: vec!["EMEA".into()],
            countries: vec!["DE".into(), "FR".into()],
            seller_timezone: Some(ZoneName::parse("Europe/Berlin").unwrap()),
            seller_business_hours: crate::domain::BusinessHours::parse("08:30", "17:15").unwrap(),
            min_overlap_hours: 2.5,
            knockouts: vec![Criterion::Disrespectful, Criterion::MagicWand],
            review_threshold: 35,
            disqualify_threshold: 70,
            ..Profile::default()
        };
        p.weights.set(Criterion::Disrespectful, 45);
        let t = &mut p.thresholds;
        t.max_disrespectful_incidents = 2;
        t.min_answer_ratio = 0.3;
        t.max_contradictions = 4;
        t.min_plan_completion = 0.25;
        t.min_budget_usd = Some(5_000);
        t.min_staff = Some(2);
        t.max_missed_sessions = 3;
        t.min_assignment_completion = 0.75;
        t.max_meeting_disruptions = 5;
        t.max_agreed_not_done = 4;
        t.max_material_repeats_allowed = 6;
        let a = &mut p.accounts;
        a.value_weight_profit = 40;
        a.value_weight_referrals = 30;
        a.value_weight_tenure = 20;
        a.value_weight_cost_to_serve = 10;
        a.value_profit_target_usd = 60_000;
        a.value_referrals_target = 4;
        a.value_tenure_target_months = 24;
        a.tier_a_min_score = 80;
        a.tier_b_min_score = 50;
        a.black_list_min_overdue_usd = 20_000;
        a.vip_min_gross_profit_usd = 200_000;
        a.adept_min_share_of_wallet = 0.8;
        a.loyal_min_orders = 5;
        a.loyal_min_tenure_months = 12;
        a.black_list_knockout = false;
        a.churn_contact_gap_days = 60;
        a.playbook_min_progress_requests_per_week = 4.5;
        a.playbook_min_decision_postponements = 3;
        a.playbook_min_rush_requests = 4;
        a.playbook_min_median_reply_days = 2.5;
        a.playbook_min_out_of_scope_changes = 5;
        a.playbook_min_discount_requested_pct = 15.0;
        p
    }

    /// The form's text as a browser sends it: every field, unticked boxes
    /// left out.
    fn pairs_of(form: &ProfileForm) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("csrf".to_owned(), "token".to_owned()),
            ("expected_version".to_owned(), form.expected_version.clone()),
        ];
        pairs.extend(form.values.iter().map(|(k, v)| (k.clone(), v.clone())));
        pairs.extend(
            form.knockouts
                .iter()
                .map(|k| ("knockouts".into(), k.clone())),
        );
        pairs
    }

    #[test]
    fn every_setting_of_a_profile_survives_the_form() {
        let profile = unusual();
        assert_eq!(profile.violations("profile"), []);
        let form = ProfileForm::of(&wire_of(profile.clone()));
        let (sent, violations) = ProfileForm::sent(pairs_of(&form));
        assert_eq!(violations, []);
        assert_eq!(sent, form);
        let mut v = Vec::new();
        let candidate = sent.to_wire(&mut v);
        assert_eq!(v, []);
        assert_eq!(candidate.expected_version, Some(7));
        let back = convert::profile(candidate.profile, &mut v);
        assert_eq!(v, []);
        assert_eq!(back, profile);
    }

    #[test]
    fn every_scalar_setting_is_shown_and_every_shown_setting_is_read() {
        let shown: BTreeSet<&str> = SECTIONS
            .iter()
            .flat_map(|s| s.settings)
            .filter(|s| matches!(s.kind, Kind::Whole | Kind::Decimal | Kind::Flag))
            .map(|s| s.name)
            .collect();
        let read: BTreeSet<&str> = SCALARS.iter().copied().collect();
        assert_eq!(shown, read);
        let names: Vec<&str> = SECTIONS
            .iter()
            .flat_map(|s| s.settings)
            .map(|s| s.name)
            .collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "no setting twice");
    }

    #[test]
    fn an_unticked_box_is_false_and_an_empty_number_unset() {
        let form = ProfileForm::of(&wire_of(Profile::default()));
        let mut pairs = pairs_of(&form);
        pairs.retain(|(k, _)| k != "black_list_knockout" && k != "min_budget_usd");
        pairs.push(("min_employees".into(), "  ".into()));
        let (sent, _) = ProfileForm::sent(pairs);
        let mut v = Vec::new();
        let p = sent.to_wire(&mut v).profile;
        assert_eq!(v, []);
        assert_eq!(p.black_list_knockout, Some(false));
        assert_eq!(p.min_budget_usd, None);
        assert_eq!(p.min_employees, None);
    }

    #[test]
    fn values_that_are_not_numbers_name_their_field() {
        let form = ProfileForm::of(&wire_of(Profile::default()));
        let mut pairs = pairs_of(&form);
        pairs.retain(|(k, _)| {
            ![
                "review_threshold",
                "min_answer_ratio",
                "weights.MAGIC_WAND",
                "expected_version",
            ]
            .contains(&k.as_str())
        });
        pairs.extend([
            ("review_threshold".into(), "thirty".into()),
            ("min_answer_ratio".into(), "NaN".into()),
            ("weights.MAGIC_WAND".into(), "heavy".into()),
            ("knockouts".into(), "NOT_A_CRITERION".into()),
        ]);
        let (sent, v) = ProfileForm::sent(pairs);
        assert_eq!(v, []);
        let mut v = Vec::new();
        sent.to_wire(&mut v);
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "profile.min_answer_ratio",
                "profile.review_threshold",
                "profile.weights[16].weight",
                "profile.knockouts",
                "expected_version",
            ]
        );
        assert!(v[2].description.starts_with("MAGIC_WAND: "), "{:?}", v[2]);
        let invalid = invalid_inputs(&v);
        assert!(invalid.contains("weights.MAGIC_WAND"), "{invalid:?}");
        assert!(invalid.contains("review_threshold"), "{invalid:?}");
    }

    #[test]
    fn a_form_is_bounded() {
        let many = vec![("min_staff".to_owned(), "1".to_owned()); MAX_FORM_FIELDS + 1];
        let (_, v) = ProfileForm::sent(many);
        assert_eq!(v[0].field, "form");
        let long = vec![
            ("countries".to_owned(), "DE,".repeat(MAX_LIST_BYTES)),
            (
                "seller_timezone".to_owned(),
                "x".repeat(MAX_FIELD_BYTES + 1),
            ),
            ("unknown".to_owned(), "x".repeat(MAX_LIST_BYTES * 4)),
        ];
        let (sent, v) = ProfileForm::sent(long);
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["profile.countries", "profile.seller_timezone"]);
        assert_eq!(sent.value("countries"), "");
        assert_eq!(sent.values.len(), 0, "unknown fields are not kept");
    }
}
