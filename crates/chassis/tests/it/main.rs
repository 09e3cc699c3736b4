//! Integration tests: real listeners on 127.0.0.1:0, a tonic client and a raw HTTP/1.1
//! client against one port.

mod build;
mod health;
mod logs;
mod request_id;
mod serving;
mod shutdown;
mod support;
