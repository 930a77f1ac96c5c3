//! Engine tests: one per rule edge, plus property tests.
//!
//! - `fixtures`: shared facts and profiles, and how to make one criterion fire.
//! - `rules`: every threshold of the 21 criteria, just below, at and above.
//! - `outcome`: score, outcome, knockouts and the per-stage breakdown.
//! - `properties`: proptest invariants of `evaluate`.

mod fixtures;
mod outcome;
mod properties;
mod rules;
