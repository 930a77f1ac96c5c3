//! The funnel: for a period of UTC days (and a stage, if chosen), the
//! outcomes per stage, how often each criterion fired or was unknown, the
//! criteria most often behind disqualification and the facts most often
//! missing — GetSignalStats as charts and tables.
//!
//! `/funnel?from=YYYY-MM-DD&to=YYYY-MM-DD&stage=contact`: both days
//! included; without them, the last 30 days up to today.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{layout, title_case};
use super::{ConsoleState, SignedIn, app_error, html, parse_stage};
use crate::auth::Role;
use crate::domain::{Criterion, Stage, Violation};
use crate::error::AppError;
use crate::grpc::convert;
use crate::proto::v1 as pb;
use crate::qualification::{SignalStats, StageOutcomes};

/// Days shown when the period is not given: today and the 29 before.
pub const DEFAULT_DAYS: i64 = 30;

/// Rows of the table of facts most often missing.
const TOP_MISSING: usize = 10;

/// Colours of the charts; every bar also carries its number as text.
const QUALIFIED: &str = "#1e7a3c";
const NEEDS_REVIEW: &str = "#9a6200";
const DISQUALIFIED: &str = "#b3261e";
const UNKNOWN: &str = "#c9a227";
const TEXT: &str = "#1d2125";
const MUTED: &str = "#5a6470";

#[derive(Debug, Default, Deserialize)]
pub struct FunnelQuery {
    /// First day counted, YYYY-MM-DD (UTC).
    pub from: Option<String>,
    /// Last day counted, YYYY-MM-DD (UTC), included.
    pub to: Option<String>,
    pub stage: Option<String>,
    /// `1`: also count the facts most often missing, which reads every
    /// unknown signal and so takes longer over many leads.
    pub missing: Option<String>,
}

/// A day as `YYYY-MM-DD` exactly, or a violation of `field`.
fn parse_day(text: &str, field: &str, bad: &mut Vec<Violation>) -> Option<Date> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    match shaped.then(|| text.parse::<Date>().ok()).flatten() {
        Some(day) => Some(day),
        None => {
            bad.push(Violation::new(field, "must be a date as YYYY-MM-DD"));
            None
        }
    }
}

fn midnight(day: Date) -> Option<jiff::Timestamp> {
    day.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn stage_to_wire(stage: Stage) -> i32 {
    let wire = match stage {
        Stage::Identification => pb::Stage::Identification,
        Stage::Contact => pb::Stage::Contact,
        Stage::Study => pb::Stage::Study,
        Stage::Recommendation => pb::Stage::Recommendation,
    };
    wire as i32
}

/// The period and stage asked for, checked as GetSignalStats checks its
/// request; violations name the console's fields.
fn period(
    q: &FunnelQuery,
    today: Date,
) -> Result<(Date, Date, Option<Stage>, pb::GetSignalStatsRequest), Vec<Violation>> {
    let mut bad = Vec::new();
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let from = given(&q.from).map(|text| parse_day(&text, "from", &mut bad));
    let to = match given(&q.to) {
        None => Some(today),
        Some(text) => parse_day(&text, "to", &mut bad),
    };
    let from = match from {
        Some(from) => from,
        None => to.and_then(|to| {
            to.checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
                .ok()
        }),
    };
    let stage = match given(&q.stage) {
        None => None,
        Some(text) => (text.len() <= 32)
            .then(|| parse_stage(&text))
            .flatten()
            .or_else(|| {
                bad.push(Violation::new(
                    "stage",
                    "use identification, contact, study or recommendation",
                ));
                None
            }),
    };
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bad.push(Violation::new(
            "to",
            format!("must not be before from ({from}), got {to}"),
        ));
    }
    let start = from.and_then(midnight);
    // The end of the last day: midnight of the next one.
    let end = to.and_then(|to| to.tomorrow().ok()).and_then(midnight);
    if to.is_some() && end.is_none() {
        bad.push(Violation::new("to", "must be before 9999-12-31"));
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(vec![Violation::new("from", "must be a date as YYYY-MM-DD")]);
    };
    let request = pb::GetSignalStatsRequest {
        start_time: start.map(convert::timestamp),
        end_time: end.map(convert::timestamp),
        stage: stage.map_or(0, stage_to_wire),
    };
    Ok((from, to, stage, request))
}

