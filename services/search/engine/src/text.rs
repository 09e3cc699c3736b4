//! Name normalization and match classes.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Normalizes a name or query for comparison: Unicode NFKD, combining marks dropped,
/// lowercased, every character that is not a letter or digit turned into a space, runs of
/// spaces collapsed, ends trimmed.
///
/// So `"Île-de-France"` becomes `"ile de france"` and `"São Paulo"` `"sao paulo"`. An
/// empty result means the text has no letter or digit.
pub fn normalize_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    // Lowercasing can itself produce combining marks ('İ' → "i\u{307}"), hence the
    // mark filter after it as well as before.
    for c in s
        .nfkd()
        .filter(|&c| !is_combining_mark(c))
        .flat_map(char::to_lowercase)
        .filter(|&c| !is_combining_mark(c))
    {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// How well a query matches a name; the derived order is best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchClass {
    /// The normalized name equals the normalized query.
    Exact,
    /// The name starts with the query.
    Prefix,
    /// A later word of the name starts with the query.
    WordPrefix,
    /// The query occurs elsewhere inside the name.
    Substring,
}

/// Classifies how `needle` matches `name`; both must already be [`normalize_name`]d.
/// `None` if the name does not contain the needle at all.
pub fn match_class(needle: &str, name: &str) -> Option<MatchClass> {
    if name == needle {
        Some(MatchClass::Exact)
    } else if name.starts_with(needle) {
        Some(MatchClass::Prefix)
    } else {
        // Overlapping occurrences matter: in "xa a a", "a a" is a word prefix only at
        // the second occurrence, which overlaps the first.
        let mut found = None;
        let mut from = 0;
        while let Some(off) = name.get(from..).and_then(|rest| rest.find(needle)) {
            let i = from + off;
            // Normalized text separates words with ASCII spaces only.
            if name.as_bytes().get(i.wrapping_sub(1)) == Some(&b' ') {
                return Some(MatchClass::WordPrefix);
            }
            found = Some(MatchClass::Substring);
            from = i + name[i..].chars().next().map_or(1, char::len_utf8);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(normalize_name("Île-de-France"), "ile de france");
        assert_eq!(normalize_name("São Paulo"), "sao paulo");
        assert_eq!(
            normalize_name("  UNITED   States\tof/America!! "),
            "united states of america"
        );
        assert_eq!(normalize_name("Côte d'Ivoire"), "cote d ivoire");
        assert_eq!(normalize_name("İstanbul"), "istanbul");
        assert_eq!(normalize_name("Ｔｏｋｙｏ"), "tokyo"); // fullwidth, folded by NFKD
        assert_eq!(normalize_name("Åland 2"), "aland 2");
        assert_eq!(normalize_name("東京都"), "東京都");
        assert_eq!(normalize_name(" -- ' "), "");
        assert_eq!(normalize_name(""), "");
    }

    #[test]
    fn classes() {
        use MatchClass::*;
        let name = normalize_name("United States of America");
        assert_eq!(match_class(&normalize_name("UNITED"), &name), Some(Prefix));
        assert_eq!(match_class("united states of america", &name), Some(Exact));
        assert_eq!(match_class("states of", &name), Some(WordPrefix));
        assert_eq!(match_class("ates", &name), Some(Substring));
        assert_eq!(match_class("canada", &name), None);
        // A substring hit before a word-prefix hit must not hide the better class.
        assert_eq!(match_class("an", "iran and"), Some(WordPrefix));
        assert_eq!(match_class("a a", "xa a a"), Some(WordPrefix));
        assert_eq!(match_class("é", "café"), Some(Substring));
        assert_eq!(
            match_class("ile de france", &normalize_name("Île-de-France")),
            Some(Exact)
        );
        assert!(Exact < Prefix && Prefix < WordPrefix && WordPrefix < Substring);
    }
}
