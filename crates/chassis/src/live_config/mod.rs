//! Live configuration: keys in the registry's KV store, under `config_prefix`
//! (`config/search/`), applied while the service runs, without a restart.
//!
//! With `registry` and `config_prefix` both set, `serve` starts a task (once bound) that
//! follows the prefix with blocking queries. Each snapshot of the prefix is validated as a
//! whole (every key) before any of it is applied:
//!
//! - valid: everything changed is applied (the log filter, the service's [`LiveConfig`]
//!   through its `on_change`), and an INFO `config applied` line names the `index` and the
//!   changed `keys`;
//! - invalid: nothing is applied, the previous config stays, and a WARN `config rejected`
//!   line names the `key`, its `value` and the `reason`.
//!
//! Either way the outcome is written to the KV key `tern/status/INSTANCE_ID/config` (what
//! `tern ps` shows): `{"state":"applied"|"rejected","index":N,"error":null|"KEY: REASON",
//! "at":"RFC 3339"}`. A graceful shutdown deletes it, after deregistration.
//!
//! Keys: the key below the prefix, `/` nesting (`cache/size`). `log_level` is the
//! chassis' (a log filter, as `log.level`; deleting the key returns to `log.level`);
//! every other key must be one of the service's [`LiveConfig`] (an unknown key rejects
//! the snapshot: typo protection). Values read like `TERN_*` variables: `5`, `true`,
//! `"2s"`, and unquoted text (`debug`, `2s`) as a string.
//!
//! Start-up never waits for the registry: the service runs on its defaults until the
//! first snapshot arrives, and the watch retries in the background (as registration does).
//! The live keys are separate from the static config (file and `TERN_*` environment):
//! a static key is never changed live; a service may let a live key override a static
//! one (search's `reload_interval`), and then deleting the live key returns to it.

mod snapshot;

use std::{sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use tokio::{
    task::JoinHandle,
    time::{timeout_at, Instant},
};
use tracing::{info, instrument::WithSubscriber, warn, Dispatch};
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

use tern_consul_client::Consul;

use crate::{
    follow::Follow,
    logging::{parse_filter, LevelControl},
    registration::RegistrationConfig,
    ChassisConfig,
};
use snapshot::{changed_keys, evaluate, raw_entries, Raw, LOG_LEVEL};
pub(crate) use snapshot::{NoKeys, ServiceKeys, Typed};

/// How long one blocking query on the prefix waits for a change.
const WATCH_WAIT: Duration = Duration::from_secs(30);
/// The most deleting the status key may take during shutdown.
const STATUS_DELETE_TIMEOUT: Duration = Duration::from_secs(3);

/// A service's own live config keys, declared with
/// [`ServiceBuilder::live_config`](crate::ServiceBuilder::live_config).
///
/// A serde struct like the static config (`#[serde(default)]`, the chassis' duration
/// adapters in [`crate::serde_with`]), separate from it: its fields are the keys under
/// `config_prefix`, nested structs are `/`-separated keys (`cache/size`). `Default` is
/// what the service runs on before the first snapshot and for keys that are absent.
/// It must not have a `log_level` key (the chassis').
///
/// ```
/// # use std::time::Duration;
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// #[serde(default)]
/// struct SearchLive {
///     /// Unset: the static `reload_interval`.
///     #[serde(with = "tern_chassis::serde_with::option_duration")]
///     reload_interval: Option<Duration>,
/// }
///
/// impl tern_chassis::LiveConfig for SearchLive {
///     fn validate(&self) -> Result<(), tern_chassis::InvalidValue> {
///         match self.reload_interval {
///             Some(d) if d.is_zero() => Err(tern_chassis::InvalidValue::new(
///                 "reload_interval",
///                 "must be greater than 0, e.g. \"2s\"",
///             )),
///             _ => Ok(()),
///         }
///     }
/// }
/// ```
pub trait LiveConfig: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// Checks what the types cannot (ranges, combinations). An error rejects the whole
    /// snapshot. Default: whatever deserializes is valid.
    fn validate(&self) -> Result<(), InvalidValue> {
        Ok(())
    }
}

/// A live value [`LiveConfig::validate`] refuses: its key (`reload_interval`,
/// `cache/size`) and why, phrased as the expected form (`must be greater than 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    pub key: String,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        InvalidValue {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A built service's live config: where to follow it and what to check it against.
pub(crate) struct Live {
    consul: Consul,
    prefix: String,
    /// `log.level`: the filter when `log_level` is not set.
    base_level: String,
    service: Arc<dyn ServiceKeys>,
}

impl Live {
    /// `None` unless both `registry` and `config_prefix` are set.
    pub(crate) fn from_config(
        config: &ChassisConfig,
        registration: Option<&RegistrationConfig>,
        service: Option<Arc<dyn ServiceKeys>>,
    ) -> Option<Self> {
        let prefix = config.config_prefix.as_ref()?;
        let Some(registration) = registration else {
            warn!(
                config_prefix = %prefix,
                "config_prefix is set but registry is not: live config is off"
            );
            return None;
        };
        Some(Live {
            consul: registration.consul().clone(),
            prefix: prefix.clone(),
            base_level: config.log.level.clone(),
            service: service.unwrap_or_else(|| Arc::new(NoKeys)),
        })
    }
}

/// The running watch of a served instance. Dropping it stops the task.
pub(crate) struct LiveWatch {
    consul: Consul,
    status_key: String,
    task: Option<JoinHandle<()>>,
}

