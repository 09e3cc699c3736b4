//! Parsing and printing of the config value types that serde does not spell the way we
//! want: socket addresses and Go durations (`tern_duration`: `"500ms"`, `"1m30s"`). Pure
//! functions; the serde glue at the bottom is what `ChassisConfig` uses via
//! `#[serde(with = ...)]`.

use std::{fmt, net::SocketAddr, time::Duration};

use serde::{de, Deserializer, Serializer};

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

impl<'de, T, R: fmt::Display, F: FnOnce(&str) -> Result<T, R>> de::Visitor<'de> for StrVisitor<F> {
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
        s.serialize_str(&tern_duration::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(StrVisitor {
            expecting: "a duration string such as \"10s\" or \"500ms\"",
            parse: tern_duration::parse,
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
    fn durations_are_go_durations_both_ways() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct T(#[serde(with = "duration")] Duration);
        for (text, d) in [
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1_500)),
            ("500ms", Duration::from_millis(500)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(serde_json::to_string(&T(d)).unwrap(), format!("{text:?}"));
            assert_eq!(
                serde_json::from_str::<T>(&format!("{text:?}")).unwrap(),
                T(d)
            );
        }
        assert_eq!(
            serde_json::from_str::<T>("\"1d\"").unwrap_err().to_string(),
            "invalid duration \"1d\": expected a number followed by a unit (ns, us, ms, s, m, \
             h), e.g. \"500ms\", \"10s\", \"1m30s\" at line 1 column 4"
        );
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
