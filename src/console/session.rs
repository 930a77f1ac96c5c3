//! Server-side sessions of the console and their CSRF tokens. The cookie
//! holds only a random session id; the key the user signed in with stays in
//! this process's memory, and every request is authenticated with it again,
//! so a revoked key ends its sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum_extra::extract::cookie::{Cookie, SameSite};

/// The session cookie.
pub const SESSION_COOKIE: &str = "lq_session";
/// The cookie that pairs the sign-in form with its browser (the form's CSRF
/// token, before there is a session).
pub const SIGN_IN_COOKIE: &str = "lq_sign_in";

/// Most sessions kept at once; past it, expired ones are dropped first and
/// then sign-in is refused until some expire or sign out.
pub const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The API key signed in with; `None` for a keyless sign-in, allowed
    /// only while no key exists and keyless calls are.
    pub secret: Option<String>,
    /// The token every form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// The sessions of this process.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

/// 32 random bytes as hex: session ids and CSRF tokens.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    crate::auth::constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session for `secret`, with its id; `None` when the store is full.
    pub fn create(&self, secret: Option<String>) -> Option<(String, Session)> {
        let now = Instant::now();
        let mut map = self.map();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = token();
        let session = Session {
            secret,
            csrf: token(),
            expires: now + self.ttl,
        };
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The session of `id` while it has not expired.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map();
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.map().remove(id);
    }
}

/// A cookie only this site's own pages send back: HttpOnly, SameSite=Strict,
/// for every path, Secure when the console is served over TLS.
pub fn cookie(
    name: &'static str,
    value: String,
    max_age: Duration,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(time_duration(max_age))
        .build()
}

/// A cookie that tells the browser to forget `name`.
pub fn expired(name: &'static str, secure: bool) -> Cookie<'static> {
    cookie(name, String::new(), Duration::ZERO, secure)
}

fn time_duration(d: Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_compared_whole() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..63]));
    }

    #[test]
    fn a_session_lives_until_it_expires_or_is_removed() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, session) = sessions.create(Some("lq_x_y".into())).expect("room");
        assert_eq!(sessions.get(&id).map(|s| s.csrf), Some(session.csrf));
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());

        let short = Sessions::new(Duration::ZERO);
        let (id, _) = short.create(None).expect("room");
        assert!(short.get(&id).is_none(), "an expired session is gone");
    }
}