/// The console's name of a GetSignalStats field.
fn console_field(mut v: Violation) -> Violation {
    v.field = match v.field.as_str() {
        "start_time" => "from".to_owned(),
        "end_time" => "to".to_owned(),
        _ => v.field,
    };
    v
}

pub async fn funnel(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Query(q): Query<FunnelQuery>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Reader) {
        return refused;
    }
    let today = jiff::Timestamp::now().to_zoned(TimeZone::UTC).date();
    let (from, to, stage, request) = match period(&q, today) {
        Ok(checked) => checked,
        Err(v) => return app_error(Some(&user), AppError::InvalidArgument(v)),
    };
    let (start, end, stage_checked) = match convert::signal_stats_query(&request) {
        Ok(checked) => checked,
        Err(v) => {
            return app_error(
                Some(&user),
                AppError::InvalidArgument(v.into_iter().map(console_field).collect()),
            );
        }
    };
    debug_assert_eq!(stage, stage_checked);
    let with_missing = q.missing.as_deref() == Some("1");
    let stats = if with_missing {
        state
            .qualifier
            .signal_stats(&user.caller.tenant, start, end, stage_checked)
            .await
    } else {
        state
            .qualifier
            .funnel(&user.caller.tenant, start, end, stage_checked)
            .await
    };
    match stats {
        Ok(stats) => html(
            StatusCode::OK,
            page(&user, from, to, stage, &stats, with_missing),
        ),
        Err(e) => app_error(Some(&user), e),
    }
}

fn outcome_label(i: usize) -> &'static str {
    ["qualified", "needs review", "disqualified"][i]
}

fn counts(o: &StageOutcomes) -> [i64; 3] {
    [o.qualified, o.needs_review, o.disqualified]
}

/// `part` of `whole` as a bar length out of `span` pixels.
fn bar(part: i64, whole: i64, span: f64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        span * part as f64 / whole as f64
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Grouped horizontal bars: per stage, one bar per outcome, each with its
/// outcome and count written beside it.
fn stages_chart(stages: &[&(Stage, StageOutcomes)]) -> Markup {
    let max = stages
        .iter()
        .flat_map(|(_, o)| counts(o))
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h, head_h, gap) = (130.0, 380.0, 20.0, 22.0, 12.0);
    let group_h = head_h + 3.0 * row_h + gap;
    let height = group_h * stages.len() as f64 + 4.0;
    let summary: Vec<String> = stages
        .iter()
        .map(|(stage, o)| {
            format!(
                "{}: {} qualified, {} needs review, {} disqualified",
                title_case(stage.code()),
                o.qualified,
                o.needs_review,
                o.disqualified
            )
        })
        .collect();
    let colours = [QUALIFIED, NEEDS_REVIEW, DISQUALIFIED];
    html! {
        figure {
            svg class="chart" viewBox={ "0 0 640 " (px(height)) } role="img"
                aria-label={ "Latest outcome of the leads per stage. " (summary.join("; ")) "." } {
                @for (g, (stage, o)) in stages.iter().enumerate() {
                    @let top = group_h * g as f64;
                    text x="0" y=(px(top + 15.0)) font-size="14" font-weight="600" fill=(TEXT) {
                        (title_case(stage.code())) " (" (o.qualified + o.needs_review + o.disqualified) " leads)"
                    }
                    @for (i, n) in counts(o).into_iter().enumerate() {
                        @let y = top + head_h + row_h * i as f64;
                        @let w = bar(n, max, bar_w);
                        text x="12" y=(px(y + 14.0)) font-size="13" fill=(MUTED) { (title_case(outcome_label(i))) }
                        rect x=(label_w) y=(px(y + 2.0)) width=(px(w)) height=(px(row_h - 5.0)) fill=(colours[i]) {}
                        text x=(px(label_w + w + 6.0)) y=(px(y + 14.0)) font-size="13" fill=(TEXT) { (n) }
                    }
                }
            }
            figcaption { "Outcomes per stage; the table below has the same numbers." }
        }
    }
}

