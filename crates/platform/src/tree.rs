//! A TOML document as a tree in which every key and value remembers the file and the byte
//! span it came from, and the overlay merge on that tree.
//!
//! Why not serde with `Spanned` fields: toml 0.8 gives implicit and dotted tables
//! (`health.kind = "tcp"`, `[services.py.health]` under an implicit `services.py`) no span,
//! and its type errors carry neither the key path nor our wording. The tree keeps every
//! location, so after the merge each value still points into the file it came from.

use std::collections::BTreeMap;

use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

/// Which of the two files a location is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FileId {
    Base,
    Overlay,
}

/// A byte span in one file. Ordered by file, then position: "earlier" means earlier in
/// the base, or anywhere in the overlay after all of the base.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Loc {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Loc {
    fn new(file: FileId, span: std::ops::Range<usize>) -> Self {
        Loc {
            file,
            start: span.start,
            end: span.end,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub loc: Loc,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Table(BTreeMap<String, Entry>),
    Array(Vec<Node>),
    String(String),
    Integer(i64),
    Float,
    Bool(bool),
    Datetime,
}

/// A key (where it is written) and its value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: Loc,
    pub value: Node,
}

impl Node {
    /// What the value is, for "expected X, found a string".
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Table(_) => "a table",
            Kind::Array(_) => "an array",
            Kind::String(_) => "a string",
            Kind::Integer(_) => "an integer",
            Kind::Float => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime => "a datetime",
        }
    }

    fn is_table(&self) -> bool {
        matches!(self.kind, Kind::Table(_))
    }
}

/// Parses one file into a tree (a table). A syntax error is its location and message.
pub(crate) fn parse(text: &str, file: FileId) -> Result<Node, (Loc, String)> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        // toml_edit puts "expected ..." on a second line.
        let message = e.message().trim().replace('\n', ": ");
        (Loc::new(file, span), message)
    })?;
    Ok(table(doc.as_table(), file, Loc::new(file, 0..0)))
}

fn table(t: &Table, file: FileId, fallback: Loc) -> Node {
    let loc = t.span().map_or(fallback, |s| Loc::new(file, s));
    let mut entries = BTreeMap::new();
    for (key, item) in t.iter() {
        let key_loc = t
            .key(key)
            .and_then(|k| k.span())
            .map_or_else(|| loc.clone(), |s| Loc::new(file, s));
        let value = match item {
            Item::None => continue,
            Item::Value(v) => value(v, file, &key_loc),
            Item::Table(t) => table(t, file, key_loc.clone()),
            Item::ArrayOfTables(tables) => Node {
                loc: tables
                    .span()
                    .map_or_else(|| key_loc.clone(), |s| Loc::new(file, s)),
                kind: Kind::Array(
                    tables
                        .iter()
                        .map(|t| table(t, file, key_loc.clone()))
                        .collect(),
                ),
            },
        };
        entries.insert(
            key.to_owned(),
            Entry {
                key: key_loc,
                value,
            },
        );
    }
    Node {
        loc,
        kind: Kind::Table(entries),
    }
}

fn inline_table(t: &InlineTable, file: FileId, loc: Loc) -> Kind {
    let mut entries = BTreeMap::new();
    for (key, v) in t.iter() {
        let key_loc = t
            .key(key)
            .and_then(|k| k.span())
            .map_or_else(|| loc.clone(), |s| Loc::new(file, s));
        let value = value(v, file, &key_loc);
        entries.insert(
            key.to_owned(),
            Entry {
                key: key_loc,
                value,
            },
        );
    }
    Kind::Table(entries)
}

fn value(v: &Value, file: FileId, fallback: &Loc) -> Node {
    let loc = v
        .span()
        .map_or_else(|| fallback.clone(), |s| Loc::new(file, s));
    let kind = match v {
        Value::String(s) => Kind::String(s.value().clone()),
        Value::Integer(n) => Kind::Integer(*n.value()),
        Value::Float(_) => Kind::Float,
        Value::Boolean(b) => Kind::Bool(*b.value()),
        Value::Datetime(_) => Kind::Datetime,
        Value::Array(items) => Kind::Array(items.iter().map(|v| value(v, file, &loc)).collect()),
        Value::InlineTable(t) => inline_table(t, file, loc.clone()),
    };
    Node { loc, kind }
}

/// Deep-merges `over` onto `base`: tables merge key by key, anything else (scalars,
/// arrays, a table replacing a scalar or the reverse) is replaced by the overlay's value.
/// A merged table keeps the base's key location (where it was declared first).
pub(crate) fn merge(base: Node, over: Node) -> Node {
    match (base.kind, over.kind) {
        (Kind::Table(mut entries), Kind::Table(over_entries)) => {
            for (key, o) in over_entries {
                let merged = match entries.remove(&key) {
                    Some(b) if b.value.is_table() && o.value.is_table() => Entry {
                        key: b.key,
                        value: merge(b.value, o.value),
                    },
                    _ => o,
                };
                entries.insert(key, merged);
            }
            Node {
                loc: base.loc,
                kind: Kind::Table(entries),
            }
        }
        (_, kind) => Node {
            loc: over.loc,
            kind,
        },
    }
}

/// `parent.key`, quoting the key when it is not a bare TOML key.
pub(crate) fn child(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}
