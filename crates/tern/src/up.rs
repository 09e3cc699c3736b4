//! `tern up`, `tern init` and `tern config`: the arguments, and the calls into tern-up
//! (which runs the platform) and tern-platform (which reads the file).

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use clap::Args;
use tern_platform::Located;

use crate::ctl;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Environment: applies `tern.ENV.toml` over the file and reads config from
    /// `config/ENV/SERVICE/`.
    #[arg(long)]
    env: Option<String>,
    /// Run in the background; return once every replica is healthy (or fail, naming
    /// the replica that is not, with its last log lines).
    #[arg(long, short = 'd')]
    detach: bool,
    /// With --detach: how long to wait for every replica to be healthy.
    #[arg(long, default_value = "60s", value_parser = tern_duration::parse)]
    timeout: Duration,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of tern.toml (for editors and CI checks).
    Schema,
    /// Check a platform file (and an environment's overlay) without starting anything.
    Check {
        #[arg(long)]
        env: Option<String>,
    },
}

pub fn config(command: ConfigCommand, located: &Located) -> Result<()> {
    match command {
        ConfigCommand::Schema => {
            use std::io::Write as _;
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = writeln!(std::io::stdout(), "{}", tern_platform::json_schema());
        }
        ConfigCommand::Check { env } => {
            let file = located.require_file()?;
            let platform = tern_platform::load(file, env.as_deref())?;
            for service in &platform.services {
                println!(
                    "{}: {} replica(s), registered as {}, revision {}",
                    service.name,
                    service.replicas,
                    service.register_as,
                    service.revision_hash()
                );
            }
            println!("{} is valid", file.display());
        }
    }
    Ok(())
}

/// `tern init`: the default stack, commented, as `tern.toml` in the current directory (or
/// the `--file` path); never over an existing file.
pub fn init(file: Option<PathBuf>) -> Result<()> {
    let path = file.unwrap_or_else(|| PathBuf::from(tern_platform::FILE_NAME));
    use std::io::Write as _;
    let mut out = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists; not overwriting it", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    out.write_all(tern_platform::DEFAULT_FILE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {}: the default stack (registry, broker, telemetry, search); `tern up` runs it",
        path.display()
    );
    Ok(())
}

pub fn run(args: UpArgs, located: &Located) -> Result<()> {
    let file = located.require_file()?.to_path_buf();
    // A located error ("tern.toml:12:5: ...") and nothing started on an invalid file.
    let mut platform = tern_platform::load(&file, args.env.as_deref())?;
    // `--data-dir`/`TERN_DATA_DIR` moves it for every command alike.
    platform.supervisor.data_dir = located.data_dir.clone();
    let data_dir = platform.supervisor.data_dir.clone();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    if args.detach {
        // Built here, with the output on this terminal and before the wait for health
        // starts; the background `tern up` finds them built.
        runtime.block_on(tern_up::build(&platform))?;
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command.arg("up").arg("--file").arg(&file);
        command.arg("--data-dir").arg(&data_dir);
        if let Some(env) = &args.env {
            command.arg("--env").arg(env);
        }
        let detached = runtime.block_on(tern_up::detach(command, &data_dir, args.timeout))?;
        print!("{}", ctl::ps_table(&detached.ps));
        println!(
            "all replicas healthy in {:.2}s; supervisor pid {} (`tern down` stops it, `tern logs -f` follows)",
            detached.elapsed.as_secs_f64(),
            detached.pid
        );
        return Ok(());
    }
    runtime.block_on(async {
        init_logging();
        let shutdown = tern_chassis::shutdown_signal()?;
        tern_up::run(file, platform, std::env::current_exe()?, shutdown).await?;
        Ok(())
    })
}

/// The supervisor's own events, one readable line each on stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tern_registry=warn,tern_registry_dns=warn,tern_journal=warn,tern_health_checks=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}
