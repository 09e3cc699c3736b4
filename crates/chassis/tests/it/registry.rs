//! Registration with an in-process `tern-registry` (HTTP API + check runners on real
//! sockets): registered once bound with a passing gRPC check, deregistered before the
//! shutdown hooks run, and registered late when the registry comes up after the service.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tern_chassis::ChassisConfig;
use tern_registry::{HealthFilter, RegistryConfig, RegistryHandle};
use tokio::net::TcpListener;

use crate::support::*;

pub use tern_test_support::registry::RunningRegistry;

/// The instances a registry holds, by ID.
trait Ids {
    /// IDs of the registered instances of `service`, passing or not.
    fn ids(&self, service: &str) -> Vec<String>;
    fn passing_ids(&self, service: &str) -> Vec<String>;
}

impl Ids for RunningRegistry {
    fn ids(&self, service: &str) -> Vec<String> {
        ids(&self.handle, service, HealthFilter::Any)
    }

    fn passing_ids(&self, service: &str) -> Vec<String> {
        ids(&self.handle, service, HealthFilter::Passing)
    }
}

fn ids(handle: &RegistryHandle, service: &str, filter: HealthFilter) -> Vec<String> {
    handle
        .instances(service, None, filter)
        .into_iter()
        .map(|i| i.service_id)
        .collect()
}

/// The chassis config of a service registering at `registry`, probed every 100ms.
pub fn registering(registry: SocketAddr) -> ChassisConfig {
    let mut config = config();
    config.registry = Some(registry.to_string());
    config.check_interval = Duration::from_millis(100);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_when_bound_and_deregisters_before_the_hooks() {
    let registry = RunningRegistry::start().await;
    let seen_by_hook = Arc::new(Mutex::new(None));
    let (seen, handle) = (seen_by_hook.clone(), registry.handle.clone());
    let builder = TestSearch::default()
        .builder()
        .on_shutdown(move || async move {
            *seen.lock().unwrap() = Some(ids(&handle, "search-service", HealthFilter::Any));
        });
    let running = start_with(builder, &registering(registry.http)).await;
    let id = format!("search-service-{}", running.addr.port());

    eventually("the instance passes its gRPC check", || async {
        registry.passing_ids("search-service") == [id.clone()]
    })
    .await;
    let instance = registry
        .handle
        .passing_instances("search-service", None)
        .remove(0);
    assert_eq!(instance.service_address, "127.0.0.1");
    assert_eq!(instance.port, running.addr.port());

    let agent = http_get(registry.http, "/v1/agent/checks", &[])
        .await
        .unwrap();
    let checks: serde_json::Value = serde_json::from_str(&agent.body).unwrap();
    let check = checks
        .as_object()
        .and_then(|c| c.values().find(|c| c["ServiceID"] == id.as_str()))
        .unwrap_or_else(|| panic!("a check for {id} in {checks}"));
    assert_eq!(check["Type"], "grpc", "{check}");
    assert_eq!(check["Status"], "passing", "{check}");

    running.stop().await;
    assert_eq!(
        *seen_by_hook.lock().unwrap(),
        Some(vec![]),
        "deregistered before the shutdown hooks ran"
    );
    assert!(registry.ids("search-service").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_comes_up_late_neither_blocks_nor_fails_startup() {
    // Bound but not accepting yet: connections wait in the backlog, requests go unanswered.
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap();
    let running = start_with(TestSearch::default().builder(), &registering(addr)).await;
    assert_eq!(running.grpc_health("").await, ServingStatus::Serving);

    let registry = RunningRegistry::start_on(http).await;
    let id = format!("search-service-{}", running.addr.port());
    eventually("the retried registration lands and passes", || async {
        registry.passing_ids("search-service") == [id.clone()]
    })
    .await;
    running.stop().await;
    assert!(registry.ids("search-service").is_empty());
}

#[tokio::test]
async fn an_invalid_registry_address_is_a_config_error() {
    let mut config = config();
    config.registry = Some("localhost".into());
    let err = TestSearch::default()
        .builder()
        .build(&config)
        .err()
        .expect("rejected");
    assert_eq!(
        err.to_string(),
        "config: registry: invalid registry address \"localhost\": expected HOST:PORT, e.g. \
         \"127.0.0.1:8500\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_and_discovers_with_the_registry_acl_token() {
    const TOKEN: &str = "s3cret-registry-token";
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry = RunningRegistry::start_with(
        http,
        RegistryConfig {
            acl_token: Some(TOKEN.to_owned()),
            ..RegistryConfig::default()
        },
    )
    .await;
    let mut config = registering(registry.http);
    config.registry_token = Some(tern_chassis::Secret::new(TOKEN));
    assert!(
        !format!("{config:?}").contains(TOKEN),
        "the token is redacted in the config's Debug output"
    );
    let running = start_with(TestSearch::default().builder(), &config).await;
    let id = format!("search-service-{}", running.addr.port());
    eventually(
        "the registration with the token lands and passes",
        || async { registry.passing_ids("search-service") == [id.clone()] },
    )
    .await;

    let without = tern_chassis::Discovery::new(&registry.http.to_string())
        .unwrap()
        .balanced("search-service")
        .await;
    assert!(
        without.is_err(),
        "a registry with ACLs refuses discovery without the token"
    );
    let with = tern_chassis::Discovery::new(&registry.http.to_string())
        .unwrap()
        .with_token(Some(TOKEN))
        .balanced("search-service")
        .await
        .expect("discovery with the token");
    assert_eq!(with.instances().len(), 1);

    running.stop().await;
    assert!(
        registry.ids("search-service").is_empty(),
        "deregistered with the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_registration_is_restored() {
    let registry = RunningRegistry::start().await;
    let mut config = registering(registry.http);
    config.registry_sync_interval = Duration::from_millis(100);
    let running = start_with(TestSearch::default().builder(), &config).await;
    let id = format!("search-service-{}", running.addr.port());
    eventually("the instance passes its gRPC check", || async {
        registry.passing_ids("search-service") == [id.clone()]
    })
    .await;

    // What a registry restarted without its data, or an operator, does to the entry.
    registry
        .handle
        .apply(tern_registry::Command::DeregisterService { id: id.clone() })
        .await
        .expect("deregister behind the service's back");
    assert!(registry.ids("search-service").is_empty());
    eventually("the service registers itself again and passes", || async {
        registry.passing_ids("search-service") == [id.clone()]
    })
    .await;

    running.stop().await;
    assert!(registry.ids("search-service").is_empty());
}
