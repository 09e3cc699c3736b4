//! Stock Kafka clients against the broker served in-process: confluent-kafka (the
//! current librdkafka, from its wheel) and kafka-python (negotiated and pinned to 0.11)
//! through `tests/compat/kafka_client.py`, and Debian's kcat (librdkafka 2.0.2).
//! `scripts/test-deps` installs them; with CI set, a missing client fails the test.

use std::time::Duration;

use tern_test_support::clients::{client_from_env, compat_script, kcat};

use crate::RunningBroker;

/// Runs a command; returns its stdout after asserting exit 0 within 120 s.
pub(crate) async fn run(mut command: tokio::process::Command, stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    command
        .kill_on_drop(true)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the client starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the client finishes within 120s")
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "client exited with {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn python_check(check: &str) {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let broker = RunningBroker::start().await;
    let mut command = tokio::process::Command::new(python);
    command
        .arg(compat_script("kafka_client.py"))
        .arg(broker.addr.ip().to_string())
        .arg(broker.addr.port().to_string())
        .arg(check);
    let stdout = run(command, None).await;
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the client prints JSON");
    assert_eq!(report["ok"], true, "{report}");
    eprintln!("{check}: {}", report["versions"]);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_produces_and_consumes_with_keys_headers_timestamps() {
    python_check("confluent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_group_shares_rebalances_and_resumes() {
    python_check("group").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_with_negotiated_versions() {
    python_check("python-auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_pinned_to_0_11() {
    python_check("python-0.11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lists_produces_and_consumes() {
    let Some(kcat) = kcat() else {
        return;
    };
    let broker = RunningBroker::start().await;
    let address = broker.addr.to_string();
    let kcat_command = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&kcat);
        command.arg("-b").arg(&address).args(args);
        command
    };
    let produced = run(
        kcat_command(&["-P", "-t", "kc-topic", "-K", ":"]),
        Some("k1:v1\nk2:v2\nk3:v3\n"),
    )
    .await;
    assert_eq!(produced, "");
    let listing = run(kcat_command(&["-L"]), None).await;
    assert!(listing.contains(" 1 brokers:"), "{listing}");
    assert!(
        listing.contains(&format!("broker 0 at {address}")),
        "{listing}"
    );
    assert!(
        listing.contains("topic \"kc-topic\" with 1 partitions"),
        "{listing}"
    );
    let consumed = run(
        kcat_command(&[
            "-C",
            "-t",
            "kc-topic",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s@%o\\n",
        ]),
        None,
    )
    .await;
    assert_eq!(consumed, "k1=v1@0\nk2=v2@1\nk3=v3@2\n");
    // A consumer group through kcat's balanced consumer (-G), from the start.
    let grouped = run(
        kcat_command(&[
            "-G",
            "kc-group",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%s\\n",
            "kc-topic",
        ]),
        None,
    )
    .await;
    assert_eq!(grouped, "v1\nv2\nv3\n");
    broker.stop().await;
}
