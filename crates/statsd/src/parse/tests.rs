//! Unit tests of the line parser: every type, sample rates, name sanitizing, each dialect's
//! tags.

use super::*;

fn parse(line: &str) -> Line {
    parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn fail(line: &str) -> Error {
    match parse_line(line.as_bytes()) {
        Ok(parsed) => panic!("{line:?} parsed: {parsed:?}"),
        Err(error) => error,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn line(name: &str, tag_pairs: &[(&str, &str)], value: Value) -> Line {
    Line {
        name: name.to_owned(),
        tags: tags(tag_pairs),
        value,
        dropped_tags: 0,
    }
}

fn observations(values: &[f64], weight: u64) -> Value {
    Value::Observations {
        values: values.to_vec(),
        weight,
    }
}

#[test]
fn every_type() {
    assert_eq!(parse("hits:1|c"), line("hits", &[], Value::Counter(1.0)));
    assert_eq!(parse("hits:2.5|c"), line("hits", &[], Value::Counter(2.5)));
    assert_eq!(
        parse("temp:21.5|g"),
        line("temp", &[], Value::GaugeSet(21.5))
    );
    assert_eq!(
        parse("temp:+4|g"),
        line("temp", &[], Value::GaugeAdjust(4.0))
    );
    assert_eq!(
        parse("temp:-4|g"),
        line("temp", &[], Value::GaugeAdjust(-4.0))
    );
    assert_eq!(
        parse("db:250|ms"),
        line("db", &[], observations(&[0.25], 1))
    );
    assert_eq!(
        parse("size:512|h"),
        line("size", &[], observations(&[512.0], 1))
    );
    assert_eq!(
        parse("size:0.5|d"),
        line("size", &[], observations(&[0.5], 1))
    );
    assert_eq!(
        parse("users:alice|s"),
        line("users", &[], Value::SetMember("alice".to_owned()))
    );
    assert_eq!(
        parse("users:a:b|s"),
        line("users", &[], Value::SetMember("a:b".to_owned())),
        "a set member is the whole value"
    );
    assert_eq!(
        parse("tiny:1e-3|g"),
        line("tiny", &[], Value::GaugeSet(0.001))
    );
}

#[test]
fn several_values_for_observations() {
    assert_eq!(
        parse("db:1:2:3|ms|@0.5"),
        line("db", &[], observations(&[0.001, 0.002, 0.003], 2))
    );
    assert_eq!(
        parse("x:1:2|h"),
        line("x", &[], observations(&[1.0, 2.0], 1))
    );
    assert_eq!(
        parse("x:1:2|d"),
        line("x", &[], observations(&[1.0, 2.0], 1))
    );
    for single in ["x:1:2|c", "x:1:2|g"] {
        assert!(matches!(fail(single), Error::MultiValue { .. }), "{single}");
    }
    assert!(matches!(fail("x:1::2|ms"), Error::InvalidValue { .. }));
}

#[test]
fn sample_rates_scale_counters_and_weigh_observations() {
    assert_eq!(
        parse("hits:1|c|@0.1"),
        line("hits", &[], Value::Counter(10.0))
    );
    assert_eq!(
        parse("hits:3|c|@0.5"),
        line("hits", &[], Value::Counter(6.0))
    );
    assert_eq!(parse("hits:1|c|@1"), line("hits", &[], Value::Counter(1.0)));
    assert_eq!(
        parse("db:10|ms|@0.25"),
        line("db", &[], observations(&[0.01], 4))
    );
    assert_eq!(
        parse("db:10|ms|@0.3"),
        line("db", &[], observations(&[0.01], 3))
    );
    assert_eq!(
        parse("db:10|ms|@0.6"),
        line("db", &[], observations(&[0.01], 2))
    );
    assert_eq!(
        parse("db:10|ms|@0.9"),
        line("db", &[], observations(&[0.01], 1))
    );
    assert_eq!(
        parse("temp:5|g|@0.5"),
        line("temp", &[], Value::GaugeSet(5.0))
    );
    assert_eq!(
        parse("users:x|s|@0.5"),
        line("users", &[], Value::SetMember("x".to_owned()))
    );
}

#[test]
fn names_and_tag_keys_are_sanitized() {
    assert_eq!(
        parse("app.http-requests/sec:1|c").name,
        "app_http_requests_sec"
    );
    assert_eq!(parse("9lives:1|c").name, "_9lives");
    assert_eq!(parse("né:1|c").name, "n_");
    assert_eq!(
        parse("x:1|c|#dotted.key:a.b,9k:v").tags,
        tags(&[("_9k", "v"), ("dotted_key", "a.b")])
    );
    assert_eq!(sanitize("already_fine_9"), "already_fine_9");
}

#[test]
fn dogstatsd_tags() {
    assert_eq!(
        parse("page.views:1|c|#env:prod,route:/a:b"),
        line(
            "page_views",
            &[("env", "prod"), ("route", "/a:b")],
            Value::Counter(1.0)
        )
    );
    assert_eq!(
        parse("x:1|c|@0.5|#env:prod"),
        line("x", &[("env", "prod")], Value::Counter(2.0)),
        "fields in any order"
    );
    assert_eq!(
        parse("x:1|c|#env:prod|@0.5"),
        line("x", &[("env", "prod")], Value::Counter(2.0))
    );
    assert_eq!(
        parse("x:1|c|#b:2,a:1,b:3"),
        line("x", &[("a", "1"), ("b", "3")], Value::Counter(1.0)),
        "sorted by key, the last value of a key wins"
    );
    assert_eq!(
        parse("x:1|c|##a:1"),
        line("x", &[("a", "1")], Value::Counter(1.0)),
        "a tag's own leading # is dropped, as statsd_exporter does"
    );
    // statsd_exporter: a tag without a value (or key) is an error; the sample still counts.
    let valueless = parse("x:1|c|#flag,env:prod,:v,k:");
    assert_eq!(valueless.tags, tags(&[("env", "prod")]));
    assert_eq!(valueless.dropped_tags, 3);
}

#[test]
fn influxdb_librato_and_signalfx_tags() {
    let expected = line(
        "my_metric",
        &[("a", "1"), ("b", "x y")],
        Value::Counter(1.0),
    );
    assert_eq!(parse("my.metric,a=1,b=x y:1|c"), expected);
    assert_eq!(parse("my.metric#a=1,b=x y:1|c"), expected);
    assert_eq!(parse("my.metric[a=1,b=x y]:1|c"), expected);
    assert_eq!(
        parse("my[a=1].metric:1|c"),
        line("my_metric", &[("a", "1")], Value::Counter(1.0)),
        "SignalFx tags may sit inside the name"
    );
    let broken = parse("my[a=1.metric:1|c");
    assert_eq!(broken.name, "my_a_1_metric");
    assert_eq!(broken.dropped_tags, 1);
    let bad_tags = parse("m,a,=1,b=2:1|c");
    assert_eq!(bad_tags.tags, tags(&[("b", "2")]));
    assert_eq!(bad_tags.dropped_tags, 2);
}

#[test]
fn dogstatsd_container_and_timestamp_fields() {
    assert_eq!(
        parse("x:1|c|#env:prod|c:abc123|T1656581400"),
        line(
            "x",
            &[("container_id", "abc123"), ("env", "prod")],
            Value::Counter(1.0)
        )
    );
    assert!(matches!(fail("x:1|c|T"), Error::InvalidTimestamp { .. }));
    assert!(matches!(fail("x:1|c|T12a"), Error::InvalidTimestamp { .. }));
    assert!(matches!(fail("x:1|c|c:"), Error::InvalidField { .. }));
}

#[test]
fn packets_split_into_non_empty_lines() {
    let packet = b"a:1|c\nb:2|g\n\nc:3|ms\n";
    let parsed: Vec<Line> = lines(packet)
        .map(|l| parse_line(l).expect("valid"))
        .collect();
    assert_eq!(
        parsed,
        vec![
            line("a", &[], Value::Counter(1.0)),
            line("b", &[], Value::GaugeSet(2.0)),
            line("c", &[], observations(&[0.003], 1)),
        ]
    );
    assert_eq!(lines(b"").count(), 0);
    assert_eq!(lines(b"\n\n").count(), 0);
}

#[test]
fn bad_lines_say_what_is_wrong() {
    let message = |line: &str| fail(line).to_string();
    assert_eq!(
        message("no_colon"),
        "malformed line \"no_colon\": expected NAME:VALUE|TYPE[|@RATE][|#TAGS]"
    );
    assert_eq!(
        message("x:1"),
        "malformed line \"x:1\": expected NAME:VALUE|TYPE[|@RATE][|#TAGS]"
    );
    assert_eq!(message(":1|c"), "empty metric name in \":1|c\"");
    assert_eq!(message(",a=b:1|c"), "empty metric name in \",a=b:1|c\"");
    assert_eq!(
        message("x:1|q"),
        "unknown metric type \"q\" in \"x:1|q\": expected c, g, ms, h, d or s"
    );
    assert_eq!(
        message("x:1|"),
        "unknown metric type \"\" in \"x:1|\": expected c, g, ms, h, d or s"
    );
    assert_eq!(
        message("x:abc|c"),
        "invalid value \"abc\" in \"x:abc|c\": expected a finite number"
    );
    assert_eq!(
        message("x:|g"),
        "invalid value \"\" in \"x:|g\": expected a finite number"
    );
    assert_eq!(
        message("x:|s"),
        "invalid value \"\" in \"x:|s\": expected a finite number"
    );
    assert_eq!(
        message("x:NaN|g"),
        "invalid value \"NaN\" in \"x:NaN|g\": expected a finite number"
    );
    assert_eq!(
        message("x:inf|ms"),
        "invalid value \"inf\" in \"x:inf|ms\": expected a finite number"
    );
    assert_eq!(
        message("x:-1|c"),
        "negative counter increment in \"x:-1|c\": Prometheus counters only go up"
    );
    assert_eq!(
        message("x:1|c|@0"),
        "invalid sample rate \"0\" in \"x:1|c|@0\": expected a number in (0, 1]"
    );
    for rate in [
        "x:1|c|@2",
        "x:1|c|@-0.5",
        "x:1|c|@abc",
        "x:1|c|@",
        "x:1|c|@NaN",
    ] {
        assert!(
            matches!(fail(rate), Error::InvalidSampleRate { .. }),
            "{rate}"
        );
    }
    assert_eq!(
        message("x:1|c|x"),
        "invalid field \"x\" in \"x:1|c|x\": expected @RATE, #TAGS, c:CONTAINER or TTIMESTAMP"
    );
    assert_eq!(
        message("x:1|c||@0.5"),
        "invalid field \"\" in \"x:1|c||@0.5\": expected @RATE, #TAGS, c:CONTAINER or TTIMESTAMP"
    );
    assert_eq!(
        message("x,a=b:1|c|#c:d"),
        "tags both in the name and after |# in \"x,a=b:1|c|#c:d\": use one style per line"
    );
    assert_eq!(
        message("_e{5,4}:title|text"),
        "unsupported line \"_e{5,4}:title|text\": DogStatsD events and service checks are not metrics"
    );
    assert_eq!(
        message("_sc|check|0"),
        "unsupported line \"_sc|check|0\": DogStatsD events and service checks are not metrics"
    );
    assert_eq!(
        parse_line(b"x:1|c\xff").expect_err("bad utf-8").to_string(),
        "line is not valid UTF-8: \"x:1|c\u{fffd}\""
    );
}

#[test]
fn long_lines_are_cut_in_errors() {
    let long = format!("x:{}|c", "é".repeat(200));
    let Error::InvalidValue { line, .. } = fail(&long) else {
        panic!("expected InvalidValue");
    };
    assert!(line.len() <= 203 && line.ends_with("..."), "{line}");
}

#[test]
fn every_error_has_a_reason_label() {
    let reasons: Vec<&str> = [
        "no_colon",
        ":1|c",
        "x:1|q",
        "x:a|c",
        "x:-1|c",
        "x:1:2|c",
        "x:1|c|@5",
        "x:1|c|?",
        "x:1|c|Tx",
        "x,a=b:1|c|#c:d",
        "_sc|x|0",
    ]
    .iter()
    .map(|line| fail(line).reason())
    .collect();
    assert_eq!(
        reasons,
        [
            "malformed_line",
            "empty_name",
            "unknown_type",
            "invalid_value",
            "negative_counter",
            "multi_value",
            "invalid_sample_rate",
            "invalid_field",
            "invalid_timestamp",
            "mixed_tag_styles",
            "unsupported",
        ]
    );
    assert_eq!(
        parse_line(b"\xff").expect_err("utf-8").reason(),
        "invalid_utf8"
    );
}
