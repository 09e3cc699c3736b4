//! `tern kv get|put|delete|ls`: the registry's KV store from the command line, through
//! `tern-consul-client` (so it works against `tern registry` and a real Consul alike).
//! Services' live config keys live under `config/SERVICE/`.

use std::io::{IsTerminal, Read, Write};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tern_consul_client::Consul;

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Print a key's value as stored (exit 1 if there is no such key).
    Get {
        key: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Set a key: VALUE as given, `-` for standard input, `@PATH` for a file's contents.
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Delete a key (a missing key is not an error).
    Delete {
        key: String,
        /// Delete every key that starts with KEY.
        #[arg(long)]
        recurse: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List the keys under PREFIX (default: all), one per line.
    Ls {
        #[arg(default_value = "")]
        prefix: String,
        /// Print `KEY:VALUE` instead of the key alone (as `consul kv get -recurse`).
        #[arg(long)]
        values: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry's HTTP API, HOST:PORT (Consul-compatible).
    #[arg(long, env = "TERN_REGISTRY", default_value = "127.0.0.1:8500")]
    registry: String,
    /// The registry's ACL token, if it enforces one.
    #[arg(long, env = "TERN_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
}

impl RegistryArgs {
    fn consul(&self) -> Result<Consul> {
        Ok(Consul::new(&self.registry)?.with_token(self.registry_token.as_deref()))
    }
}

pub async fn run(command: KvCommand) -> Result<()> {
    match command {
        KvCommand::Get { key, registry } => {
            let Some(entry) = registry.consul()?.kv_get(&key).await? else {
                bail!("key {key} not found");
            };
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&entry.value)?;
            // On a terminal, end the line; piped, the bytes stay exactly as stored.
            if stdout.is_terminal() && !entry.value.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
            stdout.flush()?;
        }
        KvCommand::Put {
            key,
            value,
            registry,
        } => {
            let value = read_value(&value)?;
            registry.consul()?.kv_put(&key, &value).await?;
        }
        KvCommand::Delete {
            key,
            recurse,
            registry,
        } => registry.consul()?.kv_delete(&key, recurse).await?,
        KvCommand::Ls {
            prefix,
            values,
            registry,
        } => {
            let entries = registry.consul()?.kv_list(&prefix, None).await?.value;
            let mut stdout = std::io::stdout().lock();
            for entry in entries {
                if values {
                    writeln!(
                        stdout,
                        "{}:{}",
                        entry.key,
                        String::from_utf8_lossy(&entry.value)
                    )?;
                } else {
                    writeln!(stdout, "{}", entry.key)?;
                }
            }
            stdout.flush()?;
        }
    }
    Ok(())
}

/// `-`: standard input; `@PATH`: the file; anything else: the argument itself.
fn read_value(value: &str) -> Result<Vec<u8>> {
    if value == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the value from standard input")?;
        return Ok(bytes);
    }
    if let Some(path) = value.strip_prefix('@') {
        return std::fs::read(path).with_context(|| format!("cannot read the value from {path}"));
    }
    Ok(value.as_bytes().to_vec())
}
