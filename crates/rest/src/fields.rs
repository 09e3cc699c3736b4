//! What a field accepts in proto3 JSON, as one [`Shape`] per field kind (pure). The same
//! shape gives the field's JSON Schema (`schema`) and the server's check of a request value
//! (`check`), so the OpenAPI document states exactly what the server accepts: a value is
//! rejected by the server if and only if the document forbids it.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use crate::rules::FieldRules;

/// Field rules by field full name (`package.Message.field`).
pub type RuleTable = HashMap<String, FieldRules, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub enum Shape {
    Bool,
    Int { bits: u8, signed: bool },
    Float { single: bool },
    String,
    Bytes,
    Enum(prost_reflect::EnumDescriptor),
    Message(MessageDescriptor),
    Timestamp,
    Duration,
    FieldMask,
    Struct,
    AnyValue,
    ListValue,
    Any,
}

const F32_MAX: f64 = f32::MAX as f64;
const BASE64: &str = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";
const DURATION: &str = "^-?[0-9]{1,11}(\\.[0-9]{1,9})?s$";
const INT64: &str = "^-?[0-9]{1,18}$";
const UINT64: &str = "^[0-9]{1,19}$";
const EMAIL: &str = "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
const UUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const DATE: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
const DATE_TIME: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";
const URI: &str = "^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*$";

static REGEXES: LazyLock<HashMap<&'static str, regex::Regex>> = LazyLock::new(|| {
    [
        BASE64, DURATION, INT64, UINT64, EMAIL, UUID, DATE, DATE_TIME, URI,
    ]
    .into_iter()
    .map(|p| (p, regex::Regex::new(p).expect("built-in pattern compiles")))
    .collect()
});

/// Field rules' patterns, compiled once (they were checked when the contract was read).
static PATTERNS: LazyLock<RwLock<HashMap<String, regex::Regex>>> = LazyLock::new(Default::default);

fn pattern_matches(pattern: &str, text: &str) -> bool {
    if let Ok(patterns) = PATTERNS.read() {
        if let Some(regex) = patterns.get(pattern) {
            return regex.is_match(text);
        }
    }
    let Ok(regex) = regex::Regex::new(pattern) else {
        return false;
    };
    let matched = regex.is_match(text);
    if let Ok(mut patterns) = PATTERNS.write() {
        patterns.insert(pattern.to_owned(), regex);
    }
    matched
}

fn builtin(pattern: &str, text: &str) -> bool {
    REGEXES.get(pattern).is_some_and(|r| r.is_match(text))
}

/// The regular expression a `format` is checked with (ASCII email, as browsers do).
fn format_pattern(format: &str) -> Option<&'static str> {
    Some(match format {
        "email" => EMAIL,
        "uuid" => UUID,
        "date" => DATE,
        "date-time" => DATE_TIME,
        "uri" => URI,
        _ => return None,
    })
}

impl Shape {
    pub fn of(kind: &Kind) -> Shape {
        match kind {
            Kind::Bool => Shape::Bool,
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Shape::Int {
                bits: 32,
                signed: true,
            },
            Kind::Uint32 | Kind::Fixed32 => Shape::Int {
                bits: 32,
                signed: false,
            },
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Shape::Int {
                bits: 64,
                signed: true,
            },
            Kind::Uint64 | Kind::Fixed64 => Shape::Int {
                bits: 64,
                signed: false,
            },
            Kind::Float => Shape::Float { single: true },
            Kind::Double => Shape::Float { single: false },
            Kind::String => Shape::String,
            Kind::Bytes => Shape::Bytes,
            Kind::Enum(e) => Shape::Enum(e.clone()),
            Kind::Message(m) => match m.full_name() {
                "google.protobuf.Timestamp" => Shape::Timestamp,
                "google.protobuf.Duration" => Shape::Duration,
                "google.protobuf.FieldMask" => Shape::FieldMask,
                "google.protobuf.Struct" => Shape::Struct,
                "google.protobuf.Value" => Shape::AnyValue,
                "google.protobuf.ListValue" => Shape::ListValue,
                "google.protobuf.Any" => Shape::Any,
                "google.protobuf.BoolValue" => Shape::Bool,
                "google.protobuf.Int32Value" => Shape::Int {
                    bits: 32,
                    signed: true,
                },
                "google.protobuf.UInt32Value" => Shape::Int {
                    bits: 32,
                    signed: false,
                },
                "google.protobuf.Int64Value" => Shape::Int {
                    bits: 64,
                    signed: true,
                },
                "google.protobuf.UInt64Value" => Shape::Int {
                    bits: 64,
                    signed: false,
                },
                "google.protobuf.FloatValue" => Shape::Float { single: true },
                "google.protobuf.DoubleValue" => Shape::Float { single: false },
                "google.protobuf.StringValue" => Shape::String,
                "google.protobuf.BytesValue" => Shape::Bytes,
                _ => Shape::Message(m.clone()),
            },
        }
    }

