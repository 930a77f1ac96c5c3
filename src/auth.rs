//! Authentication and API keys. A key is `lq_<key_id>_<secret>`: the key id
//! is public (shown in listings and the audit trail), the whole key is shown
//! once at creation and stored only as a SHA-256 hash. Keys carry roles and
//! belong to one tenant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::domain::Violation;
pub use crate::domain::access::Role;
use crate::error::AppError;
use crate::qualification::{DEFAULT_TENANT, now, truncate_page};
use crate::records::{ApiKeyRecord, AuditEvent, AuditKind};
use crate::storage::Storage;

/// The actor recorded for calls made without a key.
pub const UNAUTHENTICATED_ACTOR: &str = "unauthenticated";
/// The actor recorded for the `leadqual keys` command.
pub const CLI_ACTOR: &str = "cli";

/// How often a key's last-use time is written at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How long verified keys are trusted without asking storage whether any key
/// was created or revoked since: the most a revocation made elsewhere (the
/// CLI, another replica) waits before it applies here. Revocations through
/// this server's `AdminService` apply at once.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A key as handed out once: the public id and the whole secret key.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    pub key_id: String,
    pub secret: String,
    pub record: ApiKeyRecord,
}

/// Who is calling: the tenant they act for and their strongest role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    /// The key id, or `unauthenticated`.
    pub actor: String,
    pub role: Role,
}

impl Caller {
    /// `PERMISSION_DENIED` unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), AppError> {
        if self.role.includes(needed) {
            Ok(())
        } else {
            Err(AppError::PermissionDenied(format!(
                "this call needs the {} role; the key has {}",
                needed.code().to_ascii_lowercase(),
                self.role.code().to_ascii_lowercase()
            )))
        }
    }

    /// Whether the call came without a key, as allowed while none exists.
    pub fn is_keyless(&self) -> bool {
        self.actor == UNAUTHENTICATED_ACTOR
    }
}

/// Checks a tenant name: 1–64 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn parse_tenant(tenant: &str) -> Result<String, String> {
    let valid = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && tenant
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(tenant.to_owned())
    } else {
        Err(format!(
            "\"{tenant}\" is not a tenant name (1-64 of a-z, 0-9, '-', '_', starting with a letter or digit)"
        ))
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(format!("no randomness for a key: {e}")))?;
    Ok(bytes)
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The key id of a well-formed key.
fn key_id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("lq_")?;
    let (key_id, tail) = rest.split_once('_')?;
    let well_formed =
        key_id.len() == 12 && key_id.chars().all(|c| c.is_ascii_hexdigit()) && tail.len() >= 32;
    well_formed.then_some(key_id)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The public part of a key, as written to the audit trail.
pub fn key_json(key: &ApiKeyRecord) -> String {
    serde_json::json!({
        "key_id": key.key_id,
        "roles": key.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
        "description": key.description,
        "revoked": key.revoked_at.is_some(),
    })
    .to_string()
}

/// Creates a key for `tenant` with `roles` (256 random bits of secret) and
/// records it in the audit trail as made by `actor`.
async fn issue_key(
    storage: &dyn Storage,
    tenant: &str,
    roles: &[Role],
    description: &str,
    actor: &str,
) -> Result<IssuedKey, AppError> {
    let mut violations = Vec::new();
    let tenant = parse_tenant(tenant)
        .map_err(|e| violations.push(Violation::new("tenant", e)))
        .unwrap_or_default();
    if roles.is_empty() {
        violations.push(Violation::new("roles", "at least one role is required"));
    }
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        violations.push(Violation::new(
            "description",
            "must be at most 200 printable characters",
        ));
    }
    if !violations.is_empty() {
        return Err(AppError::InvalidArgument(violations));
    }
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let key_id = hex::encode(random_bytes::<6>()?);
    let secret = format!(
        "lq_{key_id}_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    );
    let created_at = now();
    let record = ApiKeyRecord {
        key_id: key_id.clone(),
        tenant: tenant.clone(),
        secret_hash: hash_secret(&secret),
        roles,
        description: description.to_owned(),
        created_at,
        last_used_at: None,
        revoked_at: None,
    };
    let audit = AuditEvent {
        after_json: key_json(&record),
        ..AuditEvent::new(
            &tenant,
            AuditKind::ApiKeyCreated,
            actor,
            format!("api key {key_id}"),
            created_at,
        )
    };
    storage.insert_api_key(&record, &audit).await?;
    Ok(IssuedKey {
        key_id,
        secret,
        record,
    })
}

