//! The OpenAPI document users serves: valid (openapi-spec-validator), stating the
//! constraints the service enforces, and schemathesis (`--checks all`: boundary and negative
//! data, status codes, response schemas, 405 with `Allow`) finds the server true to it.

use std::time::Duration;

use http::Method;
use tern_test_support::clients::{client_from_env, run_client};

use crate::support::Running;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_valid_and_schemathesis_finds_the_server_true_to_it() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let service = Running::sqlite().await;
    let (status, document) = service.rest(Method::GET, "/openapi.json", None).await;
    assert_eq!(status, 200);
    let email =
        &document["components"]["schemas"]["users.v1.CreateUserRequest"]["properties"]["email"];
    assert_eq!(email["format"], "email", "{document}");
    assert_eq!(email["maxLength"], 254, "{document}");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write the document");
    let mut validate = tokio::process::Command::new(&python);
    validate.args(["-m", "openapi_spec_validator"]).arg(&file);
    run_client(validate, Duration::from_secs(60)).await;

    let mut schemathesis = tokio::process::Command::new(&python);
    schemathesis
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{}/openapi.json", service.addr))
        .args([
            "--checks",
            "all",
            "--max-examples",
            "50",
            "--seed",
            "1",
            "--no-color",
        ])
        .args(["--suppress-health-check", "all"])
        // It writes a cache directory where it runs.
        .current_dir(dir.path());
    run_client(schemathesis, Duration::from_secs(180)).await;
    service.stop().await;
}
