//! Wire compatibility: the stock Python grpcio client of the original contract
//! (`tests/compat/search_client.py`) against the Rust service.

use std::time::Duration;

use tern_test_support::clients::{client_from_env, compat_script};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_grpcio_client_passes_its_checks() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let running = Running::bundled().await;
    let script = compat_script("search_client.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(running.addr.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the compat client finishes within 120s")
        .unwrap_or_else(|e| panic!("cannot run {python:?} {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} exited with {}\nstdout (checks): {}\nstderr: {}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    running.stop().await;
}
