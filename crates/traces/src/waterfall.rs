//! The terminal waterfall of one trace (`tern trace ID`): pure text.

use std::fmt::Write as _;
use std::time::Duration;

use crate::tree::tree_order;
use crate::Span;

/// Narrower requests are drawn at this width.
pub const MIN_WATERFALL_WIDTH: usize = 40;

const DURATION_WIDTH: usize = 8;
/// Marker, spaces and bar edges around the label, duration and bar columns.
const DECORATION: usize = 5;

/// Draws `spans` (one trace, any order) as a waterfall `width` columns wide (at least
/// [`MIN_WATERFALL_WIDTH`]): a header, then one line per span in tree order (children under
/// their parent by start time, spans whose parent is missing at the top level) with
/// `!` before error spans, the span's service and name indented two spaces per level
/// (cut with `…` when too long), its duration (3 significant digits, Go syntax), and a
/// bar placed and scaled between the trace's earliest start and latest end. Every span gets
/// at least one bar cell. Empty input draws nothing.
pub fn render_waterfall(spans: &[Span], width: usize) -> String {
    let Some(start) = spans.iter().map(|s| s.start_unix_nanos).min() else {
        return String::new();
    };
    let end = spans
        .iter()
        .map(|s| s.end_unix_nanos)
        .max()
        .unwrap_or(start);
    let total = end.saturating_sub(start);
    let width = width.max(MIN_WATERFALL_WIDTH);
    let bar_width = width / 3;
    let label_width = width - bar_width - DURATION_WIDTH - DECORATION;

    let mut out = String::new();
    let axis = format!(
        "{:>w$}",
        tern_duration::format_rounded(Duration::from_nanos(total)),
        w = bar_width - 1
    );
    let _ = writeln!(
        out,
        " {:<label_width$} {:>DURATION_WIDTH$} |0{axis}|",
        "SPAN", "DURATION"
    );
    for (i, depth) in tree_order(spans) {
        let span = &spans[i];
        let marker = if span.is_error() { '!' } else { ' ' };
        let label = format!("{}{} {}", "  ".repeat(depth), span.service, span.name);
        let bar = bar(
            span.start_unix_nanos.saturating_sub(start),
            span.end_unix_nanos.saturating_sub(start),
            total,
            bar_width,
        );
        let _ = writeln!(
            out,
            "{marker}{:<label_width$} {:>DURATION_WIDTH$} |{bar}|",
            fit(&label, label_width),
            fit(
                &tern_duration::format_rounded(Duration::from_nanos(span.duration_nanos())),
                DURATION_WIDTH,
            ),
        );
    }
    out
}

/// `width` cells with the span's share `[from, to)` of `total` filled.
fn bar(from: u64, to: u64, total: u64, width: usize) -> String {
    let cell = |nanos: u64, round_up: bool| -> usize {
        if total == 0 {
            return 0;
        }
        let scaled = u128::from(nanos.min(total)) * width as u128;
        let cell = if round_up {
            scaled.div_ceil(u128::from(total))
        } else {
            scaled / u128::from(total)
        };
        usize::try_from(cell).unwrap_or(width)
    };
    let first = cell(from, false).min(width - 1);
    let last = cell(to, true).clamp(first + 1, width);
    (0..width)
        .map(|i| {
            if (first..last).contains(&i) {
                '█'
            } else {
                ' '
            }
        })
        .collect()
}

/// `text` cut to `width` characters, the last one `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{span, SpanExt};
    use expect_test::expect;

    const MS: u64 = 1_000_000;

    fn shop_trace() -> Vec<Span> {
        vec![
            span(1, 4, Some(2), "postgres", "SELECT stock", 12 * MS, 30 * MS),
            span(1, 1, None, "web", "GET /checkout", 0, 100 * MS),
            span(1, 3, Some(1), "payments", "charge card", 45 * MS, 98 * MS).error("declined"),
            span(
                1,
                2,
                Some(1),
                "inventory",
                "reserve stock",
                10 * MS,
                40 * MS,
            ),
            span(
                1,
                5,
                Some(7),
                "mailer",
                "send receipt (parent not received)",
                99 * MS,
                100 * MS,
            ),
        ]
    }

    #[test]
    fn draws_the_tree_with_bars_scaled_to_the_trace() {
        expect![[r#"
             SPAN                                      DURATION |0                    100ms|
             web GET /checkout                            100ms |██████████████████████████|
               inventory reserve stock                     30ms |  █████████               |
                 postgres SELECT stock                     18ms |   █████                  |
            !  payments charge card                        53ms |           ███████████████|
             mailer send receipt (parent not received)      1ms |                         █|
        "#]]
        .assert_eq(&render_waterfall(&shop_trace(), 80));
    }

    #[test]
    fn every_line_is_exactly_the_width() {
        for width in [40, 41, 80, 133] {
            let text = render_waterfall(&shop_trace(), width);
            for line in text.lines() {
                assert_eq!(line.chars().count(), width, "{line:?}");
            }
        }
    }

    #[test]
    fn narrow_widths_are_drawn_at_the_minimum() {
        expect![[r#"
             SPAN           DURATION |0       100ms|
             web GET /chec…    100ms |█████████████|
               inventory r…     30ms | █████       |
                 postgres …     18ms | ███         |
            !  payments ch…     53ms |     ████████|
             mailer send r…      1ms |            █|
        "#]]
        .assert_eq(&render_waterfall(&shop_trace(), 10));
    }

    #[test]
    fn zero_length_traces_and_spans_still_get_a_cell() {
        let spans = [
            span(1, 1, None, "a", "instant", 5, 5),
            // An error marker in the first column keeps expect-test from dedenting the lines.
            span(1, 2, Some(1), "a", "also", 5, 5).error("x"),
        ];
        expect![[r#"
             SPAN           DURATION |0          0s|
             a instant            0s |█            |
            !  a also             0s |█            |
        "#]]
        .assert_eq(&render_waterfall(&spans, 40));
        assert_eq!(render_waterfall(&[], 80), "");
    }
}