/// Revokes `key_id` of `tenant`; `NOT_FOUND` when the tenant has no such
/// active key.
async fn revoke_key(
    storage: &dyn Storage,
    tenant: &str,
    key_id: &str,
    actor: &str,
) -> Result<ApiKeyRecord, AppError> {
    let not_found = || AppError::NotFound(format!("api key {key_id} not found"));
    let mut key = storage
        .find_api_key(key_id)
        .await?
        .filter(|k| k.tenant == tenant && k.revoked_at.is_none())
        .ok_or_else(not_found)?;
    let before_json = key_json(&key);
    let at = now();
    key.revoked_at = Some(at);
    let audit = AuditEvent {
        before_json,
        after_json: key_json(&key),
        ..AuditEvent::new(
            tenant,
            AuditKind::ApiKeyRevoked,
            actor,
            format!("api key {key_id}"),
            at,
        )
    };
    if storage.revoke_api_key(tenant, key_id, at, &audit).await? {
        Ok(key)
    } else {
        Err(not_found())
    }
}

/// A tenant's keys, newest first, after the `(created_at, key_id)` of the
/// last key of the previous page; true when more follow.
async fn list_keys(
    storage: &dyn Storage,
    tenant: &str,
    show_revoked: bool,
    after: Option<(Timestamp, String)>,
    page_size: i64,
) -> Result<(Vec<ApiKeyRecord>, bool), AppError> {
    let mut keys = storage
        .list_api_keys(tenant, show_revoked, after, page_size + 1)
        .await?;
    let more = truncate_page(&mut keys, page_size);
    Ok((keys, more))
}

/// Active keys already read from storage, so that a call does not read its
/// key again. Emptied whenever storage reports a key created or revoked
/// since the last look, which happens at most once per
/// [`KEY_REFRESH_INTERVAL`].
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, ApiKeyRecord>,
    /// Storage's count of key creations and revocations when last asked.
    changes: Option<i64>,
    checked_at: Option<Instant>,
    /// Grows whenever keys are forgotten, so that a read that began before
    /// does not put a revoked key back.
    generation: u64,
}

impl KeyCache {
    fn stale(&self) -> bool {
        self.checked_at
            .is_none_or(|at| at.elapsed() >= KEY_REFRESH_INTERVAL)
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.generation += 1;
    }
}

/// Turns `authorization` metadata into a [`Caller`].
pub struct Authenticator {
    storage: Arc<dyn Storage>,
    /// Whether calls without a key are accepted while no key exists.
    open_when_keyless: bool,
    last_touched: Mutex<HashMap<String, Instant>>,
    cache: Mutex<KeyCache>,
}

