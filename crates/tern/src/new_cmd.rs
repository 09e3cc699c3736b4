//! `tern new NAME [--lang rust|python]`: a service from a template, in `services/NAME`
//! beside tern.toml, declared in tern.toml (tern-scaffold does the work).

use anyhow::Result;
use clap::{Args, ValueEnum};
use tern_platform::Located;
use tern_scaffold::Lang;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service's name: lowercase letters, digits and dashes (`orders`, `order-items`).
    name: String,
    /// The template: a Rust crate on the chassis (gRPC + REST from one contract, its own
    /// database), or a Python FastAPI service.
    #[arg(long, value_enum, default_value_t = LangArg::Rust)]
    lang: LangArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LangArg {
    Rust,
    Python,
}

pub fn run(args: NewArgs, located: &Located) -> Result<()> {
    let file = located.require_file()?;
    let lang = match args.lang {
        LangArg::Rust => Lang::Rust,
        LangArg::Python => Lang::Python,
    };
    let created = tern_scaffold::create(file, &args.name, lang)?;
    println!(
        "created {} ({} files) and [services.{}] in {}",
        created.dir.display(),
        created.files.len(),
        args.name,
        file.display()
    );
    if let Some(manifest) = &created.member_added {
        println!(
            "added it to the workspace members in {}",
            manifest.display()
        );
    }
    if let Some(why) = &created.unformatted {
        println!("note: rustfmt did not format the new files ({why}); `cargo fmt` will");
    }
    match lang {
        Lang::Rust => println!(
            "next: `tern up` (it builds the service first); `cargo test -p {}` runs its tests",
            args.name
        ),
        Lang::Python => println!(
            "next: `tern up` (it makes the service's venv first); its tests: `.venv/bin/python -m pytest` in {}",
            created.dir.display()
        ),
    }
    Ok(())
}
