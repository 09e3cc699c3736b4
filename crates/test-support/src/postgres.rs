//! Throwaway PostgreSQL + PostGIS clusters for tests (cargo feature `postgres`).
//!
//! ```no_run
//! # async fn t() {
//! use search_store::{Store, StoreUrl};
//! use tern_test_support::postgres::TempPostgis;
//! let Some(pg) = TempPostgis::start_or_skip() else { return };
//! let store = Store::open(&StoreUrl::Postgres(pg.url())).await.unwrap();
//! # }
//! ```
//!
//! Each [`TempPostgis`] is its own cluster (`initdb` in a temporary directory, listening on
//! 127.0.0.1 only, trust authentication, no fsync) with a database `tern` that has PostGIS. It
//! is stopped and deleted on drop, also when the test panics. A test process killed outright
//! leaves it running; the directory name (`tern-pg-*` in the temp dir) tells what it was.
//!
//! Starting is blocking (initdb takes a second or two); calling it at the top of a
//! `#[tokio::test]` is fine.
//!
//! Binaries come from `$TERN_PG_BIN`, else `/usr/lib/postgresql/15/bin` (Debian's
//! `postgresql-15` + `postgresql-15-postgis-3`). As root, the server runs as the `postgres` OS
//! user (`runuser`), since PostgreSQL refuses to run as root.

use std::hash::{BuildHasher, RandomState};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use std::{env, fmt, fs};

const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";
const DATABASE: &str = "tern";
const START_ATTEMPTS: usize = 8;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const INSTALL_HINT: &str = "apt-get install -y postgresql-15 postgresql-15-postgis-3";

/// Why a cluster could not be had.
#[derive(Debug)]
pub enum TempPostgisError {
    /// PostgreSQL or PostGIS is not installed: tests may skip (unless CI is set).
    NotInstalled(String),
    /// Installed, but something went wrong: always a test failure.
    Failed(String),
}

impl fmt::Display for TempPostgisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TempPostgisError::NotInstalled(why) => {
                write!(
                    f,
                    "PostgreSQL/PostGIS not installed: {why} ({INSTALL_HINT})"
                )
            }
            TempPostgisError::Failed(why) => write!(f, "throwaway PostgreSQL failed: {why}"),
        }
    }
}

impl std::error::Error for TempPostgisError {}

/// A running throwaway cluster; stopped and deleted on drop.
pub struct TempPostgis {
    // Dropped after `Drop::drop` has stopped the server.
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<&'static str>,
    port: u16,
}

impl fmt::Debug for TempPostgis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempPostgis")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish()
    }
}

