//! `notes`: runs the notes service in the foreground. Config: an optional TOML file as
//! the only argument, then `TERN_*` environment variables and `PORT` (see
//! `tern_chassis::load_config`).

use std::process::ExitCode;

use notes::{Config, Error, Service, SERVICE_NAME};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", tern_chassis::error_report(&error));
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let file = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let config: Config = tern_chassis::load_config(file.as_deref())?;
    tern_chassis::runtime(&config.chassis)
        .map_err(Error::Runtime)?
        .block_on(serve(config))
}

async fn serve(config: Config) -> Result<(), Error> {
    let name = config
        .chassis
        .service_name
        .clone()
        .unwrap_or_else(|| SERVICE_NAME.to_owned());
    tern_chassis::init_logging(&config.chassis.log, &name)?;
    Service::build(&config).await?.run().await
}
