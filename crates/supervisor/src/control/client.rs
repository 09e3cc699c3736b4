//! The CLI's side of the control API: one call per endpoint over the supervisor's Unix
//! socket, through `tern-http-client`, each bounded in time.

use std::{path::PathBuf, time::Duration};

use serde::{de::DeserializeOwned, Deserialize};
use tern_http_client::{HttpClient, Options, Request};

use super::{PsView, RevisionView};
use crate::Error;

/// Calls answered at once (`ps` reads the registry, itself bounded by 5 s).
const QUICK: Duration = Duration::from_secs(15);
/// Scale, restart, rollback and apply answer when the rollout is over: every new replica
/// healthy within its `readiness_timeout`, or rolled back. The bound only keeps a wedged
/// supervisor from holding the CLI forever.
const OPERATION: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    http: HttpClient,
}

impl Client {
    /// A client of the supervisor serving on `socket` (`ControlAddress::socket`).
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        let socket = socket.into();
        let options = Options {
            request_timeout: QUICK,
            ..Options::default()
        };
        Client {
            http: HttpClient::unix(&socket, options),
            socket,
        }
    }

    pub async fn ps(&self) -> Result<PsView, Error> {
        self.call(Request::get("/v1/ps")).await
    }

    /// Waits up to `timeout` for every replica to be ready.
    pub async fn wait(&self, timeout: Duration) -> Result<(), Error> {
        let path = format!("/v1/wait?timeout_ms={}", timeout.as_millis());
        self.call::<serde_json::Value>(Request::post(path).timeout(timeout + QUICK))
            .await
            .map(drop)
    }

    pub async fn scale(&self, service: &str, replicas: u32) -> Result<(), Error> {
        let body = serde_json::json!({ "replicas": replicas });
        let request = Request::post(format!("/v1/services/{service}/scale"))
            .json(body.to_string())
            .timeout(OPERATION);
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    pub async fn restart(&self, service: &str) -> Result<(), Error> {
        let request = Request::post(format!("/v1/services/{service}/restart")).timeout(OPERATION);
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    pub async fn revisions(&self, service: &str) -> Result<Vec<RevisionView>, Error> {
        self.call(Request::get(format!("/v1/services/{service}/revisions")))
            .await
    }

    pub async fn rollback(&self, service: &str, to: Option<u64>) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Answer {
            revision: u64,
        }
        let request = Request::post(format!("/v1/services/{service}/rollback"))
            .json(serde_json::json!({ "to": to }).to_string())
            .timeout(OPERATION);
        let answer: Answer = self.call(request).await?;
        Ok(answer.revision)
    }

    pub async fn apply(&self) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Answer {
            changes: Vec<String>,
        }
        let answer: Answer = self
            .call(Request::post("/v1/apply").timeout(OPERATION))
            .await?;
        Ok(answer.changes)
    }

    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call::<serde_json::Value>(Request::post("/v1/shutdown"))
            .await
            .map(drop)
    }

    /// One call; a non-2xx answer is the API's `{"error": ..}` message.
    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, Error> {
        let fail = |detail: String| {
            Error::Control(format!("supervisor at {}: {detail}", self.socket.display()))
        };
        let answer = self
            .http
            .send(request)
            .await
            .map_err(|e| fail(e.reason()))?;
        if !answer.status.is_success() {
            #[derive(Deserialize)]
            struct Failure {
                error: String,
            }
            let message = serde_json::from_slice::<Failure>(&answer.body)
                .map(|f| f.error)
                .unwrap_or_else(|_| {
                    let text = String::from_utf8_lossy(&answer.body);
                    format!("HTTP {}: {}", answer.status, text.trim())
                });
            return Err(Error::Control(message));
        }
        serde_json::from_slice(&answer.body).map_err(|e| fail(format!("unexpected answer: {e}")))
    }
}
