//! Unit tests of the pure live-config core: reading KV pairs into a snapshot, validating it whole.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tern_consul_client::KvEntry;

use super::*;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Live {
    #[serde(with = "crate::serde_with::option_duration")]
    reload_interval: Option<Duration>,
    max: u32,
    cache: Cache,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Cache {
    size: u32,
    name: String,
}

impl LiveConfig for Live {
    fn validate(&self) -> Result<(), InvalidValue> {
        if self.reload_interval == Some(Duration::ZERO) {
            return Err(InvalidValue::new(
                "reload_interval",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// A `Typed<Live>` that records what it is handed.
fn typed() -> (Typed<Live>, Arc<Mutex<Vec<Live>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let typed = Typed::<Live>::new(Arc::new(move |l: &Live| {
        sink.lock().unwrap().push(l.clone())
    }))
    .expect("a valid live config type");
    (typed, seen)
}

fn raw(pairs: &[(&str, &str)]) -> Raw {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn rejection(pairs: &[(&str, &str)]) -> Rejection {
    let (typed, seen) = typed();
    let Err(rejection) = evaluate(&raw(pairs), &typed) else {
        panic!("{pairs:?} accepted");
    };
    assert!(seen.lock().unwrap().is_empty());
    rejection
}

fn accepted(pairs: &[(&str, &str)]) -> (Option<String>, Live) {
    let (typed, seen) = typed();
    let accepted = evaluate(&raw(pairs), &typed).unwrap_or_else(|r| panic!("{r}"));
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing applied by evaluate"
    );
    (accepted.apply)();
    let live = seen.lock().unwrap().pop().expect("applied");
    (accepted.log_level, live)
}

#[test]
fn values_read_like_tern_variables() {
    let string = |s: &str| Value::from(s.to_owned());
    assert_eq!(parse_value("5"), Value::from(5usize));
    assert_eq!(parse_value("-5"), Value::from(-5isize));
    assert_eq!(parse_value("true"), Value::from(true));
    assert_eq!(parse_value("1.5"), Value::from(1.5f64));
    assert_eq!(parse_value("\"2s\""), string("2s"));
    assert_eq!(parse_value("\"5\""), string("5"));
    assert_eq!(parse_value("2s"), string("2s"));
    assert_eq!(parse_value("debug"), string("debug"));
    assert_eq!(
        parse_value(" debug\n"),
        string("debug"),
        "whitespace ignored"
    );
    assert_eq!(
        parse_value("warn,search=debug"),
        string("warn,search=debug")
    );
    assert_eq!(parse_value("truex"), string("truex"));
    assert_eq!(parse_value(""), string(""));
    assert_eq!(
        parse_value("[1, 2]"),
        Value::from(vec![Value::from(1usize), Value::from(2usize)])
    );
}

#[test]
fn slashes_nest() {
    let mut dict = Dict::new();
    insert(&mut dict, "a/b/c", Value::from(1usize)).unwrap();
    insert(&mut dict, "a/d", Value::from(2usize)).unwrap();
    insert(&mut dict, "e", Value::from(3usize)).unwrap();
    let value = Value::from(dict);
    assert_eq!(value.find_ref("a.b.c"), Some(&Value::from(1usize)));
    assert_eq!(value.find_ref("a.d"), Some(&Value::from(2usize)));
    assert_eq!(value.find_ref("e"), Some(&Value::from(3usize)));
}

#[test]
fn a_key_cannot_be_a_value_and_a_table() {
    let mut dict = Dict::new();
    insert(&mut dict, "a", Value::from(1usize)).unwrap();
    assert_eq!(
        insert(&mut dict, "a/b/c", Value::from(1usize)).unwrap_err(),
        "conflicts with key \"a\": a key cannot be both a value and a table"
    );
    let mut dict = Dict::new();
    insert(&mut dict, "a/b", Value::from(1usize)).unwrap();
    assert_eq!(
        insert(&mut dict, "a", Value::from(1usize)).unwrap_err(),
        "conflicts with the keys under \"a/\": a key cannot be both a value and a table"
    );
    for bad in ["a//b", "/a", "a/"] {
        assert_eq!(
            insert(&mut Dict::new(), bad, Value::from(1usize)).unwrap_err(),
            "invalid key: empty path segment"
        );
    }
    assert_eq!(
        rejection(&[("cache", "1"), ("cache/size", "2")]).to_string(),
        "cache/size: conflicts with key \"cache\": a key cannot be both a value and a table"
    );
}

#[test]
fn entries_are_keyed_below_the_prefix_without_folders() {
    let entry = |key: &str, value: &str| KvEntry {
        key: key.to_owned(),
        value: value.as_bytes().to_vec(),
        flags: 0,
        create_index: 1,
        modify_index: 1,
    };
    let entries = [
        entry("config/search/", ""),
        entry("config/search/cache/", ""),
        entry("config/search/cache/size", "5"),
        entry("config/search/log_level", "debug"),
        entry("config/searchx/other", "1"),
    ];
    assert_eq!(
        raw_entries("config/search/", &entries),
        raw(&[("cache/size", "5"), ("log_level", "debug")])
    );
}

#[test]
fn changed_keys_are_added_changed_and_removed_ones() {
    let before = raw(&[("a", "1"), ("b", "2"), ("c", "3")]);
    let after = raw(&[("a", "1"), ("b", "20"), ("d", "4")]);
    assert_eq!(changed_keys(&before, &after), ["b", "c", "d"]);
    assert!(changed_keys(&after, &after).is_empty());
}

#[test]
fn a_valid_snapshot_is_applied_whole() {
    let (level, live) = accepted(&[
        ("log_level", "warn,search=debug"),
        ("reload_interval", "500ms"),
        ("max", "7"),
        ("cache/size", "64"),
        ("cache/name", "\"5\""),
    ]);
    assert_eq!(level.as_deref(), Some("warn,search=debug"));
    assert_eq!(
        live,
        Live {
            reload_interval: Some(Duration::from_millis(500)),
            max: 7,
            cache: Cache {
                size: 64,
                name: "5".to_owned()
            },
        }
    );
    // Quoted or not, a string is a string; absent keys take their defaults.
    let (level, live) = accepted(&[("log_level", "\"debug\""), ("reload_interval", "\"2s\"")]);
    assert_eq!(level.as_deref(), Some("debug"));
    assert_eq!(live.reload_interval, Some(Duration::from_secs(2)));
    assert_eq!(live.max, 0);
    let (level, live) = accepted(&[]);
    assert_eq!((level, live), (None, Live::default()));
}

#[test]
fn an_invalid_log_level_is_rejected() {
    let r = rejection(&[("log_level", "verbose"), ("max", "1")]);
    assert_eq!(
        r.to_string(),
        "log_level: invalid log filter \"verbose\": expected a tracing directive such as \
         \"info\" or \"warn,search=debug\""
    );
    assert_eq!(r.key, "log_level");
    assert_eq!(r.value.as_deref(), Some("verbose"));
    assert_eq!(
        rejection(&[("log_level", "search=loud")]).reason,
        "invalid log filter \"search=loud\": expected a tracing directive such as \"info\" or \
         \"warn,search=debug\""
    );
    assert!(rejection(&[("log_level", "5")])
        .reason
        .starts_with("invalid log filter"));
}

#[test]
fn type_errors_name_key_and_value() {
    let r = rejection(&[("max", "lots")]);
    assert_eq!(
        r.to_string(),
        "max: invalid type: found string \"lots\", expected u32"
    );
    assert_eq!(r.value.as_deref(), Some("lots"));
    assert_eq!(
        rejection(&[("reload_interval", "10 s")]).to_string(),
        "reload_interval: invalid duration \"10 s\": expected a number followed by a unit (ns, \
         us, ms, s, m, h), e.g. \"500ms\", \"10s\", \"1m30s\""
    );
    assert_eq!(
        rejection(&[("cache/size", "-1")]).to_string(),
        "cache/size: invalid value signed int `-1`, expected u32"
    );
}

#[test]
fn the_service_validation_runs_on_the_whole_snapshot() {
    let r = rejection(&[("reload_interval", "0s"), ("max", "3")]);
    assert_eq!(
        r.to_string(),
        "reload_interval: invalid value \"0s\": must be greater than 0"
    );
    assert_eq!(r.value.as_deref(), Some("0s"));
}

#[test]
fn unknown_keys_are_rejected_naming_the_allowed_ones() {
    let allowed = "expected one of \"log_level\", \"cache/name\", \"cache/size\", \"max\", \
                   \"reload_interval\"";
    let r = rejection(&[("relaod_interval", "2s"), ("max", "1")]);
    assert_eq!(
        r.to_string(),
        format!("relaod_interval: unknown key: {allowed}")
    );
    assert_eq!(r.value.as_deref(), Some("2s"));
    assert_eq!(
        rejection(&[("cache/sise", "1")]).to_string(),
        format!("cache/sise: unknown key: {allowed}")
    );
    assert_eq!(
        rejection(&[("other/a", "1"), ("other/b", "2")]).to_string(),
        format!("other/a: unknown key: {allowed}")
    );
    assert_eq!(
        rejection(&[("log_level/x", "1")]).to_string(),
        format!("log_level/x: unknown key: {allowed}")
    );
}

#[test]
fn without_service_keys_only_log_level_is_allowed() {
    let accepted = evaluate(&raw(&[("log_level", "debug")]), &NoKeys).unwrap();
    assert_eq!(accepted.log_level.as_deref(), Some("debug"));
    let Err(r) = evaluate(&raw(&[("log_level", "debug"), ("max", "1")]), &NoKeys) else {
        panic!("accepted");
    };
    assert_eq!(
        r.to_string(),
        "max: unknown key: expected \"log_level\" (the service has no live keys of its own)"
    );
}

#[test]
fn values_must_be_utf8() {
    let (typed, _) = typed();
    let mut snapshot = raw(&[("max", "1")]);
    snapshot.insert("cache/name".to_owned(), vec![0xff, 0xfe]);
    let Err(r) = evaluate(&snapshot, &typed) else {
        panic!("accepted");
    };
    assert_eq!(r.to_string(), "cache/name: the value is not UTF-8 text");
}

#[test]
fn the_service_cannot_take_the_chassis_key() {
    #[derive(Default, Serialize, Deserialize)]
    struct Bad {
        log_level: String,
    }
    impl LiveConfig for Bad {}
    let err = Typed::<Bad>::new(Arc::new(|_: &Bad| {}))
        .err()
        .expect("refused");
    assert!(
        err.contains("\"log_level\" belongs to the chassis"),
        "{err}"
    );

    #[derive(Default, Serialize, Deserialize)]
    struct NotAStruct(u32);
    impl LiveConfig for NotAStruct {}
    assert!(Typed::<NotAStruct>::new(Arc::new(|_: &NotAStruct| {})).is_err());
}
