//! Integration tests for tern-broker-groups: one binary, modules by topic.

mod offsets;
