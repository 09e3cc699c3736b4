//! The `UserService` gRPC API (also served as REST from the same contract): request checks
//! and the mapping of errors to gRPC status codes, the only place that mapping happens.

use tonic::{Request, Response, Status};

use crate::proto::user_service_server::UserService;
use crate::proto::{
    CreateUserRequest, ListUsersRequest, ListUsersResponse, UpdateUserRequest, UserRequest,
    UserResponse,
};
use crate::store::{Store, StoreError, User};
use crate::user::{self, Invalid};

pub struct UsersApi {
    store: Store,
}

impl UsersApi {
    pub fn new(store: Store) -> Self {
        UsersApi { store }
    }
}

#[tonic::async_trait]
impl UserService for UsersApi {
    async fn get_user(
        &self,
        request: Request<UserRequest>,
    ) -> Result<Response<UserResponse>, Status> {
        let id = request.into_inner().id;
        user::check_id(&id).map_err(invalid)?;
        match self.store.get(&id).await.map_err(failed)? {
            Some(user) => Ok(Response::new(response(user))),
            None => Err(not_found(&id)),
        }
    }

    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<UserResponse>, Status> {
        let CreateUserRequest { name, email } = request.into_inner();
        user::check_name(&name).map_err(invalid)?;
        user::check_email(&email).map_err(invalid)?;
        let user = self.store.create(&name, &email).await.map_err(failed)?;
        tracing::info!(id = %user.id, "user created");
        Ok(Response::new(response(user)))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let ListUsersRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let size = user::page_size(page_size).map_err(invalid)?;
        let page = self.store.list(&page_token, size).await.map_err(failed)?;
        Ok(Response::new(ListUsersResponse {
            users: page.users.into_iter().map(response).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UserResponse>, Status> {
        let UpdateUserRequest { id, name, email } = request.into_inner();
        user::check_id(&id).map_err(invalid)?;
        if let Some(name) = &name {
            user::check_name(name).map_err(invalid)?;
        }
        if let Some(email) = &email {
            user::check_email(email).map_err(invalid)?;
        }
        let updated = self
            .store
            .update(&id, name.as_deref(), email.as_deref())
            .await
            .map_err(failed)?;
        match updated {
            Some(user) => Ok(Response::new(response(user))),
            None => Err(not_found(&id)),
        }
    }

    async fn delete_user(&self, request: Request<UserRequest>) -> Result<Response<()>, Status> {
        let id = request.into_inner().id;
        user::check_id(&id).map_err(invalid)?;
        if self.store.delete(&id).await.map_err(failed)? {
            tracing::info!(%id, "user deleted");
            Ok(Response::new(()))
        } else {
            Err(not_found(&id))
        }
    }
}

fn response(user: User) -> UserResponse {
    UserResponse {
        id: user.id,
        name: user.name,
        email: user.email,
        create_time: Some(user.create_time.into()),
        update_time: Some(user.update_time.into()),
    }
}

fn invalid(problem: Invalid) -> Status {
    Status::invalid_argument(problem.to_string())
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("no user with id {id:?}"))
}

fn failed(error: StoreError) -> Status {
    match error {
        StoreError::EmailTaken(_) => Status::already_exists(error.to_string()),
        other => {
            tracing::error!(error = %other, "users store failed");
            Status::unavailable(format!("the users database failed: {other}"))
        }
    }
}
