//! What two scrapes of a histogram say about the interval between them.

/// PromQL's `histogram_quantile(q, ...)` over cumulative `(upper bound, count)` buckets:
/// the quantile is interpolated linearly inside the bucket holding its rank, the lowest
/// bucket starting at 0 (unless its bound is ≤ 0, which is then the answer), and a rank in
/// the `+Inf` bucket answers the highest finite bound.
///
/// As in PromQL: buckets may come in any order, duplicate bounds are merged, counts that
/// go down with the bound (a scrape racing observations) are raised to stay cumulative,
/// `q < 0` is `-Inf` and `q > 1` is `+Inf`. PromQL's NaN cases are `None`: no `+Inf` bucket,
/// fewer than two buckets, no observations, `q` NaN, or `q = 0` with an empty lowest bucket.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    if sorted
        .last()
        .is_none_or(|(bound, _)| *bound != f64::INFINITY)
    {
        return None;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (bound, count) in sorted {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let mut highest = f64::NEG_INFINITY;
    for bucket in &mut merged {
        highest = highest.max(bucket.1);
        bucket.1 = highest;
    }
    if merged.len() < 2 {
        return None;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return None;
    }
    let rank = q * observations;
    let finite = &merged[..merged.len() - 1];
    let b = finite.partition_point(|(_, count)| *count < rank);
    if b == finite.len() {
        return Some(finite[b - 1].0);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return Some(merged[0].0);
    }
    let (start, below) = if b == 0 { (0.0, 0.0) } else { merged[b - 1] };
    let (end, count) = merged[b];
    let in_bucket = count - below;
    if in_bucket == 0.0 {
        return None;
    }
    Some(start + (end - start) * ((rank - below) / in_bucket))
}

/// The observations between two scrapes of one histogram series: `later - earlier` per
/// bucket. `None` when the bounds differ (the histogram was redefined). When a count went
/// down the process restarted in between, and, as PromQL's `increase` does, everything in
/// `later` is taken as new.
pub fn diff_buckets(earlier: &[(f64, f64)], later: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    if earlier.len() != later.len() || earlier.iter().zip(later).any(|(a, b)| a.0 != b.0) {
        return None;
    }
    if earlier.iter().zip(later).any(|(a, b)| b.1 < a.1) {
        return Some(later.to_vec());
    }
    Some(
        earlier
            .iter()
            .zip(later)
            .map(|(a, b)| (b.0, b.1 - a.1))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn buckets() -> Vec<(f64, f64)> {
        // 10 observations in (0, 0.1], 10 in (0.1, 0.5], 0 in (0.5, 1], 5 above 1.
        vec![(0.1, 10.0), (0.5, 20.0), (1.0, 20.0), (INF, 25.0)]
    }

    #[test]
    fn interpolates_inside_the_bucket_of_the_rank() {
        let b = buckets();
        assert_eq!(histogram_quantile(0.2, &b), Some(0.05));
        assert_eq!(histogram_quantile(0.4, &b), Some(0.1));
        let p60 = histogram_quantile(0.6, &b).expect("p60");
        assert!((p60 - 0.3).abs() < 1e-12, "{p60}");
        assert_eq!(histogram_quantile(0.8, &b), Some(0.5));
    }

    #[test]
    fn ranks_in_the_inf_bucket_answer_the_highest_finite_bound() {
        assert_eq!(histogram_quantile(0.99, &buckets()), Some(1.0));
        assert_eq!(histogram_quantile(1.0, &buckets()), Some(1.0));
    }

    #[test]
    fn out_of_range_q_is_infinite_and_nan_q_has_no_answer() {
        assert_eq!(histogram_quantile(-0.1, &buckets()), Some(-INF));
        assert_eq!(histogram_quantile(1.1, &buckets()), Some(INF));
        assert_eq!(histogram_quantile(f64::NAN, &buckets()), None);
    }

    #[test]
    fn degenerate_inputs_have_no_answer() {
        assert_eq!(histogram_quantile(0.5, &[]), None);
        assert_eq!(histogram_quantile(0.5, &[(INF, 3.0)]), None, "one bucket");
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 1.0), (1.0, 2.0)]),
            None,
            "no +Inf"
        );
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0.0), (INF, 0.0)]),
            None,
            "empty"
        );
        assert_eq!(
            histogram_quantile(0.0, &[(0.1, 0.0), (INF, 4.0)]),
            None,
            "0/0"
        );
    }

    #[test]
    fn unsorted_duplicate_and_non_monotonic_buckets_are_repaired() {
        let messy = [(INF, 25.0), (0.5, 20.0), (0.1, 10.0), (1.0, 19.0)];
        assert_eq!(histogram_quantile(0.8, &messy), Some(0.5));
        let duplicated = [(0.1, 4.0), (0.1, 6.0), (INF, 20.0)];
        assert_eq!(histogram_quantile(0.25, &duplicated), Some(0.05));
    }

    #[test]
    fn a_non_positive_lowest_bound_is_the_answer_in_that_bucket() {
        assert_eq!(
            histogram_quantile(0.1, &[(-1.0, 5.0), (0.0, 8.0), (INF, 10.0)]),
            Some(-1.0)
        );
        assert_eq!(
            histogram_quantile(0.1, &[(0.0, 5.0), (INF, 10.0)]),
            Some(0.0)
        );
    }

    #[test]
    fn bucket_diffs_cover_the_interval_and_resets() {
        let earlier = [(0.1, 5.0), (INF, 6.0)];
        let later = [(0.1, 7.0), (INF, 10.0)];
        assert_eq!(
            diff_buckets(&earlier, &later),
            Some(vec![(0.1, 2.0), (INF, 4.0)])
        );
        let restarted = [(0.1, 1.0), (INF, 1.0)];
        assert_eq!(diff_buckets(&earlier, &restarted), Some(restarted.to_vec()));
        assert_eq!(diff_buckets(&earlier, &[(0.2, 7.0), (INF, 10.0)]), None);
        assert_eq!(diff_buckets(&earlier, &[(INF, 10.0)]), None);
    }
}
