//! The `NoteService` gRPC API (also served as REST from the same contract): request
//! checks and the mapping of errors to gRPC status codes, the only place that mapping
//! happens.

use tonic::{Request, Response, Status};

use crate::note::{self, Invalid};
use crate::proto::note_service_server::NoteService;
use crate::proto::{
    CreateNoteRequest, ListNotesRequest, ListNotesResponse, NoteRequest, NoteResponse,
    UpdateNoteRequest,
};
use crate::store::{Note, Store, StoreError};

pub struct NoteApi {
    store: Store,
}

impl NoteApi {
    pub fn new(store: Store) -> Self {
        NoteApi { store }
    }
}

#[tonic::async_trait]
impl NoteService for NoteApi {
    async fn get_note(
        &self,
        request: Request<NoteRequest>,
    ) -> Result<Response<NoteResponse>, Status> {
        let id = request.into_inner().id;
        note::check_id(&id).map_err(invalid)?;
        match self.store.get(&id).await.map_err(failed)? {
            Some(found) => Ok(Response::new(response(found))),
            None => Err(not_found(&id)),
        }
    }

    async fn create_note(
        &self,
        request: Request<CreateNoteRequest>,
    ) -> Result<Response<NoteResponse>, Status> {
        let CreateNoteRequest { name } = request.into_inner();
        note::check_name(&name).map_err(invalid)?;
        let created = self.store.create(&name).await.map_err(failed)?;
        tracing::info!(id = %created.id, "note created");
        Ok(Response::new(response(created)))
    }

    async fn list_notes(
        &self,
        request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        let ListNotesRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let size = note::page_size(page_size).map_err(invalid)?;
        let page = self.store.list(&page_token, size).await.map_err(failed)?;
        Ok(Response::new(ListNotesResponse {
            notes: page.notes.into_iter().map(response).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_note(
        &self,
        request: Request<UpdateNoteRequest>,
    ) -> Result<Response<NoteResponse>, Status> {
        let UpdateNoteRequest { id, name } = request.into_inner();
        note::check_id(&id).map_err(invalid)?;
        if let Some(name) = &name {
            note::check_name(name).map_err(invalid)?;
        }
        match self
            .store
            .update(&id, name.as_deref())
            .await
            .map_err(failed)?
        {
            Some(updated) => Ok(Response::new(response(updated))),
            None => Err(not_found(&id)),
        }
    }

    async fn delete_note(&self, request: Request<NoteRequest>) -> Result<Response<()>, Status> {
        let id = request.into_inner().id;
        note::check_id(&id).map_err(invalid)?;
        if self.store.delete(&id).await.map_err(failed)? {
            tracing::info!(%id, "note deleted");
            Ok(Response::new(()))
        } else {
            Err(not_found(&id))
        }
    }
}

fn response(stored: Note) -> NoteResponse {
    NoteResponse {
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
    Status::not_found(format!("no note with id {id:?}"))
}

fn failed(error: StoreError) -> Status {
    tracing::error!(%error, "notes store failed");
    Status::unavailable(format!("the notes database failed: {error}"))
}
