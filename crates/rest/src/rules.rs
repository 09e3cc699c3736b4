//! HTTP rules and field rules (pure): from `google.api.http` / `google.api.field_behavior` /
//! `tern.api.field` options, and from a rules file beside the contract (the gRPC API
//! Configuration YAML grpc-gateway reads, plus a `tern: fields:` section).

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, Value};
use serde::Deserialize;

use crate::template::{PathTemplate, TemplateError};

/// Where the request body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body.
    None,
    /// `body: "*"`: every field not bound by the path.
    All,
    /// `body: "field"`: one top-level field.
    Field(String),
}

/// One HTTP binding of a method: `GET /v1/x`, body, response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub method: http::Method,
    pub template: PathTemplate,
    pub body: BodyRule,
    /// `response_body: "field"`: answer with that field of the response only.
    pub response_body: Option<String>,
}

/// What a field accepts beyond its type: `google.api.field_behavior = REQUIRED` and
/// `tern.api.field` constraints (or the rules file's `tern: fields:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRules {
    #[serde(default)]
    pub required: bool,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub format: Option<String>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
}

/// The formats the server checks (and so may state).
pub const FORMATS: &[&str] = &["email", "uuid", "date", "date-time", "uri"];

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("HTTP rule for {selector}: {reason}")]
    Rule { selector: String, reason: String },
    #[error("rules file: {0}")]
    File(String),
}

fn rule_error(selector: &str, reason: impl Into<String>) -> RuleError {
    RuleError::Rule {
        selector: selector.to_owned(),
        reason: reason.into(),
    }
}

/// The rules file: `http: rules:` (google.api.Service) and tern's `tern: fields:`.
#[derive(Debug, Default, Deserialize)]
pub struct RulesFile {
    #[serde(default)]
    pub http: Option<HttpSection>,
    #[serde(default)]
    pub tern: Option<TernSection>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub config_version: Option<serde_yaml_ng::Value>,
    /// Other google.api.Service sections (name, title, documentation, ...) are allowed
    /// and ignored, as grpc-gateway does.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    #[serde(default)]
    pub rules: Vec<HttpRuleText>,
    #[serde(default)]
    pub fully_decode_reserved_expansion: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TernSection {
    /// `Message.field` (full message name) → rules.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldRules>,
}

/// One `google.api.HttpRule`, as written in YAML.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRuleText {
    #[serde(default)]
    pub selector: String,
    pub get: Option<String>,
    pub put: Option<String>,
    pub post: Option<String>,
    pub delete: Option<String>,
    pub patch: Option<String>,
    pub custom: Option<CustomPattern>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub response_body: String,
    #[serde(default)]
    pub additional_bindings: Vec<HttpRuleText>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub kind: String,
    pub path: String,
}

impl RulesFile {
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let file: RulesFile =
            serde_yaml_ng::from_str(text).map_err(|e| RuleError::File(e.to_string()))?;
        if let Some(kind) = &file.kind {
            if kind != "google.api.Service" {
                return Err(RuleError::File(format!(
                    "type: {kind:?}; expected google.api.Service"
                )));
            }
        }
        for (name, rules) in file.tern.iter().flat_map(|t| &t.fields) {
            rules.check(name).map_err(RuleError::File)?;
        }
        Ok(file)
    }
}

