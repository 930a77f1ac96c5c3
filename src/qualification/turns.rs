//! Qualifications of one lead in this process take turns, in a bounded
//! line, rather than race each other to its revision: of 2,000 concurrent
//! calls on one lead, racing left most to fail after their retries.
//! Replicas sharing a database still race, and retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OwnedMutexGuard;

/// Most qualifications of one lead waiting for their turn; more are
/// refused with `RESOURCE_EXHAUSTED`.
pub const MAX_WAITING_PER_LEAD: usize = 128;

/// Per lead: whose turn it is, and how many hold or wait for one.
type Lines = HashMap<(String, String), (Arc<tokio::sync::Mutex<()>>, usize)>;

/// The lines of every lead someone is qualifying right now; a lead's line
/// goes away with its last caller.
#[derive(Clone, Default)]
pub struct LeadTurns {
    lines: Arc<Mutex<Lines>>,
}

/// A turn at a lead, given up when dropped.
pub struct Turn {
    // Released before the place in line is given up.
    _turn: OwnedMutexGuard<()>,
    _place: Place,
}

/// A place in a lead's line; when dropped (served or cancelled while
/// waiting) the line shortens, and goes when empty.
struct Place {
    lines: Arc<Mutex<Lines>>,
    key: (String, String),
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lines = lock(&self.lines);
        if let Some((_, holders)) = lines.get_mut(&self.key) {
            *holders -= 1;
            if *holders == 0 {
                lines.remove(&self.key);
            }
        }
    }
}

fn lock(lines: &Mutex<Lines>) -> MutexGuard<'_, Lines> {
    lines
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LeadTurns {
    /// Waits for this process's turn at `lead_id` of `tenant`; `None` when
    /// [`MAX_WAITING_PER_LEAD`] callers are in line already.
    pub async fn take(&self, tenant: &str, lead_id: &str) -> Option<Turn> {
        let key = (tenant.to_owned(), lead_id.to_owned());
        let turn = {
            let mut lines = lock(&self.lines);
            let (turn, holders) = lines.entry(key.clone()).or_default();
            // One holds the turn, the rest wait.
            if *holders > MAX_WAITING_PER_LEAD {
                return None;
            }
            *holders += 1;
            turn.clone()
        };
        let place = Place {
            lines: self.lines.clone(),
            key,
        };
        let turn = turn.lock_owned().await;
        Some(Turn {
            _turn: turn,
            _place: place,
        })
    }

    /// Leads with a line right now.
    #[cfg(test)]
    fn lines(&self) -> usize {
        lock(&self.lines).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn callers_of_one_lead_take_turns_and_the_line_goes_with_the_last() {
        let turns = LeadTurns::default();
        let first = turns.take("acme", "lead-1").await.expect("a turn");
        // Another lead, or the same id of another tenant, does not wait.
        let other = turns.take("acme", "lead-2").await.expect("a turn");
        let tenant = turns.take("globex", "lead-1").await.expect("a turn");
        let waiting = tokio::spawn({
            let turns = turns.clone();
            async move { turns.take("acme", "lead-1").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits for the first to finish");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("served once the first is done")
            .expect("no panic")
            .expect("a turn");
        drop((other, tenant));
        assert_eq!(turns.lines(), 0, "no line is left behind");
    }

    #[tokio::test]
    async fn a_full_line_refuses_and_a_cancelled_waiter_gives_up_its_place() {
        let turns = LeadTurns::default();
        let holder = turns.take("acme", "hot").await.expect("a turn");
        let mut waiters = Vec::new();
        for _ in 0..MAX_WAITING_PER_LEAD {
            let turns = turns.clone();
            waiters.push(tokio::spawn(async move {
                turns.take("acme", "hot").await.is_some()
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            turns.take("acme", "hot").await.is_none(),
            "the line is full"
        );
        // Cancelled waiters leave the line.
        for waiter in &waiters {
            waiter.abort();
        }
        for waiter in waiters {
            let _ = waiter.await;
        }
        drop(holder);
        assert_eq!(turns.lines(), 0);
        assert!(turns.take("acme", "hot").await.is_some());
    }
}
