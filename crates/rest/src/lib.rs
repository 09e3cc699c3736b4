//! REST routes and an OpenAPI 3.1 document from a gRPC contract.
//!
//! A [`Contract`] is the service's descriptor set (from `tern-proto-build`) plus its HTTP
//! rules: `google.api.http` method options, or a rules file beside the `.proto` (gRPC API
//! Configuration YAML, `http: rules:`, with tern's `tern: fields:` constraints) for
//! contracts that must stay byte-identical. [`Contract::router`] gives an axum router with
//! one route per binding, `/openapi.json` and Swagger UI at `/docs`; each REST call is
//! transcoded (proto3 JSON ⇄ protobuf) and sent in-process to the tonic service, so it runs
//! exactly the gRPC handler.
//!
//! ```ignore
//! let contract = tern_rest::Contract::from_descriptor_set(users::FILE_DESCRIPTOR_SET)?;
//! let grpc = UsersServer::new(api);
//! Service::builder("users").grpc(grpc.clone()).http(contract.router(grpc)?)
//! ```

mod docs;
pub mod fields;
mod openapi;
pub mod rules;
pub mod status;
pub mod template;
mod transcode;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MethodDescriptor};

use crate::fields::{RuleTable, Shape};
use crate::rules::{Binding, BodyRule, FieldRules, HttpRuleText, RuleError, RulesFile};
use crate::status::RestError;
pub use crate::transcode::BoxError;
use crate::transcode::{Route, MAX_BODY_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid descriptor set: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("rules file: selector {0:?} names no method of the contract (expected e.g. package.Service.Method)")]
    UnknownSelector(String),
    #[error(
        "rules file: field {0:?} names no field of the contract (expected package.Message.field)"
    )]
    UnknownField(String),
    #[error("{method}: {reason}")]
    Binding { method: String, reason: String },
}

/// A gRPC contract with its HTTP rules and field rules.
#[derive(Debug, Clone)]
pub struct Contract {
    pool: DescriptorPool,
    /// Method full name → its bindings (rules file entries replace option ones).
    bindings: BTreeMap<String, Vec<Binding>>,
    rules: Arc<RuleTable>,
    title: String,
    version: String,
}

/// Files whose services and options are tooling, not the contract.
fn is_tooling(file: &str) -> bool {
    file.starts_with("google/protobuf/")
        || file.starts_with("google/api/")
        || file.starts_with("tern/api/")
}

impl Contract {
    /// Reads an encoded `FileDescriptorSet` (imports included), its `google.api.http`
    /// method options and its field options (`google.api.field_behavior`,
    /// `tern.api.field`).
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, Error> {
        let pool = DescriptorPool::decode(bytes)?;
        let http = pool.get_extension_by_name("google.api.http");
        let mut bindings = BTreeMap::new();
        let mut rules = RuleTable::default();
        let mut names = Vec::new();
        for file in pool.files().filter(|f| !is_tooling(f.name())) {
            for service in file.services() {
                names.push(service.name().to_owned());
                for method in service.methods() {
                    let options = method.options();
                    if let Some(ext) = http.as_ref().filter(|e| options.has_extension(e)) {
                        if let Some(rule) = options.get_extension(ext).as_message() {
                            let found =
                                HttpRuleText::from_message(rule).bindings(method.full_name())?;
                            bindings.insert(method.full_name().to_owned(), found);
                        }
                    }
                }
            }
        }
        for message in pool
            .all_messages()
            .filter(|m| !is_tooling(m.parent_file().name()))
        {
            for field in message.fields() {
                let field_rules = FieldRules::from_options(&field.options());
                if field_rules != FieldRules::default() {
                    field_rules
                        .check(field.full_name())
                        .map_err(|e| Error::Binding {
                            method: message.full_name().to_owned(),
                            reason: e,
                        })?;
                    rules.insert(field.full_name().to_owned(), field_rules);
                }
            }
        }
        let contract = Self {
            pool,
            bindings,
            rules: Arc::new(rules),
            title: names.join(", "),
            version: "1".to_owned(),
        };
        contract.routes()?;
        Ok(contract)
    }

