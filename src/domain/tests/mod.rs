//! Domain tests: one per rule edge, property tests, and checks of the catalogue
//! and of how the modules import each other.
//!
//! - `accounts`: the account section (SPEC-ACCOUNTS): acceptance cases, the
//!   worked example, every setting's edges, unknowns, precedence, month
//!   arithmetic, the stored form and property tests.
//! - `catalogue`: the catalogue's stated defaults are the profile's.
//! - `fixtures`: shared facts and profiles, and how to make one criterion fire.
//! - `rules`: every threshold of every criterion, just below, at and above.
//! - `outcome`: score, outcome, knockouts and the per-stage breakdown.
//! - `properties`: proptest invariants of `evaluate`.
//! - `module_graph`: the domain's modules import each other without a circle.

pub(crate) mod accounts;
mod catalogue;
mod fixtures;
mod module_graph;
mod outcome;
mod properties;
mod rules;