fn stages_table(stages: &[&(Stage, StageOutcomes)]) -> Markup {
    let total = stages.iter().fold([0i64; 3], |mut t, (_, o)| {
        for (t, n) in t.iter_mut().zip(counts(o)) {
            *t += n;
        }
        t
    });
    html! {
        table id="stages" {
            caption { "Latest outcome of the leads, per stage" }
            thead { tr {
                th scope="col" { "Stage" }
                th scope="col" class="num" { "Qualified" }
                th scope="col" class="num" { "Needs review" }
                th scope="col" class="num" { "Disqualified" }
                th scope="col" class="num" { "Leads" }
            } }
            tbody {
                @for (stage, o) in stages {
                    tr {
                        th scope="row" { (title_case(stage.code())) }
                        @for n in counts(o) { td class="num" { (n) } }
                        td class="num" { (counts(o).iter().sum::<i64>()) }
                    }
                }
            }
            @if stages.len() > 1 {
                tfoot { tr {
                    th scope="row" { "All stages" }
                    @for n in total { td class="num" { (n) } }
                    td class="num" { (total.iter().sum::<i64>()) }
                } }
            }
        }
    }
}

/// One horizontal bar per criterion: fired, then unknown, stacked, out of
/// the leads counted, with both numbers written beside it.
fn criteria_chart(stats: &SignalStats) -> Markup {
    let (label_w, bar_w, row_h) = (210.0, 260.0, 20.0);
    let height = row_h * stats.criteria.len() as f64 + 30.0;
    let summary: Vec<String> = stats
        .criteria
        .iter()
        .filter(|c| c.fired > 0 || c.unknown > 0)
        .map(|c| {
            format!(
                "{} {} fired, {} unknown",
                c.criterion.code(),
                c.fired,
                c.unknown
            )
        })
        .collect();
    let label = if summary.is_empty() {
        format!(
            "How often each criterion fired or was unknown over {} leads: none fired and none was unknown.",
            stats.leads
        )
    } else {
        format!(
            "How often each criterion fired or was unknown over {} leads; the others neither: {}.",
            stats.leads,
            summary.join("; ")
        )
    };
    html! {
        figure {
            svg class="chart" viewBox={ "0 0 640 " (px(height)) } role="img" aria-label=(label) {
                // The legend, in words as well as colours.
                rect x=(label_w) y="4" width="12" height="12" fill=(DISQUALIFIED) {}
                text x=(px(label_w + 16.0)) y="14" font-size="12" fill=(TEXT) { "fired" }
                rect x=(px(label_w + 70.0)) y="4" width="12" height="12" fill=(UNKNOWN) {}
                text x=(px(label_w + 86.0)) y="14" font-size="12" fill=(TEXT) { "unknown" }
                text x=(px(label_w + 160.0)) y="14" font-size="12" fill=(MUTED) { "bar: out of " (stats.leads) " leads" }
                @for (i, c) in stats.criteria.iter().enumerate() {
                    @let y = 26.0 + row_h * i as f64;
                    @let fired = bar(c.fired, stats.leads, bar_w);
                    @let unknown = bar(c.unknown, stats.leads, bar_w);
                    text x="0" y=(px(y + 13.0)) font-size="12" fill=(TEXT) { (c.criterion.code()) }
                    rect x=(label_w) y=(px(y + 2.0)) width=(px(bar_w)) height=(px(row_h - 5.0))
                        fill="none" stroke="#d5dae0" {}
                    rect x=(label_w) y=(px(y + 2.0)) width=(px(fired)) height=(px(row_h - 5.0)) fill=(DISQUALIFIED) {}
                    rect x=(px(label_w + fired)) y=(px(y + 2.0)) width=(px(unknown)) height=(px(row_h - 5.0)) fill=(UNKNOWN) {}
                    text x=(px(label_w + bar_w + 6.0)) y=(px(y + 13.0)) font-size="12" fill=(TEXT) {
                        (c.fired) " fired, " (c.unknown) " unknown"
                    }
                }
            }
            figcaption { "How often each criterion fired or was unknown; the table below has every status." }
        }
    }
}