impl Authenticator {
    /// Checks keys against `storage`; `open_when_keyless` lets calls without
    /// a key in while no active key exists.
    pub fn new(storage: Arc<dyn Storage>, open_when_keyless: bool) -> Self {
        Self {
            storage,
            open_when_keyless,
            last_touched: Mutex::new(HashMap::new()),
            cache: Mutex::new(KeyCache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a key for `tenant` (see [`issue_key`]); it works at once,
    /// here and on every other server.
    pub async fn issue(
        &self,
        tenant: &str,
        roles: &[Role],
        description: &str,
        actor: &str,
    ) -> Result<IssuedKey, AppError> {
        issue_key(self.storage.as_ref(), tenant, roles, description, actor).await
    }

    /// A page of `tenant`'s keys (see [`list_keys`]).
    pub async fn list(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        page_size: i64,
    ) -> Result<(Vec<ApiKeyRecord>, bool), AppError> {
        list_keys(
            self.storage.as_ref(),
            tenant,
            show_revoked,
            after,
            page_size,
        )
        .await
    }

    /// Revokes `key_id` of `tenant` (see [`revoke_key`]) and stops trusting
    /// it here at once; other servers notice within the refresh interval.
    pub async fn revoke(
        &self,
        tenant: &str,
        key_id: &str,
        actor: &str,
    ) -> Result<ApiKeyRecord, AppError> {
        let key = revoke_key(self.storage.as_ref(), tenant, key_id, actor).await?;
        let mut cache = self.cache();
        cache.keys.remove(key_id);
        cache.generation += 1;
        Ok(key)
    }

    /// Empties the cache when keys were created or revoked elsewhere since
    /// the last look; looks at most once per interval.
    async fn refresh(&self) -> Result<(), AppError> {
        if !self.cache().stale() {
            return Ok(());
        }
        let changes = self.storage.api_key_changes().await?;
        let mut cache = self.cache();
        if cache.changes != Some(changes) {
            cache.clear();
            cache.changes = Some(changes);
        }
        cache.checked_at = Some(Instant::now());
        Ok(())
    }

    /// The active key `key_id`, from the cache or storage.
    async fn active_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, AppError> {
        self.refresh().await?;
        let generation = {
            let cache = self.cache();
            if let Some(key) = cache.keys.get(key_id) {
                return Ok(Some(key.clone()));
            }
            cache.generation
        };
        let key = self
            .storage
            .find_api_key(key_id)
            .await?
            .filter(|k| k.revoked_at.is_none());
        if let Some(key) = &key {
            let mut cache = self.cache();
            if cache.generation == generation {
                cache.keys.insert(key.key_id.clone(), key.clone());
            }
        }
        Ok(key)
    }

    /// `UNAUTHENTICATED` for a missing, malformed, unknown or revoked key;
    /// no key at all is accepted (as the default tenant, with every role)
    /// only while no active key exists and keyless calls are allowed.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AppError> {
        let Some(value) = authorization else {
            if self.open_when_keyless && !self.storage.any_active_api_key().await? {
                return Ok(Caller {
                    tenant: DEFAULT_TENANT.to_owned(),
                    actor: UNAUTHENTICATED_ACTOR.to_owned(),
                    role: Role::Admin,
                });
            }
            return Err(AppError::Unauthenticated(
                "an API key is required: send `authorization: Bearer <key>` metadata".into(),
            ));
        };
        let invalid = || AppError::Unauthenticated("the API key is invalid or revoked".into());
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Unauthenticated("authorization metadata must be `Bearer <key>`".into())
            })?;
        let key_id = key_id_of(secret).ok_or_else(invalid)?;
        let key = self.active_key(key_id).await?.ok_or_else(invalid)?;
        if !constant_time_eq(hash_secret(secret).as_bytes(), key.secret_hash.as_bytes()) {
            return Err(invalid());
        }
        self.touch(&key.key_id);
        Ok(Caller {
            role: key.roles.iter().copied().max().unwrap_or(Role::Reader),
            tenant: key.tenant,
            actor: key.key_id,
        })
    }

    /// Records the key's use, at most once per interval per key.
    fn touch(&self, key_id: &str) {
        let due = {
            let mut touched = self
                .last_touched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = touched
                .get(key_id)
                .is_none_or(|at| at.elapsed() >= TOUCH_INTERVAL);
            if due {
                touched.insert(key_id.to_owned(), Instant::now());
            }
            due
        };
        if due {
            // Off the call's path: on SQLite this write queues behind commits.
            let storage = self.storage.clone();
            let key_id = key_id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = storage.touch_api_key(&key_id, now()).await {
                    tracing::warn!(key_id, error = %e, "cannot record the key's last use");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_read_from_well_formed_keys_only() {
        let key = format!("lq_0123456789ab_{}", "x".repeat(43));
        assert_eq!(key_id_of(&key), Some("0123456789ab"));
        assert_eq!(key_id_of("lq_0123456789ab_short"), None);
        assert_eq!(key_id_of("0123456789ab"), None);
        assert_eq!(key_id_of(&format!("lq_XYZ_{}", "x".repeat(43))), None);
    }

    #[test]
    fn tenant_names_are_short_lower_case_slugs() {
        assert!(parse_tenant("acme").is_ok());
        assert!(parse_tenant("acme-emea_2").is_ok());
        assert!(parse_tenant("").is_err());
        assert!(parse_tenant("Acme").is_err());
        assert!(parse_tenant("-acme").is_err());
        assert!(parse_tenant(&"a".repeat(65)).is_err());
    }

    #[test]
    fn caller_needs_a_role_that_includes_the_needed_one() {
        let scorer = Caller {
            tenant: "acme".into(),
            actor: "k".into(),
            role: Role::Scorer,
        };
        assert!(scorer.require(Role::Reader).is_ok());
        assert!(scorer.require(Role::Scorer).is_ok());
        assert!(matches!(
            scorer.require(Role::Admin),
            Err(AppError::PermissionDenied(_))
        ));
    }
}
