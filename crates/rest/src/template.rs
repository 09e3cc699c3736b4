//! `google.api.http` path templates (pure): parsing, matching a request path, and the route
//! and OpenAPI forms of a template.
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
//! ```
//! `{field}` means `{field=*}`. A variable's value is the matched segments joined by `/`,
//! literal ones included (`{name=shelves/*}` on `/v1/shelves/7` gives `name = "shelves/7"`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: one segment.
    Any,
    /// `**`: zero or more segments, last only.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Dotted field path, e.g. `sub.subfield`.
    pub field: String,
    /// Index range of the variable's segments in [`PathTemplate::segments`].
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub text: String,
    pub segments: Vec<Segment>,
    pub variables: Vec<Variable>,
    /// A custom verb (`:cancel`), matched as a suffix of the last segment.
    pub verb: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path template {template:?}: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: String,
}

impl PathTemplate {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let fail = |reason: &str| TemplateError {
            template: text.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with '/'"))?;
        // The verb is a ':' after the last '/' and outside braces.
        let (body, verb) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') && !rest[i..].contains('}') => {
                (&rest[..i], Some(rest[i + 1..].to_owned()))
            }
            _ => (rest, None),
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut chars = body;
        while !chars.is_empty() {
            if let Some(inner) = chars.strip_prefix('{') {
                let close = inner.find('}').ok_or_else(|| fail("unclosed '{'"))?;
                let (field, pattern) = match inner[..close].split_once('=') {
                    Some((f, p)) => (f, p),
                    None => (&inner[..close], "*"),
                };
                if field.is_empty()
                    || !field.split('.').all(|p| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                {
                    return Err(fail(&format!("bad field path {field:?} in a variable")));
                }
                if variables.iter().any(|v: &Variable| v.field == field) {
                    return Err(fail(&format!("field {field:?} bound twice")));
                }
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_segment(part).map_err(|r| fail(&r))?);
                }
                variables.push(Variable {
                    field: field.to_owned(),
                    start,
                    end: segments.len(),
                });
                chars = &inner[close + 1..];
            } else {
                let end = chars.find('/').unwrap_or(chars.len());
                let part = &chars[..end];
                if part.contains('{') || part.contains('}') {
                    return Err(fail("a variable must be a whole segment"));
                }
                segments.push(parse_segment(part).map_err(|r| fail(&r))?);
                chars = &chars[end..];
            }
            if let Some(next) = chars.strip_prefix('/') {
                if next.is_empty() {
                    return Err(fail("trailing '/'"));
                }
                chars = next;
            } else if !chars.is_empty() {
                return Err(fail("expected '/' after a variable"));
            }
        }
        if let Some(i) = segments.iter().position(|s| *s == Segment::Rest) {
            if i + 1 != segments.len() {
                return Err(fail("'**' must be the last segment"));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
            variables,
            verb,
        })
    }

    /// The axum route path: literals kept, each `*` a capture, `**` a catch-all. Captures
    /// are named by position so templates differing only in field names share a route.
    pub fn route_path(&self) -> String {
        let mut out = String::new();
        for (i, segment) in self.segments.iter().enumerate() {
            out.push('/');
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Any => out.push_str(&format!("{{p{i}}}")),
                Segment::Rest => out.push_str(&format!("{{*p{i}}}")),
            }
        }
        if let Some(verb) = &self.verb {
            if matches!(self.segments.last(), Some(Segment::Literal(_))) {
                out.push(':');
                out.push_str(verb);
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// The OpenAPI path: each variable one `{field}` parameter; a variable's literal
    /// segments stay in the path (`{name=shelves/*}` → `/shelves/{name}`), and
    /// [`PathTemplate::variable_prefix`] tells the server what to put back.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.segments.len() {
            if let Some(v) = self.variables.iter().find(|v| v.start == i) {
                for segment in &self.segments[v.start..v.end] {
                    out.push('/');
                    match segment {
                        Segment::Literal(l) => out.push_str(l),
                        _ => {
                            out.push_str(&format!("{{{}}}", v.field));
                            break;
                        }
                    }
                }
                i = v.end;
            } else {
                out.push('/');
                match &self.segments[i] {
                    Segment::Literal(l) => out.push_str(l),
                    Segment::Any => out.push('*'),
                    Segment::Rest => out.push_str("**"),
                }
                i += 1;
            }
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// Matches a request path (still percent-encoded) and returns each variable's field
    /// path and decoded value, or `None` when the path does not fit.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut path = path.strip_prefix('/')?;
        if let Some(verb) = &self.verb {
            path = path.strip_suffix(verb.as_str())?.strip_suffix(':')?;
        }
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        // Segment index → matched text range in `parts`.
        let mut spans = Vec::with_capacity(self.segments.len());
        let mut p = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => {
                    if parts.get(p) != Some(&l.as_str()) {
                        return None;
                    }
                    spans.push((p, p + 1));
                    p += 1;
                }
                Segment::Any => {
                    if parts.get(p).is_none_or(|s| s.is_empty()) {
                        return None;
                    }
                    spans.push((p, p + 1));
                    p += 1;
                }
                Segment::Rest => {
                    spans.push((p, parts.len()));
                    p = parts.len();
                }
            }
        }
        if p != parts.len() {
            return None;
        }
        self.variables
            .iter()
            .map(|v| {
                let (from, to) = if v.start == v.end {
                    (0, 0)
                } else {
                    (spans[v.start].0, spans[v.end - 1].1)
                };
                let single = self.segments[v.start..v.end] == [Segment::Any];
                let decoded: Option<Vec<String>> = parts[from..to]
                    .iter()
                    .map(|s| percent_decode(s, single))
                    .collect();
                Some((v.field.clone(), decoded?.join("/")))
            })
            .collect()
    }

    /// For a variable whose template starts with literals and then one `*`
    /// (`{name=shelves/*}`), the literal prefix (`shelves/`) the OpenAPI form leaves in
    /// the path.
    pub fn variable_prefix(&self, variable: &Variable) -> String {
        let mut prefix = String::new();
        for segment in &self.segments[variable.start..variable.end] {
            match segment {
                Segment::Literal(l) => {
                    prefix.push_str(l);
                    prefix.push('/');
                }
                _ => break,
            }
        }
        prefix
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_segment(part: &str) -> Result<Segment, String> {
    match part {
        "" => Err("empty segment".to_owned()),
        "*" => Ok(Segment::Any),
        "**" => Ok(Segment::Rest),
        literal if literal.contains(['*', '{', '}', '=']) => {
            Err(format!("bad literal segment {literal:?}"))
        }
        literal => Ok(Segment::Literal(literal.to_owned())),
    }
}

/// Percent-decodes one path segment; `None` for bad escapes or invalid UTF-8. In a
/// single-segment variable `%2F` decodes to `/`; in a multi-segment one it stays encoded
/// (google.api.http's rule).
fn percent_decode(segment: &str, single: bool) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if byte == b'/' && !single {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(byte);
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template).unwrap().matches(path)
    }

    #[test]
    fn simple_variables() {
        let t = PathTemplate::parse("/v1/users/{id}").unwrap();
        assert_eq!(t.route_path(), "/v1/users/{p2}");
        assert_eq!(t.openapi_path(), "/v1/users/{id}");
        assert_eq!(
            t.matches("/v1/users/a%20b"),
            Some(vec![("id".into(), "a b".into())])
        );
        assert_eq!(t.matches("/v1/users/"), None);
        assert_eq!(t.matches("/v1/users/1/x"), None);
        assert_eq!(t.matches("/v1/users/%zz"), None);
    }

    #[test]
    fn multi_segment_variables_keep_their_literals() {
        let t = PathTemplate::parse("/v1/{name=shelves/*}/books/{book.id}").unwrap();
        assert_eq!(t.openapi_path(), "/v1/shelves/{name}/books/{book.id}");
        assert_eq!(t.variable_prefix(&t.variables[0]), "shelves/");
        assert_eq!(
            t.matches("/v1/shelves/7/books/9"),
            Some(vec![
                ("name".into(), "shelves/7".into()),
                ("book.id".into(), "9".into())
            ])
        );
        assert_eq!(t.matches("/v1/racks/7/books/9"), None);
        assert_eq!(
            vars("/v1/{path=**}", "/v1/a/b%2Fc"),
            Some(vec![("path".into(), "a/b%2Fc".into())])
        );
    }

    #[test]
    fn verbs_and_literals() {
        let t = PathTemplate::parse("/v1/jobs/{id}:cancel").unwrap();
        assert_eq!(t.verb.as_deref(), Some("cancel"));
        assert_eq!(
            t.matches("/v1/jobs/4:cancel"),
            Some(vec![("id".into(), "4".into())])
        );
        assert_eq!(t.matches("/v1/jobs/4"), None);
        assert_eq!(
            PathTemplate::parse("/v1/search").unwrap().route_path(),
            "/v1/search"
        );
        assert_eq!(vars("/v1/search", "/v1/search"), Some(vec![]));
    }

    #[test]
    fn bad_templates_say_why() {
        for (text, reason) in [
            ("v1/x", "must start with '/'"),
            ("/v1/{id", "unclosed '{'"),
            ("/v1/{}", "bad field path \"\" in a variable"),
            ("/v1/**/x", "'**' must be the last segment"),
            ("/v1/x/", "trailing '/'"),
            ("/v1/{a}/{a}", "field \"a\" bound twice"),
            ("/v1/a{b}", "a variable must be a whole segment"),
        ] {
            assert_eq!(
                PathTemplate::parse(text).unwrap_err().reason,
                reason,
                "{text}"
            );
        }
    }
}
