//! A service name and every spelling the templates need (pure).

use crate::Error;

/// Rust keywords and names the template's own modules take: a resource may not be called
/// one of these (`tern new stores` would make `mod store` twice).
const RESERVED: &[&str] = &[
    "api", "config", "store", "proto", "main", "lib", "tests", "as", "async", "await", "break",
    "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen", "std", "core", "alloc", "test",
];
const MAX_LEN: usize = 40;

/// `order-items` spelled for each place it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// As given: the directory, package, binary, registry and REST collection name.
    pub name: String,
    /// The Rust crate and Python module: `order_items`.
    pub module: String,
    /// The protobuf package: `order_items.v1`.
    pub package: String,
    /// One of them, in snake case (`order_item`), Pascal case (`OrderItem`) and words
    /// (`order item`); the collection likewise (`order_items`, `OrderItems`, `order items`),
    /// and as the proto3 JSON field name of a list of them (`orderItems`).
    pub resource: String,
    pub resource_pascal: String,
    pub noun: String,
    pub resources: String,
    pub resources_pascal: String,
    pub nouns: String,
    pub resources_json: String,
}

impl Names {
    /// Checks `name` (lowercase ASCII letters, digits and single dashes, starting with a
    /// letter, at most 40 characters) and spells it out. The resource is the name made
    /// singular the simple English way (`users` → `user`, `categories` → `category`,
    /// `inventory` stays).
    pub fn new(name: &str) -> Result<Names, Error> {
        let bad = |reason: &str| Error::BadName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > MAX_LEN {
            return Err(bad("it must be 1 to 40 characters long"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad("it must start with a lowercase letter"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad(
                "use lowercase letters, digits and dashes only (e.g. order-items)",
            ));
        }
        if name.ends_with('-') || name.contains("--") {
            return Err(bad("dashes go between words, one at a time"));
        }
        if name.starts_with("tern") {
            return Err(bad(
                "names starting with `tern` belong to tern's own crates",
            ));
        }
        let words: Vec<&str> = name.split('-').collect();
        let (last, first) = words.split_last().expect("split gives at least one word");
        let last = singular(last);
        let singular: Vec<&str> = first.iter().copied().chain([last.as_str()]).collect();
        let resource = singular.join("_");
        for word in [name.replace('-', "_"), resource.clone()] {
            if RESERVED.contains(&word.as_str()) {
                return Err(bad(&format!(
                    "`{word}` is a Rust keyword or a module the template already has"
                )));
            }
        }
        Ok(Names {
            name: name.to_owned(),
            module: name.replace('-', "_"),
            package: format!("{}.v1", name.replace('-', "_")),
            resource_pascal: pascal(&singular),
            noun: singular.join(" "),
            resource,
            resources: words.join("_"),
            resources_pascal: pascal(&words),
            nouns: words.join(" "),
            resources_json: camel(&words),
        })
    }

    /// Every `{{placeholder}}` a template may hold, with its value.
    pub(crate) fn placeholders(&self) -> [(&'static str, &str); 11] {
        [
            ("{{name}}", &self.name),
            ("{{crate}}", &self.module),
            ("{{module}}", &self.module),
            ("{{package}}", &self.package),
            ("{{resource}}", &self.resource),
            ("{{Resource}}", &self.resource_pascal),
            ("{{noun}}", &self.noun),
            ("{{resources}}", &self.resources),
            ("{{Resources}}", &self.resources_pascal),
            ("{{nouns}}", &self.nouns),
            ("{{resources_json}}", &self.resources_json),
        ]
    }
}

fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| !s.is_empty()) {
        return format!("{stem}y");
    }
    if ["sses", "shes", "ches", "xes"]
        .iter()
        .any(|s| word.ends_with(s))
    {
        return word[..word.len() - 2].to_owned();
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.is_empty() && !stem.ends_with('s') && !stem.ends_with('u') => {
            stem.to_owned()
        }
        _ => word.to_owned(),
    }
}

fn pascal(words: &[&str]) -> String {
    words.iter().map(|w| capitalized(w)).collect()
}

fn camel(words: &[&str]) -> String {
    let mut out = words[0].to_owned();
    out.extend(words[1..].iter().map(|w| capitalized(w)));
    out
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_spelled_for_every_place() {
        let names = Names::new("order-items").unwrap();
        assert_eq!(names.module, "order_items");
        assert_eq!(names.package, "order_items.v1");
        assert_eq!(
            (
                names.resource.as_str(),
                names.resource_pascal.as_str(),
                names.noun.as_str()
            ),
            ("order_item", "OrderItem", "order item")
        );
        assert_eq!(
            (
                names.resources.as_str(),
                names.resources_pascal.as_str(),
                names.resources_json.as_str()
            ),
            ("order_items", "OrderItems", "orderItems")
        );
    }

    #[test]
    fn plurals_become_singular_the_simple_way() {
        for (name, resource) in [
            ("users", "user"),
            ("notes", "note"),
            ("categories", "category"),
            ("addresses", "address"),
            ("inventory", "inventory"),
            ("status", "status"),
            ("order-items", "order_item"),
        ] {
            assert_eq!(Names::new(name).unwrap().resource, resource, "{name}");
        }
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("", "1 to 40"),
            ("Users", "lowercase letter"),
            ("9lives", "lowercase letter"),
            ("order_items", "dashes only"),
            ("a b", "dashes only"),
            ("orders-", "between words"),
            ("a--b", "between words"),
            ("tern-x", "tern's own"),
            ("stores", "module the template already has"),
            ("types", "Rust keyword"),
            ("boxes", "Rust keyword"),
            ("self", "Rust keyword"),
        ] {
            let error = Names::new(name).unwrap_err().to_string();
            assert!(error.contains(why), "{name:?}: {error}");
        }
        assert!(Names::new(&"a".repeat(41)).is_err());
    }
}