impl TempPostgis {
    /// The usual entry point for tests: a running cluster, or `None` after printing why when
    /// PostgreSQL/PostGIS is not installed and the `CI` environment variable is unset.
    ///
    /// # Panics
    /// When it is not installed and `CI` is set (CI must not silently skip), or when the
    /// cluster fails to start.
    pub fn start_or_skip() -> Option<TempPostgis> {
        match TempPostgis::start() {
            Ok(pg) => Some(pg),
            Err(TempPostgisError::NotInstalled(why)) if env::var_os("CI").is_none() => {
                let test = std::thread::current().name().unwrap_or("test").to_owned();
                eprintln!(
                    "skipping {test}: PostgreSQL/PostGIS not installed: {why} \
                     ({INSTALL_HINT}; with CI set this is a failure)"
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates and starts a cluster with a PostGIS database [`Self::url`].
    pub fn start() -> Result<TempPostgis, TempPostgisError> {
        let bin =
            env::var_os("TERN_PG_BIN").map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
        for tool in ["initdb", "pg_ctl", "postgres", "pg_isready", "psql"] {
            if !bin.join(tool).is_file() {
                return Err(TempPostgisError::NotInstalled(format!(
                    "{} not found",
                    bin.join(tool).display()
                )));
            }
        }
        let run_as = is_root().then_some("postgres");
        let dir = tempfile::Builder::new()
            .prefix("tern-pg-")
            .tempdir()
            .map_err(|e| failed(format!("cannot create a temporary directory: {e}")))?;
        if let Some(user) = run_as {
            run(Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path()))?;
        }
        let mut pg = TempPostgis {
            dir,
            bin,
            run_as,
            port: 0,
        };
        pg.server_command("initdb")
            .arg("-D")
            .arg(pg.data_dir())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .map_err(|e| failed(format!("cannot run initdb: {e}")))
            .and_then(check("initdb"))?;
        pg.start_server()?;
        pg.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        match pg.psql(DATABASE, "CREATE EXTENSION postgis") {
            Err(TempPostgisError::Failed(why)) if why.contains("extension control file") => {
                Err(TempPostgisError::NotInstalled(why))
            }
            other => other.map(drop),
        }?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/tern`: a database with PostGIS, owned by the
    /// superuser `postgres`, no password.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates another database with PostGIS (for tests that need a clean one); returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, TempPostgisError> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        self.psql(name, "CREATE EXTENSION postgis")?;
        Ok(self.url_for(name))
    }

    /// Runs SQL with `psql` (stops at the first error); returns its output, rows only, columns
    /// separated by `|`.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, TempPostgisError> {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-d", database, "-c", sql])
            .output()
            .map_err(|e| failed(format!("cannot run psql: {e}")))?;
        check("psql")(output).map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts the server on a random port, retrying on another one while the port is taken,
    /// then polls until it accepts connections.
    fn start_server(&mut self) -> Result<(), TempPostgisError> {
        let log = self.dir.path().join("server.log");
        for attempt in 0..START_ATTEMPTS {
            self.port = candidate_port(attempt);
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k '{}' -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off",
                self.port,
                self.dir.path().display()
            );
            // `-w` makes pg_ctl itself poll the server until it is up (or has exited).
            let output = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output()
                .map_err(|e| failed(format!("cannot run pg_ctl: {e}")))?;
            if output.status.success() {
                return self.wait_ready();
            }
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            if !server_log.contains("Address already in use") {
                self.port = 0; // the server is not running
                return Err(failed(format!(
                    "pg_ctl start failed: {}\nserver log:\n{server_log}",
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            // Port taken by someone else: the server has exited; try another one.
            let _ = fs::remove_file(&log);
        }
        self.port = 0; // nothing to stop
        Err(failed(format!(
            "no free port after {START_ATTEMPTS} attempts"
        )))
    }

    fn wait_ready(&self) -> Result<(), TempPostgisError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-t", "1", "-p"])
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "server on port {} not ready after {READY_TIMEOUT:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server-side tool, run as the `postgres` user when we are root.
    fn server_command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

impl Drop for TempPostgis {
    fn drop(&mut self) {
        if self.port == 0 {
            return; // never started
        }
        let stopped = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        if let Err(e) = stopped
            .map_err(|e| e.to_string())
            .and_then(|o| check("pg_ctl stop")(o).map(drop).map_err(|e| e.to_string()))
        {
            eprintln!("throwaway PostgreSQL in {}: {e}", self.dir.path().display());
        }
    }
}

fn is_root() -> bool {
    // /proc/self belongs to the effective user; avoids a libc dependency for geteuid().
    fs::metadata(Path::new("/proc/self")).is_ok_and(|m| m.uid() == 0)
}

/// A port in 20000..60000, different per process and attempt.
fn candidate_port(attempt: usize) -> u16 {
    let random = RandomState::new().hash_one((std::process::id(), attempt));
    20_000 + (random % 40_000) as u16
}

fn failed(why: String) -> TempPostgisError {
    TempPostgisError::Failed(why)
}

fn run(command: &mut Command) -> Result<Output, TempPostgisError> {
    let output = command
        .output()
        .map_err(|e| failed(format!("cannot run {command:?}: {e}")))?;
    check("command")(output)
}

fn check(what: &'static str) -> impl Fn(Output) -> Result<Output, TempPostgisError> {
    move |output| {
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(format!(
                "{what} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }
}
