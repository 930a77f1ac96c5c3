//! The qualification domain: facts, profile, the criteria catalogue, their
//! rules and the pure rule engine. Nothing here does I/O or reads the clock.
//!
//! Modules import in one direction only (`tests::module_graph` checks it):
//! `criteria` and `facts` stand alone, `profile` is keyed by criteria,
//! `rules` read facts and profile, `verdict` holds signals per criterion, and
//! `account` reads facts and profile into a verdict's account section,
//! `engine` runs the rules of the catalogue into a verdict.

pub mod access;
pub mod account;
pub mod countries;
pub mod criteria;
pub mod engine;
pub mod facts;
pub mod lead_id;
pub mod profile;
pub mod rules;
pub mod verdict;
pub mod violation;

#[cfg(test)]
pub(crate) mod tests;

pub use criteria::{CATALOGUE, Criterion, CriterionDef, Stage};
pub use engine::evaluate;
pub use facts::{EngagementPattern, Facts, Priority};
pub use lead_id::{LeadId, RequestId};
pub use profile::{BusinessHours, Profile, Thresholds};
pub use verdict::{Evaluation, Outcome, Signal, SignalStatus, StageBreakdown};
pub use violation::Violation;
