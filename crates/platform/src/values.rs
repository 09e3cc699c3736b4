//! The value forms TOML has no type for: Go durations, byte sizes, `HOST:PORT`, names.
//! Pure functions returning `None` for anything malformed; `decode` words the errors.

use std::{net::Ipv6Addr, time::Duration};

/// Parses a Go `time.Duration` string: `"0"`, or one or more `<number><unit>` with a
/// decimal number (`"1.5"`, `".5"`) and a unit `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`:
/// `"500ms"`, `"1m30s"`, `"2h"`, `"1.5s"`. No sign (durations here are never negative), no
/// spaces, at most Go's maximum (about 292 years).
///
/// The registry has the same parser (`tern_registry::state::parse_go_duration`), but it is
/// a module of the registry crate, which this crate must not depend on for one function.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            _ => return None,
        };
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(int.checked_mul(unit_nanos)?)?;
        // Digits beyond nanosecond precision are dropped, as Go does.
        let mut scale = unit_nanos;
        for digit in frac.bytes() {
            scale /= 10;
            total = total.checked_add(u128::from(digit - b'0') * scale)?;
        }
        rest = after;
    }
    if total > i64::MAX as u128 {
        return None;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).ok()?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, nanos))
}

/// Parses a byte size: digits, then an optional unit `B`, `KiB`, `MiB`, `GiB` (powers of
/// 1024) or `KB`, `MB`, `GB` (powers of 1000): `"16MiB"`, `"512KiB"`, `"1000000"`.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, unit) = text.split_at(digits);
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// `HOST:PORT` with a host name, an IPv4 address or a bracketed IPv6 address, and a port
/// from 1 to 65535.
pub(crate) fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        }
    };
    port_ok && host_ok
}

/// A service name, as a table name and in the registry (a DNS label: Consul answers
/// `NAME.service.consul`): 1 to 63 ASCII letters, digits or `-`, not starting with `-`.
pub(crate) fn is_service_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(crate) const SERVICE_NAME_FORM: &str =
    "1 to 63 ASCII letters, digits or '-', not starting with '-'";

/// An environment name (`--env NAME`): it becomes part of a file name and a KV prefix.
pub(crate) fn is_env_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_go_durations() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("10s", ms(10_000)),
            ("500ms", ms(500)),
            ("1m30s", ms(90_000)),
            ("2h", ms(7_200_000)),
            ("1.5s", ms(1_500)),
            (".5s", ms(500)),
            ("1h2m3s4ms", ms(3_723_004)),
            ("2us", Duration::from_micros(2)),
            ("3\u{b5}s", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000001s", ms(1_000)),
        ] {
            assert_eq!(parse_duration(text), Some(expected), "{text:?}");
        }
        for bad in [
            "",
            "10",
            "10 s",
            " 10s",
            "s",
            "-1s",
            "+1s",
            "1x",
            "1S",
            ".s",
            "1.s.",
            "1d",
            "3000000h",
            "99999999999999999999999999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("123B"), Some(123));
        for bad in [
            "",
            "MiB",
            "16 MiB",
            "16mib",
            "1.5MiB",
            "-1",
            "99999999999GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_ports() {
        for ok in ["consul.internal:8500", "10.0.0.7:8500", "[::1]:8500", "a:1"] {
            assert!(is_host_port(ok), "{ok}");
        }
        for bad in [
            "consul",
            ":8500",
            "consul:",
            "consul:0",
            "consul:65536",
            "http://consul:8500",
            "::1:8500",
            "con sul:8500",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_service_name("search-service"));
        assert!(is_service_name("a1"));
        assert!(!is_service_name(""));
        assert!(!is_service_name("-a"));
        assert!(!is_service_name("a_b"));
        assert!(!is_service_name("a.b"));
        assert!(!is_service_name(&"a".repeat(64)));
        assert!(is_env_name("staging"));
        assert!(is_env_name("eu_west-1"));
        assert!(!is_env_name("a/b"));
        assert!(!is_env_name(""));
    }
}
