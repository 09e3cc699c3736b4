//! The `Search` gRPC API: request validation, the two query modes, and the mapping of
//! errors to gRPC status codes (the only place that mapping happens).

use std::sync::Arc;

use search_engine::{Hit, Query};
use tern_proto::search::search_server::Search;
use tern_proto::search::{MonitorResponse, SearchRequest, SearchResponse, SearchResponses};
use tonic::{Request, Response, Status};

use crate::dataset::{Dataset, Snapshot};

pub struct SearchApi {
    dataset: Arc<Dataset>,
}

impl SearchApi {
    pub fn new(dataset: Arc<Dataset>) -> Self {
        Self { dataset }
    }
}

fn responses(hits: Vec<Hit<'_>>) -> SearchResponses {
    SearchResponses {
        responses: hits
            .into_iter()
            .map(|hit| SearchResponse {
                response: hit.name.to_owned(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl Search for SearchApi {
    async fn monitor(&self, _: Request<()>) -> Result<Response<MonitorResponse>, Status> {
        let n_things = i32::try_from(self.dataset.len()).unwrap_or(i32::MAX);
        Ok(Response::new(MonitorResponse { n_things }))
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResponses>, Status> {
        let r = request.into_inner();
        let query = Query::from_request(&r.query, r.lat, r.lng, r.page_number, r.result_per_page)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (catalog, store) = match &**self.dataset.snapshot() {
            Snapshot::Memory(index) => return Ok(Response::new(responses(index.search(&query)))),
            Snapshot::Database { catalog, store } => (catalog.clone(), store.clone()),
        };
        let contained = match &query.point {
            Some(p) => Some(store.containing(p.lat, p.lng).await.map_err(|e| {
                tracing::error!(error = %e, "database containment query failed");
                Status::unavailable(format!("feature store unavailable: {e}"))
            })?),
            None => None,
        };
        Ok(Response::new(responses(
            catalog.rank(&query, contained.as_deref()),
        )))
    }
}
