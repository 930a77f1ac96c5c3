//! The audit trail of the tenant, newest first, for admins (as
//! ListAuditEvents): `/audit?kind=verdict_overridden&lead_id=acme-1`, paged
//! with `after`, the storage order of the last event shown.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::layout;
use super::{ConsoleState, SignedIn, app_error, html, lead_href, query_value};
use crate::auth::Role;
use crate::domain::Violation;
use crate::error::AppError;
use crate::grpc::requests;
use crate::proto::v1 as pb;
use crate::records::{AuditEvent, AuditKind};

/// Events per page.
pub const AUDIT_PAGE: i64 = 50;

/// Every kind, in the order the filter offers them.
const KINDS: [AuditKind; 5] = [
    AuditKind::VerdictOverridden,
    AuditKind::OverrideCleared,
    AuditKind::ProfileUpdated,
    AuditKind::ApiKeyCreated,
    AuditKind::ApiKeyRevoked,
];

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// An audit kind code, any case: verdict_overridden, …
    pub kind: Option<String>,
    pub lead_id: Option<String>,
    /// Where the page starts: after the event of this storage order.
    pub after: Option<String>,
}

fn kind_to_wire(kind: AuditKind) -> pb::AuditEventKind {
    match kind {
        AuditKind::ProfileUpdated => pb::AuditEventKind::ProfileUpdated,
        AuditKind::ApiKeyCreated => pb::AuditEventKind::ApiKeyCreated,
        AuditKind::ApiKeyRevoked => pb::AuditEventKind::ApiKeyRevoked,
        AuditKind::VerdictOverridden => pb::AuditEventKind::VerdictOverridden,
        AuditKind::OverrideCleared => pb::AuditEventKind::OverrideCleared,
    }
}

/// What a kind is called on the page.
fn kind_label(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::ProfileUpdated => "Profile updated",
        AuditKind::ApiKeyCreated => "API key created",
        AuditKind::ApiKeyRevoked => "API key revoked",
        AuditKind::VerdictOverridden => "Verdict overridden",
        AuditKind::OverrideCleared => "Override cleared",
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The filters and the page position, checked as ListAuditEvents checks its
/// request.
fn checked(
    q: &AuditQuery,
) -> Result<(crate::storage::AuditFilter, i64, Option<i64>), Vec<Violation>> {
    let mut bad = Vec::new();
    let kind = match given(&q.kind) {
        None => None,
        Some(text) => KINDS
            .into_iter()
            .find(|k| k.code().eq_ignore_ascii_case(text))
            .or_else(|| {
                bad.push(Violation::new("kind", "is not a known audit event kind"));
                None
            }),
    };
    let after = match given(&q.after) {
        None => None,
        Some(text) => text.parse::<i64>().ok().filter(|n| *n > 0).or_else(|| {
            bad.push(Violation::new("after", "is not a page of this trail"));
            None
        }),
    };
    let request = pb::ListAuditEventsRequest {
        kind: kind.map_or(0, |k| kind_to_wire(k) as i32),
        lead_id: given(&q.lead_id).unwrap_or_default().to_owned(),
        page_size: AUDIT_PAGE as i32,
        page_token: String::new(),
    };
    match requests::list_audit_events(&request) {
        Ok((filter, page)) if bad.is_empty() => Ok((filter, page.size, after)),
        Ok(_) => Err(bad),
        Err(v) => {
            bad.extend(v);
            Err(bad)
        }
    }
}

pub async fn audit(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Admin) {
        return refused;
    }
    let (filter, size, after) = match checked(&q) {
        Ok(checked) => checked,
        Err(v) => return app_error(Some(&user), AppError::InvalidArgument(v)),
    };
    match state
        .qualifier
        .list_audit_events(&user.caller.tenant, &filter, after, size)
        .await
    {
        Ok((events, more)) => {
            let next = more.then(|| events.last().map(|e| e.seq)).flatten();
            html(
                StatusCode::OK,
                page(
                    &user,
                    &events,
                    &Position {
                        kind: filter.kind,
                        lead_id: filter.lead_id.as_deref(),
                        paged: after.is_some(),
                        next,
                    },
                ),
            )
        }
        Err(e) => app_error(Some(&user), e),
    }
}

/// A stored JSON document indented for reading; as stored when it is not
/// JSON.
fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_owned())
}

