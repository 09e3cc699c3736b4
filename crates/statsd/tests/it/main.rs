//! The receiver on a real UDP socket: raw datagrams in every dialect, and the Python
//! `statsd` client (PyPI `statsd`, pinned in `tests/compat/requirements.txt`).

mod compat;
mod support;
mod udp;
