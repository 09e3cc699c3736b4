//! The commands that talk to a running supervisor through its control API: `ps`,
//! `scale`, `apply`, `restart --rolling`, `rollout history`, `rollback`, `down`. The
//! API's address is in `DATA_DIR/supervisor/control.json`; the data directory is the one
//! every command locates the same way (`tern_platform::locate`).

use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tern_supervisor::{Client, PsView};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The service (its tern.toml table name or registered name).
    service: String,
    replicas: u32,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    service: String,
    /// One replica at a time: start a new one, wait until healthy, then drain and stop
    /// an old one (the only mode: a restart never drops traffic).
    #[arg(long, default_value_t = true)]
    rolling: bool,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Every recorded revision of a service.
    History { service: String },
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    service: String,
    /// The revision to return to (default: the one before the current).
    #[arg(long)]
    to: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// How long to wait for the supervisor to stop everything.
    #[arg(long, default_value = "60s", value_parser = tern_duration::parse)]
    timeout: Duration,
}

fn client(data_dir: &Path) -> Result<Client> {
    match tern_up::running(data_dir) {
        Some(control) => Ok(Client::new(control.socket)),
        None => bail!(
            "no supervisor runs for {} (start one with `tern up`)",
            data_dir.display()
        ),
    }
}

pub async fn ps(args: PsArgs, data_dir: &Path) -> Result<()> {
    let view = client(data_dir)?.ps().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", ps_table(&view));
    }
    Ok(())
}

/// `tern ps` as a table: one line per replica, then any rollout notes.
pub fn ps_table(view: &PsView) -> String {
    let mut rows = vec![[
        "SERVICE", "REPLICA", "REV", "PID", "ADDRESS", "STATE", "HEALTH", "RESTARTS", "UPTIME",
        "CONFIG",
    ]
    .map(str::to_owned)];
    let mut notes = Vec::new();
    for service in &view.services {
        if let Some(note) = &service.note {
            notes.push(format!("{}: {note}", service.name));
        }
        for replica in &service.replicas {
            let mut state = replica.phase.clone();
            if let Some(exit) = replica.last_exit.as_ref().filter(|_| replica.pid.is_none()) {
                state.push_str(&format!(" ({exit})"));
            }
            // A program that registered itself shows the ID it chose too.
            let id = match &replica.registered_id {
                Some(own) if *own != replica.id => format!("{} ({own})", replica.id),
                _ => replica.id.clone(),
            };
            rows.push([
                service.name.clone(),
                id,
                replica.revision.to_string(),
                replica.pid.map_or("-".into(), |p| p.to_string()),
                replica.address.clone().unwrap_or_else(|| "-".into()),
                state,
                replica.health.clone().unwrap_or_else(|| "-".into()),
                replica.restarts.to_string(),
                replica
                    .uptime_ms
                    .map_or("-".into(), |ms| human(Duration::from_millis(ms))),
                replica.config.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        if service.replicas.is_empty() {
            notes.push(format!(
                "{}: no replicas (desired {})",
                service.name, service.desired
            ));
        }
    }
    let mut out = crate::table::columns(&rows);
    for note in notes {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{:.1}s", duration.as_secs_f64()),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
    }
}

pub async fn scale(args: ScaleArgs, data_dir: &Path) -> Result<()> {
    client(data_dir)?
        .scale(&args.service, args.replicas)
        .await?;
    println!("{} scaled to {}", args.service, args.replicas);
    Ok(())
}

pub async fn restart(args: RestartArgs, data_dir: &Path) -> Result<()> {
    if !args.rolling {
        bail!("only rolling restarts are supported (--rolling)");
    }
    client(data_dir)?.restart(&args.service).await?;
    println!("{} restarted (rolling)", args.service);
    Ok(())
}

pub async fn apply(data_dir: &Path) -> Result<()> {
    let changes = client(data_dir)?.apply().await?;
    if changes.is_empty() {
        println!("nothing changed");
    }
    for change in changes {
        println!("{change}");
    }
    Ok(())
}

pub async fn rollout(command: RolloutCommand, data_dir: &Path) -> Result<()> {
    let RolloutCommand::History { service } = command;
    let revisions = client(data_dir)?.revisions(&service).await?;
    let now = tern_supervisor::unix_now();
    println!("REVISION  HASH              AGE      CAUSE / PROGRAM");
    for revision in revisions {
        let age = human(Duration::from_secs(now.saturating_sub(revision.created_at)));
        let marker = if revision.current { "*" } else { " " };
        println!(
            "{:>7}{marker}  {:16}  {age:7}  {} ({}, {} config key(s)){}",
            revision.number,
            revision.hash,
            revision.cause,
            revision.program,
            revision.config_keys,
            revision
                .failed
                .map(|why| format!(" FAILED: {why}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn rollback(args: RollbackArgs, data_dir: &Path) -> Result<()> {
    let revision = client(data_dir)?.rollback(&args.service, args.to).await?;
    println!("{} rolled back: now revision {revision}", args.service);
    Ok(())
}

/// Asks the supervisor to stop everything and waits until its process is gone.
pub async fn down(args: DownArgs, data_dir: &Path) -> Result<()> {
    let Some(control) = tern_up::running(data_dir) else {
        println!("no supervisor runs for {}", data_dir.display());
        return Ok(());
    };
    Client::new(control.socket)
        .shutdown()
        .await
        .context("asking the supervisor to stop")?;
    let deadline = tokio::time::Instant::now() + args.timeout;
    while tern_supervisor::process_alive(control.pid) {
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the supervisor (pid {}) still runs {:?} after being asked to stop",
                control.pid,
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("stopped");
    Ok(())
}
