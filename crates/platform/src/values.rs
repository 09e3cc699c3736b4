//! The value forms TOML has no type for: byte sizes, `HOST:PORT`, names (Go durations are
//! `tern_duration::parse`). Pure functions returning `None` for anything malformed;
//! `decode` words the errors.

use std::net::Ipv6Addr;

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
