#![no_main]
// The csv reader on arbitrary bytes: an error or a value, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| segmenta::fuzz::csv(data));
