//! The application layer: qualify = load lead, merge facts, evaluate,
//! persist; plus the reads and the profile workflow. It owns the clock and
//! the retry policy; the engine stays pure and storage stays dumb.

mod analytics;
mod turns;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::{Facts, LeadId, Outcome, Profile, RequestId, Stage, Violation, evaluate};
use crate::error::AppError;
use crate::observability;
use crate::records::{
    AuditEvent, AuditKind, OverrideRecord, ProfileVersion, StoredLead, StoredLeadView,
    VerdictRecord,
};
use crate::storage::{AuditFilter, LeadFilter, NewQualification, Storage, StorageError};

pub use analytics::{
    CriterionStats, DEFAULT_PREVIEW_SAMPLE, DisqualifyingCriterion, MAX_PREVIEW_SAMPLE, Preview,
    SignalStats, StageOutcomes,
};

/// The tenant of calls made without an API key (while none exists).
pub const DEFAULT_TENANT: &str = "default";

/// How often a qualification is re-run when a concurrent one changed the
/// same lead first.
const MAX_ATTEMPTS: usize = 8;

/// A request to qualify a lead, already validated field by field.
#[derive(Clone, Debug)]
pub struct QualifyLead {
    pub lead_id: LeadId,
    /// `None` keeps the stored stage (required for a new lead).
    pub stage: Option<Stage>,
    pub facts: Facts,
    pub request_id: Option<RequestId>,
    pub validate_only: bool,
}

/// The result of a qualification.
#[derive(Clone, Debug)]
pub struct Qualified {
    pub verdict: VerdictRecord,
    /// True when the request id matched an earlier call.
    pub replayed: bool,
}

/// A lead with its latest verdict and the override in force, if any.
#[derive(Clone, Debug)]
pub struct LeadView {
    pub lead: StoredLead,
    pub latest_verdict: Option<VerdictRecord>,
    pub active_override: Option<OverrideRecord>,
}

impl LeadView {
    /// The view of a stored lead at `now`: its newest override applies
    /// unless it has expired.
    fn at(stored: StoredLeadView, now: Timestamp) -> LeadView {
        LeadView {
            lead: stored.lead,
            latest_verdict: stored.latest_verdict,
            active_override: stored.latest_override.filter(|o| o.is_active(now)),
        }
    }

    /// The outcome that applies now, and why.
    pub fn effective_outcome(&self) -> (Option<Outcome>, String) {
        match (&self.active_override, &self.latest_verdict) {
            (Some(o), _) => {
                let until = o
                    .expires_at
                    .map(|at| format!(" until {at}"))
                    .unwrap_or_default();
                (
                    Some(o.outcome),
                    format!("overridden by {}{until}: {}", o.author, o.reason),
                )
            }
            (None, Some(v)) if v.evaluation.black_list_knockout() => (
                Some(v.evaluation.outcome),
                format!(
                    "computed by verdict {} (score {}): the client is on the black list \
                     (black_list_knockout)",
                    v.verdict_id, v.evaluation.score
                ),
            ),
            (None, Some(v)) => (
                Some(v.evaluation.outcome),
                format!(
                    "computed by verdict {} (score {})",
                    v.verdict_id, v.evaluation.score
                ),
            ),
            (None, None) => (self.lead.latest_outcome, String::new()),
        }
    }
}

/// A new override, validated field by field.
#[derive(Clone, Debug)]
pub struct OverrideVerdict {
    pub lead_id: LeadId,
    pub outcome: Outcome,
    pub reason: String,
    pub author: String,
    pub expires_at: Option<Timestamp>,
}

fn profile_json(profile: &ProfileVersion) -> String {
    serde_json::json!({ "version": profile.version, "profile": profile.profile }).to_string()
}

fn override_json(o: &OverrideRecord) -> String {
    serde_json::json!({
        "override_id": o.override_id,
        "outcome": o.outcome.code(),
        "reason": o.reason,
        "author": o.author,
        "expires_at": o.expires_at.map(|t| t.to_string()),
        "verdict_id": o.verdict_id,
    })
    .to_string()
}

/// How long a tenant's current profile is reused before it is read again.
/// Updates made through this process apply at once; an update made by
/// another replica reaches this one within this time. Every verdict records
/// the version it used.
const PROFILE_CACHE_TTL: Duration = Duration::from_secs(1);

