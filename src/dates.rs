//! Civil-calendar arithmetic on days since 1970-01-01 (proleptic Gregorian), enough
//! for the generator and the feature window without a date-time dependency.

use crate::error::{Error, Result};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day of the week, 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday).
pub fn weekday(days: i32) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// The same day `months` calendar months later (clamped to the month's end).
pub fn add_months(days: i32, months: u32) -> i32 {
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m as i32 - 1) + months as i32;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let last = days_from_civil(
        if nm == 12 { ny + 1 } else { ny },
        if nm == 12 { 1 } else { nm + 1 },
        1,
    ) - days_from_civil(ny, nm, 1);
    days_from_civil(ny, nm, d.min(last as u32))
}

/// Parses `YYYY-MM-DD` into a day number; `what` names the flag in the error.
pub fn parse_date(s: &str, what: &'static str) -> Result<i32> {
    let bad = || Error::param(what, format!("`{s}` is not a date (rule: YYYY-MM-DD)"));
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let m: u32 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let d: u32 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 1, 1), 20_089);
        assert_eq!(weekday(days_from_civil(2026, 11, 27)), 5); // a Friday
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(
            format_date(add_months(days_from_civil(2025, 1, 31), 1)),
            "2025-02-28"
        );
        assert_eq!(
            format_date(add_months(days_from_civil(2025, 11, 15), 3)),
            "2026-02-15"
        );
        assert!(parse_date("2025-02-30", "--as-of").is_err());
        assert_eq!(
            parse_date("2011-12-10", "--as-of").unwrap(),
            days_from_civil(2011, 12, 10)
        );
    }
}
