//! The control API's Unix socket: `0600` in a `0700` directory, so its owner's client
//! works and another user is refused; a socket left by a killed supervisor does not stop
//! the next one, a live one does.

use std::{
    os::unix::{
        fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
        process::CommandExt as _,
    },
    path::Path,
};

use tern_supervisor::{bind_control, Client, ControlAddress};

/// `nobody` on Debian and most distributions.
const OTHER_USER: u32 = 65534;

/// Connects to `socket` as [`OTHER_USER`] from a child process (the tests run as root,
/// which permissions do not stop): `Err` with the child's error when refused.
fn other_user_connects(socket: &Path) -> Result<(), String> {
    let output = std::process::Command::new("/usr/bin/python3")
        // -I: no user site directory (root's home is not readable by the other user).
        .args([
            "-I",
            "-c",
            "import socket, sys\nsocket.socket(socket.AF_UNIX).connect(sys.argv[1])",
        ])
        .arg(socket)
        .uid(OTHER_USER)
        .gid(OTHER_USER)
        .output()
        .expect("python3 runs as another user");
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr.lines().last().unwrap_or_default().to_owned())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn only_the_owner_reaches_the_control_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Open the way to the data dir, so what refuses the other user is the supervisor's
    // own permissions, not the temporary directory's.
    set_mode(dir.path(), 0o755);
    let supervisor = super::start(dir.path(), "").await;
    let data_dir = dir.path().join(".tern");
    set_mode(&data_dir, 0o755);

    let listener = bind_control(&data_dir).expect("bind");
    let socket = ControlAddress::socket_path(&data_dir);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn({
        let supervisor = supervisor.clone();
        async move {
            supervisor
                .serve_control(listener, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let supervisor_dir = socket.parent().expect("a directory");
    assert!(std::fs::metadata(&socket)
        .expect("the socket exists")
        .file_type()
        .is_socket());
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(supervisor_dir), 0o700);

    let ps = Client::new(&socket).ps().await.expect("the owner's client");
    assert!(ps.services.is_empty(), "{ps:?}");
    let refused = other_user_connects(&socket).expect_err("the directory keeps others out");
    assert!(refused.contains("Permission denied"), "{refused}");

    // Each layer alone refuses: with the directory opened, the socket's 0600 still does.
    set_mode(supervisor_dir, 0o755);
    let refused = other_user_connects(&socket).expect_err("the socket keeps others out");
    assert!(refused.contains("Permission denied"), "{refused}");
    // And the probe itself works: opened to everyone, the other user gets in.
    set_mode(&socket, 0o666);
    other_user_connects(&socket).expect("an open socket lets anyone in");

    let _ = stop.send(());
    serving.await.expect("no panic").expect("served");
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let socket = ControlAddress::socket_path(&data_dir);
    // What a killed supervisor leaves: the socket file, nothing listening, and a
    // directory made before the socket was private.
    let supervisor_dir = socket.parent().expect("a directory");
    std::fs::create_dir_all(supervisor_dir).expect("mkdir");
    set_mode(supervisor_dir, 0o755);
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());

    let live = bind_control(&data_dir).expect("the stale socket is replaced");
    assert_eq!(mode(supervisor_dir), 0o700);
    assert_eq!(mode(&socket), 0o600);
    let error = bind_control(&data_dir).expect_err("a supervisor listens");
    assert!(error.to_string().contains("already listens"), "{error}");
    drop(live);

    let deep = dir.path().join("d".repeat(120));
    let error = bind_control(&deep).expect_err("too long for a socket path");
    assert!(
        error.to_string().contains("use a shorter data dir"),
        "{error}"
    );
}
