mod bad_input;
mod cli;
mod dbscan;
mod determinism;
mod gpu;
mod oracle;
mod util;
