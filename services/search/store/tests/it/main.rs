//! Integration tests for search-store (one binary, see STYLE.md §9).

mod data;
mod postgis;
mod sqlite;
