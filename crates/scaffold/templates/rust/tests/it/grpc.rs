//! {{Resource}}Service over gRPC: the whole life of a {{noun}}, bad requests, pagination.

use tonic::Code;
use {{crate}}::proto::{
    Create{{Resource}}Request, List{{Resources}}Request, Update{{Resource}}Request, {{Resource}}Request,
};

use crate::support::Running;

fn create(name: &str) -> Create{{Resource}}Request {
    Create{{Resource}}Request { name: name.into() }
}

fn id(id: &str) -> {{Resource}}Request {
    {{Resource}}Request { id: id.into() }
}

#[tokio::test]
async fn a_{{resource}}_is_created_read_updated_and_deleted() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let first = client.create_{{resource}}(create("first")).await.expect("created").into_inner();
    assert!(!first.id.is_empty());
    assert_eq!(first.create_time, first.update_time);
    let got = client.get_{{resource}}(id(&first.id)).await.expect("found").into_inner();
    assert_eq!(got, first);

    let renamed = client
        .update_{{resource}}(Update{{Resource}}Request {
            id: first.id.clone(),
            name: Some("renamed".into()),
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.create_time, first.create_time);

    client.delete_{{resource}}(id(&first.id)).await.expect("deleted");
    let gone = client.get_{{resource}}(id(&first.id)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_naming_the_field() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let status = client.create_{{resource}}(create("")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("name: "), "{status:?}");
    service.stop().await;
}

#[tokio::test]
async fn {{resources}}_are_listed_in_creation_order_a_page_at_a_time() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let made = client.create_{{resource}}(create(&format!("number {n}"))).await.expect("created");
        created.push(made.into_inner().id);
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_{{resources}}(List{{Resources}}Request {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("a page")
            .into_inner();
        listed.extend(page.{{resources}}.into_iter().map(|found| found.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, created);
    service.stop().await;
}