    /// A value that fits in a URL (path segment or query parameter).
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Shape::Message(_) | Shape::Struct | Shape::AnyValue | Shape::ListValue | Shape::Any
        )
    }

    fn int_range(bits: u8, signed: bool) -> (i128, i128) {
        match (bits, signed) {
            (32, true) => (i32::MIN.into(), i32::MAX.into()),
            (32, false) => (0, u32::MAX.into()),
            (_, true) => (-999_999_999_999_999_999, 999_999_999_999_999_999),
            (_, false) => (0, 9_999_999_999_999_999_999),
        }
    }

    /// The JSON Schema of one value of this shape (`$ref`s into `#/components/schemas`).
    pub fn schema(&self) -> Value {
        match self {
            Shape::Bool => json!({"type": "boolean"}),
            Shape::Int { bits, signed } => {
                let (min, max) = Self::int_range(*bits, *signed);
                let format = format!("{}int{bits}", if *signed { "" } else { "u" });
                if *bits == 32 {
                    json!({"type": "integer", "format": format, "minimum": min as i64, "maximum": max as i64})
                } else {
                    // proto3 JSON writes 64-bit integers as strings and reads either form.
                    json!({"type": ["string", "integer"], "format": format,
                           "pattern": if *signed { INT64 } else { UINT64 },
                           "minimum": min as f64, "maximum": max as f64})
                }
            }
            Shape::Float { single: true } => {
                json!({"type": "number", "format": "float", "minimum": -F32_MAX, "maximum": F32_MAX})
            }
            Shape::Float { single: false } => json!({"type": "number", "format": "double"}),
            Shape::String => json!({"type": "string"}),
            Shape::Bytes => {
                json!({"type": "string", "contentEncoding": "base64", "pattern": BASE64})
            }
            Shape::Enum(e) => {
                let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                json!({"type": "string", "enum": names})
            }
            Shape::Message(m) => json!({"$ref": format!("#/components/schemas/{}", m.full_name())}),
            Shape::Timestamp => {
                json!({"type": "string", "format": "date-time", "pattern": DATE_TIME})
            }
            Shape::Duration => json!({"type": "string", "pattern": DURATION}),
            Shape::FieldMask => json!({"type": "string"}),
            Shape::Struct => json!({"type": "object"}),
            Shape::AnyValue => json!({}),
            Shape::ListValue => json!({"type": "array"}),
            Shape::Any => {
                json!({"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]})
            }
        }
    }

    /// Checks a JSON value has this shape; `Err` says what is wrong.
    pub fn check(&self, value: &Value, rules: &RuleTable) -> Result<(), String> {
        let fail = |expected: &str| Err(format!("{} is not {expected}", describe(value)));
        match self {
            Shape::Bool if value.is_boolean() => Ok(()),
            Shape::Bool => fail("a boolean"),
            Shape::Int { bits, signed } => {
                let (min, max) = Self::int_range(*bits, *signed);
                let n = match value {
                    Value::Number(n) => n
                        .as_i64()
                        .map(i128::from)
                        .or_else(|| n.as_u64().map(i128::from))
                        .or_else(|| {
                            n.as_f64()
                                .filter(|f| f.fract() == 0.0 && f.abs() < 1e20)
                                .map(|f| f as i128)
                        }),
                    Value::String(s)
                        if *bits == 64 && builtin(if *signed { INT64 } else { UINT64 }, s) =>
                    {
                        s.parse::<i128>().ok()
                    }
                    _ => None,
                };
                match n {
                    Some(n) if (min..=max).contains(&n) => Ok(()),
                    Some(_) => Err(format!("{} is outside [{min}, {max}]", describe(value))),
                    None if *bits == 64 => {
                        fail("an integer (a number or a string of up to 18 digits)")
                    }
                    None => fail("an integer"),
                }
            }
            Shape::Float { single } => match value.as_f64() {
                Some(f) if *single && f.abs() > F32_MAX => {
                    Err(format!("{f} is outside the float range"))
                }
                Some(_) => Ok(()),
                None => fail("a number"),
            },
            Shape::String | Shape::FieldMask if value.is_string() => Ok(()),
            Shape::String | Shape::FieldMask => fail("a string"),
            Shape::Bytes => match value.as_str() {
                Some(s) if builtin(BASE64, s) => Ok(()),
                _ => fail("base64 text (standard alphabet, padded)"),
            },
            Shape::Enum(e) => match value.as_str() {
                Some(s) if e.get_value_by_name(s).is_some() => Ok(()),
                _ => fail(&format!(
                    "one of {}",
                    e.values()
                        .map(|v| v.name().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            Shape::Message(m) => check_message(m, value, rules, &[]),
            Shape::Timestamp => match value.as_str() {
                Some(s) if builtin(DATE_TIME, s) => Ok(()),
                _ => fail("an RFC 3339 date-time"),
            },
            Shape::Duration => match value.as_str() {
                Some(s) if builtin(DURATION, s) => Ok(()),
                _ => fail("a duration such as \"1.5s\""),
            },
            Shape::Struct | Shape::Any if value.is_object() => Ok(()),
            Shape::Struct | Shape::Any => fail("an object"),
            Shape::ListValue if value.is_array() => Ok(()),
            Shape::ListValue => fail("an array"),
            Shape::AnyValue => Ok(()),
        }
    }

    /// Reads a path or query value into its JSON form (to be checked with [`Shape::check`]).
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        let fail = |expected: &str| Err(format!("{text:?} is not {expected}"));
        match self {
            Shape::Bool => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => fail("true or false"),
            },
            Shape::Int { bits: 64, .. } => Ok(Value::String(text.to_owned())),
            Shape::Int { .. } => match text.parse::<i64>() {
                Ok(n) => Ok(Value::from(n)),
                Err(_) => fail("an integer"),
            },
            Shape::Float { .. } => match text.parse::<f64>().ok().filter(|f| f.is_finite()) {
                Some(f) => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or(())
                    .or_else(|()| fail("a number")),
                None => fail("a finite number"),
            },
            Shape::Message(_) | Shape::Struct | Shape::AnyValue | Shape::ListValue | Shape::Any => {
                fail("allowed here (messages go in the body)")
            }
            _ => Ok(Value::String(text.to_owned())),
        }
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The JSON Schema of a field (list, map or single value) with its rules applied.
pub fn field_schema(field: &FieldDescriptor, rules: &RuleTable) -> Value {
    let shape = Shape::of(&field.kind());
    let rule = rules.get(field.full_name());
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({"type": "object"});
        };
        let value = entry.map_entry_value_field();
        return json!({"type": "object", "additionalProperties": with_rules(Shape::of(&value.kind()).schema(), rule)});
    }
    let item = with_rules(shape.schema(), rule);
    if field.is_list() {
        let mut list = Map::new();
        list.insert("type".into(), "array".into());
        list.insert("items".into(), item);
        if let Some(r) = rule {
            if let Some(n) = r.min_items {
                list.insert("minItems".into(), n.into());
            }
            if let Some(n) = r.max_items {
                list.insert("maxItems".into(), n.into());
            }
        }
        return Value::Object(list);
    }
    item
}

fn with_rules(mut schema: Value, rule: Option<&FieldRules>) -> Value {
    let (Some(rule), Some(map)) = (rule, schema.as_object_mut()) else {
        return schema;
    };
    if let Some(lo) = rule.minimum {
        let lo = map
            .get("minimum")
            .and_then(Value::as_f64)
            .map_or(lo, |t| t.max(lo));
        map.insert("minimum".into(), number(lo));
    }
    if let Some(hi) = rule.maximum {
        let hi = map
            .get("maximum")
            .and_then(Value::as_f64)
            .map_or(hi, |t| t.min(hi));
        map.insert("maximum".into(), number(hi));
    }
    if let Some(n) = rule.min_length {
        map.insert("minLength".into(), n.into());
    }
    if let Some(n) = rule.max_length {
        map.insert("maxLength".into(), n.into());
    }
    if let Some(p) = &rule.pattern {
        map.insert("pattern".into(), p.clone().into());
    }
    if let Some(f) = &rule.format {
        map.insert("format".into(), f.clone().into());
    }
    schema
}

/// Whole numbers as JSON integers (`-90`, not `-90.0`).
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Checks a field's JSON value: shape, then list/map structure and the field's rules.
pub fn check_field(
    field: &FieldDescriptor,
    value: &Value,
    rules: &RuleTable,
) -> Result<(), String> {
    let at = |e: String| format!("{}: {e}", field.name());
    let rule = rules.get(field.full_name());
    let shape = Shape::of(&field.kind());
    if value.is_null() && !matches!(shape, Shape::AnyValue) {
        return Err(at("null is not allowed; leave the field out instead".into()));
    }
    if field.is_map() {
        let (Value::Object(entries), Kind::Message(entry)) = (value, field.kind()) else {
            return Err(at(format!("{} is not an object", describe(value))));
        };
        let shape = Shape::of(&entry.map_entry_value_field().kind());
        for (key, v) in entries {
            shape
                .check(v, rules)
                .and_then(|()| check_rules(v, rule))
                .map_err(|e| at(format!("[{key:?}]: {e}")))?;
        }
        return Ok(());
    }
    if field.is_list() {
        let Value::Array(items) = value else {
            return Err(at(format!("{} is not an array", describe(value))));
        };
        if let Some(r) = rule {
            if r.min_items.is_some_and(|n| (items.len() as u64) < n)
                || r.max_items.is_some_and(|n| items.len() as u64 > n)
            {
                return Err(at(format!(
                    "{} items is outside [{}, {}]",
                    items.len(),
                    r.min_items.unwrap_or(0),
                    r.max_items.map_or("∞".into(), |n| n.to_string())
                )));
            }
        }
        for (i, item) in items.iter().enumerate() {
            shape
                .check(item, rules)
                .and_then(|()| check_rules(item, rule))
                .map_err(|e| at(format!("[{i}]: {e}")))?;
        }
        return Ok(());
    }
    shape
        .check(value, rules)
        .and_then(|()| check_rules(value, rule))
        .map_err(|e| {
            // Nested messages already name their field.
            if matches!(shape, Shape::Message(_)) {
                format!("{}.{e}", field.name())
            } else {
                at(e)
            }
        })
}

fn check_rules(value: &Value, rule: Option<&FieldRules>) -> Result<(), String> {
    let Some(rule) = rule else { return Ok(()) };
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if rule.minimum.is_some() || rule.maximum.is_some() => {
            s.parse::<f64>().ok()
        }
        _ => None,
    };
    if let Some(n) = number {
        if rule.minimum.is_some_and(|lo| n < lo) || rule.maximum.is_some_and(|hi| n > hi) {
            let bound = |b: Option<f64>| b.map_or("∞".to_owned(), |b| b.to_string());
            return Err(format!(
                "{n} is outside [{}, {}]",
                rule.minimum.map_or("-∞".to_owned(), |b| b.to_string()),
                bound(rule.maximum)
            ));
        }
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if rule.min_length.is_some_and(|n| len < n) {
            return Err(format!(
                "{len} characters is fewer than {}",
                rule.min_length.unwrap_or(0)
            ));
        }
        if rule.max_length.is_some_and(|n| len > n) {
            return Err(format!(
                "{len} characters is more than {}",
                rule.max_length.unwrap_or(0)
            ));
        }
        if let Some(p) = &rule.pattern {
            if !pattern_matches(p, s) {
                return Err(format!(
                    "{} does not match the pattern {p:?}",
                    describe(value)
                ));
            }
        }
        if let Some(pattern) = rule.format.as_deref().and_then(format_pattern) {
            if !builtin(pattern, s) {
                return Err(format!(
                    "{} is not a valid {}",
                    describe(value),
                    rule.format.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

/// Checks a JSON object against a message: known fields only (proto or JSON names, not in
/// `exclude`), each field's value, and required fields present.
pub fn check_message(
    message: &MessageDescriptor,
    value: &Value,
    rules: &RuleTable,
    exclude: &[String],
) -> Result<(), String> {
    let Value::Object(object) = value else {
        return Err(format!("{} is not an object", describe(value)));
    };
    for (key, v) in object {
        // Proto names first: query and path values are stored under them.
        let field = message
            .get_field_by_name(key)
            .or_else(|| message.get_field_by_json_name(key))
            .filter(|f| !exclude.iter().any(|e| e == f.name()))
            .ok_or_else(|| format!("{key}: unknown field of {}", message.full_name()))?;
        check_field(&field, v, rules)?;
    }
    for field in message.fields() {
        let required = rules.get(field.full_name()).is_some_and(|r| r.required);
        if required
            && !exclude.iter().any(|e| e == field.name())
            && !object.contains_key(field.json_name())
            && !object.contains_key(field.name())
        {
            return Err(format!("{}: required field missing", field.name()));
        }
    }
    Ok(())
}
