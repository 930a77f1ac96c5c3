//! Any bytes as a request message of the services (the first byte picks
//! which), decoded, validated and converted as the handlers do before
//! anything is stored.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leadqual::fuzzing::request(data));
