//! Start order from `depends_on`: dependencies first, ties broken by name.

use std::collections::{BTreeMap, BTreeSet};

/// Orders `deps` (service → the services it depends on) so that every service comes after
/// its dependencies; among services that could start next, the smallest name goes first.
/// A dependency that is not a key of `deps` is ignored (the caller has rejected those).
///
/// On a cycle, returns it: its services starting with the smallest name, each depending
/// on the next and the last on the first (`[a]` for a service depending on itself).
pub(crate) fn start_order<'a>(
    deps: &BTreeMap<&'a str, Vec<&'a str>>,
) -> Result<Vec<&'a str>, Vec<&'a str>> {
    let mut placed = BTreeSet::new();
    let mut order = Vec::with_capacity(deps.len());
    while order.len() < deps.len() {
        // Quadratic, and a platform has a handful of services: the obvious loop wins.
        let next = deps.iter().find(|(name, needs)| {
            !placed.contains(*name)
                && needs
                    .iter()
                    .all(|d| placed.contains(d) || !deps.contains_key(d))
        });
        match next {
            Some((name, _)) => {
                placed.insert(*name);
                order.push(*name);
            }
            None => return Err(find_cycle(deps, &placed)),
        }
    }
    Ok(order)
}

/// Called when no unplaced service can start: each of them waits for another unplaced
/// one, so following those edges from any of them must come back around.
fn find_cycle<'a>(deps: &BTreeMap<&'a str, Vec<&'a str>>, placed: &BTreeSet<&str>) -> Vec<&'a str> {
    let waiting = |name: &str| {
        deps.get(name).and_then(|needs| {
            needs
                .iter()
                .copied()
                .find(|d| !placed.contains(d) && deps.contains_key(d))
        })
    };
    let mut path: Vec<&'a str> = Vec::new();
    let mut current = deps.keys().copied().find(|n| !placed.contains(n));
    while let Some(name) = current {
        if let Some(start) = path.iter().position(|n| *n == name) {
            let mut cycle = path.split_off(start);
            let smallest = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .map_or(0, |(i, _)| i);
            cycle.rotate_left(smallest);
            return cycle;
        }
        path.push(name);
        current = waiting(name);
    }
    // Not reached when called as documented; the walk so far is the best answer.
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn dependencies_first_then_by_name() {
        let d = deps(&[
            ("web", &["search", "auth"]),
            ("search", &[]),
            ("auth", &["db"]),
            ("db", &[]),
            ("batch", &[]),
        ]);
        assert_eq!(
            start_order(&d),
            Ok(vec!["batch", "db", "auth", "search", "web"])
        );
    }

    #[test]
    fn cycles_are_named_from_their_smallest_member() {
        let d = deps(&[("a", &["c"]), ("c", &["d"]), ("d", &["b"]), ("b", &["c"])]);
        assert_eq!(start_order(&d), Err(vec!["b", "c", "d"]));
        let d = deps(&[("x", &["x"]), ("y", &[])]);
        assert_eq!(start_order(&d), Err(vec!["x"]));
    }
}
