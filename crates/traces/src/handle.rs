//! The shared store: one lock around a [`TraceStore`], cloned into the receivers and the
//! query API (and kept by whoever built the server, to read traces in-process).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Span, TraceId, TraceQuery, TraceStore, TraceSummary};

/// A cloneable handle to one [`TraceStore`].
#[derive(Clone, Debug, Default)]
pub struct StoreHandle(Arc<Mutex<TraceStore>>);

impl StoreHandle {
    pub fn new(store: TraceStore) -> Self {
        StoreHandle(Arc::new(Mutex::new(store)))
    }

    /// Stores `spans` (see [`TraceStore::insert`]); returns how many were refused because
    /// their trace is already at the store's bound.
    pub fn insert(&self, spans: Vec<Span>) -> usize {
        let mut store = self.lock();
        spans
            .into_iter()
            .map(|span| store.insert(span))
            .filter(|&stored| !stored)
            .count()
    }

    pub fn list(&self, query: &TraceQuery) -> Vec<TraceSummary> {
        self.lock().list(query)
    }

    pub fn trace(&self, id: &TraceId) -> Option<Vec<Span>> {
        self.lock().trace(id)
    }

    pub fn max_spans(&self) -> usize {
        self.lock().max_spans()
    }

    pub fn span_count(&self) -> usize {
        self.lock().span_count()
    }

    fn lock(&self) -> MutexGuard<'_, TraceStore> {
        // No store method can panic half-way through a change, so a poisoned lock still
        // guards a consistent store.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
