//! Parsing and printing of the config value types that serde does not spell the way we
//! want: socket addresses and humantime-style durations. Pure functions; the serde glue
//! at the bottom is what `ChassisConfig` uses via `#[serde(with = ...)]`.

use std::{fmt, net::SocketAddr, time::Duration};

use serde::{de, Deserializer, Serializer};

/// Parses `"10s"`, `"500ms"`, `"1m30s"`, `"2h"`: one or more `<integer><unit>` with unit
/// one of `ns`, `us`, `ms`, `s`, `m`, `h`, `d`. No spaces, no fractions.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("invalid duration {text:?}: expected e.g. \"10s\", \"500ms\", \"1m30s\"");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos_per_unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        let part = u128::from(value) * u128::from(nanos_per_unit);
        let part = Duration::new(
            u64::try_from(part / 1_000_000_000).map_err(|_| invalid())?,
            (part % 1_000_000_000) as u32,
        );
        total = total.checked_add(part).ok_or_else(invalid)?;
    }
    Ok(total)
}

/// The shortest exact spelling `parse_duration` reads back: `10s`, `500ms`, `2m`.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    if nanos == 0 {
        return "0s".to_owned();
    }
    // `u128::is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
    #[allow(clippy::manual_is_multiple_of)]
    let (per, unit) = UNITS
        .iter()
        .find(|(per, _)| nanos % per == 0)
        .copied()
        .unwrap_or((1, "ns"));
    format!("{}{unit}", nanos / per)
}

pub(crate) fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("invalid socket address {text:?}: expected IP:PORT, e.g. \"127.0.0.1:7000\" or \"[::1]:7000\"")
    })
}

/// A visitor for string-only values that turns a parse error into a serde custom error
/// (figment then adds the key path and the source).
struct StrVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> de::Visitor<'de> for StrVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

pub mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(StrVisitor {
            expecting: "a duration string such as \"10s\" or \"500ms\"",
            parse: parse_duration,
        })
    }
}

/// `Option<Duration>`: absent or `None` when unset, else as [`duration`]. For keys whose
/// absence means "use something else" (a live key falling back to a static one).
pub mod option_duration {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Text(#[serde(with = "super::duration")] Duration);

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(Text).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<Text>::deserialize(d)?.map(|Text(d)| d))
    }
}

pub mod socket_addr {
    use super::*;

    pub fn serialize<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        d.deserialize_str(StrVisitor {
            expecting: "a socket address string IP:PORT",
            parse: parse_socket_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("1d"), Ok(ms(86_400_000)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_name_the_expected_form() {
        for bad in [
            "",
            "10",
            "s",
            "10 s",
            "1.5s",
            "10sec",
            "-1s",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(
                err,
                format!("invalid duration {bad:?}: expected e.g. \"10s\", \"500ms\", \"1m30s\"")
            );
        }
    }

    #[test]
    fn durations_round_trip() {
        for text in [
            "10s", "500ms", "2m", "1h", "1d", "1500ms", "3us", "7ns", "0s", "61s",
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(parse_socket_addr("127.0.0.1:7000").unwrap().port(), 7000);
        assert!(parse_socket_addr("[::1]:0").is_ok());
        assert_eq!(
            parse_socket_addr("127.0.0.1").unwrap_err(),
            "invalid socket address \"127.0.0.1\": expected IP:PORT, e.g. \"127.0.0.1:7000\" or \"[::1]:7000\""
        );
    }
}
