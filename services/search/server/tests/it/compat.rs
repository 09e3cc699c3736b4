//! Wire compatibility: the stock Python grpcio client of the original contract
//! (`tests/compat/search_client.py`) against the Rust service.

use std::time::Duration;

use tern_test_support::clients::{client_from_env, compat_script, run_client};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_grpcio_client_passes_its_checks() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let running = Running::bundled().await;
    let script = compat_script("search_client.py");
    let mut command = tokio::process::Command::new(&python);
    command.arg(&script).arg(running.addr.to_string());
    run_client(command, Duration::from_secs(120)).await;
    running.stop().await;
}
