//! Unit tests of live config as a service sees it: applied or rejected snapshots, logs and status.

use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::{LogConfig, LogFormat};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Live {
    limit: u32,
}

impl LiveConfig for Live {
    fn validate(&self) -> Result<(), InvalidValue> {
        if self.limit > 100 {
            return Err(InvalidValue::new("limit", "must be at most 100"));
        }
        Ok(())
    }
}

/// Everything the logger writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap()))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

struct Fixture {
    state: LiveState,
    seen: Arc<Mutex<Vec<Live>>>,
    capture: Capture,
    dispatch: Dispatch,
}

fn fixture() -> Fixture {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let typed = Typed::<Live>::new(Arc::new(move |l: &Live| {
        sink.lock().unwrap().push(l.clone())
    }))
    .unwrap();
    let capture = Capture::default();
    let writer = capture.clone();
    let config = LogConfig {
        format: LogFormat::Json,
        level: "info".to_owned(),
    };
    let dispatch = crate::log_dispatch(&config, "s", move || writer.clone()).unwrap();
    let state = LiveState {
        service: Arc::new(typed),
        level: LevelControl::of(&dispatch),
        base_level: "info".to_owned(),
        applied: Raw::new(),
        seen: None,
        last_status: None,
    };
    Fixture {
        state,
        seen,
        capture,
        dispatch,
    }
}

fn raw(pairs: &[(&str, &str)]) -> Raw {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

impl Fixture {
    fn observe(&mut self, index: u64, pairs: &[(&str, &str)]) -> Option<Status> {
        let state = &mut self.state;
        tracing::dispatcher::with_default(&self.dispatch, || state.observe(index, raw(pairs)))
    }

    /// Whether a DEBUG event reaches the log now.
    fn debug_visible(&self) -> bool {
        tracing::dispatcher::with_default(&self.dispatch, || {
            tracing::debug!(target: "live_test", "probe");
        });
        self.capture.lines().iter().any(|l| l["message"] == "probe")
    }

    fn applied(&self) -> Vec<Live> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

#[test]
fn the_status_is_the_documented_json() {
    let status = Status::new("rejected", 7, Some("limit: must be at most 100".into()));
    let json: Value = serde_json::from_slice(&status.to_json()).unwrap();
    assert_eq!(json["state"], "rejected");
    assert_eq!(json["index"], 7);
    assert_eq!(json["error"], "limit: must be at most 100");
    let at = json["at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    let applied: Value =
        serde_json::from_slice(&Status::new("applied", 1, None).to_json()).unwrap();
    assert_eq!(applied["error"], Value::Null);
    assert_eq!(applied.as_object().unwrap().len(), 4);
}

#[test]
fn valid_snapshots_apply_and_invalid_ones_keep_the_old_config() {
    let mut f = fixture();

    let status = f.observe(1, &[]).expect("the first snapshot is reported");
    assert_eq!((status.state, status.index), ("applied", 1));
    assert!(
        f.applied().is_empty(),
        "nothing changed: on_change not called"
    );
    f.capture.lines();

    let status = f.observe(2, &[("limit", "5")]).unwrap();
    assert_eq!(
        (status.state, status.index, status.error),
        ("applied", 2, None)
    );
    assert_eq!(f.applied(), [Live { limit: 5 }]);
    let lines = f.capture.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "config applied")
        .unwrap();
    assert_eq!(line["index"], 2);
    assert_eq!(line["keys"], "limit");
    assert_eq!(line["level"], "INFO");

    assert_eq!(
        f.observe(3, &[("limit", "5")]),
        None,
        "same snapshot: nothing to do"
    );

    let status = f.observe(4, &[("limit", "500")]).unwrap();
    assert_eq!(status.state, "rejected");
    assert_eq!(
        status.error.as_deref(),
        Some("limit: invalid value \"500\": must be at most 100")
    );
    assert!(
        f.applied().is_empty(),
        "a rejected snapshot applies nothing"
    );
    let lines = f.capture.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "config rejected")
        .unwrap();
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["key"], "limit");
    assert_eq!(line["value"], "500");
    assert_eq!(line["reason"], "invalid value \"500\": must be at most 100");
    assert_eq!(line["index"], 4);

    // Back to what was applied: reported as applied, nothing to hand the service.
    let status = f.observe(5, &[("limit", "5")]).unwrap();
    assert_eq!(status.state, "applied");
    assert!(f.applied().is_empty());

    let status = f.observe(6, &[("limit", "5"), ("limt", "6")]).unwrap();
    assert_eq!(
        status.error.as_deref(),
        Some("limt: unknown key: expected one of \"log_level\", \"limit\"")
    );

    // Deleting the key returns to the default.
    f.observe(7, &[]).unwrap();
    assert_eq!(f.applied(), [Live::default()]);
}

#[test]
fn log_level_changes_the_filter_and_deleting_it_restores_the_static_one() {
    let mut f = fixture();
    assert!(!f.debug_visible());

    f.observe(1, &[("log_level", "debug")]).unwrap();
    assert!(f.debug_visible());
    assert!(f.applied().is_empty(), "log_level is not the service's");

    let status = f.observe(2, &[("log_level", "verbose")]).unwrap();
    assert_eq!(status.state, "rejected");
    assert!(f.debug_visible(), "the old filter stays");

    f.observe(3, &[("log_level", "debug"), ("limit", "1")])
        .unwrap();
    assert_eq!(f.applied(), [Live { limit: 1 }]);
    assert!(f.debug_visible());

    f.observe(4, &[("limit", "1")]).unwrap();
    assert!(!f.debug_visible(), "back to log.level = info");
    assert!(f.applied().is_empty(), "limit did not change");
}