fn criteria_table(stats: &SignalStats) -> Markup {
    html! {
        table id="criteria" {
            caption { "Statuses of each criterion in the latest verdicts" }
            thead { tr {
                th scope="col" { "Criterion" }
                th scope="col" { "Stage" }
                th scope="col" class="num" { "Fired" }
                th scope="col" class="num" { "Unknown" }
                th scope="col" class="num" { "Clear" }
                th scope="col" class="num" { "Not applicable" }
            } }
            tbody {
                @for c in &stats.criteria {
                    tr {
                        th scope="row" { (c.criterion.code()) br; span class="note" { (c.criterion.def().title) } }
                        td { (title_case(c.criterion.def().stage.code())) }
                        td class="num" { (c.fired) }
                        td class="num" { (c.unknown) }
                        td class="num" { (c.clear) }
                        td class="num" { (c.not_applicable) }
                    }
                }
            }
        }
    }
}

fn disqualifying_table(stats: &SignalStats, disqualified: i64) -> Markup {
    html! {
        @if stats.disqualifying.is_empty() {
            p { "No lead of this period was disqualified by a criterion." }
        } @else {
            table id="disqualifying" {
                caption { "Criteria that fired on the " (disqualified) " disqualified leads, most often first" }
                thead { tr {
                    th scope="col" class="num" { "Rank" }
                    th scope="col" { "Criterion" }
                    th scope="col" class="num" { "Disqualified leads" }
                    th scope="col" class="num" { "As a knockout" }
                    th scope="col" class="num" { "Share of disqualified" }
                } }
                tbody {
                    @for (rank, d) in stats.disqualifying.iter().enumerate() {
                        tr {
                            td class="num" { (rank + 1) }
                            th scope="row" { (d.criterion.code()) br; span class="note" { (d.criterion.def().title) } }
                            td class="num" { (d.leads) }
                            td class="num" { (d.as_knockout) }
                            td class="num" { (share(d.leads, disqualified)) }
                        }
                    }
                }
            }
        }
    }
}

fn share(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "–".to_owned()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

/// `(fact, criterion, leads)`: the facts most often missing when a
/// criterion was unknown, most first.
fn missing_facts(stats: &SignalStats) -> Vec<(&str, Criterion, i64)> {
    let mut rows: Vec<(&str, Criterion, i64)> = stats
        .criteria
        .iter()
        .flat_map(|c| {
            c.missing_facts
                .iter()
                .map(move |(fact, leads)| (fact.as_str(), c.criterion, *leads))
        })
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)).then(a.0.cmp(b.0)));
    rows.truncate(TOP_MISSING);
    rows
}

fn missing_table(stats: &SignalStats) -> Markup {
    let rows = missing_facts(stats);
    html! {
        @if rows.is_empty() {
            p { "No criterion was unknown for want of a fact." }
        } @else {
            table id="missing" {
                caption { "Facts most often missing, with the criterion left unknown for want of them" }
                thead { tr {
                    th scope="col" { "Fact" }
                    th scope="col" { "Criterion left unknown" }
                    th scope="col" class="num" { "Leads" }
                } }
                tbody {
                    @for (fact, criterion, leads) in rows {
                        tr {
                            th scope="row" { (fact) }
                            td { (criterion.code()) }
                            td class="num" { (leads) }
                        }
                    }
                }
            }
        }
    }
}

