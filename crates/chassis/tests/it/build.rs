//! `Service::builder(..).build(..)` refuses bad names, duplicate gRPC services and invalid config.

use tern_chassis::{ChassisConfig, Service};
use tern_proto::search::search_server::SearchServer;

use crate::support::TestSearch;

fn build_err(builder: tern_chassis::ServiceBuilder, config: &ChassisConfig) -> String {
    match builder.build(config) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn names_are_checked() {
    let config = ChassisConfig::default();
    assert_eq!(
        build_err(Service::builder(""), &config),
        "invalid service \"\": the name must be 1 to 63 characters long"
    );
    assert_eq!(
        build_err(Service::builder("search service"), &config),
        "invalid service \"search service\": the name may only contain ASCII letters, digits, \
         '-', '_' and '.'"
    );
}

#[test]
fn a_grpc_service_registered_twice_is_an_error() {
    let search = TestSearch::default();
    let builder = search
        .builder()
        .grpc(SearchServer::new(TestSearch::default()));
    assert_eq!(
        build_err(builder, &ChassisConfig::default()),
        "invalid service \"search-service\": gRPC service \"Search\" is registered twice"
    );
}

#[test]
fn the_config_is_validated() {
    let mut config = ChassisConfig::default();
    config.log.level = "search=loud".to_owned();
    assert!(build_err(Service::builder("s"), &config).starts_with("config: log.level: "));
}