/// The qualification service, independent of any transport.
#[derive(Clone)]
pub struct Qualifier {
    storage: Arc<dyn Storage>,
    profiles: Arc<Mutex<ProfileCache>>,
    turns: turns::LeadTurns,
}

/// Per tenant: the current profile and when it was read.
type ProfileCache = HashMap<String, (Arc<ProfileVersion>, Instant)>;

impl Qualifier {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            profiles: Arc::default(),
            turns: turns::LeadTurns::default(),
        }
    }

    /// The tenant's current profile, from the cache when fresh.
    async fn profile_for_evaluation(&self, tenant: &str) -> Result<Arc<ProfileVersion>, AppError> {
        if let Some((profile, at)) = self.profile_cache().get(tenant)
            && at.elapsed() < PROFILE_CACHE_TTL
        {
            return Ok(profile.clone());
        }
        let current = Arc::new(self.current_profile(tenant).await?);
        self.remember_profile(current.clone());
        Ok(current)
    }

    fn remember_profile(&self, profile: Arc<ProfileVersion>) {
        let mut cache = self.profile_cache();
        let newer = cache
            .get(&profile.tenant)
            .is_none_or(|(cached, _)| cached.version <= profile.version);
        if newer {
            cache.insert(profile.tenant.clone(), (profile, Instant::now()));
        }
    }

    fn profile_cache(&self) -> MutexGuard<'_, ProfileCache> {
        self.profiles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Merges, evaluates and (unless `validate_only`) stores atomically.
    pub async fn qualify(&self, tenant: &str, cmd: QualifyLead) -> Result<Qualified, AppError> {
        // Calls on one lead wait their turn here rather than race below.
        let _turn = if cmd.validate_only {
            None
        } else {
            let turn = self.turns.take(tenant, cmd.lead_id.as_str()).await;
            if turn.is_none() {
                observability::record_shed("QualifyLead", "lead_queue");
                return Err(AppError::ResourceExhausted(format!(
                    "{} qualifications of lead {} are waiting already; retry with backoff",
                    turns::MAX_WAITING_PER_LEAD,
                    cmd.lead_id
                )));
            }
            turn
        };
        let profile = self.profile_for_evaluation(tenant).await?;
        for _ in 0..MAX_ATTEMPTS {
            // The request id is checked on every attempt: a concurrent retry
            // may have won.
            let (stored, first) = self
                .storage
                .qualification_context(
                    tenant,
                    cmd.lead_id.as_str(),
                    cmd.request_id.as_ref().map(RequestId::as_str),
                )
                .await?;
            match prepare(tenant, &profile, &cmd, stored, first) {
                Step::Done(result) => return result,
                Step::Commit(commit) => {
                    if let Some(qualified) = self.commit(tenant, commit, &cmd).await? {
                        return Ok(qualified);
                    }
                }
            }
        }
        Err(AppError::Aborted(format!(
            "lead {} is being updated concurrently; retry the call",
            cmd.lead_id
        )))
    }

    /// Stores a qualification; `None` when the lead changed since it was
    /// read, so that the caller evaluates it again.
    async fn commit(
        &self,
        tenant: &str,
        commit: NewQualification,
        cmd: &QualifyLead,
    ) -> Result<Option<Qualified>, AppError> {
        match self.storage.commit_qualification(commit).await {
            Ok(verdict) => {
                observability::record_verdict(&verdict);
                Ok(Some(Qualified {
                    verdict,
                    replayed: false,
                }))
            }
            Err(StorageError::LeadChanged) => Ok(None),
            Err(StorageError::DuplicateRequest) => {
                // A concurrent retry of the same request won the race.
                let request_id = cmd.request_id.as_ref().map(RequestId::as_str);
                let first = self
                    .storage
                    .find_verdict_by_request(tenant, request_id.unwrap_or_default())
                    .await?
                    .ok_or_else(|| {
                        AppError::Aborted("request id conflict; retry the call".into())
                    })?;
                replay(first, cmd).map(Some)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Reads and evaluates a round of a bulk qualification: items that
    /// [`Qualifier::qualify`] would qualify one by one, of distinct leads and
    /// request ids (see [`round_length`]), with one read whatever their
    /// number and the evaluation off the runtime's threads. Nothing is
    /// stored until [`Qualifier::commit_round`].
    pub async fn prepare_round(
        &self,
        tenant: &str,
        round: Vec<QualifyLead>,
    ) -> Result<PreparedRound, AppError> {
        let profile = self.profile_for_evaluation(tenant).await?;
        let keys: Vec<(&str, Option<&str>)> = round
            .iter()
            .map(|c| {
                (
                    c.lead_id.as_str(),
                    c.request_id.as_ref().map(RequestId::as_str),
                )
            })
            .collect();
        let contexts = self.storage.qualification_contexts(tenant, &keys).await?;
        let tenant_for_work = tenant.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut pending = Vec::new();
            let steps = round
                .into_iter()
                .zip(contexts)
                .map(|(cmd, (stored, first))| {
                    match prepare(&tenant_for_work, &profile, &cmd, stored, first) {
                        Step::Done(result) => (cmd, Some(result)),
                        Step::Commit(commit) => {
                            pending.push(commit);
                            (cmd, None)
                        }
                    }
                })
                .collect();
            PreparedRound { steps, pending }
        })
        .await
        .map_err(|e| AppError::Internal(format!("evaluation of a batch failed: {e}")))
    }

    /// Stores a prepared round in one transaction and answers each of its
    /// items, in order. An item that lost a race with another writer is
    /// qualified again on its own, with the retries of a single call. `Err`
    /// when the transaction failed: nothing of the round was stored.
    pub async fn commit_round(
        &self,
        tenant: &str,
        round: PreparedRound,
    ) -> Result<Vec<Result<Qualified, AppError>>, AppError> {
        let mut committed = self
            .storage
            .commit_qualifications(round.pending)
            .await?
            .into_iter();
        let mut results = Vec::with_capacity(round.steps.len());
        for (cmd, done) in round.steps {
            let result = match done {
                Some(result) => result,
                None => match committed.next() {
                    Some(Ok(verdict)) => {
                        observability::record_verdict(&verdict);
                        Ok(Qualified {
                            verdict,
                            replayed: false,
                        })
                    }
                    Some(Err(StorageError::LeadChanged | StorageError::DuplicateRequest)) => {
                        self.qualify(tenant, cmd).await
                    }
                    Some(Err(other)) => Err(other.into()),
                    None => Err(AppError::Internal(
                        "storage answered fewer results than qualifications".into(),
                    )),
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    pub async fn get_lead(&self, tenant: &str, lead_id: &LeadId) -> Result<LeadView, AppError> {
        let stored = self
            .storage
            .get_lead_view(tenant, lead_id.as_str())
            .await?
            .ok_or_else(|| AppError::NotFound(format!("lead {lead_id} not found")))?;
        Ok(LeadView::at(stored, now()))
    }

    /// Leads after `after`, ordered by id, with their latest verdicts; the
    /// second value says whether more may follow.
    pub async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        after: Option<&str>,
        page_size: i64,
    ) -> Result<(Vec<LeadView>, bool), AppError> {
        // One time for what the filter and the views call in force.
        let now = now();
        let leads = self
            .storage
            .list_leads(tenant, filter, now, after, page_size + 1)
            .await?;
        Ok(lead_page(leads, page_size, now))
    }

    /// Leads most recently qualified first, after the `(updated_at, lead_id)`
    /// of the previous page's last lead; the second value says whether more
    /// may follow.
    pub async fn recent_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        after: Option<(Timestamp, String)>,
        page_size: i64,
    ) -> Result<(Vec<LeadView>, bool), AppError> {
        let now = now();
        let leads = self
            .storage
            .recent_leads(tenant, filter, now, after, page_size + 1)
            .await?;
        Ok(lead_page(leads, page_size, now))
    }

    pub async fn get_verdict(
        &self,
        tenant: &str,
        verdict_id: &str,
    ) -> Result<VerdictRecord, AppError> {
        self.storage
            .get_verdict(tenant, verdict_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("verdict {verdict_id} not found")))
    }

    /// A lead's verdicts, newest first, before sequence `before`.
    pub async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &LeadId,
        before: Option<i64>,
        page_size: i64,
    ) -> Result<(Vec<VerdictRecord>, bool), AppError> {
        if before.is_none()
            && self
                .storage
                .get_lead(tenant, lead_id.as_str())
                .await?
                .is_none()
        {
            return Err(AppError::NotFound(format!("lead {lead_id} not found")));
        }
        let mut verdicts = self
            .storage
            .list_verdicts(tenant, lead_id.as_str(), before, page_size + 1)
            .await?;
        let more = truncate_page(&mut verdicts, page_size);
        Ok((verdicts, more))
    }

    /// The tenant's current profile; a tenant without one gets the SPEC
    /// defaults stored as version 1.
    pub async fn current_profile(&self, tenant: &str) -> Result<ProfileVersion, AppError> {
        if let Some(current) = self.storage.current_profile(tenant).await? {
            return Ok(current);
        }
        let first = ProfileVersion {
            tenant: tenant.to_owned(),
            version: 1,
            profile: Profile::default(),
            created_at: now(),
        };
        match self.storage.insert_profile(&first, None).await {
            Ok(()) => Ok(first),
            Err(StorageError::ProfileVersionTaken) => self
                .storage
                .current_profile(tenant)
                .await?
                .ok_or_else(|| AppError::Aborted("profile changed concurrently; retry".into())),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> Result<ProfileVersion, AppError> {
        if version == 0 {
            return self.current_profile(tenant).await;
        }
        self.storage
            .get_profile(tenant, version)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("profile version {version} not found")))
    }

    /// Stores `profile` as the next version. With `expected_version`, fails
    /// unless that is still the current version.
    pub async fn update_profile(
        &self,
        tenant: &str,
        actor: &str,
        profile: Profile,
        expected_version: Option<i64>,
    ) -> Result<ProfileVersion, AppError> {
        let violations = profile.violations("profile");
        if !violations.is_empty() {
            return Err(AppError::InvalidArgument(violations));
        }
        for _ in 0..MAX_ATTEMPTS {
            let current = self.current_profile(tenant).await?;
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(AppError::FailedPrecondition(format!(
                    "expected profile version {expected}, but the current version is {}",
                    current.version
                )));
            }
            let next = ProfileVersion {
                tenant: tenant.to_owned(),
                version: current.version + 1,
                profile: profile.clone(),
                created_at: now(),
            };
            let audit = AuditEvent {
                before_json: profile_json(&current),
                after_json: profile_json(&next),
                ..AuditEvent::new(
                    tenant,
                    AuditKind::ProfileUpdated,
                    actor,
                    format!("profile version {}", next.version),
                    next.created_at,
                )
            };
            match self.storage.insert_profile(&next, Some(&audit)).await {
                Ok(()) => {
                    self.remember_profile(Arc::new(next.clone()));
                    return Ok(next);
                }
                Err(StorageError::ProfileVersionTaken) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(AppError::Aborted(
            "the profile is being updated concurrently; retry the call".into(),
        ))
    }

    /// Profile versions, newest first, below `before`.
    pub async fn list_profiles(
        &self,
        tenant: &str,
        before: Option<i64>,
        page_size: i64,
    ) -> Result<(Vec<ProfileVersion>, bool), AppError> {
        self.current_profile(tenant).await?;
        let mut profiles = self
            .storage
            .list_profiles(tenant, before, page_size + 1)
            .await?;
        let more = truncate_page(&mut profiles, page_size);
        Ok((profiles, more))
    }

    /// Sets a lead's outcome by hand; computed verdicts keep being stored.
    pub async fn override_verdict(
        &self,
        tenant: &str,
        actor: &str,
        cmd: OverrideVerdict,
    ) -> Result<(OverrideRecord, LeadView), AppError> {
        let at = now();
        if let Some(expires_at) = cmd.expires_at
            && expires_at <= at
        {
            return Err(AppError::InvalidArgument(vec![Violation::new(
                "expire_time",
                format!("must be in the future, got {expires_at}"),
            )]));
        }
        let mut view = self.get_lead(tenant, &cmd.lead_id).await?;
        let record = OverrideRecord {
            override_id: uuid::Uuid::now_v7().to_string(),
            tenant: tenant.to_owned(),
            lead_id: cmd.lead_id.as_str().to_owned(),
            outcome: cmd.outcome,
            reason: cmd.reason,
            author: cmd.author,
            actor: actor.to_owned(),
            verdict_id: view.lead.latest_verdict_id.clone(),
            created_at: at,
            expires_at: cmd.expires_at,
            cleared_at: None,
        };
        let audit = AuditEvent {
            lead_id: Some(record.lead_id.clone()),
            before_json: view
                .active_override
                .as_ref()
                .map(override_json)
                .unwrap_or_default(),
            after_json: override_json(&record),
            ..AuditEvent::new(
                tenant,
                AuditKind::VerdictOverridden,
                actor,
                format!("lead {}", record.lead_id),
                at,
            )
        };
        self.storage.insert_override(&record, &audit).await?;
        view.active_override = Some(record.clone());
        Ok((record, view))
    }

    /// Withdraws the override in force on a lead, audited with `reason`;
    /// `FAILED_PRECONDITION` when none is in force.
    pub async fn clear_override(
        &self,
        tenant: &str,
        actor: &str,
        lead_id: &LeadId,
        reason: String,
    ) -> Result<(OverrideRecord, LeadView), AppError> {
        let mut view = self.get_lead(tenant, lead_id).await?;
        let none_in_force =
            || AppError::FailedPrecondition(format!("lead {lead_id} has no override in force"));
        let mut record = view.active_override.take().ok_or_else(none_in_force)?;
        let before_json = override_json(&record);
        let at = now();
        record.cleared_at = Some(at);
        let audit = AuditEvent {
            lead_id: Some(record.lead_id.clone()),
            before_json,
            after_json: serde_json::json!({
                "override_id": record.override_id,
                "cleared_at": at.to_string(),
                "reason": reason,
            })
            .to_string(),
            ..AuditEvent::new(
                tenant,
                AuditKind::OverrideCleared,
                actor,
                format!("lead {lead_id}"),
                at,
            )
        };
        if !self
            .storage
            .clear_override(tenant, &record.override_id, at, &audit)
            .await?
        {
            // Withdrawn by a concurrent call since it was read.
            return Err(none_in_force());
        }
        Ok((record, view))
    }

    /// A tenant's overrides, newest first, after the `(created_at,
    /// override_id)` of the last one of the previous page; true when more
    /// follow.
    pub async fn list_overrides(
        &self,
        tenant: &str,
        lead_id: Option<&LeadId>,
        after: Option<(Timestamp, String)>,
        page_size: i64,
    ) -> Result<(Vec<OverrideRecord>, bool), AppError> {
        let mut overrides = self
            .storage
            .list_overrides(tenant, lead_id.map(LeadId::as_str), after, page_size + 1)
            .await?;
        let more = truncate_page(&mut overrides, page_size);
        Ok((overrides, more))
    }

    /// Audit events, newest first, with `seq` below `before`.
    pub async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<i64>,
        page_size: i64,
    ) -> Result<(Vec<AuditEvent>, bool), AppError> {
        let mut events = self
            .storage
            .list_audit_events(tenant, filter, before, page_size + 1)
            .await?;
        let more = truncate_page(&mut events, page_size);
        Ok((events, more))
    }
}

