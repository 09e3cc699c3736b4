//! The control API's Unix socket, `DATA_DIR/supervisor/control.sock`, reachable by the
//! user who runs `tern up` only (as Docker's socket is by root and its group): the socket
//! is `0600` and its directory `0700`, and the directory is made private before the
//! socket exists, so there is no moment when another user could connect. Whoever can
//! reach the socket can scale, stop or roll back every service, so reaching it is the
//! whole of the control API's authentication.

use std::{
    fs::{DirBuilder, Permissions},
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
    path::Path,
};

use super::ControlAddress;
use crate::Error;

/// Longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Binds the control socket of the platform in `data_dir` (called within a tokio
/// runtime). A socket file nothing listens on (left by a killed supervisor) is replaced;
/// one a live supervisor answers on is an error.
pub fn bind_control(data_dir: &Path) -> Result<tokio::net::UnixListener, Error> {
    let socket = ControlAddress::socket_path(data_dir);
    let length = socket.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(Error::Control(format!(
            "the control socket {} would be {length} bytes long, more than the \
             {MAX_SOCKET_PATH} a Unix socket path may have: use a shorter data dir \
             ([supervisor] data_dir or TERN_DATA_DIR)",
            socket.display()
        )));
    }
    let io = |what: &str| {
        let what = format!("{what} {}", socket.display());
        move |source| Error::Io { what, source }
    };
    if let Some(dir) = socket.parent() {
        owner_only_dir(dir)?;
    }
    remove_if_stale(&socket)?;
    let listener = tokio::net::UnixListener::bind(&socket).map_err(io("listening on"))?;
    // Created as 0777 minus the umask; the directory already keeps others out.
    std::fs::set_permissions(&socket, Permissions::from_mode(0o600)).map_err(io("restricting"))?;
    Ok(listener)
}

/// Creates `dir` (and its parents) or takes the existing one, owned by this user and
/// entered by no one else (`0700`).
fn owner_only_dir(dir: &Path) -> Result<(), Error> {
    let io = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |source| Error::Io { what, source }
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the parent of"))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating")(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io("reading"))?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me {
        return Err(Error::Control(format!(
            "{} must be a directory owned by uid {me} (who runs `tern up`), as it holds the \
             control socket; it is {} owned by uid {}",
            dir.display(),
            if meta.is_dir() {
                "a directory"
            } else {
                "not a directory"
            },
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io("restricting"))?;
    }
    Ok(())
}

/// Removes `socket` when it is a socket file nothing listens on.
fn remove_if_stale(socket: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::symlink_metadata(socket) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(Error::Control(format!(
            "{} exists and is not a socket: remove it, then start again",
            socket.display()
        )));
    }
    match std::os::unix::net::UnixStream::connect(socket) {
        Ok(_) => Err(Error::Control(format!(
            "a supervisor already listens on {}; `tern down` stops it",
            socket.display()
        ))),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            std::fs::remove_file(socket).map_err(|source| Error::Io {
                what: format!("removing the stale socket {}", socket.display()),
                source,
            })
        }
        Err(source) => Err(Error::Io {
            what: format!("checking the socket {}", socket.display()),
            source,
        }),
    }
}
