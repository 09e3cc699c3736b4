//! `tern service search`: runs a built-in service in the foreground, in this process. This
//! is what `tern up` starts for each replica of a built-in service; it also runs alone.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use search_service::{SearchService, SERVICE_NAME};

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The built-in service to run.
    #[arg(value_enum)]
    builtin: BuiltinName,
    /// Config file for the search service (TOML; keys documented in docs/search.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address for the search service (default 127.0.0.1:0, an OS-assigned port).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BuiltinName {
    /// The geo search service (search-service).
    Search,
}

/// `data_dir`: the one given with `--data-dir`/`TERN_DATA_DIR`, over the config file's.
pub fn run(args: ServiceArgs, data_dir: Option<PathBuf>) -> Result<()> {
    let BuiltinName::Search = args.builtin;
    let mut config: search_service::Config = tern_chassis::load_config(args.config.as_deref())?;
    if let Some(dir) = data_dir {
        config.service.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.chassis.listen = listen;
    }
    tern_chassis::runtime(&config.chassis)
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: search_service::Config) -> Result<()> {
    let name = config
        .chassis
        .service_name
        .clone()
        .unwrap_or_else(|| SERVICE_NAME.to_owned());
    tern_chassis::init_logging(&config.chassis.log, &name)?;
    let service = SearchService::build(&config)
        .await
        .context("starting the search service")?;
    let handle = service.handle();
    let features = service.dataset().len();
    tokio::spawn(async move {
        if let Some(address) = handle.listening().await {
            let name = handle.name();
            println!("{name} serving {features} features on {address} (Ctrl-C stops)");
        }
    });
    service.run().await?;
    println!("{name} stopped");
    Ok(())
}