impl FieldRules {
    /// Checks the rules make sense on their own (bounds ordered, pattern compiles, known
    /// format).
    pub fn check(&self, field: &str) -> Result<(), String> {
        if let (Some(lo), Some(hi)) = (self.minimum, self.maximum) {
            if lo > hi {
                return Err(format!("{field}: minimum {lo} is above maximum {hi}"));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_length, self.max_length) {
            if lo > hi {
                return Err(format!("{field}: min_length {lo} is above max_length {hi}"));
            }
        }
        if let Some(pattern) = &self.pattern {
            regex::Regex::new(pattern)
                .map_err(|e| format!("{field}: pattern {pattern:?} does not compile: {e}"))?;
        }
        if let Some(format) = &self.format {
            if !FORMATS.contains(&format.as_str()) {
                return Err(format!(
                    "{field}: format {format:?} is not one the server checks ({})",
                    FORMATS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Rules from a field's options: `google.api.field_behavior` and `tern.api.field`.
    pub fn from_options(options: &DynamicMessage) -> Self {
        let mut rules = FieldRules::default();
        for (extension, value) in options.extensions() {
            match extension.full_name() {
                "google.api.field_behavior" => {
                    // REQUIRED = 2 in google.api.FieldBehavior.
                    if let Value::List(values) = value {
                        rules.required = values.iter().any(|v| v.as_enum_number() == Some(2));
                    }
                }
                "tern.api.field" => {
                    if let Value::Message(m) = value {
                        let float = |name: &str| {
                            m.has_field_by_name(name)
                                .then(|| m.get_field_by_name(name).and_then(|v| v.as_f64()))
                                .flatten()
                        };
                        let count = |name: &str| {
                            m.has_field_by_name(name)
                                .then(|| m.get_field_by_name(name).and_then(|v| v.as_u32()))
                                .flatten()
                                .map(u64::from)
                        };
                        let text = |name: &str| {
                            m.get_field_by_name(name)
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .filter(|s| !s.is_empty())
                        };
                        rules.minimum = float("minimum");
                        rules.maximum = float("maximum");
                        rules.min_length = count("min_length");
                        rules.max_length = count("max_length");
                        rules.min_items = count("min_items");
                        rules.max_items = count("max_items");
                        rules.pattern = text("pattern");
                        rules.format = text("format");
                    }
                }
                _ => {}
            }
        }
        rules
    }

    /// `other`'s settings win where it has them (the rules file over the options).
    pub fn merge(&mut self, other: &FieldRules) {
        self.required |= other.required;
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f.clone(); } )* };
        }
        take!(minimum, maximum, min_length, max_length, pattern, format, min_items, max_items);
    }
}

impl HttpRuleText {
    /// A `google.api.HttpRule` option value, read into the same shape as the YAML form.
    pub fn from_message(rule: &DynamicMessage) -> Self {
        let text = |name: &str| {
            rule.has_field_by_name(name)
                .then(|| {
                    rule.get_field_by_name(name)
                        .and_then(|v| v.as_str().map(str::to_owned))
                })
                .flatten()
        };
        let custom = rule
            .has_field_by_name("custom")
            .then(|| rule.get_field_by_name("custom"))
            .flatten()
            .and_then(|v| {
                v.as_message().map(|m| CustomPattern {
                    kind: m
                        .get_field_by_name("kind")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    path: m
                        .get_field_by_name("path")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                })
            });
        let additional = rule
            .get_field_by_name("additional_bindings")
            .and_then(|v| {
                v.as_list().map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_message().map(HttpRuleText::from_message))
                        .collect()
                })
            })
            .unwrap_or_default();
        HttpRuleText {
            selector: text("selector").unwrap_or_default(),
            get: text("get"),
            put: text("put"),
            post: text("post"),
            delete: text("delete"),
            patch: text("patch"),
            custom,
            body: text("body").unwrap_or_default(),
            response_body: text("response_body").unwrap_or_default(),
            additional_bindings: additional,
        }
    }

    /// The rule and its additional bindings as [`Binding`]s.
    pub fn bindings(&self, selector: &str) -> Result<Vec<Binding>, RuleError> {
        let mut out = vec![self.binding(selector)?];
        for extra in &self.additional_bindings {
            if !extra.additional_bindings.is_empty() {
                return Err(rule_error(
                    selector,
                    "additional_bindings may not nest additional_bindings",
                ));
            }
            out.push(extra.binding(selector)?);
        }
        Ok(out)
    }

    fn binding(&self, selector: &str) -> Result<Binding, RuleError> {
        let mut patterns = Vec::new();
        for (method, path) in [
            (http::Method::GET, &self.get),
            (http::Method::PUT, &self.put),
            (http::Method::POST, &self.post),
            (http::Method::DELETE, &self.delete),
            (http::Method::PATCH, &self.patch),
        ] {
            if let Some(path) = path {
                patterns.push((method, path.clone()));
            }
        }
        if let Some(custom) = &self.custom {
            let method = http::Method::from_bytes(custom.kind.as_bytes()).map_err(|_| {
                rule_error(
                    selector,
                    format!("custom kind {:?} is not an HTTP method", custom.kind),
                )
            })?;
            patterns.push((method, custom.path.clone()));
        }
        let (method, path) = match patterns.len() {
            1 => patterns.remove(0),
            0 => {
                return Err(rule_error(
                    selector,
                    "no get/put/post/delete/patch/custom pattern",
                ))
            }
            _ => return Err(rule_error(selector, "more than one pattern in one rule")),
        };
        let body = match self.body.as_str() {
            "" => BodyRule::None,
            "*" => BodyRule::All,
            field => BodyRule::Field(field.to_owned()),
        };
        if body != BodyRule::None && (method == http::Method::GET || method == http::Method::DELETE)
        {
            return Err(rule_error(selector, format!("{method} cannot have a body")));
        }
        Ok(Binding {
            method,
            template: PathTemplate::parse(&path)?,
            body,
            response_body: (!self.response_body.is_empty()).then(|| self.response_body.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_file_with_bindings_and_fields() {
        let file = RulesFile::parse(concat!(
            "type: google.api.Service\n",
            "config_version: 3\n",
            "name: x.example.com\n",
            "http:\n",
            "  rules:\n",
            "    - selector: Search.search\n",
            "      get: /v1/search\n",
            "      additional_bindings:\n",
            "        - post: /v1/search\n",
            "          body: \"*\"\n",
            "tern:\n",
            "  fields:\n",
            "    SearchRequest.lat: { minimum: -90, maximum: 90 }\n",
        ))
        .unwrap();
        let rule = &file.http.as_ref().unwrap().rules[0];
        let bindings = rule.bindings("Search.search").unwrap();
        assert_eq!(bindings.len(), 2);
        assert_eq!(bindings[0].method, http::Method::GET);
        assert_eq!(bindings[1].body, BodyRule::All);
        let lat = &file.tern.unwrap().fields["SearchRequest.lat"];
        assert_eq!((lat.minimum, lat.maximum), (Some(-90.0), Some(90.0)));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let err = |yaml: &str| RulesFile::parse(yaml).unwrap_err().to_string();
        assert!(err("http:\n  rulez: []\n").contains("unknown field `rulez`"));
        assert!(
            err("tern:\n  fields:\n    M.f: { minimum: 2, maximum: 1 }\n")
                .contains("M.f: minimum 2 is above maximum 1")
        );
        assert!(err("tern:\n  fields:\n    M.f: { format: phone }\n")
            .contains("format \"phone\" is not one the server checks"));
        assert!(err("tern:\n  fields:\n    M.f: { pattern: \"(\" }\n").contains("does not compile"));
        let rule = |yaml: &str| {
            serde_yaml_ng::from_str::<HttpRuleText>(yaml)
                .unwrap()
                .bindings("S.m")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            rule("get: /a\npost: /b\n"),
            "HTTP rule for S.m: more than one pattern in one rule"
        );
        assert_eq!(
            rule("get: /a\nbody: \"*\"\n"),
            "HTTP rule for S.m: GET cannot have a body"
        );
        assert_eq!(
            rule("body: x\n"),
            "HTTP rule for S.m: no get/put/post/delete/patch/custom pattern"
        );
    }

    #[test]
    fn rules_file_values_override_options() {
        let mut base = FieldRules {
            required: true,
            max_length: Some(10),
            ..FieldRules::default()
        };
        base.merge(&FieldRules {
            max_length: Some(5),
            minimum: Some(1.0),
            ..FieldRules::default()
        });
        assert!(base.required);
        assert_eq!((base.max_length, base.minimum), (Some(5), Some(1.0)));
    }
}
