//! The KV store and its transactions, with per-key tombstones so that deleting a key
//! moves the index a blocking reader of that key (or of a prefix) waits on.

use super::{KvEntry, MAX_KV_VALUE, MAX_TXN_OPS};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Transaction verbs (Consul's `KV.Verb`) this registry supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvVerb {
    Set,
    Cas,
    Get,
    GetTree,
    CheckIndex,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
}

impl KvVerb {
    /// Parses Consul's spelling ("set", "delete-tree", ...).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "set" => KvVerb::Set,
            "cas" => KvVerb::Cas,
            "get" => KvVerb::Get,
            "get-tree" => KvVerb::GetTree,
            "check-index" => KvVerb::CheckIndex,
            "check-not-exists" => KvVerb::CheckNotExists,
            "delete" => KvVerb::Delete,
            "delete-tree" => KvVerb::DeleteTree,
            "delete-cas" => KvVerb::DeleteCas,
            _ => return None,
        })
    }
}

/// One KV operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvOp {
    pub verb: KvVerb,
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    pub index: u64,
}

/// Why one operation failed (Consul's `Errors[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnError {
    pub op_index: usize,
    pub what: String,
}

/// A transaction's answer: results if it committed, errors if it was rolled back.
/// Result values are empty except for `get`/`get-tree`, as in Consul.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnOutcome {
    pub results: Vec<KvEntry>,
    pub errors: Vec<TxnError>,
}

/// The KV table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Kv {
    entries: BTreeMap<String, KvEntry>,
    /// Deleted key → index of its deletion. Never reaped (Consul reaps them after a
    /// while); the set is bounded by the number of distinct keys ever deleted.
    tombstones: BTreeMap<String, u64>,
    index: u64,
}

impl Kv {
    /// The table's last-change index (0 before the first write).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// One entry.
    pub fn get(&self, key: &str) -> Option<&KvEntry> {
        self.entries.get(key)
    }

