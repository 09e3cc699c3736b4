//! Unit and property tests: parse and format agree with Go's `time.Duration`, and round-trip.

use super::*;
use proptest::prelude::*;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const M: u64 = 60 * S;
const H: u64 = 60 * M;

fn nanos(text: &str) -> Result<u64, ParseError> {
    parse(text).map(|d| u64::try_from(d.as_nanos()).unwrap())
}

/// Go's own `parseDurationTests` (time_test.go), the non-negative ones, plus what tern's
/// callers accepted before they shared this parser.
#[test]
fn parses_what_go_parses() {
    for (text, expected) in [
        // simple
        ("0", 0),
        ("5s", 5 * S),
        ("30s", 30 * S),
        ("1478s", 1478 * S),
        // sign
        ("+5s", 5 * S),
        ("+0", 0),
        // decimal
        ("5.0s", 5 * S),
        ("5.6s", 5 * S + 600 * MS),
        ("5.s", 5 * S),
        (".5s", 500 * MS),
        ("1.0s", S),
        ("1.00s", S),
        ("1.004s", S + 4 * MS),
        ("1.0040s", S + 4 * MS),
        ("100.00100s", 100 * S + MS),
        // units
        ("10ns", 10 * NS),
        ("11us", 11 * US),
        ("12\u{b5}s", 12 * US),
        ("12\u{3bc}s", 12 * US),
        ("13ms", 13 * MS),
        ("14s", 14 * S),
        ("15m", 15 * M),
        ("16h", 16 * H),
        // composite
        ("3h30m", 3 * H + 30 * M),
        ("10.5s4m", 4 * M + 10 * S + 500 * MS),
        (
            "1h2m3s4ms5us6ns",
            H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
        ),
        ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
        ("52763797000ns", 52_763_797_000),
        // more than nine decimals; Go's float64 arithmetic makes this exactly 20m
        ("0.3333333333333333333h", 20 * M),
        ("9007199254740993ns", (1 << 53) + 1),
        // the largest Go duration
        ("9223372036854775807ns", MAX_NANOS),
        ("9223372036854775.807us", MAX_NANOS),
        ("9223372036s854ms775us807ns", MAX_NANOS),
        ("2562047h47m16.854775807s", MAX_NANOS),
        // long fractions
        ("0.100000000000000000000h", 6 * M),
        ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
        // tern's callers' own cases
        ("0s", 0),
        ("1.5h", 90 * M),
        ("2h45m", 2 * H + 45 * M),
        ("1\u{b5}s", US),
        ("1us", US),
        ("1.0000000001s", S),
        ("0.5ms", 500 * US),
        ("1.5ms", 1_500 * US),
        ("90m", 90 * M),
        ("00010s", 10 * S),
    ] {
        assert_eq!(nanos(text), Ok(expected), "{text:?}");
    }
}

#[test]
fn rejects_what_go_rejects_and_negatives() {
    for bad in [
        // Go's parseDurationErrorTests (the valid UTF-8 ones)
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "\u{FFFD}",
        "\u{FFFD} hello \u{FFFD} world",
        // tern's callers' own cases
        "10",
        "10 s",
        " 10s",
        "10s ",
        "1S",
        "1x",
        "10sec",
        "1.s.",
        "1..5s",
        "++1s",
        "+-1s",
        "1s-1s",
        "1_000s",
        "1e3s",
    ] {
        let error = parse(bad).unwrap_err();
        assert!(!error.to_string().contains("longer"), "{bad:?}: {error}");
    }
}

#[test]
fn rejects_negative_durations() {
    // Go reads these as negative (or, for "-0", zero) durations; std's cannot be negative.
    for bad in ["-1s", "-0", "-0s", "-2m3.4s", "-9223372036854775808ns"] {
        assert_eq!(parse(bad).unwrap_err().kind, ErrorKind::Negative, "{bad:?}");
    }
}

#[test]
fn rejects_durations_longer_than_go_can_hold() {
    for bad in [
        "9223372036854775810ns",
        "9223372036854775808ns",
        "9223372036854776us",
        "3000000h",
        "9223372036854775.808us",
        "9223372036854ms775us808ns",
        "2562047h47m16.854775808s",
        "2562047h47m17s",
        "2562048h",
        "99999999999999999999h",
        "99999999999999999999999999999999999999999h",
        "1.99999999999999999999999999999999999999999h2562047h",
    ] {
        assert_eq!(parse(bad).unwrap_err().kind, ErrorKind::TooLarge, "{bad:?}");
    }
}

