//! The bounded in-memory trace store: pure (no I/O, no clock), spans grouped by trace id,
//! traces ordered by their earliest span start.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::{Span, SpanId, TraceId};

/// How many spans a store keeps by default.
pub const DEFAULT_MAX_SPANS: usize = 100_000;

/// How many summaries a list query returns by default.
pub const DEFAULT_LIST_LIMIT: usize = 20;

/// Which traces [`TraceStore::list`] returns; every filter must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceQuery {
    /// Traces with at least one span of this service.
    pub service: Option<String>,
    /// Traces lasting at least this long (earliest start to latest end).
    pub min_duration: Option<Duration>,
    /// Traces with at least one span whose status is ERROR.
    pub errors_only: bool,
    /// At most this many summaries, newest first.
    pub limit: usize,
}

impl Default for TraceQuery {
    fn default() -> Self {
        TraceQuery {
            service: None,
            min_duration: None,
            errors_only: false,
            limit: DEFAULT_LIST_LIMIT,
        }
    }
}

/// One line of the trace list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// The root span's service and name; see [`TraceSummary::of`] for which span is the root.
    pub root_service: String,
    pub root_name: String,
    /// The earliest span start.
    pub start_unix_nanos: u64,
    /// From the earliest start to the latest end.
    pub duration_nanos: u64,
    pub span_count: usize,
    /// Every service with a span in the trace, sorted.
    pub services: Vec<String>,
    /// Whether any span has status ERROR.
    pub error: bool,
}

impl TraceSummary {
    /// The summary of one trace's spans (`None` when there are none). The root is the
    /// earliest span without a parent id; failing that (the root has not arrived yet), the
    /// earliest span whose parent is not among `spans`; failing that (a parent cycle), the
    /// earliest span. Ties on start time go to the smaller span id, so the result does not
    /// depend on the order of `spans`.
    pub fn of<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Option<TraceSummary> {
        let spans: Vec<&Span> = spans.into_iter().collect();
        let ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
        let earliest = |keep: &dyn Fn(&Span) -> bool| {
            spans
                .iter()
                .copied()
                .filter(|span| keep(span))
                .min_by_key(|span| (span.start_unix_nanos, span.span_id))
        };
        let root = earliest(&|span| span.parent_span_id.is_none())
            .or_else(|| earliest(&|span| span.parent_span_id.is_some_and(|p| !ids.contains(&p))))
            .or_else(|| earliest(&|_| true))?;
        let start = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end_unix_nanos).max().unwrap_or(0);
        let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        Some(TraceSummary {
            trace_id: root.trace_id,
            root_service: root.service.clone(),
            root_name: root.name.clone(),
            start_unix_nanos: start,
            duration_nanos: end.saturating_sub(start),
            span_count: spans.len(),
            services: services.into_iter().map(str::to_owned).collect(),
            error: spans.iter().any(|span| span.is_error()),
        })
    }
}

/// Spans grouped by trace, at most `max_spans` of them. When a span would exceed the bound,
/// whole traces are evicted, the one with the earliest start first; a trace is never cut.
/// A span whose id is already stored in its trace replaces it (exporters retry).
#[derive(Debug)]
pub struct TraceStore {
    max_spans: usize,
    span_count: usize,
    traces: HashMap<TraceId, Trace>,
    /// `(trace start, id)` of every trace: eviction takes the first, listing reads backwards.
    by_start: BTreeSet<(u64, TraceId)>,
}

#[derive(Debug)]
struct Trace {
    start: u64,
    spans: HashMap<SpanId, Span>,
}

impl Default for TraceStore {
    fn default() -> Self {
        TraceStore::new(DEFAULT_MAX_SPANS)
    }
}

impl TraceStore {
    /// A store holding at most `max_spans` spans (at least 1).
    pub fn new(max_spans: usize) -> Self {
        TraceStore {
            max_spans: max_spans.max(1),
            span_count: 0,
            traces: HashMap::new(),
            by_start: BTreeSet::new(),
        }
    }

    pub fn max_spans(&self) -> usize {
        self.max_spans
    }

    /// Spans stored, over all traces.
    pub fn span_count(&self) -> usize {
        self.span_count
    }

    pub fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// Stores `span`, then evicts the oldest traces while over the bound (which may be the
    /// span's own trace if it is the oldest). Returns `false`, storing nothing, when the
    /// span's trace alone already holds `max_spans` spans: evicting it for its own growth
    /// would leave nothing.
    pub fn insert(&mut self, span: Span) -> bool {
        let trace_id = span.trace_id;
        let trace = self.traces.entry(trace_id).or_insert_with(|| Trace {
            start: span.start_unix_nanos,
            spans: HashMap::new(),
        });
        let old_start = trace.start;
        let is_new_trace = trace.spans.is_empty();
        let replaced = trace.spans.contains_key(&span.span_id);
        if replaced {
            trace.spans.insert(span.span_id, span);
            // The replaced span may have been the earliest.
            trace.start = trace
                .spans
                .values()
                .map(|s| s.start_unix_nanos)
                .min()
                .unwrap_or(old_start);
        } else if trace.spans.len() >= self.max_spans {
            return false;
        } else {
            trace.start = trace.start.min(span.start_unix_nanos);
            trace.spans.insert(span.span_id, span);
            self.span_count += 1;
        }
        if is_new_trace || trace.start != old_start {
            self.by_start.remove(&(old_start, trace_id));
            self.by_start.insert((trace.start, trace_id));
        }
        self.evict();
        true
    }