    /// The entries whose key starts with `prefix`, in key order.
    pub fn list<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a KvEntry> + 'a {
        self.entries
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e)
    }

    /// Keys under `prefix`; with a separator, keys are cut just after the first
    /// separator following the prefix and deduplicated ("folders"), as Consul does.
    pub fn keys(&self, prefix: &str, separator: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for entry in self.list(prefix) {
            let key = match separator.filter(|s| !s.is_empty()) {
                Some(sep) => match entry.key[prefix.len()..].find(sep) {
                    Some(at) => &entry.key[..prefix.len() + at + sep.len()],
                    None => &entry.key,
                },
                None => &entry.key,
            };
            if out.last().map(String::as_str) != Some(key) {
                out.push(key.to_string());
            }
        }
        out
    }

    /// The index a blocking read of one key waits on (0: never written).
    pub fn key_index(&self, key: &str) -> u64 {
        match self.entries.get(key) {
            Some(e) => e.modify_index,
            None => self.tombstones.get(key).copied().unwrap_or(0),
        }
    }

    /// The index a blocking read of a prefix waits on, deletions included.
    pub fn prefix_index(&self, prefix: &str) -> u64 {
        let live = self.list(prefix).map(|e| e.modify_index).max().unwrap_or(0);
        let dead = self
            .tombstones
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        live.max(dead)
    }

    pub(super) fn put(
        &mut self,
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
        idx: u64,
    ) -> Result<bool, Error> {
        if key.is_empty() {
            return Err(Error::InvalidKey("Missing key name".into()));
        }
        if value.len() > MAX_KV_VALUE {
            return Err(Error::ValueTooLarge {
                size: value.len(),
                max: MAX_KV_VALUE,
            });
        }
        if !self.cas_matches(&key, cas) {
            return Ok(false);
        }
        self.set(key, value.into(), flags, idx);
        Ok(true)
    }

    pub(super) fn delete(&mut self, key: &str, recurse: bool, cas: Option<u64>, idx: u64) -> bool {
        if recurse {
            self.delete_tree(key, idx);
            return true;
        }
        if cas.is_some() && (!self.entries.contains_key(key) || !self.cas_matches(key, cas)) {
            return false;
        }
        self.remove(key, idx);
        true
    }

    /// Runs `ops` on a copy and keeps it only if every operation succeeded. The copy is
    /// cheap enough: values are shared (`Arc`), and registry KV holds config, not bulk.
    pub(super) fn txn(&mut self, ops: Vec<KvOp>, idx: u64) -> Result<TxnOutcome, Error> {
        if ops.len() > MAX_TXN_OPS {
            return Err(Error::TooManyTxnOps {
                count: ops.len(),
                max: MAX_TXN_OPS,
            });
        }
        if let Some(op) = ops.iter().find(|op| op.value.len() > MAX_KV_VALUE) {
            return Err(Error::ValueTooLarge {
                size: op.value.len(),
                max: MAX_KV_VALUE,
            });
        }
        let mut scratch = self.clone();
        let mut out = TxnOutcome::default();
        for (op_index, op) in ops.into_iter().enumerate() {
            if let Err(what) = scratch.txn_op(op, idx, &mut out.results) {
                out.errors.push(TxnError { op_index, what });
            }
        }
        if out.errors.is_empty() {
            *self = scratch;
        } else {
            out.results.clear();
        }
        Ok(out)
    }

    fn txn_op(&mut self, op: KvOp, idx: u64, results: &mut Vec<KvEntry>) -> Result<(), String> {
        let key = op.key;
        if key.is_empty() && !matches!(op.verb, KvVerb::GetTree | KvVerb::DeleteTree) {
            return Err("Missing key name".into());
        }
        let without_value = |e: &KvEntry| KvEntry {
            value: Arc::from(&[][..]),
            ..e.clone()
        };
        match op.verb {
            KvVerb::Set | KvVerb::Cas => {
                if op.verb == KvVerb::Cas && !self.cas_matches(&key, Some(op.index)) {
                    return Err(format!("failed to set key {key:?}, index is stale"));
                }
                self.set(key.clone(), op.value.into(), op.flags, idx);
                results.extend(self.entries.get(&key).map(without_value));
            }
            KvVerb::Get => {
                let e = self.entries.get(&key);
                results.push(e.ok_or(format!("key {key:?} doesn't exist"))?.clone());
            }
            KvVerb::GetTree => results.extend(self.list(&key).cloned()),
            KvVerb::CheckIndex => {
                let e = self
                    .entries
                    .get(&key)
                    .ok_or(format!("key {key:?} doesn't exist"))?;
                if e.modify_index != op.index {
                    return Err(format!(
                        "current modify index {} != {}",
                        e.modify_index, op.index
                    ));
                }
                results.push(without_value(e));
            }
            KvVerb::CheckNotExists => {
                if self.entries.contains_key(&key) {
                    return Err(format!("key {key:?} exists"));
                }
            }
            KvVerb::Delete => self.remove(&key, idx),
            KvVerb::DeleteTree => self.delete_tree(&key, idx),
            KvVerb::DeleteCas => {
                if !self.entries.contains_key(&key) || !self.cas_matches(&key, Some(op.index)) {
                    return Err(format!("failed to delete key {key:?}, index is stale"));
                }
                self.remove(&key, idx);
            }
        }
        Ok(())
    }

    /// `None`: unconditional; `Some(0)`: only if absent; `Some(i)`: ModifyIndex is `i`.
    fn cas_matches(&self, key: &str, cas: Option<u64>) -> bool {
        match (cas, self.entries.get(key)) {
            (None, _) => true,
            (Some(0), existing) => existing.is_none(),
            (Some(i), Some(e)) => e.modify_index == i,
            (Some(_), None) => false,
        }
    }

    fn set(&mut self, key: String, value: Arc<[u8]>, flags: u64, idx: u64) {
        let create_index = self.entries.get(&key).map_or(idx, |e| e.create_index);
        self.tombstones.remove(&key);
        self.entries.insert(
            key.clone(),
            KvEntry {
                key,
                value,
                flags,
                create_index,
                modify_index: idx,
                lock_index: 0,
            },
        );
        self.index = idx;
    }

    /// Deleting an absent key changes nothing and bumps no index, as in Consul.
    fn remove(&mut self, key: &str, idx: u64) {
        if self.entries.remove(key).is_some() {
            self.tombstones.insert(key.to_string(), idx);
            self.index = idx;
        }
    }

    fn delete_tree(&mut self, prefix: &str, idx: u64) {
        let keys: Vec<String> = self.list(prefix).map(|e| e.key.clone()).collect();
        for key in keys {
            self.remove(&key, idx);
        }
    }
}
