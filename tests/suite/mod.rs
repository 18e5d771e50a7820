mod bad_input;
mod cli;
mod determinism;
mod gpu;
mod oracle;
mod util;
