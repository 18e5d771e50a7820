//! Unit tests of the cleaning statistics, kept out of `clean/mod.rs` to keep that
//! file to the stage itself.

use super::*;

#[test]
fn quantiles_match_numpy_linear() {
    let s = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile(&s, 0.25), 1.75);
    assert_eq!(quantile(&s, 0.5), 2.5);
    assert_eq!(mode(&[3.0, 1.0, 3.0, 1.0, 2.0]), 1.0);
}