    fn evict(&mut self) {
        while self.span_count > self.max_spans {
            let Some((_, oldest)) = self.by_start.pop_first() else {
                return;
            };
            if let Some(trace) = self.traces.remove(&oldest) {
                self.span_count -= trace.spans.len();
            }
        }
    }

    /// Summaries of the traces matching `query`, newest start first.
    pub fn list(&self, query: &TraceQuery) -> Vec<TraceSummary> {
        self.by_start
            .iter()
            .rev()
            .filter_map(|(_, id)| self.traces.get(id))
            .filter(|trace| match &query.service {
                Some(service) => trace.spans.values().any(|s| &s.service == service),
                None => true,
            })
            .filter(|trace| !query.errors_only || trace.spans.values().any(Span::is_error))
            .filter_map(|trace| TraceSummary::of(trace.spans.values()))
            .filter(|summary| match query.min_duration {
                Some(min) => u128::from(summary.duration_nanos) >= min.as_nanos(),
                None => true,
            })
            .take(query.limit)
            .collect()
    }

    /// The spans of one trace ordered by start time (then span id), or `None` if the trace
    /// is not stored.
    pub fn trace(&self, id: &TraceId) -> Option<Vec<Span>> {
        let trace = self.traces.get(id)?;
        let mut spans: Vec<Span> = trace.spans.values().cloned().collect();
        spans.sort_by_key(|span| (span.start_unix_nanos, span.span_id));
        Some(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{span, SpanExt};
    use proptest::prelude::*;

    fn ids(summaries: &[TraceSummary]) -> Vec<u8> {
        summaries
            .iter()
            .map(|s| s.trace_id.as_bytes()[15])
            .collect()
    }

    #[test]
    fn lists_newest_trace_first_with_root_services_and_errors() {
        let mut store = TraceStore::default();
        store.insert(span(1, 1, None, "web", "GET /", 100, 400));
        store.insert(span(1, 2, Some(1), "db", "select", 150, 200));
        store.insert(span(2, 3, None, "web", "GET /cart", 300, 350).error("boom"));
        let list = store.list(&TraceQuery::default());
        assert_eq!(ids(&list), [2, 1]);
        assert_eq!(
            list[1],
            TraceSummary {
                trace_id: span(1, 1, None, "", "", 0, 0).trace_id,
                root_service: "web".into(),
                root_name: "GET /".into(),
                start_unix_nanos: 100,
                duration_nanos: 300,
                span_count: 2,
                services: vec!["db".into(), "web".into()],
                error: false,
            }
        );
        assert!(list[0].error);
    }

    #[test]
    fn filters_by_service_duration_errors_and_limit() {
        let mut store = TraceStore::default();
        store.insert(span(1, 1, None, "web", "a", 100, 200));
        store.insert(span(1, 2, Some(1), "db", "b", 120, 130).error("x"));
        store.insert(span(2, 3, None, "web", "c", 200, 1_200));
        store.insert(span(3, 4, None, "batch", "d", 300, 301));
        let list = |query: TraceQuery| ids(&store.list(&query));
        assert_eq!(list(TraceQuery::default()), [3, 2, 1]);
        let db = Some("db".to_string());
        let web = Some("web".to_string());
        assert_eq!(
            list(TraceQuery {
                service: db,
                ..Default::default()
            }),
            [1]
        );
        assert_eq!(
            list(TraceQuery {
                service: web,
                ..Default::default()
            }),
            [2, 1]
        );
        let min = |nanos| Some(Duration::from_nanos(nanos));
        assert_eq!(
            list(TraceQuery {
                min_duration: min(100),
                ..Default::default()
            }),
            [2, 1]
        );
        assert_eq!(
            list(TraceQuery {
                min_duration: min(101),
                ..Default::default()
            }),
            [2]
        );
        assert_eq!(
            list(TraceQuery {
                errors_only: true,
                ..Default::default()
            }),
            [1]
        );
        assert_eq!(
            list(TraceQuery {
                limit: 2,
                ..Default::default()
            }),
            [3, 2]
        );
        assert_eq!(
            list(TraceQuery {
                limit: 0,
                ..Default::default()
            }),
            [] as [u8; 0]
        );
    }

    #[test]
    fn a_trace_without_its_root_lists_under_its_earliest_orphan() {
        let mut store = TraceStore::default();
        store.insert(span(1, 3, Some(2), "db", "query", 130, 140));
        store.insert(span(1, 2, Some(1), "api", "handler", 120, 150));
        let summary = &store.list(&TraceQuery::default())[0];
        assert_eq!(
            (summary.root_service.as_str(), summary.root_name.as_str()),
            ("api", "handler")
        );
        store.insert(span(1, 1, None, "web", "GET /", 100, 160));
        let summary = &store.list(&TraceQuery::default())[0];
        assert_eq!(
            (summary.root_service.as_str(), summary.root_name.as_str()),
            ("web", "GET /")
        );
        assert_eq!(
            (summary.start_unix_nanos, summary.duration_nanos),
            (100, 60)
        );
    }

    #[test]
    fn a_late_root_that_starts_after_a_skewed_child_is_still_the_root() {
        let spans = [
            span(1, 2, Some(1), "skewed", "child", 90, 95),
            span(1, 1, None, "web", "GET /", 100, 200),
        ];
        let summary = TraceSummary::of(&spans).expect("spans");
        assert_eq!(summary.root_name, "GET /");
        assert_eq!(summary.start_unix_nanos, 90);
    }

    #[test]
    fn evicts_whole_oldest_traces_first() {
        let mut store = TraceStore::new(4);
        store.insert(span(1, 1, None, "a", "old", 100, 110));
        store.insert(span(1, 2, Some(1), "a", "old child", 101, 109));
        store.insert(span(2, 3, None, "a", "mid", 200, 210));
        store.insert(span(3, 4, None, "a", "new", 300, 310));
        assert_eq!(store.span_count(), 4);
        store.insert(span(3, 5, Some(4), "a", "new child", 301, 305));
        assert_eq!(ids(&store.list(&TraceQuery::default())), [3, 2]);
        assert_eq!(store.span_count(), 3);
        assert!(store
            .trace(&span(1, 1, None, "", "", 0, 0).trace_id)
            .is_none());
        // A span older than everything stored is the first to go.
        store.insert(span(4, 6, None, "a", "ancient", 1, 2));
        store.insert(span(4, 7, Some(6), "a", "ancient child", 1, 2));
        assert_eq!(ids(&store.list(&TraceQuery::default())), [3, 2]);
        assert_eq!(store.trace_count(), 2);
    }

    #[test]
    fn a_trace_never_grows_past_the_bound() {
        let mut store = TraceStore::new(2);
        assert!(store.insert(span(1, 1, None, "a", "root", 100, 200)));
        assert!(store.insert(span(1, 2, Some(1), "a", "one", 110, 120)));
        assert!(!store.insert(span(1, 3, Some(1), "a", "two", 130, 140)));
        assert_eq!(
            store
                .trace(&span(1, 1, None, "", "", 0, 0).trace_id)
                .map(|s| s.len()),
            Some(2)
        );
        // A replacement is not growth.
        assert!(store.insert(span(1, 2, Some(1), "a", "one again", 110, 125)));
        assert_eq!(store.span_count(), 2);
    }

    #[test]
    fn a_resent_span_replaces_the_stored_one_and_moves_the_trace_start() {
        let mut store = TraceStore::default();
        store.insert(span(1, 1, None, "a", "first try", 100, 200));
        store.insert(span(1, 1, None, "a", "second try", 150, 200));
        let spans = store
            .trace(&span(1, 1, None, "", "", 0, 0).trace_id)
            .expect("stored");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "second try");
        assert_eq!(store.list(&TraceQuery::default())[0].start_unix_nanos, 150);
        store.insert(span(2, 2, None, "a", "between", 120, 130));
        assert_eq!(ids(&store.list(&TraceQuery::default())), [1, 2]);
    }

    fn spans_strategy() -> impl Strategy<Value = Vec<Span>> {
        // Up to 4 traces of up to 6 spans with random parents, starts and statuses.
        prop::collection::vec(
            (0u8..4, 0u64..1_000, 1u64..500, any::<bool>(), 0u8..8),
            1..24,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (trace, start, length, error, parent))| {
                    let id = u8::try_from(i + 1).expect("fewer than 256 spans");
                    let parent = (parent != 0).then_some(parent);
                    let span = span(trace + 1, id, parent, "svc", "op", start, start + length);
                    if error {
                        span.error("failed")
                    } else {
                        span
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn insertion_order_does_not_change_traces(
            (spans, shuffled) in spans_strategy()
                .prop_flat_map(|spans| (Just(spans.clone()), Just(spans).prop_shuffle()))
        ) {
            let fill = |spans: &[Span]| {
                let mut store = TraceStore::default();
                for span in spans {
                    store.insert(span.clone());
                }
                store
            };
            let (a, b) = (fill(&spans), fill(&shuffled));
            let query = TraceQuery { limit: usize::MAX, ..Default::default() };
            let list = a.list(&query);
            prop_assert_eq!(&list, &b.list(&query));
            for summary in &list {
                prop_assert_eq!(a.trace(&summary.trace_id), b.trace(&summary.trace_id));
            }
        }
    }
}
