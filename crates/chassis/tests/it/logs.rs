use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tern_chassis::LogConfig;
use tern_proto::search::SearchRequest;

use crate::support::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<Map<String, Value>> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

// current_thread runtime: the server and client tasks run on this thread, where the
// capturing logger is the default.
#[tokio::test]
async fn log_lines_inside_a_call_carry_the_request_id() {
    let capture = Capture::default();
    let writer = capture.clone();
    let dispatch =
        tern_chassis::log_dispatch(&LogConfig::default(), "search-service", move || writer.clone())
            .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);

    let running = start(TestSearch::default().builder()).await;
    let addr = running.addr;
    let mut request = tonic::Request::new(SearchRequest {
        query: "hello".to_owned(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-request-id", "trace-me".parse().unwrap());
    search_client(&running.channel().await)
        .search(request)
        .await
        .unwrap();
    running.stop().await;

    let lines = capture.lines();
    let listening = lines
        .iter()
        .find(|l| l["message"] == "listening")
        .expect("a listening line");
    assert_eq!(listening["address"], addr.to_string());
    assert_eq!(listening["service.name"], "search-service");

    let inside = lines
        .iter()
        .find(|l| l["message"] == "searching")
        .expect("the handler's line");
    assert_eq!(inside["request_id"], "trace-me");
    assert_eq!(inside["method"], "POST");
    assert_eq!(inside["path"], "/Search/search");
    assert_eq!(inside["query"], "hello");
    assert_eq!(inside["service.name"], "search-service");
    assert_eq!(inside["level"], "INFO");

    // At the default level a call logs nothing by itself.
    let per_call: Vec<_> = lines
        .iter()
        .filter(|l| l.contains_key("request_id") && l["message"] != "searching")
        .collect();
    assert!(per_call.is_empty(), "{per_call:?}");
}
