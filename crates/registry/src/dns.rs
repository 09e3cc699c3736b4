//! The registry as the DNS interface's catalog.

use std::net::IpAddr;

use tern_registry_dns::{Instance as DnsInstance, ServiceCatalog};

use crate::{CheckStatus, HealthFilter, RegistryHandle};

/// Answers DNS lookups from the live registry state.
pub(crate) struct DnsCatalog {
    pub(crate) registry: RegistryHandle,
    /// Consul DNS returns passing and warning instances (`dns_config.only_passing =
    /// false`); critical and maintenance ones never.
    pub(crate) filter: HealthFilter,
}

impl ServiceCatalog for DnsCatalog {
    fn passing_instances(&self, service: &str, tag: Option<&str>) -> Vec<DnsInstance> {
        self.registry
            .instances(service, tag, self.filter)
            .into_iter()
            .filter_map(|i| {
                // Registration accepts host names as addresses; DNS can only answer IPs.
                let node_address = i.node_address.parse().ok()?;
                let address = match i.service_address.as_str() {
                    "" => None,
                    own => Some(own.parse::<IpAddr>().ok()?),
                };
                // Consul's SRV weight: the passing weight, or the warning one while warning.
                let weight = match i.status {
                    CheckStatus::Warning => i.weights.warning,
                    CheckStatus::Passing | CheckStatus::Critical => i.weights.passing,
                };
                Some(DnsInstance {
                    node: i.node,
                    node_address,
                    address,
                    port: i.port,
                    weight,
                })
            })
            .collect()
    }

    fn node_address(&self, node: &str) -> Option<IpAddr> {
        self.registry.node(node)?.address.parse().ok()
    }
}
