//! The control API the CLI talks to (`tern ps`, `scale`, `apply`, `restart`, `rollout`,
//! `rollback`, `down`): JSON over HTTP/1.1 on the Unix socket
//! `DATA_DIR/supervisor/control.sock`, which only the user running `tern up` can reach
//! (`socket.rs`). Its path and the supervisor's pid are written to
//! `supervisor/control.json`. The wire types here are the API; the supervisor's own types
//! stay free to change. [`Client`] (`client.rs`) is the CLI's side.
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | GET | `/v1/ps` | → [`PsView`] |
//! | POST | `/v1/wait?timeout_ms=N` | → `{}` once every replica is ready, else 503 |
//! | POST | `/v1/services/NAME/scale` | `{"replicas":N}` → `{}` |
//! | POST | `/v1/services/NAME/restart` | → `{}` (rolling) |
//! | GET | `/v1/services/NAME/revisions` | → `[RevisionView]` |
//! | POST | `/v1/services/NAME/rollback` | `{"to":N}` or `{}` → `{"revision":N}` |
//! | POST | `/v1/apply` | → `{"changes":[..]}` |
//! | POST | `/v1/shutdown` | → `{}`; the supervisor then stops everything |
//!
//! Errors are `{"error":"..."}` with 404 (unknown service or revision), 409 (a rollout
//! failed and was rolled back), 503 (replicas not healthy in time) or 400.

mod client;
mod socket;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Path as UrlPath, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};

pub use client::Client;
pub use socket::bind_control;

use crate::{Error, Revision, Supervisor};

/// `tern ps`: every service and its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsView {
    pub services: Vec<PsService>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsService {
    pub name: String,
    pub register_as: String,
    pub revision: u64,
    pub desired: u32,
    /// Why the last rollout did not go as asked, if it did not.
    pub note: Option<String>,
    pub replicas: Vec<PsReplica>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsReplica {
    pub id: String,
    /// The service's table name in tern.toml (`[services.NAME]`).
    #[serde(default)]
    pub service: String,
    /// The registry ID the replica is registered under: its `id`, or for a program that
    /// registers itself (`register = "self"`) the ID it chose, once found. `None` while
    /// not registered.
    #[serde(default)]
    pub registered_id: Option<String>,
    pub revision: u64,
    pub phase: String,
    pub pid: Option<u32>,
    pub address: Option<String>,
    pub health: Option<String>,
    pub restarts: u32,
    pub uptime_ms: Option<u64>,
    pub last_exit: Option<String>,
    pub detail: String,
    /// The live config state the replica reported (`applied`, or `rejected: why`).
    pub config: Option<String>,
}

/// One line of `tern rollout history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionView {
    pub number: u64,
    pub hash: String,
    pub created_at: u64,
    pub cause: String,
    pub failed: Option<String>,
    pub current: bool,
    /// The program, as `tern.toml` gave it.
    pub program: String,
    pub config_keys: usize,
}

/// Where a running supervisor's control API is: `supervisor/control.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlAddress {
    /// The Unix socket it serves on ([`ControlAddress::socket_path`]).
    pub socket: PathBuf,
    pub pid: u32,
}

