//! Go's `time.Duration` text, the one duration syntax in tern: Consul check definitions
//! (`Interval: "10s"`, `DeregisterCriticalServiceAfter: "1m30s"`) and blocking `?wait=` use
//! it, so the platform file, the chassis config and the command line use it too.
//!
//! [`parse`] is Go's `time.ParseDuration`, restricted to what [`std::time::Duration`] can
//! hold: negative durations are rejected, and so is anything past Go's maximum
//! (`2562047h47m16.854775807s`, `i64::MAX` nanoseconds). Fractions are computed as Go
//! computes them (the fraction's digits times the unit, in `f64`), so every text means
//! the same number of nanoseconds here as in Consul. [`format`] is Go's
//! `Duration.String()`, which Go (and so Consul) reads back exactly.

use std::{fmt, time::Duration};

/// Go's largest duration, in nanoseconds.
const MAX_NANOS: u64 = i64::MAX as u64;

/// What a duration is expected to look like, for error messages.
const EXPECTED: &str =
    "expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"500ms\", \"10s\", \"1m30s\"";

/// Go's `time.ParseDuration` syntax, non-negative: `"0"`, `"300ms"`, `"1.5h"`, `"2h45m"`,
/// `"1µs"`/`"1us"`, `"10ns"`. One or more `<number><unit>` (the number may have a
/// fraction, `"1.5s"`, `".5s"`, `"5.s"`; the units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`,
/// `h`), an optional leading `+`, no spaces; a bare `"0"` needs no unit.
pub fn parse(text: &str) -> Result<Duration, ParseError> {
    let error = |kind| ParseError {
        text: text.to_owned(),
        kind,
    };
    if text.starts_with('-') {
        return Err(error(ErrorKind::Negative));
    }
    let s = text.strip_prefix('+').unwrap_or(text);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(error(ErrorKind::Syntax));
    }
    let mut rest = s;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (int, after) = split_digits(rest);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => split_digits(after),
            None => ("", after),
        };
        // Go: "no digits (e.g. ".s" or "-.s")".
        if int.is_empty() && fraction.is_empty() {
            return Err(error(ErrorKind::Syntax));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(error(ErrorKind::Syntax)),
        };
        let value = segment(int, fraction, unit).ok_or_else(|| error(ErrorKind::TooLarge))?;
        total = total
            .checked_add(value)
            .filter(|&total| total <= MAX_NANOS)
            .ok_or_else(|| error(ErrorKind::TooLarge))?;
        rest = after;
    }
    Ok(Duration::from_nanos(total))
}

/// `text` split after its leading ASCII digits.
fn split_digits(text: &str) -> (&str, &str) {
    text.split_at(text.bytes().take_while(u8::is_ascii_digit).count())
}

/// Nanoseconds in `int.fraction` units of `unit` nanoseconds, as Go's `ParseDuration`
/// computes them; `None` past Go's maximum.
fn segment(int: &str, fraction: &str, unit: u64) -> Option<u64> {
    let mut value: u64 = 0;
    for digit in int.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))
            .filter(|&v| v <= MAX_NANOS)?;
    }
    let mut value = value.checked_mul(unit).filter(|&v| v <= MAX_NANOS)?;
    // Go's `leadingFraction`: the digits as an integer over a power of ten; from the
    // first digit that would overflow on, the digits are ignored (they are far below a
    // nanosecond).
    let (mut digits, mut scale) = (0u64, 1f64);
    for digit in fraction.bytes() {
        if digits > MAX_NANOS / 10 {
            break;
        }
        let next = digits * 10 + u64::from(digit - b'0');
        if next > 1 << 63 {
            break;
        }
        digits = next;
        scale *= 10.0;
    }
    if digits > 0 {
        // Exactly Go's float64 expression, so "0.3333333333333333333h" is 20m as in Go.
        // The cast truncates towards zero and saturates, as Go's conversion does here.
        let nanos = (digits as f64 * (unit as f64 / scale)) as u64;
        value = value.checked_add(nanos).filter(|&v| v <= MAX_NANOS)?;
    }
    Some(value)
}

/// Go's `time.Duration.String()`, which Go (and Consul) reads back: `"0s"`, `"10ns"`,
/// `"1.5µs"`, `"500ms"`, `"1.5s"`, `"1m30s"`, `"2h0m0s"`. Under a second it is one unit
/// (`ns`, `µs`, `ms`) with a fraction; from a second on it is hours, minutes and seconds,
/// the seconds with up to nine decimals, leading zero units left out. Exact: [`parse`]
/// gives back the same duration for anything up to Go's maximum (about 292 years); longer
/// durations are formatted the same way but are not Go durations.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(nanos, per));
    }
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3_600, secs % 3_600 / 60, secs % 60);
    let seconds = decimal(
        u128::from(seconds) * 1_000_000_000 + u128::from(duration.subsec_nanos()),
        1_000_000_000,
    );
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// [`format`] rounded to three significant digits, for people reading timings: `"1.23ms"`,
/// not `"1.234567ms"`; `"1m1.2s"`, not `"1m1.234s"`.
pub fn format_rounded(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let mut scale: u128 = 1;
    while nanos / scale >= 1000 {
        scale *= 10;
    }
    let rounded = (nanos + scale / 2) / scale * scale;
    let secs = u64::try_from(rounded / 1_000_000_000).unwrap_or(u64::MAX);
    // Below 10^9 after the division, so it fits.
    let subsec = (rounded % 1_000_000_000) as u32;
    format(Duration::new(secs, subsec))
}

/// `n / per` in decimal without trailing zeros (`per` is a power of ten).
fn decimal(n: u128, per: u128) -> String {
    let (int, rem) = (n / per, n % per);
    if rem == 0 {
        return int.to_string();
    }
    let width = per.ilog10() as usize;
    let fraction = format!("{rem:0width$}");
    format!("{int}.{}", fraction.trim_end_matches('0'))
}

/// Text that [`parse`] does not accept; its message names the text, what is wrong and the
/// expected form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    text: String,
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Syntax,
    Negative,
    TooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration {:?}: ", self.text)?;
        match self.kind {
            ErrorKind::Syntax => f.write_str(EXPECTED),
            ErrorKind::Negative => write!(f, "must not be negative; {EXPECTED}"),
            ErrorKind::TooLarge => write!(
                f,
                "longer than the maximum, {}",
                format(Duration::from_nanos(MAX_NANOS))
            ),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests;
