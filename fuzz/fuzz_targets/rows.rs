//! Any bytes as the CSV or JSON Lines file of `leadqual qualify` (the first
//! byte picks the format), read row by row as the CLI reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leadqual::fuzzing::rows(data));