    /// Adds a rules file (YAML, see `docs/rest.md`): its `http: rules:` replace the option
    /// rules of the methods they select, its `tern: fields:` add to the field rules.
    pub fn with_rules_file(mut self, text: &str) -> Result<Self, Error> {
        let file = RulesFile::parse(text)?;
        for rule in file.http.iter().flat_map(|h| &h.rules) {
            let method = self
                .method(&rule.selector)
                .ok_or_else(|| Error::UnknownSelector(rule.selector.clone()))?;
            self.bindings.insert(
                method.full_name().to_owned(),
                rule.bindings(&rule.selector)?,
            );
        }
        let rules = Arc::make_mut(&mut self.rules);
        for (name, field_rules) in file.tern.iter().flat_map(|t| &t.fields) {
            let (message, field) = name
                .rsplit_once('.')
                .ok_or_else(|| Error::UnknownField(name.clone()))?;
            let field = self
                .pool
                .get_message_by_name(message)
                .and_then(|m| m.get_field_by_name(field))
                .ok_or_else(|| Error::UnknownField(name.clone()))?;
            rules
                .entry(field.full_name().to_owned())
                .or_default()
                .merge(field_rules);
        }
        self.routes()?;
        Ok(self)
    }

    /// The OpenAPI document's `info.title` and `info.version` (default: the service names, "1").
    pub fn with_info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.title = title.into();
        self.version = version.into();
        self
    }

    fn method(&self, selector: &str) -> Option<MethodDescriptor> {
        let (service, method) = selector.rsplit_once('.')?;
        self.pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)
    }

    /// Every binding resolved and checked against the descriptors, in a stable order.
    fn routes(&self) -> Result<Vec<Arc<Route>>, Error> {
        let mut routes = Vec::new();
        for (name, bindings) in &self.bindings {
            let method = self
                .pool
                .get_service_by_name(name.rsplit_once('.').map_or("", |(s, _)| s))
                .and_then(|s| s.methods().find(|m| m.full_name() == name))
                .ok_or_else(|| Error::UnknownSelector(name.clone()))?;
            for binding in bindings {
                routes.push(Arc::new(resolve(
                    &method,
                    binding.clone(),
                    self.rules.clone(),
                )?));
            }
        }
        Ok(routes)
    }

    /// The OpenAPI 3.1 document.
    pub fn openapi(&self) -> Result<serde_json::Value, Error> {
        Ok(openapi::document(
            &self.routes()?,
            &self.rules,
            &self.title,
            &self.version,
        ))
    }

    /// The REST routes, `/openapi.json` and `/docs`, calling `service` (the tonic server
    /// of the contract's service, e.g. `SearchServer::new(api)`) in-process. Pass it to the
    /// chassis' `ServiceBuilder::http`.
    pub fn router<S, B>(&self, service: S) -> Result<Router, Error>
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let routes = self.routes()?;
        let document = Bytes::from(
            openapi::document(&routes, &self.rules, &self.title, &self.version).to_string(),
        );
        let mut by_path: BTreeMap<String, BTreeMap<String, Vec<Arc<Route>>>> = BTreeMap::new();
        for route in &routes {
            by_path
                .entry(route.binding.template.route_path())
                .or_default()
                .entry(route.binding.method.to_string())
                .or_default()
                .push(route.clone());
        }
        let mut router = Router::new();
        for (path, methods) in by_path {
            let mut method_router: MethodRouter = MethodRouter::new();
            for (method, candidates) in methods {
                let filter = MethodFilter::try_from(
                    http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET),
                )
                .map_err(|_| Error::Binding {
                    method: candidates[0].method.full_name().to_owned(),
                    reason: format!("HTTP method {method} cannot be routed"),
                })?;
                let service = service.clone();
                let candidates = Arc::new(candidates);
                method_router =
                    method_router.merge(on(filter, move |request: http::Request<Body>| {
                        let service = service.clone();
                        let candidates = candidates.clone();
                        async move { serve(&candidates, service, request).await }
                    }));
            }
            router = router.route(&path, method_router);
        }
        let document_route = axum::routing::get(move || {
            let document = document.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], document) }
        });
        Ok(router
            .route("/openapi.json", document_route)
            .merge(docs::routes()))
    }
}

