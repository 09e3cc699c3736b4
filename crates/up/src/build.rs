//! The `build` commands of tern.toml's services, run one after another before anything
//! starts (`cargo build -p users`, `pip install -r requirements.txt`), their output on the
//! terminal, so `tern up` on a fresh checkout runs what the file declares.

use tern_platform::Platform;

use crate::Error;

/// Runs every service's `build`, in file order, in the service's `workdir`. The first that
/// fails stops `tern up` before anything has started.
pub async fn build(platform: &Platform) -> Result<(), Error> {
    for service in &platform.services {
        let Some(argv) = service.build.as_deref() else {
            continue;
        };
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let command = argv.join(" ");
        tracing::info!(service = %service.name, %command, "building");
        let status = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&service.workdir)
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .map_err(|source| Error::Io {
                what: format!(
                    "cannot run the build of service {}: {program}",
                    service.name
                ),
                source,
            })?;
        if !status.success() {
            return Err(Error::Build {
                service: service.name.clone(),
                command,
                status: status.to_string(),
            });
        }
    }
    Ok(())
}
