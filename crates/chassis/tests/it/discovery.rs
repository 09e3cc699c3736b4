//! Discovery through an in-process registry: calls spread over the passing instances,
//! follow deregistrations, and survive an instance dying mid-load thanks to retries.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tern_chassis::{Balanced, Discovery, DiscoveryOptions};
use tern_proto::search::{
    search_client::SearchClient,
    search_server::{Search, SearchServer},
    MonitorResponse, SearchRequest, SearchResponse, SearchResponses,
};
use tokio::task::JoinHandle;

use crate::{
    registry::{registering, RunningRegistry},
    support::*,
};

/// Answers every search with its own name, so a test sees who served a call.
#[derive(Clone)]
struct Named(String);

#[tonic::async_trait]
impl Search for Named {
    async fn monitor(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<MonitorResponse>, tonic::Status> {
        Ok(tonic::Response::new(MonitorResponse { n_things: 0 }))
    }

    async fn search(
        &self,
        _: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponses>, tonic::Status> {
        Ok(tonic::Response::new(SearchResponses {
            responses: vec![SearchResponse {
                response: self.0.clone(),
            }],
        }))
    }
}

async fn start_named(name: &str, registry: &RunningRegistry) -> Running {
    let builder = tern_chassis::Service::builder("search-service")
        .grpc(SearchServer::new(Named(name.into())));
    start_with(builder, &registering(registry.http)).await
}

async fn discover(registry: &RunningRegistry) -> Balanced {
    let options = DiscoveryOptions {
        idempotent: true,
        timeout: Duration::from_secs(5),
        ..DiscoveryOptions::default()
    };
    Discovery::new(&registry.http.to_string())
        .unwrap()
        .with_options(options)
        .balanced("search-service")
        .await
        .expect("the registry answers")
}

async fn wait_for_instances(balanced: &Balanced, count: usize) {
    eventually(&format!("{count} passing instances discovered"), || async {
        balanced.instances().len() == count
    })
    .await;
}

async fn who(client: &mut SearchClient<Balanced>) -> Result<String, tonic::Status> {
    let response = client.search(SearchRequest::default()).await?;
    Ok(response.into_inner().responses.remove(0).response)
}

/// Calls in a loop until stopped, counting answers per instance and failures.
struct Load {
    served: Arc<Mutex<BTreeMap<String, usize>>>,
    failures: Arc<Mutex<Vec<String>>>,
    calls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Load {
    fn start(balanced: &Balanced) -> Load {
        let served = Arc::new(Mutex::new(BTreeMap::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut client = SearchClient::new(balanced.clone());
        let task = tokio::spawn({
            let (served, failures, calls, stop) = (
                served.clone(),
                failures.clone(),
                calls.clone(),
                stop.clone(),
            );
            async move {
                while !stop.load(Ordering::SeqCst) {
                    match who(&mut client).await {
                        Ok(name) => *served.lock().unwrap().entry(name).or_default() += 1,
                        Err(status) => failures.lock().unwrap().push(status.to_string()),
                    }
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Load {
            served,
            failures,
            calls,
            stop,
            task,
        }
    }

    async fn wait_for_calls(&self, more: usize) {
        let target = self.calls.load(Ordering::SeqCst) + more;
        eventually(&format!("{more} more calls"), || async {
            self.calls.load(Ordering::SeqCst) >= target
        })
        .await;
    }

    fn served(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.served.lock().unwrap())
    }

    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        std::mem::take(&mut *self.failures.lock().unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_spread_and_follow_a_deregistration_without_failures() {
    let registry = RunningRegistry::start().await;
    let a = start_named("a", &registry).await;
    let _b = start_named("b", &registry).await;
    let balanced = discover(&registry).await;
    wait_for_instances(&balanced, 2).await;

    let mut client = SearchClient::new(balanced.clone());
    let mut seen = BTreeMap::<String, usize>::new();
    for _ in 0..20 {
        *seen.entry(who(&mut client).await.unwrap()).or_default() += 1;
    }
    assert_eq!(seen, BTreeMap::from([("a".into(), 10), ("b".into(), 10)]));

    // A graceful stop deregisters first; calls keep flowing all along.
    let load = Load::start(&balanced);
    load.wait_for_calls(20).await;
    a.stop().await;
    wait_for_instances(&balanced, 1).await;
    // A call `a` answered before it stopped may be tallied a moment after this; drop a
    // whole window of calls so it cannot land in the one checked below.
    load.wait_for_calls(50).await;
    load.served();
    load.wait_for_calls(50).await;
    let after = load.served();
    let failures = load.stop().await;
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(after.keys().collect::<Vec<_>>(), ["b"], "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_load_costs_no_call() {
    let registry = RunningRegistry::start().await;
    let b = start_named("b", &registry).await;
    let _c = start_named("c", &registry).await;
    let balanced = discover(&registry).await;
    wait_for_instances(&balanced, 2).await;

    let load = Load::start(&balanced);
    load.wait_for_calls(50).await;
    // Abrupt: no deregistration, connections cut, port closed. It stays discovered
    // until its check fails, and every call that picks it is retried on `c`.
    b.served.abort();
    load.wait_for_calls(50).await;
    wait_for_instances(&balanced, 1).await;
    load.served();
    load.wait_for_calls(50).await;
    let after = load.served();
    let failures = load.stop().await;
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(after.keys().collect::<Vec<_>>(), ["c"], "{after:?}");
}

#[tokio::test]
async fn no_passing_instance_and_an_unreachable_registry_are_clear_errors() {
    let registry = RunningRegistry::start().await;
    let balanced = discover(&registry).await;
    let status = who(&mut SearchClient::new(balanced)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        status.message(),
        format!(
            "no passing instance of search-service in the registry at {}",
            registry.http
        )
    );

    let err = Discovery::new("127.0.0.1:1")
        .unwrap()
        .balanced("search-service")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot reach the registry at 127.0.0.1:1: "),
        "{err}"
    );
}
