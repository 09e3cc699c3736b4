//! NoteService over gRPC: the whole life of a note, bad requests, pagination.

use notes::proto::{CreateNoteRequest, ListNotesRequest, NoteRequest, UpdateNoteRequest};
use tonic::Code;

use crate::support::Running;

fn create(name: &str) -> CreateNoteRequest {
    CreateNoteRequest { name: name.into() }
}

fn id(id: &str) -> NoteRequest {
    NoteRequest { id: id.into() }
}

#[tokio::test]
async fn a_note_is_created_read_updated_and_deleted() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let first = client
        .create_note(create("first"))
        .await
        .expect("created")
        .into_inner();
    assert!(!first.id.is_empty());
    assert_eq!(first.create_time, first.update_time);
    let got = client
        .get_note(id(&first.id))
        .await
        .expect("found")
        .into_inner();
    assert_eq!(got, first);

    let renamed = client
        .update_note(UpdateNoteRequest {
            id: first.id.clone(),
            name: Some("renamed".into()),
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.create_time, first.create_time);

    client.delete_note(id(&first.id)).await.expect("deleted");
    let gone = client.get_note(id(&first.id)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_naming_the_field() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let status = client.create_note(create("")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("name: "), "{status:?}");
    service.stop().await;
}

#[tokio::test]
async fn notes_are_listed_in_creation_order_a_page_at_a_time() {
    let service = Running::sqlite().await;
    let mut client = service.grpc().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let made = client
            .create_note(create(&format!("number {n}")))
            .await
            .expect("created");
        created.push(made.into_inner().id);
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_notes(ListNotesRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("a page")
            .into_inner();
        listed.extend(page.notes.into_iter().map(|found| found.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, created);
    service.stop().await;
}