/// Checks a binding against its method and precomputes what serving it needs.
fn resolve(
    method: &MethodDescriptor,
    binding: Binding,
    rules: Arc<RuleTable>,
) -> Result<Route, Error> {
    let fail = |reason: String| Error::Binding {
        method: method.full_name().to_owned(),
        reason,
    };
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(fail("streaming methods cannot have REST bindings".into()));
    }
    let input = method.input();
    let mut variables = Vec::new();
    for variable in &binding.template.variables {
        let mut chain: Vec<FieldDescriptor> = Vec::new();
        let mut message = input.clone();
        for part in variable.field.split('.') {
            if let Some(prev) = chain.last() {
                message = match prev.kind() {
                    Kind::Message(m) if !prev.is_list() => m,
                    _ => {
                        return Err(fail(format!(
                            "{}: {} is not a message",
                            binding.template,
                            prev.name()
                        )))
                    }
                };
            }
            let field = message.get_field_by_name(part).ok_or_else(|| {
                fail(format!(
                    "{}: {} has no field {part:?}",
                    binding.template,
                    message.full_name()
                ))
            })?;
            chain.push(field);
        }
        let leaf = chain
            .last()
            .filter(|f| !f.is_list() && !f.is_map() && Shape::of(&f.kind()).is_scalar());
        if leaf.is_none() {
            return Err(fail(format!(
                "{}: {} must be a single scalar field",
                binding.template, variable.field
            )));
        }
        variables.push(chain);
    }
    if let BodyRule::Field(name) = &binding.body {
        let field = input
            .get_field_by_name(name)
            .ok_or_else(|| fail(format!("body: {} has no field {name:?}", input.full_name())))?;
        if field.is_list() || field.is_map() {
            return Err(fail(format!("body: {name} must not be repeated")));
        }
    }
    if let Some(name) = &binding.response_body {
        method.output().get_field_by_name(name).ok_or_else(|| {
            fail(format!(
                "response_body: {} has no field {name:?}",
                method.output().full_name()
            ))
        })?;
    }
    let path_fields = variables
        .iter()
        .filter_map(|c| c.first().map(|f| f.name().to_owned()))
        .collect();
    let grpc_path = format!("/{}/{}", method.parent_service().full_name(), method.name())
        .parse()
        .map_err(|_| fail("method name is not a valid path".into()))?;
    Ok(Route {
        grpc_path,
        method: method.clone(),
        binding,
        rules,
        path_fields,
        variables,
    })
}

/// Headers not passed on to the gRPC handler as metadata.
const NOT_FORWARDED: &[http::HeaderName] = &[
    http::header::CONTENT_TYPE,
    http::header::CONTENT_LENGTH,
    http::header::ACCEPT,
    http::header::ACCEPT_ENCODING,
    http::header::HOST,
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::TE,
    http::header::UPGRADE,
];

async fn serve<S, B>(
    candidates: &[Arc<Route>],
    service: S,
    request: http::Request<Body>,
) -> Response
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some((route, values)) = candidates
        .iter()
        .find_map(|r| r.binding.template.matches(path).map(|v| (r, v)))
    else {
        return RestError {
            code: 5,
            message: format!("no route for {path}"),
        }
        .into_response();
    };
    let body = if route.binding.body == BodyRule::None {
        Bytes::new()
    } else {
        match http_body_util::Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return RestError::invalid_argument(format!(
                    "request body: {e} (at most {MAX_BODY_BYTES} bytes)"
                ))
                .into_response()
            }
        }
    };
    match call(route, service, &parts, values, &body).await {
        Ok(json) => {
            let mut response = Response::new(Body::from(json));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn call<S, B>(
    route: &Route,
    service: S,
    parts: &http::request::Parts,
    values: Vec<(String, String)>,
    body: &[u8],
) -> Result<Vec<u8>, RestError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let json = route.request_json(values, parts.uri.query(), body)?;
    let framed = route.grpc_body(json)?;
    let mut request = http::Request::new(Body::from(framed));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from(route.grpc_path.clone());
    *request.version_mut() = http::Version::HTTP_2;
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(name) {
            headers.append(name, value.clone());
        }
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    *request.extensions_mut() = parts.extensions.clone();
    let response = tower::ServiceExt::oneshot(service, request)
        .await
        .map_err(|e| RestError {
            code: 14,
            message: format!("calling the handler: {}", e.into()),
        })?;
    route.answer(response).await
}

#[cfg(test)]
mod tests;
