//! `{{name}}`: runs the {{name}} service in the foreground. Config: an optional TOML file as
//! the only argument, then `TERN_*` environment variables and `PORT` (see
//! `tern_chassis::load_config`).

use anyhow::{Context, Result};
use {{crate}}::{Config, Service, SERVICE_NAME};

fn main() -> Result<()> {
    let file = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let config: Config = tern_chassis::load_config(file.as_deref())?;
    tern_chassis::runtime(&config.chassis)
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> Result<()> {
    let name = config
        .chassis
        .service_name
        .clone()
        .unwrap_or_else(|| SERVICE_NAME.to_owned());
    tern_chassis::init_logging(&config.chassis.log, &name)?;
    let service = Service::build(&config)
        .await
        .context("starting the {{name}} service")?;
    service.run().await.context("serving")?;
    Ok(())
}
