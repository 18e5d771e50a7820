//! One integration-test binary (as ripgrep does): the modules under `suite/` share
//! helpers and are compiled once.

mod suite;