/// A page of leads fetched with one extra row, as views at `now`, and
/// whether another page follows.
fn lead_page(
    mut leads: Vec<StoredLeadView>,
    page_size: i64,
    now: Timestamp,
) -> (Vec<LeadView>, bool) {
    let more = truncate_page(&mut leads, page_size);
    let views = leads
        .into_iter()
        .map(|stored| LeadView::at(stored, now))
        .collect();
    (views, more)
}

/// Cuts a listing fetched with one extra row back to `page_size`; true when
/// that extra row existed, i.e. another page follows.
pub fn truncate_page<T>(items: &mut Vec<T>, page_size: i64) -> bool {
    let size = usize::try_from(page_size).unwrap_or(0);
    let more = items.len() > size;
    items.truncate(size);
    more
}

/// The clock, at the precision storage keeps, so a record reads back equal.
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
}

/// A round of a bulk qualification, evaluated: each item answered already
/// or waiting for the commit.
pub struct PreparedRound {
    steps: Vec<(QualifyLead, Option<Result<Qualified, AppError>>)>,
    pending: Vec<NewQualification>,
}

/// How many of `commands` (at least one) form a round of distinct leads and
/// request ids.
pub fn round_length(commands: &[QualifyLead]) -> usize {
    let mut leads = HashSet::new();
    let mut requests = HashSet::new();
    commands
        .iter()
        .position(|c| {
            let repeated_lead = !leads.insert(c.lead_id.as_str());
            let repeated_request = c
                .request_id
                .as_ref()
                .is_some_and(|r| !requests.insert(r.as_str()));
            repeated_lead || repeated_request
        })
        .unwrap_or(commands.len())
        .max(1)
}

