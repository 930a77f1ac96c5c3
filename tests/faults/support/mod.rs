//! What the fault tests share: the server process, its databases, clients
//! and load, and the ledger of what was acknowledged.

pub mod database;
pub mod ledger;
pub mod load;
pub mod server;

use std::time::Duration;

/// A temp dir for a test's logs and SQLite files.
pub fn scratch(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("leadqual-faults-{test}-"))
        .tempdir()
        .expect("temp dir")
}

/// Seconds with milliseconds, for the printed measurements.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Guarantees checked one after the other, reported together: a run shows
/// every one that failed, not only the first.
#[derive(Default)]
pub struct Checks(Vec<String>);

impl Checks {
    pub fn expect(&mut self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            let what = what();
            // At once too, in case a later step panics.
            eprintln!("faults: BROKEN: {what}");
            self.0.push(what);
        }
    }

    /// Panics with every failed check.
    pub fn finish(self, test: &str) {
        assert!(
            self.0.is_empty(),
            "{test}: {} guarantee(s) broken:\n- {}",
            self.0.len(),
            self.0.join("\n- ")
        );
    }
}
