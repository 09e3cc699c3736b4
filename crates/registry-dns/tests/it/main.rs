//! Integration tests of tern-registry-dns, one binary (see STYLE.md §9).

mod answers;
mod compat;
mod sockets;
mod support;
