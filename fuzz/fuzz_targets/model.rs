#![no_main]
// The model reader on arbitrary bytes: an error or a value, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| segmenta::fuzz::model(data));
