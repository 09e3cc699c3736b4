//! Integration tests of search-engine, one binary (see STYLE.md §9).

mod brute;
mod containment;
mod data;
mod property;
mod query;
mod ranking;
mod real_data;