fn filters(from: Date, to: Date, stage: Option<Stage>) -> Markup {
    html! {
        form method="get" action="/funnel" class="filters" {
            label { "From " input type="date" name="from" value=(from) required; }
            label { "To " input type="date" name="to" value=(to) required; }
            label { "Stage "
                select name="stage" {
                    option value="" selected[stage.is_none()] { "Any" }
                    @for s in Stage::ALL {
                        option value=(s.code().to_ascii_lowercase()) selected[stage == Some(s)] { (title_case(s.code())) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

pub fn page(
    user: &SignedIn,
    from: Date,
    to: Date,
    stage: Option<Stage>,
    stats: &SignalStats,
    with_missing: bool,
) -> Markup {
    let stage_param = stage
        .map(|s| format!("&stage={}", s.code().to_ascii_lowercase()))
        .unwrap_or_default();
    let stages: Vec<&(Stage, StageOutcomes)> = stats
        .stages
        .iter()
        .filter(|(s, _)| stage.is_none_or(|chosen| chosen == *s))
        .collect();
    let disqualified: i64 = stages.iter().map(|(_, o)| o.disqualified).sum();
    layout(
        Some(user),
        "Funnel",
        html! {
            h1 { "Funnel" }
            (filters(from, to, stage))
            p id="summary" {
                strong { (stats.leads) } " leads"
                @if let Some(s) = stage { " at stage " (title_case(s.code())) }
                " whose latest verdict is from " (from) " to " (to) " (UTC days, both included)."
            }
            @if stats.leads == 0 {
                p { "No lead was qualified in this period. Choose other days above." }
            } @else {
                section aria-labelledby="outcomes" {
                    h2 id="outcomes" { "Outcomes per stage" }
                    (stages_chart(&stages))
                    (stages_table(&stages))
                }
                section aria-labelledby="criteria-heading" {
                    h2 id="criteria-heading" { "Criteria fired or unknown" }
                    (criteria_chart(stats))
                    (criteria_table(stats))
                }
                section aria-labelledby="disqualifying-heading" {
                    h2 id="disqualifying-heading" { "Behind disqualification" }
                    (disqualifying_table(stats, disqualified))
                }
                section aria-labelledby="missing-heading" {
                    h2 id="missing-heading" { "Facts most often missing" }
                    @if with_missing {
                        (missing_table(stats))
                    } @else {
                        p { a href={ "/funnel?from=" (from) "&to=" (to) (stage_param) "&missing=1" } {
                            "Count the facts most often missing" }
                            " (reads every unknown signal: slower over many leads)" }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        s.parse().expect("a date")
    }

    fn query(from: &str, to: &str, stage: &str) -> FunnelQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        FunnelQuery {
            from: some(from),
            to: some(to),
            stage: some(stage),
            missing: None,
        }
    }

    fn fields(q: FunnelQuery) -> Vec<String> {
        period(&q, day("2025-06-30"))
            .expect_err("refused")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn the_period_defaults_to_the_last_30_days_and_includes_its_last_day() {
        let (from, to, stage, request) =
            period(&query("", "", ""), day("2025-06-30")).expect("valid");
        assert_eq!(
            (from, to, stage),
            (day("2025-06-01"), day("2025-06-30"), None)
        );
        let start = request.start_time.expect("start");
        let end = request.end_time.expect("end");
        assert_eq!(end.seconds - start.seconds, 30 * 86_400);
        assert_eq!(request.stage, 0);

        let (_, _, stage, request) = period(
            &query("2025-01-01", "2025-01-01", "Contact"),
            day("2025-06-30"),
        )
        .expect("valid");
        assert_eq!(stage, Some(Stage::Contact));
        assert_eq!(request.stage, pb::Stage::Contact as i32);
        let span =
            request.end_time.expect("end").seconds - request.start_time.expect("start").seconds;
        assert_eq!(span, 86_400, "one day, included");
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(fields(query("2025-13-01", "", "")), ["from"]);
        assert_eq!(fields(query("yesterday", "1/2/2025", "")), ["from", "to"]);
        assert_eq!(fields(query("+2025-01-01", "", "")), ["from"]);
        assert_eq!(fields(query("", "", "sales")), ["stage"]);
        assert_eq!(fields(query("2025-02-01", "2025-01-01", "")), ["to"]);
        assert_eq!(fields(query("", "9999-12-31", "")), ["to"]);
        assert_eq!(fields(query(&"9".repeat(5000), "", "")), ["from"]);
        // Year 0 passes the shape and the calendar but not GetSignalStats.
        let (_, _, _, request) =
            period(&query("0000-01-01", "", ""), day("2025-06-30")).expect("shaped");
        let v = convert::signal_stats_query(&request).expect_err("before year 1");
        assert_eq!(console_field(v[0].clone()).field, "from");
    }
}
