//! Tests of the `tern` command line, running the built binary: one test binary (STYLE.md
//! §9), one module per command family, shared helpers in `support`.

mod discovery;
mod import;
mod init;
mod kv;
mod logs;
mod new;
mod registry;
mod service;
mod support;
mod top;
mod traces;
mod up;
