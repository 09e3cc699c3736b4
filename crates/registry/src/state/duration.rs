//! Go `time.Duration` text, because Consul check definitions (`Interval: "10s"`,
//! `DeregisterCriticalServiceAfter: "1m30s"`) and blocking `?wait=` use it, and we must
//! read and echo exactly what Consul clients send and expect back.

use std::time::Duration;

/// Parses a Go duration ("10s", "500ms", "1m30s", "1.5h", "0"). Negative durations are
/// rejected: no registry setting has a meaning for them.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let s = text.strip_prefix('+').unwrap_or(text);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        total = total.checked_add(int.checked_mul(unit_ns)?)?;
        // Fractions beyond nanosecond precision are dropped, as Go does.
        let mut scale = unit_ns;
        for digit in frac_part.bytes().take(30) {
            scale /= 10;
            total = total.checked_add(u128::from(digit - b'0') * scale)?;
        }
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    // Cap at Go's maximum (about 292 years) so the value fits an Instant addition.
    if secs > i64::MAX as u64 / 1_000_000_000 {
        return None;
    }
    Some(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Formats like Go's `Duration.String()`: "0s", "500ms", "1.5s", "1m30s", "1h0m0s".
pub fn format_go_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".to_string();
    }
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(n, div));
    }
    let secs = n / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&decimal(
        s * 1_000_000_000 + n % 1_000_000_000,
        1_000_000_000,
    ));
    out.push('s');
    out
}

/// `n / div` as a decimal without trailing zeros (`div` is a power of ten).
fn decimal(n: u128, div: u128) -> String {
    let (int, rem) = (n / div, n % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go_duration("10s"), Some(ms(10_000)));
        assert_eq!(parse_go_duration("500ms"), Some(ms(500)));
        assert_eq!(parse_go_duration("1m30s"), Some(ms(90_000)));
        assert_eq!(parse_go_duration("1h"), Some(ms(3_600_000)));
        assert_eq!(parse_go_duration("1.5s"), Some(ms(1_500)));
        assert_eq!(parse_go_duration(".5s"), Some(ms(500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("2us"), Some(Duration::from_micros(2)));
        assert_eq!(
            parse_go_duration("3\u{b5}s"),
            Some(Duration::from_micros(3))
        );
        for bad in [
            "",
            "10",
            "10 s",
            "s",
            "-1s",
            "1x",
            "1.s.",
            ".s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(ms(500)), "500ms");
        assert_eq!(format_go_duration(ms(1_500)), "1.5s");
        assert_eq!(format_go_duration(ms(90_000)), "1m30s");
        assert_eq!(format_go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_micros(1_500)), "1.5ms");
        for text in ["10s", "1m30s", "250ms", "2h3m4.5s"] {
            let d = parse_go_duration(text).unwrap();
            assert_eq!(format_go_duration(d), text);
        }
    }
}