impl ControlAddress {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("supervisor").join("control.json")
    }

    /// `DATA_DIR/supervisor/control.sock`, where [`bind_control`] listens.
    pub fn socket_path(data_dir: &Path) -> PathBuf {
        data_dir.join("supervisor").join("control.sock")
    }

    pub fn write(&self, data_dir: &Path) -> Result<(), Error> {
        let path = Self::path(data_dir);
        let io = |source| Error::Io {
            what: format!("writing {}", path.display()),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Control(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// `None` when no supervisor wrote one (or it was removed at shutdown).
    pub fn read(data_dir: &Path) -> Option<ControlAddress> {
        let bytes = std::fs::read(Self::path(data_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes the address file and the socket (at shutdown, once serving stopped).
    pub fn remove(data_dir: &Path) {
        let _ = std::fs::remove_file(Self::path(data_dir));
        let _ = std::fs::remove_file(Self::socket_path(data_dir));
    }
}

pub(crate) async fn ps_view(supervisor: &Supervisor) -> PsView {
    let config_states = config_states(supervisor).await;
    let now = SystemTime::now();
    let services = supervisor
        .services()
        .iter()
        .map(|runtime| {
            let target = runtime.target();
            let mut replicas: Vec<PsReplica> = runtime
                .statuses()
                .into_iter()
                .map(|status| PsReplica {
                    config: config_states.get(&status.id).cloned(),
                    service: status.service.clone(),
                    registered_id: status
                        .health
                        .map(|_| status.registered_id.clone().unwrap_or(status.id.clone())),
                    revision: status.revision,
                    phase: status.phase.as_str().to_owned(),
                    pid: status.pid,
                    address: status.address,
                    health: status.health.map(|h| h.as_str().to_owned()),
                    restarts: status.restarts,
                    uptime_ms: status
                        .started_at
                        .filter(|_| status.pid.is_some())
                        .and_then(|at| now.duration_since(at).ok())
                        .map(|d| d.as_millis() as u64),
                    last_exit: status.last_exit,
                    detail: status.detail,
                    id: status.id,
                })
                .collect();
            replicas.sort_by(|a, b| a.id.cmp(&b.id));
            PsService {
                name: runtime.name.clone(),
                register_as: target.spec.register_as.clone(),
                revision: target.revision,
                desired: target.replicas,
                note: runtime.note(),
                replicas,
            }
        })
        .collect();
    PsView { services }
}

/// What each chassis replica reported of its live config (`tern/status/ID/config`).
async fn config_states(supervisor: &Supervisor) -> HashMap<String, String> {
    #[derive(Deserialize)]
    struct Reported {
        state: String,
        error: Option<String>,
    }
    let Ok(entries) = supervisor
        .inner
        .context
        .consul
        .kv_list("tern/status/", None)
        .await
    else {
        return HashMap::new();
    };
    entries
        .value
        .into_iter()
        .filter_map(|entry| {
            let id = entry
                .key
                .strip_prefix("tern/status/")?
                .strip_suffix("/config")?
                .to_owned();
            let reported: Reported = serde_json::from_slice(&entry.value).ok()?;
            let text = match reported.error {
                Some(error) => format!("{}: {error}", reported.state),
                None => reported.state,
            };
            Some((id, text))
        })
        .collect()
}

fn revision_view(revision: &Revision, current: u64) -> RevisionView {
    RevisionView {
        number: revision.number,
        hash: revision.hash.clone(),
        created_at: revision.created_at,
        cause: revision.cause.clone(),
        failed: revision.failed.clone(),
        current: revision.number == current,
        program: match &revision.spec.program {
            tern_platform::Program::Builtin(builtin) => format!("builtin {}", builtin.name()),
            tern_platform::Program::Command(argv) => argv.join(" "),
        },
        config_keys: revision.config.len(),
    }
}

struct ApiError(Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::UnknownService(_) | Error::UnknownRevision { .. } => StatusCode::NOT_FOUND,
            Error::RolledBack(_) => StatusCode::CONFLICT,
            Error::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Platform(_) | Error::Control(_) => StatusCode::BAD_REQUEST,
            Error::Io { .. } | Error::Corrupt { .. } | Error::Logs(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = serde_json::json!({ "error": self.0.to_string() });
        (status, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Deserialize)]
struct ScaleBody {
    replicas: u32,
}

#[derive(Deserialize, Default)]
struct RollbackBody {
    to: Option<u64>,
}

#[derive(Deserialize)]
struct WaitQuery {
    timeout_ms: Option<u64>,
}

fn router(supervisor: Supervisor) -> Router {
    Router::new()
        .route("/v1/ps", get(ps))
        .route("/v1/wait", post(wait))
        .route("/v1/apply", post(apply))
        .route("/v1/shutdown", post(shutdown))
        .route("/v1/services/{name}/scale", post(scale))
        .route("/v1/services/{name}/restart", post(restart))
        .route("/v1/services/{name}/revisions", get(revisions))
        .route("/v1/services/{name}/rollback", post(rollback))
        .with_state(supervisor)
}

async fn ps(State(supervisor): State<Supervisor>) -> Json<PsView> {
    Json(supervisor.ps().await)
}

async fn wait(
    State(supervisor): State<Supervisor>,
    Query(query): Query<WaitQuery>,
) -> ApiResult<serde_json::Value> {
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(60_000));
    supervisor.wait_healthy(timeout).await?;
    Ok(Json(serde_json::json!({})))
}

async fn apply(State(supervisor): State<Supervisor>) -> ApiResult<serde_json::Value> {
    let changes = supervisor.apply().await?;
    Ok(Json(serde_json::json!({ "changes": changes })))
}

async fn shutdown(State(supervisor): State<Supervisor>) -> Json<serde_json::Value> {
    supervisor.request_stop();
    Json(serde_json::json!({}))
}

async fn scale(
    State(supervisor): State<Supervisor>,
    UrlPath(name): UrlPath<String>,
    Json(body): Json<ScaleBody>,
) -> ApiResult<serde_json::Value> {
    supervisor.scale(&name, body.replicas).await?;
    Ok(Json(serde_json::json!({})))
}

async fn restart(
    State(supervisor): State<Supervisor>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<serde_json::Value> {
    supervisor.restart(&name).await?;
    Ok(Json(serde_json::json!({})))
}

async fn revisions(
    State(supervisor): State<Supervisor>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Vec<RevisionView>> {
    let current = supervisor.service(&name)?.target().revision;
    let history = supervisor.history(&name)?;
    Ok(Json(
        history.iter().map(|r| revision_view(r, current)).collect(),
    ))
}

async fn rollback(
    State(supervisor): State<Supervisor>,
    UrlPath(name): UrlPath<String>,
    body: Option<Json<RollbackBody>>,
) -> ApiResult<serde_json::Value> {
    let to = body.map(|Json(b)| b).unwrap_or_default().to;
    let revision = supervisor.rollback(&name, to).await?;
    Ok(Json(serde_json::json!({ "revision": revision })))
}

pub(crate) async fn serve(
    supervisor: Supervisor,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, router(supervisor))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Io {
            what: "serving the control API".into(),
            source,
        })
}

/// Seconds since the Unix epoch, for display.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
