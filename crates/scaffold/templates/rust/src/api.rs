//! The `{{Resource}}Service` gRPC API (also served as REST from the same contract): request
//! checks and the mapping of errors to gRPC status codes, the only place that mapping
//! happens.

use tonic::{Request, Response, Status};

use crate::proto::{{resource}}_service_server::{{Resource}}Service;
use crate::proto::{
    Create{{Resource}}Request, List{{Resources}}Request, List{{Resources}}Response, Update{{Resource}}Request,
    {{Resource}}Request, {{Resource}}Response,
};
use crate::store::{Store, StoreError, {{Resource}}};
use crate::{{resource}}::{self, Invalid};

pub struct {{Resource}}Api {
    store: Store,
}

impl {{Resource}}Api {
    pub fn new(store: Store) -> Self {
        {{Resource}}Api { store }
    }
}

#[tonic::async_trait]
impl {{Resource}}Service for {{Resource}}Api {
    async fn get_{{resource}}(
        &self,
        request: Request<{{Resource}}Request>,
    ) -> Result<Response<{{Resource}}Response>, Status> {
        let id = request.into_inner().id;
        {{resource}}::check_id(&id).map_err(invalid)?;
        match self.store.get(&id).await.map_err(failed)? {
            Some(found) => Ok(Response::new(response(found))),
            None => Err(not_found(&id)),
        }
    }

    async fn create_{{resource}}(
        &self,
        request: Request<Create{{Resource}}Request>,
    ) -> Result<Response<{{Resource}}Response>, Status> {
        let Create{{Resource}}Request { name } = request.into_inner();
        {{resource}}::check_name(&name).map_err(invalid)?;
        let created = self.store.create(&name).await.map_err(failed)?;
        tracing::info!(id = %created.id, "{{noun}} created");
        Ok(Response::new(response(created)))
    }

    async fn list_{{resources}}(
        &self,
        request: Request<List{{Resources}}Request>,
    ) -> Result<Response<List{{Resources}}Response>, Status> {
        let List{{Resources}}Request {
            page_size,
            page_token,
        } = request.into_inner();
        let size = {{resource}}::page_size(page_size).map_err(invalid)?;
        let page = self.store.list(&page_token, size).await.map_err(failed)?;
        Ok(Response::new(List{{Resources}}Response {
            {{resources}}: page.{{resources}}.into_iter().map(response).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_{{resource}}(
        &self,
        request: Request<Update{{Resource}}Request>,
    ) -> Result<Response<{{Resource}}Response>, Status> {
        let Update{{Resource}}Request { id, name } = request.into_inner();
        {{resource}}::check_id(&id).map_err(invalid)?;
        if let Some(name) = &name {
            {{resource}}::check_name(name).map_err(invalid)?;
        }
        match self.store.update(&id, name.as_deref()).await.map_err(failed)? {
            Some(updated) => Ok(Response::new(response(updated))),
            None => Err(not_found(&id)),
        }
    }

    async fn delete_{{resource}}(
        &self,
        request: Request<{{Resource}}Request>,
    ) -> Result<Response<()>, Status> {
        let id = request.into_inner().id;
        {{resource}}::check_id(&id).map_err(invalid)?;
        if self.store.delete(&id).await.map_err(failed)? {
            tracing::info!(%id, "{{noun}} deleted");
            Ok(Response::new(()))
        } else {
            Err(not_found(&id))
        }
    }
}

fn response(stored: {{Resource}}) -> {{Resource}}Response {
    {{Resource}}Response {
        id: stored.id,
        name: stored.name,
        create_time: Some(stored.create_time.into()),
        update_time: Some(stored.update_time.into()),
    }
}

fn invalid(problem: Invalid) -> Status {
    Status::invalid_argument(problem.to_string())
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("no {{noun}} with id {id:?}"))
}

fn failed(error: StoreError) -> Status {
    tracing::error!(%error, "{{name}} store failed");
    Status::unavailable(format!("the {{name}} database failed: {error}"))
}