impl LiveWatch {
    /// Starts following the prefix in the background. The log filter it changes is the
    /// one of the logger that is the default here (the caller's), and its own lines go
    /// there too.
    pub(crate) fn start(live: &Live, instance_id: &str) -> Self {
        let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
        let state = LiveState {
            service: live.service.clone(),
            level: LevelControl::of(&dispatch),
            base_level: live.base_level.clone(),
            applied: Raw::new(),
            seen: None,
            last_status: None,
        };
        let status_key = format!("tern/status/{instance_id}/config");
        let task = tokio::spawn(
            follow_prefix(
                live.consul.clone(),
                live.prefix.clone(),
                status_key.clone(),
                state,
            )
            .with_subscriber(dispatch),
        );
        LiveWatch {
            consul: live.consul.clone(),
            status_key,
            task: Some(task),
        }
    }

    /// Stops following and deletes the status key (best effort: a failure is logged; it
    /// gives up at `deadline` or after a few seconds).
    pub(crate) async fn stop(mut self, deadline: Instant) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Gone for sure, so no status write of it can land after the delete.
            let _ = task.await;
        }
        let deadline = deadline.min(Instant::now() + STATUS_DELETE_TIMEOUT);
        match timeout_at(deadline, self.consul.kv_delete(&self.status_key, false)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                warn!(key = %self.status_key, %error, "cannot delete the config status")
            }
            Err(_) => warn!(key = %self.status_key, "deleting the config status timed out"),
        }
    }
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn follow_prefix(consul: Consul, prefix: String, status_key: String, mut state: LiveState) {
    let mut follow = Follow::new(0, WATCH_WAIT);
    let mut last_index = 0;
    let mut unwritten: Option<Vec<u8>> = None;
    loop {
        let answer = follow
            .next(
                |block| consul.kv_list(&prefix, block),
                |error, retry| {
                    warn!(config_prefix = %prefix, %error, retry_in_ms = retry.as_millis() as u64,
                        "watching the live config failed; keeping the current config");
                },
            )
            .await;
        // A registry that went back in time (restarted without its data) lost the status.
        let restarted = answer.index < last_index;
        last_index = answer.index;
        match state.observe(answer.index, raw_entries(&prefix, &answer.value)) {
            Some(status) => unwritten = Some(status.to_json()),
            None if restarted => unwritten = state.last_status.as_ref().map(Status::to_json),
            None => {}
        }
        if let Some(body) = &unwritten {
            // Retried after the next answer when it fails.
            match consul.kv_put(&status_key, body).await {
                Ok(()) => unwritten = None,
                Err(error) => warn!(key = %status_key, %error, "cannot write the config status"),
            }
        }
    }
}

/// What has been applied, and how to apply more. Pure but for logging and the calls into
/// the logger and the service.
struct LiveState {
    service: Arc<dyn ServiceKeys>,
    level: Option<LevelControl>,
    base_level: String,
    /// The raw entries of the last applied snapshot.
    applied: Raw,
    /// The raw entries last evaluated (applied or rejected): unchanged ones are skipped.
    seen: Option<Raw>,
    last_status: Option<Status>,
}

impl LiveState {
    /// Validates and applies `raw` (the snapshot at `index`) if it differs from the last
    /// one seen; returns the status to publish then.
    fn observe(&mut self, index: u64, raw: Raw) -> Option<Status> {
        if self.seen.as_ref() == Some(&raw) {
            return None;
        }
        let status = match evaluate(&raw, &*self.service) {
            Ok(accepted) => {
                let changed = changed_keys(&self.applied, &raw);
                if changed.iter().any(|k| k == LOG_LEVEL) {
                    self.set_level(accepted.log_level.as_deref().unwrap_or(&self.base_level));
                }
                if changed.iter().any(|k| k != LOG_LEVEL) {
                    (accepted.apply)();
                }
                self.applied = raw.clone();
                info!(index, keys = %changed.join(","), "config applied");
                Status::new("applied", index, None)
            }
            Err(rejection) => {
                warn!(
                    index,
                    key = %rejection.key,
                    value = rejection.value.as_deref(),
                    reason = %rejection.reason,
                    "config rejected"
                );
                Status::new("rejected", index, Some(rejection.to_string()))
            }
        };
        self.seen = Some(raw);
        self.last_status = Some(status.clone());
        Some(status)
    }

    fn set_level(&self, directive: &str) {
        let Some(control) = &self.level else {
            warn!(
                log_level = directive,
                "log_level cannot be applied: the logger was not built by tern_chassis"
            );
            return;
        };
        // Validated with the snapshot (or the static config) already.
        let result = parse_filter(directive).and_then(|filter| control.set(filter));
        if let Err(error) = result {
            warn!(log_level = directive, %error, "log_level cannot be applied");
        }
    }
}

/// The outcome of the last snapshot, as written to `tern/status/ID/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    state: &'static str,
    index: u64,
    error: Option<String>,
    /// RFC 3339, UTC.
    at: String,
}

impl Status {
    fn new(state: &'static str, index: u64, error: Option<String>) -> Self {
        let mut at = String::with_capacity(32);
        let _ = tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut at));
        Status {
            state,
            index,
            error,
            at,
        }
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::json!({
            "state": self.state,
            "index": self.index,
            "error": self.error,
            "at": self.at,
        })
        .to_string()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests;
