//! Trace and span ids: fixed-size byte arrays, written as lowercase hex (W3C trace context,
//! OTLP/JSON).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A 16-byte trace id; never all zeroes (OTLP calls that invalid).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id; never all zeroes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

macro_rules! id_type {
    ($name:ident, $len:literal, $what:literal) => {
        impl $name {
            /// The id from its bytes; `None` for the all-zero (invalid) id.
            pub fn from_bytes(bytes: [u8; $len]) -> Option<Self> {
                (bytes != [0; $len]).then_some(Self(bytes))
            }

            /// The id from an OTLP `bytes` field: exactly the right length and not all zero.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
                <[u8; $len]>::try_from(bytes)
                    .ok()
                    .and_then(Self::from_bytes)
                    .ok_or_else(|| Error::InvalidId {
                        what: $what,
                        text: hex(bytes),
                        expected: $len * 2,
                    })
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Hex digits in either case, as in OTLP/JSON and the query API's paths.
            fn from_str(text: &str) -> Result<Self, Error> {
                let invalid = || Error::InvalidId {
                    what: $what,
                    text: text.to_owned(),
                    expected: $len * 2,
                };
                let bytes = decode_hex(text).ok_or_else(invalid)?;
                Self::from_slice(&bytes).map_err(|_| invalid())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// The bytes of hex text (either case); `None` for an odd length or a non-hex character.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_accepts_upper_case() {
        let id: TraceId = "4BF92F3577B34DA6A3CE929D0E0E4736".parse().expect("valid");
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(id.to_string().parse::<TraceId>().expect("valid"), id);
        let span: SpanId = "00f067aa0ba902b7".parse().expect("valid");
        assert_eq!(
            span.as_bytes(),
            &[0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
    }

    #[test]
    fn bad_ids_name_the_text_and_the_expected_form() {
        for text in ["", "abc", "zz", "00f067aa0ba902b7ff", "0000000000000000"] {
            let error = text.parse::<SpanId>().expect_err(text).to_string();
            assert_eq!(
                error,
                format!("invalid span id {text:?}: expected 16 hex digits, not all zero")
            );
        }
        let error = SpanId::from_slice(&[1, 2, 3])
            .expect_err("short")
            .to_string();
        assert_eq!(
            error,
            "invalid span id \"010203\": expected 16 hex digits, not all zero"
        );
        assert!("4bf92f3577b34da6a3ce929d0e0e47".parse::<TraceId>().is_err());
    }
}