/// A qualification after its evaluation: answered already, or to be
/// committed.
enum Step {
    Done(Result<Qualified, AppError>),
    Commit(NewQualification),
}

/// What [`Qualifier::qualify`] does between reading and committing, for one
/// item of a batch.
fn prepare(
    tenant: &str,
    profile: &ProfileVersion,
    cmd: &QualifyLead,
    stored: Option<StoredLead>,
    first: Option<VerdictRecord>,
) -> Step {
    if let Some(first) = first {
        return Step::Done(replay(first, cmd));
    }
    let (stage, facts) = match merge(stored.as_ref(), cmd) {
        Ok(merged) => merged,
        Err(e) => return Step::Done(Err(e)),
    };
    let revision = stored.as_ref().map(|l| l.revision);
    let verdict = evaluate_now(tenant, cmd, profile, stage, facts, revision);
    if cmd.validate_only {
        return Step::Done(Ok(Qualified {
            verdict,
            replayed: false,
        }));
    }
    Step::Commit(NewQualification {
        expected_revision: revision,
        stage,
        verdict,
    })
}

fn replay(first: VerdictRecord, cmd: &QualifyLead) -> Result<Qualified, AppError> {
    if first.lead_id != cmd.lead_id.as_str() {
        return Err(AppError::InvalidArgument(vec![Violation::new(
            "request_id",
            format!(
                "already used for lead {}; a request id identifies one call",
                first.lead_id
            ),
        )]));
    }
    Ok(Qualified {
        verdict: first,
        replayed: true,
    })
}