#[test]
fn errors_name_the_text_the_problem_and_the_form() {
    assert_eq!(
        parse("10 s").unwrap_err().to_string(),
        r#"invalid duration "10 s": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "500ms", "10s", "1m30s""#
    );
    assert_eq!(
        parse("-1s").unwrap_err().to_string(),
        r#"invalid duration "-1s": must not be negative; expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "500ms", "10s", "1m30s""#
    );
    assert_eq!(
        parse("3000000h").unwrap_err().to_string(),
        r#"invalid duration "3000000h": longer than the maximum, 2562047h47m16.854775807s"#
    );
    let error: Box<dyn std::error::Error + Send + Sync> = Box::new(parse("").unwrap_err());
    assert!(error
        .to_string()
        .starts_with(r#"invalid duration "": expected"#));
}

/// Go's `durationTests` (time_test.go) and the forms Consul echoes back.
#[test]
fn formats_like_go() {
    for (expected, nanos) in [
        ("0s", 0),
        ("1ns", NS),
        ("999ns", 999 * NS),
        ("1.1\u{b5}s", 1_100 * NS),
        ("1\u{b5}s", US),
        ("2.2ms", 2_200 * US),
        ("1.5ms", 1_500 * US),
        ("500ms", 500 * MS),
        ("999.999999ms", S - 1),
        ("1s", S),
        ("1.5s", 1_500 * MS),
        ("3.3s", 3_300 * MS),
        ("59s", 59 * S),
        ("1m0s", M),
        ("1m30s", 90 * S),
        ("4m5s", 4 * M + 5 * S),
        ("4m5.001s", 4 * M + 5_001 * MS),
        ("1h0m0s", H),
        ("2h0m0s", 2 * H),
        ("1h0m0.5s", H + 500 * MS),
        ("5h6m7.001s", 5 * H + 6 * M + 7_001 * MS),
        ("8m0.000000001s", 8 * M + NS),
        ("2562047h47m16.854775807s", MAX_NANOS),
    ] {
        assert_eq!(format(Duration::from_nanos(nanos)), expected, "{nanos}ns");
    }
    // Beyond Go's range the form stays the same (Go has no such durations).
    assert_eq!(
        format(Duration::new(u64::MAX, 999_999_999)),
        "5124095576030431h0m15.999999999s"
    );
}

proptest! {
    #[test]
    fn format_round_trips(nanos in 0..=MAX_NANOS) {
        let duration = Duration::from_nanos(nanos);
        prop_assert_eq!(parse(&format(duration)), Ok(duration));
    }

    #[test]
    fn format_round_trips_short_and_round_durations(
        units in 0u64..100_000,
        unit in prop::sample::select(vec![NS, US, MS, S, M, H]),
    ) {
        let duration = Duration::from_nanos(units * unit);
        prop_assert_eq!(parse(&format(duration)), Ok(duration));
    }

    #[test]
    fn integer_segments_add_up(
        segments in prop::collection::vec(
            (0u64..1_000_000, prop::sample::select(vec![
                ("ns", NS), ("us", US), ("\u{b5}s", US), ("ms", MS), ("s", S), ("m", M), ("h", H),
            ])),
            1..6,
        ),
    ) {
        let text: String = segments.iter().map(|(n, (unit, _))| format!("{n}{unit}")).collect();
        // Six segments of up to a million hours pass Go's limit (and u64): then TooLarge.
        let expected: u128 = segments
            .iter()
            .map(|(n, (_, per))| u128::from(*n) * u128::from(*per))
            .sum();
        match u64::try_from(expected).ok().filter(|e| *e <= MAX_NANOS) {
            Some(expected) => prop_assert_eq!(nanos(&text), Ok(expected)),
            None => prop_assert_eq!(
                nanos(&text).map_err(|e| e.kind),
                Err(ErrorKind::TooLarge)
            ),
        }
    }

    #[test]
    fn never_panics(text in "[-+]?[0-9.]{0,25}(ns|us|\u{b5}s|ms|s|m|h|x| )?([0-9.]{0,25}[a-z]{0,2}){0,3}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        let _ = parse(&text);
    }
}

#[test]
fn rounded_keeps_three_significant_digits() {
    for (nanos, text) in [
        (0, "0s"),
        (999 * NS, "999ns"),
        (1_234_567 * NS, "1.23ms"),
        (1_235_000 * NS, "1.24ms"),
        (999_600 * US, "1s"),
        (61_234 * MS, "1m1.2s"),
        (61_500 * MS, "1m1.5s"),
        (u64::MAX, "5111111h6m40s"),
    ] {
        assert_eq!(format_rounded(Duration::from_nanos(nanos)), text, "{nanos}");
    }
}