fn change(e: &AuditEvent) -> Markup {
    if e.before_json.is_empty() && e.after_json.is_empty() {
        return html! { span class="note" { "No details" } };
    }
    let block = |label: &str, json: &str| {
        html! {
            dt { (label) }
            dd style="margin: 0 0 .5rem" {
                @if json.is_empty() {
                    span class="note" { "Nothing" }
                } @else {
                    pre style="white-space: pre-wrap; overflow-wrap: anywhere; margin: 0" { (pretty(json)) }
                }
            }
        }
    };
    html! {
        details {
            summary { "Before and after" }
            dl {
                (block("Before", &e.before_json))
                (block("After", &e.after_json))
            }
        }
    }
}

/// Where a page of the trail is: its filters, and after which event.
pub struct Position<'a> {
    pub kind: Option<AuditKind>,
    pub lead_id: Option<&'a str>,
    /// Not the first page.
    pub paged: bool,
    pub next: Option<i64>,
}

impl Position<'_> {
    fn href(&self, after: Option<i64>) -> String {
        let mut q = Vec::new();
        if let Some(k) = self.kind {
            q.push(format!("kind={}", k.code().to_ascii_lowercase()));
        }
        if let Some(id) = self.lead_id {
            q.push(format!("lead_id={}", query_value(id)));
        }
        if let Some(after) = after {
            q.push(format!("after={after}"));
        }
        match q.is_empty() {
            true => "/audit".to_owned(),
            false => format!("/audit?{}", q.join("&")),
        }
    }
}

pub fn page(user: &SignedIn, events: &[AuditEvent], at: &Position<'_>) -> Markup {
    let (kind, lead_id) = (at.kind, at.lead_id);
    layout(
        Some(user),
        "Audit trail",
        html! {
            h1 { "Audit trail" }
            form method="get" action="/audit" class="filters" role="search" {
                label { "Kind "
                    select name="kind" {
                        option value="" selected[kind.is_none()] { "Any" }
                        @for k in KINDS {
                            option value=(k.code().to_ascii_lowercase()) selected[kind == Some(k)] { (kind_label(k)) }
                        }
                    }
                }
                label { "Lead id "
                    input type="search" name="lead_id" maxlength="128" value=(lead_id.unwrap_or_default());
                }
                button type="submit" { "Filter" }
            }
            @if events.is_empty() {
                p { "No audit events match." }
            } @else {
                table id="audit" {
                    caption { "Newest first" }
                    thead { tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Lead" }
                        th scope="col" { "Subject" }
                        th scope="col" { "Change" }
                    } }
                    tbody {
                        @for e in events {
                            tr {
                                td { (e.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")) }
                                td { (kind_label(e.kind)) }
                                td { (e.actor) }
                                td { @if let Some(id) = &e.lead_id {
                                    a href=(lead_href(id)) { (id) }
                                } }
                                td { (e.subject) }
                                td { (change(e)) }
                            }
                        }
                    }
                }
            }
            @if at.next.is_some() || at.paged {
                nav aria-label="Pages" {
                    @if at.paged { a href=(at.href(None)) { "First page" } " " }
                    @if let Some(next) = at.next { a rel="next" href=(at.href(Some(next))) { "Next page" } }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(kind: &str, lead_id: &str, after: &str) -> AuditQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        AuditQuery {
            kind: some(kind),
            lead_id: some(lead_id),
            after: some(after),
        }
    }

    #[test]
    fn filters_are_checked_as_over_grpc() {
        let (filter, size, after) =
            checked(&query("Verdict_Overridden", " acme-1 ", "42")).expect("valid");
        assert_eq!(filter.kind, Some(AuditKind::VerdictOverridden));
        assert_eq!(filter.lead_id.as_deref(), Some("acme-1"));
        assert_eq!((size, after), (AUDIT_PAGE, Some(42)));

        let fields = |q| -> Vec<String> {
            checked(&q)
                .expect_err("refused")
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        assert_eq!(fields(query("deleted", "", "")), ["kind"]);
        assert_eq!(fields(query("", "", "-3")), ["after"]);
        assert_eq!(
            fields(query("", &"x".repeat(500), "page2")),
            ["after", "lead_id"]
        );
    }

    #[test]
    fn stored_json_is_indented_when_it_is_json() {
        assert_eq!(pretty(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("not json <b>"), "not json <b>");
    }
}
