//! A [`Storage`] that times every operation of the storage it wraps and
//! counts its failures, for the `leadqual_storage_*` metrics.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::{broadcast, watch};

use super::notices::{Notice, NoticesDown};
use super::{
    AuditFilter, LeadFactsRow, LeadFilter, NewQualification, PoolUsage, SignalStatsRows,
    StatsFilter, Storage, StorageError, StorageResult,
};
use crate::domain::Outcome;
use crate::observability;
use crate::records::{
    ApiKeyRecord, AuditEvent, OverrideRecord, ProfileVersion, StoredLead, StoredLeadView,
    VerdictRecord,
};

/// Wraps a storage; each operation is recorded under its method's name.
pub struct MeteredStorage {
    inner: Arc<dyn Storage>,
}

impl MeteredStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self { inner }
    }
}

/// Runs `operation` and records its time, and its failure when the database
/// failed or is known to be down. Refusals the caller expects and acts on (a
/// lead changed, a request id or profile version taken) are outcomes, not
/// errors.
async fn timed<T>(
    name: &'static str,
    operation: impl Future<Output = StorageResult<T>>,
) -> StorageResult<T> {
    let started = Instant::now();
    let result = operation.await;
    let failed = matches!(
        result,
        Err(StorageError::Unavailable(_) | StorageError::Corrupt(_) | StorageError::Down)
    );
    observability::record_storage(name, started.elapsed(), failed);
    result
}

#[async_trait]
impl Storage for MeteredStorage {
    async fn get_lead(&self, tenant: &str, lead_id: &str) -> StorageResult<Option<StoredLead>> {
        timed("get_lead", self.inner.get_lead(tenant, lead_id)).await
    }

    async fn qualification_context(
        &self,
        tenant: &str,
        lead_id: &str,
        request_id: Option<&str>,
    ) -> StorageResult<(Option<StoredLead>, Option<VerdictRecord>)> {
        timed(
            "qualification_context",
            self.inner
                .qualification_context(tenant, lead_id, request_id),
        )
        .await
    }

    async fn qualification_contexts(
        &self,
        tenant: &str,
        items: &[(&str, Option<&str>)],
    ) -> StorageResult<Vec<(Option<StoredLead>, Option<VerdictRecord>)>> {
        timed(
            "qualification_contexts",
            self.inner.qualification_contexts(tenant, items),
        )
        .await
    }

    async fn get_lead_view(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> StorageResult<Option<StoredLeadView>> {
        timed("get_lead_view", self.inner.get_lead_view(tenant, lead_id)).await
    }

    async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        timed(
            "list_leads",
            self.inner.list_leads(tenant, filter, at, after, limit),
        )
        .await
    }

