//! The display order of a trace's spans, shared by the JSON API and the waterfall.

use std::collections::HashMap;

use crate::{Span, SpanId};

/// `(index into spans, depth)` in tree order: each span followed by its children, siblings
/// by start time (then span id). Roots and orphans (whose parent is not in `spans`) are at
/// depth 0; spans caught in a parent cycle are placed at depth 0 too, once each.
pub(crate) fn tree_order(spans: &[Span]) -> Vec<(usize, usize)> {
    let key = |&i: &usize| (spans[i].start_unix_nanos, spans[i].span_id, i);
    let mut index: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
    for (i, span) in spans.iter().enumerate() {
        index.entry(span.span_id).or_insert(i);
    }
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut top = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match span.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
            _ => top.push(i),
        }
    }
    for siblings in children.values_mut() {
        siblings.sort_by_key(key);
    }
    let mut rest: Vec<usize> = (0..spans.len()).collect();
    top.sort_by_key(key);
    rest.sort_by_key(key);

    let mut order = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    // Explicit stack: a chain of 100,000 spans must not overflow the thread's stack.
    let mut stack = Vec::new();
    for start in top.into_iter().chain(rest) {
        if visited[start] {
            continue;
        }
        stack.push((start, 0));
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut visited[i], true) {
                continue;
            }
            order.push((i, depth));
            if let Some(kids) = children.get(&i) {
                stack.extend(kids.iter().rev().map(|&kid| (kid, depth + 1)));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::span;

    fn names(spans: &[Span]) -> Vec<(String, usize)> {
        tree_order(spans)
            .into_iter()
            .map(|(i, depth)| (spans[i].name.clone(), depth))
            .collect()
    }

    fn expected(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
        pairs.iter().map(|(n, d)| (n.to_string(), *d)).collect()
    }

    #[test]
    fn children_follow_parents_by_start_and_orphans_are_top_level() {
        let spans = [
            span(1, 5, Some(9), "x", "orphan", 50, 60),
            span(1, 3, Some(1), "x", "second child", 30, 40),
            span(1, 2, Some(1), "x", "first child", 20, 25),
            span(1, 4, Some(2), "x", "grandchild", 21, 22),
            span(1, 1, None, "x", "root", 10, 100),
        ];
        assert_eq!(
            names(&spans),
            expected(&[
                ("root", 0),
                ("first child", 1),
                ("grandchild", 2),
                ("second child", 1),
                ("orphan", 0),
            ])
        );
    }

    #[test]
    fn cycles_and_self_parents_still_show_every_span_once() {
        let spans = [
            span(1, 1, Some(2), "x", "a", 10, 20),
            span(1, 2, Some(1), "x", "b", 15, 20),
            span(1, 3, Some(3), "x", "self", 5, 6),
        ];
        assert_eq!(names(&spans), expected(&[("self", 0), ("a", 0), ("b", 1)]));
    }

    #[test]
    fn a_deep_chain_does_not_overflow() {
        let spans: Vec<Span> = (0..50_000u32)
            .map(|i| {
                let mut s = span(1, 1, None, "x", "deep", u64::from(i), u64::from(i) + 1);
                s.span_id =
                    crate::SpanId::from_bytes(u64::from(i + 1).to_be_bytes()).expect("non-zero");
                s.parent_span_id = crate::SpanId::from_bytes(u64::from(i).to_be_bytes());
                s
            })
            .collect();
        let order = tree_order(&spans);
        assert_eq!(order.last(), Some(&(49_999, 49_999)));
    }
}
