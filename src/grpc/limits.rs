//! What a call must pass before a handler runs it, besides its key: room
//! among the calls in flight, its tenant's rate, and a deadline. Load beyond
//! capacity is refused at once with `RESOURCE_EXHAUSTED` rather than queued
//! without bound.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The limits calls are admitted under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Calls served at once, watches aside.
    pub max_concurrent_calls: usize,
    /// `WatchVerdicts` streams open at once.
    pub max_watches: usize,
    /// Per tenant; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// The deadline of a unary call whose caller sets a later one or none.
    pub default_deadline: Duration,
    /// Largest request message, in bytes.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 256,
            max_watches: 64,
            rate_limit: None,
            default_deadline: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A tenant's sustained calls per second and the burst it may make above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `None` for a rate of 0 (no limit); the burst defaults to one second's
    /// worth of calls.
    pub fn new(per_second: u32, burst: Option<u32>) -> Option<RateLimit> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = burst.and_then(NonZeroU32::new).unwrap_or(per_second);
        Some(RateLimit { per_second, burst })
    }
}

/// Why a call was refused before its handler ran, as the
/// `leadqual_rpc_shed_total` metric names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    Concurrency,
    RateLimit,
    Draining,
}

impl Shed {
    pub fn reason(self) -> &'static str {
        match self {
            Shed::Concurrency => "concurrency",
            Shed::RateLimit => "rate_limit",
            Shed::Draining => "draining",
        }
    }
}

/// The shared state of admission: one per server.
pub struct Admission {
    calls: Arc<Semaphore>,
    watches: Arc<Semaphore>,
    max_concurrent_calls: usize,
    max_watches: usize,
    tenants: Option<DefaultKeyedRateLimiter<String>>,
    default_deadline: Duration,
    draining: AtomicBool,
}

/// Which pool of room a call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Answers once: the default deadline applies.
    Unary,
    /// A stream of results the caller ends (a bulk qualification).
    Stream,
    /// A watch: open as long as the caller wants, counted apart.
    Watch,
}

impl Admission {
    pub fn new(limits: &Limits) -> Self {
        Self {
            calls: Arc::new(Semaphore::new(limits.max_concurrent_calls)),
            watches: Arc::new(Semaphore::new(limits.max_watches)),
            max_concurrent_calls: limits.max_concurrent_calls,
            max_watches: limits.max_watches,
            tenants: limits.rate_limit.map(|rate| {
                RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst))
            }),
            default_deadline: limits.default_deadline,
            draining: AtomicBool::new(false),
        }
    }

    /// From now on, new calls are refused with `UNAVAILABLE`.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Room for a call of `kind`, held until its response ends; refused at
    /// once when there is none.
    pub fn admit(&self, kind: CallKind) -> Result<OwnedSemaphorePermit, (Shed, Status)> {
        if self.draining.load(Ordering::Acquire) {
            return Err((
                Shed::Draining,
                Status::unavailable("the server is shutting down; retry on another replica"),
            ));
        }
        let (room, size, what) = match kind {
            CallKind::Watch => (&self.watches, self.max_watches, "watches"),
            CallKind::Unary | CallKind::Stream => (&self.calls, self.max_concurrent_calls, "calls"),
        };
        room.clone().try_acquire_owned().map_err(|_| {
            (
                Shed::Concurrency,
                Status::resource_exhausted(format!(
                    "the server is at its limit of {size} {what} at once; retry with backoff"
                )),
            )
        })
    }

    /// Whether `tenant` is within its rate; if not, `RESOURCE_EXHAUSTED`
    /// with a `RetryInfo` saying when a call would be let in.
    pub fn check_rate(&self, tenant: &str) -> Result<(), (Shed, Status)> {
        let Some(tenants) = &self.tenants else {
            return Ok(());
        };
        // Tenants are those of stored keys: the keys of this map are bounded.
        tenants.check_key(&tenant.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Rounded up to a millisecond, never zero.
            let wait = Duration::from_millis(wait.as_millis() as u64 + 1);
            (
                Shed::RateLimit,
                Status::with_error_details(
                    Code::ResourceExhausted,
                    format!("the tenant's rate limit is reached; retry in {wait:?}"),
                    ErrorDetails::with_retry_info(Some(wait)),
                ),
            )
        })
    }

    /// How long a call of `kind` may take: the caller's `grpc-timeout`, for
    /// unary calls at most the default deadline.
    pub fn deadline(&self, kind: CallKind, headers: &http::HeaderMap) -> Option<Duration> {
        let asked = headers
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        match kind {
            CallKind::Unary => Some(asked.map_or(self.default_deadline, |asked| {
                asked.min(self.default_deadline)
            })),
            CallKind::Stream | CallKind::Watch => asked,
        }
    }
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if !(2..=9).contains(&value.len()) || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_read_as_the_protocol_defines_them() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "5s", "-1S", "1.5S", "5 S", "٥S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_unary_call_gets_the_shorter_of_the_callers_and_the_default_deadline() {
        let admission = Admission::new(&Limits::default());
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            admission.deadline(CallKind::Unary, &headers),
            Some(Duration::from_secs(30))
        );
        assert_eq!(admission.deadline(CallKind::Watch, &headers), None);
        headers.insert("grpc-timeout", http::HeaderValue::from_static("2S"));
        assert_eq!(
            admission.deadline(CallKind::Unary, &headers),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            admission.deadline(CallKind::Stream, &headers),
            Some(Duration::from_secs(2))
        );
        headers.insert("grpc-timeout", http::HeaderValue::from_static("5M"));
        assert_eq!(
            admission.deadline(CallKind::Unary, &headers),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn calls_beyond_the_limit_are_refused_until_one_ends() {
        let admission = Admission::new(&Limits {
            max_concurrent_calls: 2,
            max_watches: 1,
            ..Limits::default()
        });
        let first = admission.admit(CallKind::Unary).expect("room");
        let _second = admission.admit(CallKind::Stream).expect("room");
        let (shed, status) = admission.admit(CallKind::Unary).expect_err("full");
        assert_eq!(shed, Shed::Concurrency);
        assert_eq!(status.code(), Code::ResourceExhausted);
        // Watches have room of their own.
        let _watch = admission.admit(CallKind::Watch).expect("a watch");
        assert!(admission.admit(CallKind::Watch).is_err());
        drop(first);
        let _again = admission.admit(CallKind::Unary).expect("room again");
        admission.start_draining();
        let (shed, status) = admission.admit(CallKind::Unary).expect_err("draining");
        assert_eq!(shed, Shed::Draining);
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn a_tenant_over_its_rate_is_told_when_to_retry_and_others_are_not_held() {
        let admission = Admission::new(&Limits {
            rate_limit: RateLimit::new(1, Some(2)),
            ..Limits::default()
        });
        admission.check_rate("acme").expect("burst 1");
        admission.check_rate("acme").expect("burst 2");
        let (shed, status) = admission.check_rate("acme").expect_err("over");
        assert_eq!(shed, Shed::RateLimit);
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status
            .get_error_details()
            .retry_info()
            .and_then(|info| info.retry_delay)
            .expect("a retry delay");
        assert!(
            retry > Duration::ZERO && retry <= Duration::from_secs(1),
            "{retry:?}"
        );
        admission.check_rate("globex").expect("another tenant");
        assert_eq!(RateLimit::new(0, Some(5)), None);
    }
}