/// The stage to evaluate at and the facts to evaluate: the stored lead's
/// updated by the request's. A new lead needs a stage, and a part of the
/// merged facts never exceeds its whole.
fn merge(stored: Option<&StoredLead>, cmd: &QualifyLead) -> Result<(Stage, Facts), AppError> {
    let stage = cmd.stage.or(stored.map(|l| l.stage)).ok_or_else(|| {
        AppError::InvalidArgument(vec![Violation::new(
            "stage",
            "required on a lead's first qualification",
        )])
    })?;
    let merged = match stored {
        Some(lead) => lead.facts.merged_with(&cmd.facts),
        None => cmd.facts.clone(),
    };
    let violations = merged_fact_violations(&merged);
    if !violations.is_empty() {
        return Err(AppError::InvalidArgument(violations));
    }
    Ok((stage, merged))
}

/// Evaluates `facts` today under `profile` into the lead's next verdict
/// after `revision`; a verdict that is only validated gets no id.
fn evaluate_now(
    tenant: &str,
    cmd: &QualifyLead,
    profile: &ProfileVersion,
    stage: Stage,
    facts: Facts,
    revision: Option<i64>,
) -> VerdictRecord {
    let now = now();
    let date = now.to_zoned(TimeZone::UTC).date();
    let evaluation = evaluate(&facts, &profile.profile, stage, date);
    VerdictRecord {
        verdict_id: if cmd.validate_only {
            String::new()
        } else {
            uuid::Uuid::now_v7().to_string()
        },
        tenant: tenant.to_owned(),
        lead_id: cmd.lead_id.as_str().to_owned(),
        seq: revision.unwrap_or(0) + 1,
        evaluation,
        profile_version: profile.version,
        facts_hash: facts.hash(),
        facts,
        request_id: cmd.request_id.as_ref().map(|r| r.as_str().to_owned()),
        evaluated_at: now,
        evaluation_date: date,
    }
}

/// Cross-fact rules that hold for the merged facts: a part never exceeds
/// its whole.
fn merged_fact_violations(facts: &Facts) -> Vec<Violation> {
    let mut out = Vec::new();
    for (part, part_name, whole, whole_name) in [
        (
            facts.questions_answered,
            "questions_answered",
            facts.questions_asked,
            "questions_asked",
        ),
        (
            facts.plan_steps_completed,
            "plan_steps_completed",
            facts.plan_steps_agreed,
            "plan_steps_agreed",
        ),
        (
            facts.assignments_completed,
            "assignments_completed",
            facts.assignments_given,
            "assignments_given",
        ),
    ] {
        if let (Some(p), Some(w)) = (part, whole)
            && p > w
        {
            out.push(Violation::new(
                format!("facts.{part_name}"),
                format!("{part_name} ({p}) cannot exceed {whole_name} ({w}) of the merged facts"),
            ));
        }
    }
    out
}