    async fn recent_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        timed(
            "recent_leads",
            self.inner.recent_leads(tenant, filter, at, after, limit),
        )
        .await
    }

    async fn lead_facts_page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<LeadFactsRow>> {
        timed(
            "lead_facts_page",
            self.inner.lead_facts_page(tenant, after, limit),
        )
        .await
    }

    async fn signal_stats(
        &self,
        tenant: &str,
        filter: StatsFilter,
    ) -> StorageResult<SignalStatsRows> {
        timed("signal_stats", self.inner.signal_stats(tenant, filter)).await
    }

    async fn commit_qualification(
        &self,
        qualification: NewQualification,
    ) -> StorageResult<VerdictRecord> {
        timed(
            "commit_qualification",
            self.inner.commit_qualification(qualification),
        )
        .await
    }

    async fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> StorageResult<Vec<StorageResult<VerdictRecord>>> {
        timed(
            "commit_qualifications",
            self.inner.commit_qualifications(batch),
        )
        .await
    }

    async fn get_verdict(
        &self,
        tenant: &str,
        verdict_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        timed("get_verdict", self.inner.get_verdict(tenant, verdict_id)).await
    }

    async fn find_verdict_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        timed(
            "find_verdict_by_request",
            self.inner.find_verdict_by_request(tenant, request_id),
        )
        .await
    }

    async fn verdicts_after(
        &self,
        tenant: &str,
        outcome: Option<Outcome>,
        after: &str,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        timed(
            "verdicts_after",
            self.inner.verdicts_after(tenant, outcome, after, limit),
        )
        .await
    }

    fn verdict_notices(&self) -> Result<broadcast::Receiver<Notice>, NoticesDown> {
        self.inner.verdict_notices()
    }

    fn reachability(&self) -> watch::Receiver<bool> {
        self.inner.reachability()
    }

    async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        timed(
            "list_verdicts",
            self.inner.list_verdicts(tenant, lead_id, before, limit),
        )
        .await
    }

    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>> {
        timed("current_profile", self.inner.current_profile(tenant)).await
    }

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>> {
        timed("get_profile", self.inner.get_profile(tenant, version)).await
    }

    async fn insert_profile(
        &self,
        profile: &ProfileVersion,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<()> {
        timed("insert_profile", self.inner.insert_profile(profile, audit)).await
    }

    async fn list_profiles(
        &self,
        tenant: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<ProfileVersion>> {
        timed(
            "list_profiles",
            self.inner.list_profiles(tenant, before, limit),
        )
        .await
    }

    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>> {
        timed("find_api_key", self.inner.find_api_key(key_id)).await
    }

    async fn any_active_api_key(&self) -> StorageResult<bool> {
        timed("any_active_api_key", self.inner.any_active_api_key()).await
    }

    async fn api_key_changes(&self) -> StorageResult<i64> {
        timed("api_key_changes", self.inner.api_key_changes()).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord, audit: &AuditEvent) -> StorageResult<()> {
        timed("insert_api_key", self.inner.insert_api_key(key, audit)).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        key_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool> {
        timed(
            "revoke_api_key",
            self.inner.revoke_api_key(tenant, key_id, at, audit),
        )
        .await
    }

    async fn touch_api_key(&self, key_id: &str, at: Timestamp) -> StorageResult<()> {
        timed("touch_api_key", self.inner.touch_api_key(key_id, at)).await
    }

    async fn list_api_keys(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<ApiKeyRecord>> {
        timed(
            "list_api_keys",
            self.inner.list_api_keys(tenant, show_revoked, after, limit),
        )
        .await
    }

    async fn insert_override(
        &self,
        record: &OverrideRecord,
        audit: &AuditEvent,
    ) -> StorageResult<()> {
        timed("insert_override", self.inner.insert_override(record, audit)).await
    }

    async fn clear_override(
        &self,
        tenant: &str,
        override_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool> {
        timed(
            "clear_override",
            self.inner.clear_override(tenant, override_id, at, audit),
        )
        .await
    }

    async fn list_overrides(
        &self,
        tenant: &str,
        lead_id: Option<&str>,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<OverrideRecord>> {
        timed(
            "list_overrides",
            self.inner.list_overrides(tenant, lead_id, after, limit),
        )
        .await
    }

    async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<AuditEvent>> {
        timed(
            "list_audit_events",
            self.inner.list_audit_events(tenant, filter, before, limit),
        )
        .await
    }

    fn pool_usage(&self) -> PoolUsage {
        self.inner.pool_usage()
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    use super::*;

    /// The storage samples recorded while `run` ran: counts of durations
    /// and error counters, by metric and operation.
    fn recorded(run: impl FnOnce()) -> Vec<(String, String, u64)> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, run);
        let mut out: Vec<(String, String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value): (CompositeKey, _, _, DebugValue)| {
                let operation = key
                    .key()
                    .labels()
                    .find(|l| l.key() == "operation")
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default();
                let count = match (key.kind(), value) {
                    (MetricKind::Counter, DebugValue::Counter(n)) => n,
                    (MetricKind::Histogram, DebugValue::Histogram(samples)) => samples.len() as u64,
                    (kind, value) => panic!("unexpected {kind:?} {value:?}"),
                };
                (key.key().name().to_owned(), operation, count)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_operation_is_timed_and_only_database_failures_are_errors() {
        let samples = recorded(|| {
            futures::executor::block_on(async {
                let _ = timed("get_lead", async { Ok(()) }).await;
                let _ = timed("commit_qualification", async {
                    StorageResult::<()>::Err(StorageError::LeadChanged)
                })
                .await;
                let _ = timed("commit_qualification", async {
                    StorageResult::<()>::Err(StorageError::DuplicateRequest)
                })
                .await;
                let _ = timed("get_verdict", async {
                    StorageResult::<()>::Err(StorageError::Unavailable(anyhow::anyhow!("down")))
                })
                .await;
                let _ = timed("get_verdict", async {
                    StorageResult::<()>::Err(StorageError::Corrupt(anyhow::anyhow!("bad row")))
                })
                .await;
                let _ = timed("get_verdict", async {
                    StorageResult::<()>::Err(StorageError::Down)
                })
                .await;
            });
        });
        let duration = observability::STORAGE_DURATION.to_owned();
        let errors = observability::STORAGE_ERRORS.to_owned();
        assert_eq!(
            samples,
            vec![
                (duration.clone(), "commit_qualification".to_owned(), 2),
                (duration.clone(), "get_lead".to_owned(), 1),
                (duration, "get_verdict".to_owned(), 3),
                (errors, "get_verdict".to_owned(), 3),
            ]
        );
    }
}
