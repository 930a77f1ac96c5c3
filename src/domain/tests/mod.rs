//! Engine tests: one per rule edge, plus property tests.
