//! UserService over gRPC: the whole life of a user, every error code, pagination, and the
//! same behaviour on PostgreSQL.

use tern_test_support::postgres::TempPostgis;
use tonic::Code;
use users::proto::{CreateUserRequest, ListUsersRequest, UpdateUserRequest, UserRequest};

use crate::support::Running;

fn create(name: &str, email: &str) -> CreateUserRequest {
    CreateUserRequest {
        name: name.into(),
        email: email.into(),
    }
}

fn id(id: &str) -> UserRequest {
    UserRequest { id: id.into() }
}

async fn life_of_a_user(service: &Running) {
    let mut client = service.grpc().await;
    let ada = client
        .create_user(create("Ada", "ada@example.com"))
        .await
        .expect("created")
        .into_inner();
    assert!(!ada.id.is_empty());
    assert_eq!(
        (ada.name.as_str(), ada.email.as_str()),
        ("Ada", "ada@example.com")
    );
    assert_eq!(ada.create_time, ada.update_time);

    let got = client
        .get_user(id(&ada.id))
        .await
        .expect("found")
        .into_inner();
    assert_eq!(got, ada);

    let duplicate = client
        .create_user(create("Other Ada", "ada@example.com"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists, "{duplicate:?}");
    assert!(duplicate.message().contains("ada@example.com"));

    let renamed = client
        .update_user(UpdateUserRequest {
            id: ada.id.clone(),
            name: Some("Ada Lovelace".into()),
            email: None,
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(renamed.name, "Ada Lovelace");
    assert_eq!(
        renamed.email, "ada@example.com",
        "fields not given keep their values"
    );
    assert_ne!(renamed.update_time, ada.update_time);
    assert_eq!(renamed.create_time, ada.create_time);

    client.delete_user(id(&ada.id)).await.expect("deleted");
    for status in [
        client.get_user(id(&ada.id)).await.unwrap_err(),
        client.delete_user(id(&ada.id)).await.unwrap_err(),
        client
            .update_user(UpdateUserRequest {
                id: ada.id.clone(),
                name: Some("x".into()),
                email: None,
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    // The email is free again.
    client
        .create_user(create("Ada", "ada@example.com"))
        .await
        .expect("created again");
}

#[tokio::test]
async fn a_user_is_created_read_updated_and_deleted() {
    let service = Running::sqlite().await;
    life_of_a_user(&service).await;
    service.stop().await;
}

#[tokio::test]
async fn the_same_on_postgres() {
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    let service = Running::start(Some(pg.url())).await;
    life_of_a_user(&service).await;
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_naming_the_field() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    for (request, field) in [
        (create("", "a@b"), "name"),
        (create("Ada", ""), "email"),
        (create("Ada", "not an email"), "email"),
        (create("Ada", "a@b@c"), "email"),
    ] {
        let status = client.create_user(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{status:?}"
        );
    }
    let status = client
        .list_users(ListUsersRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    service.stop().await;
}

#[tokio::test]
async fn users_are_listed_in_creation_order_a_page_at_a_time() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let user = client
            .create_user(create(&format!("user {n}"), &format!("u{n}@example.com")))
            .await
            .expect("created")
            .into_inner();
        created.push(user.id);
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_users(ListUsersRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("a page")
            .into_inner();
        assert!(page.users.len() <= 2);
        listed.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, created);
    service.stop().await;
}
