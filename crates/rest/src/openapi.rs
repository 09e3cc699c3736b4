//! The OpenAPI 3.1 document (pure): paths and operations from the bindings, parameters and
//! request bodies per google.api.http's mapping, component schemas from the messages in
//! proto3 JSON form, comments as descriptions, field rules as JSON Schema keywords, and
//! the `google.rpc.Status` error answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use crate::fields::{field_schema, RuleTable, Shape};
use crate::rules::BodyRule;
use crate::status::{error_statuses, status_schema};
use crate::transcode::Route;

const STATUS_REF: &str = "#/components/schemas/google.rpc.Status";

/// The comments at a descriptor's path (leading, then trailing), trimmed.
fn comments(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text: Vec<&str> = [location.leading_comments(), location.trailing_comments()]
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let text = text
        .join("\n\n")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    (!text.is_empty()).then_some(text)
}

fn describe(mut schema: Value, description: Option<String>) -> Value {
    if let (Some(d), Some(map)) = (description, schema.as_object_mut()) {
        map.insert("description".into(), d.into());
    }
    schema
}

fn field_description(field: &FieldDescriptor) -> Option<String> {
    comments(&field.parent_file(), field.path())
}

/// The message's schema: properties by JSON name, `required` from REQUIRED fields, no
/// other properties (the server rejects unknown fields). `skip` leaves out fields bound
/// by the path.
fn message_schema(message: &MessageDescriptor, rules: &RuleTable, skip: &[String]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in message
        .fields()
        .filter(|f| !skip.iter().any(|s| s == f.name()))
    {
        let schema = describe(field_schema(&field, rules), field_description(&field));
        properties.insert(field.json_name().to_owned(), schema);
        if rules.get(field.full_name()).is_some_and(|r| r.required) {
            required.push(Value::from(field.json_name()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    let proto_names =
        "Fields are named in lowerCamelCase (proto3 JSON); the proto names are accepted too.";
    let description = comments(&message.parent_file(), message.path())
        .map_or(proto_names.to_owned(), |c| format!("{c}\n\n{proto_names}"));
    schema.insert("description".into(), description.into());
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), false.into());
    Value::Object(schema)
}

/// Messages reachable from `message` through fields (itself included), not well-known types.
fn collect_messages(message: &MessageDescriptor, seen: &mut BTreeMap<String, MessageDescriptor>) {
    if seen.contains_key(message.full_name()) {
        return;
    }
    seen.insert(message.full_name().to_owned(), message.clone());
    for field in message.fields() {
        let kind = if field.is_map() {
            match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            }
        } else {
            field.kind()
        };
        if let Shape::Message(m) = Shape::of(&kind) {
            collect_messages(&m, seen);
        }
    }
}

/// Query parameters for the fields neither in the path nor in the body: scalars and
/// repeated scalars by proto name, nested messages' scalars as `a.b` (three levels deep).
fn query_parameters(
    message: &MessageDescriptor,
    prefix: &str,
    skip: &[String],
    rules: &RuleTable,
    depth: usize,
    out: &mut Vec<Value>,
) {
    for field in message
        .fields()
        .filter(|f| !skip.iter().any(|s| s == f.name()))
    {
        let name = format!("{prefix}{}", field.name());
        let shape = Shape::of(&field.kind());
        if field.is_map() {
            continue;
        }
        if shape.is_scalar() {
            let mut parameter =
                json!({"name": name, "in": "query", "schema": field_schema(&field, rules)});
            if let Some(d) = field_description(&field) {
                parameter["description"] = d.into();
            }
            if rules.get(field.full_name()).is_some_and(|r| r.required) {
                parameter["required"] = true.into();
            }
            out.push(parameter);
        } else if let (Shape::Message(m), false) = (shape, field.is_list()) {
            if depth < 3 {
                query_parameters(&m, &format!("{name}."), &[], rules, depth + 1, out);
            }
        }
    }
}

fn operation(route: &Route, rules: &RuleTable, operation_id: String) -> Value {
    let method = &route.method;
    let input = method.input();
    let mut op = Map::new();
    op.insert("operationId".into(), operation_id.into());
    op.insert("tags".into(), json!([method.parent_service().name()]));
    if let Some(d) = comments(&method.parent_file(), method.path()) {
        let summary = d.lines().next().unwrap_or_default().to_owned();
        op.insert("summary".into(), summary.into());
        op.insert("description".into(), d.into());
    }
    let mut parameters = Vec::new();
    for (variable, chain) in route
        .binding
        .template
        .variables
        .iter()
        .zip(&route.variables)
    {
        let Some(leaf) = chain.last() else { continue };
        let mut parameter = json!({"name": variable.field, "in": "path", "required": true, "schema": field_schema(leaf, rules)});
        if let Some(d) = field_description(leaf) {
            parameter["description"] = d.into();
        }
        parameters.push(parameter);
    }
    let mut body_skip = route.path_fields.clone();
    match &route.binding.body {
        BodyRule::None => {
            query_parameters(&input, "", &route.path_fields, rules, 0, &mut parameters)
        }
        BodyRule::All => {
            let schema = if route.path_fields.is_empty() {
                Shape::Message(input.clone()).schema()
            } else {
                message_schema(&input, rules, &route.path_fields)
            };
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
            );
        }
        BodyRule::Field(name) => {
            if let Some(field) = input.get_field_by_name(name) {
                let schema = describe(field_schema(&field, rules), field_description(&field));
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
            }
            body_skip.push(name.clone());
            query_parameters(&input, "", &body_skip, rules, 0, &mut parameters);
        }
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    let output = method.output();
    let ok_schema = match &route.binding.response_body {
        Some(name) => output
            .get_field_by_name(name)
            .map_or(json!({}), |f| field_schema(&f, rules)),
        None => Shape::Message(output.clone()).schema(),
    };
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": ok_schema}}}),
    );
    for status in error_statuses() {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Client Closed Request");
        responses.insert(
            status.to_string(),
            json!({"description": reason, "content": {"application/json": {"schema": {"$ref": STATUS_REF}}}}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

pub fn document(routes: &[Arc<Route>], rules: &RuleTable, title: &str, version: &str) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut messages = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for route in routes {
        let method = &route.method;
        let base = format!("{}_{}", method.parent_service().name(), method.name());
        let mut id = base.clone();
        let mut n = 1;
        while !ids.insert(id.clone()) {
            n += 1;
            id = format!("{base}_{n}");
        }
        collect_messages(&method.input(), &mut messages);
        collect_messages(&method.output(), &mut messages);
        paths
            .entry(route.binding.template.openapi_path())
            .or_default()
            .insert(
                route.binding.method.as_str().to_ascii_lowercase(),
                operation(route, rules, id),
            );
    }
    let mut schemas: Map<String, Value> = messages
        .iter()
        .map(|(name, m)| (name.clone(), message_schema(m, rules, &[])))
        .collect();
    schemas.insert("google.rpc.Status".into(), status_schema());
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
