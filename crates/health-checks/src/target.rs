//! Targets without a host. Consul dials a check's target with Go's `net.Dial`, which takes
//! an empty host (`:8080`, `http://:8080/health`) or an unspecified literal (`0.0.0.0:8080`,
//! `[::]:8080`) to mean the local system; py-consul's `Check.tcp("", port, ..)` registers
//! exactly such a target. [`CheckSpec::with_local_host`] names the host explicitly instead
//! (the registry passes its node's address), so a check means the same on every platform.
//! Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::CheckSpec;

impl CheckSpec {
    /// The spec with an empty or unspecified host in its target replaced by `host`:
    /// TCP `:PORT`, HTTP `http://:PORT/path` (also after `user@`), gRPC `:PORT[/service]`.
    /// Any other target is returned unchanged.
    pub fn with_local_host(self, host: IpAddr) -> CheckSpec {
        let host = match host {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        match self {
            CheckSpec::Tcp { address } => CheckSpec::Tcp {
                address: local_host_port(&address, &host).unwrap_or(address),
            },
            CheckSpec::Grpc { target, use_tls } => {
                let (address, service) = match target.split_once('/') {
                    Some((address, service)) => (address, Some(service)),
                    None => (target.as_str(), None),
                };
                let target = match (local_host_port(address, &host), service) {
                    (Some(address), Some(service)) => format!("{address}/{service}"),
                    (Some(address), None) => address,
                    (None, _) => target,
                };
                CheckSpec::Grpc { target, use_tls }
            }
            CheckSpec::Http {
                url,
                method,
                headers,
                body,
                tls_skip_verify,
            } => CheckSpec::Http {
                url: local_url(&url, &host).unwrap_or(url),
                method,
                headers,
                body,
                tls_skip_verify,
            },
        }
    }
}

/// `HOST:PORT` with `host` in place of an empty or unspecified `HOST`; `None` otherwise.
fn local_host_port(host_port: &str, host: &str) -> Option<String> {
    let (unspecified, port) = match host_port.strip_prefix('[') {
        Some(rest) => {
            let (literal, after) = rest.split_once(']')?;
            let unspecified = literal.is_empty()
                || literal
                    .parse::<Ipv6Addr>()
                    .is_ok_and(|ip| ip.is_unspecified());
            (unspecified, after.strip_prefix(':')?)
        }
        None => {
            let (name, port) = host_port.rsplit_once(':')?;
            let unspecified =
                name.is_empty() || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_unspecified());
            (unspecified, port)
        }
    };
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    (unspecified && is_port).then(|| format!("{host}:{port}"))
}

/// An absolute URL with `host` in place of an empty or unspecified host; `None` otherwise.
fn local_url(url: &str, host: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host_port)) => (Some(user), host_port),
        None => (None, authority),
    };
    let host_port = local_host_port(host_port, host)?;
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    Some(format!("{scheme}://{user}{host_port}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn tcp(address: &str) -> String {
        let spec = CheckSpec::Tcp {
            address: address.into(),
        };
        match spec.with_local_host(NODE) {
            CheckSpec::Tcp { address } => address,
            other => panic!("{other:?}"),
        }
    }

    fn grpc(target: &str) -> String {
        let spec = CheckSpec::Grpc {
            target: target.into(),
            use_tls: true,
        };
        match spec.with_local_host(NODE) {
            CheckSpec::Grpc { target, use_tls } => {
                assert!(use_tls);
                target
            }
            other => panic!("{other:?}"),
        }
    }

    fn http(url: &str) -> String {
        match CheckSpec::http_get(url).with_local_host(NODE) {
            CheckSpec::Http { url, .. } => url,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tcp_targets_without_a_host_dial_the_node() {
        assert_eq!(tcp(":54878"), "127.0.0.1:54878");
        assert_eq!(tcp("0.0.0.0:80"), "127.0.0.1:80");
        assert_eq!(tcp("[::]:80"), "127.0.0.1:80");
        assert_eq!(tcp("[0:0::0]:80"), "127.0.0.1:80");
        for unchanged in [
            "10.0.0.1:80",
            "localhost:80",
            "[::1]:80",
            ":",
            ":http",
            "80",
            "[::]",
            "[::]80",
        ] {
            assert_eq!(tcp(unchanged), unchanged);
        }
    }

    #[test]
    fn ipv6_node_addresses_are_bracketed() {
        let spec = CheckSpec::Tcp {
            address: ":8080".into(),
        };
        let node = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            spec.with_local_host(node),
            CheckSpec::Tcp {
                address: "[::1]:8080".into()
            }
        );
    }

    #[test]
    fn grpc_targets_keep_their_service() {
        assert_eq!(grpc(":5000"), "127.0.0.1:5000");
        assert_eq!(grpc(":5000/my.pkg.Svc"), "127.0.0.1:5000/my.pkg.Svc");
        assert_eq!(grpc("0.0.0.0:5000/a/b"), "127.0.0.1:5000/a/b");
        assert_eq!(grpc("h:5000/svc"), "h:5000/svc");
        assert_eq!(grpc("/svc"), "/svc");
    }

    #[test]
    fn http_urls_without_a_host_get_the_node() {
        assert_eq!(http("http://:8080/health"), "http://127.0.0.1:8080/health");
        assert_eq!(http("http://:8080"), "http://127.0.0.1:8080");
        assert_eq!(http("http://:8080?x=1"), "http://127.0.0.1:8080?x=1");
        assert_eq!(http("http://u:p@:8080/"), "http://u:p@127.0.0.1:8080/");
        assert_eq!(http("http://0.0.0.0:80/a"), "http://127.0.0.1:80/a");
        assert_eq!(http("https://[::]:443/"), "https://127.0.0.1:443/");
        for unchanged in [
            "http://example.com:80/a",
            "http://example.com/a",
            "http:///health",
            "http://[::1]:80/",
            "not a url",
        ] {
            assert_eq!(http(unchanged), unchanged);
        }
    }
}
