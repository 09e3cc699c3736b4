//! The two text formats: Prometheus text 0.0.4 and OpenMetrics 1.0.

use std::fmt::Write;

use crate::{FamilyData, Labels, MetricFamily, Registry};

/// An exposition format, picked from a scraper's `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: what every scraper reads.
    Prometheus,
    /// OpenMetrics 1.0 text: `# UNIT`, `# EOF`, counter families named without `_total`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the header accepts `application/openmetrics-text` at least as much
    /// (by `q`) as plain text, Prometheus text otherwise (including no header, or a
    /// malformed one).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut openmetrics = 0.0_f64;
        let mut text = 0.0_f64;
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|param| param.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, value)| value.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    pub fn encode(self, families: &[MetricFamily]) -> String {
        let mut out = String::new();
        for family in families {
            self.write_family(&mut out, family);
        }
        if self == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }

    fn write_family(self, out: &mut String, family: &MetricFamily) {
        let name = &family.name;
        let openmetrics = self == Format::OpenMetrics;
        // Prometheus text names a counter family after its samples (`x_total`).
        let meta_name = match (&family.data, openmetrics) {
            (FamilyData::Counter(_), false) => format!("{name}_total"),
            _ => name.clone(),
        };
        let kind = family.metric_type().as_str();
        if openmetrics {
            let _ = writeln!(out, "# TYPE {meta_name} {kind}");
            if let Some(unit) = &family.unit {
                let _ = writeln!(out, "# UNIT {meta_name} {unit}");
            }
            let _ = writeln!(out, "# HELP {meta_name} {}", escape(&family.help, true));
        } else {
            let _ = writeln!(out, "# HELP {meta_name} {}", escape(&family.help, false));
            let _ = writeln!(out, "# TYPE {meta_name} {kind}");
        }
        match &family.data {
            FamilyData::Counter(series) => {
                let sample = format!("{name}_total");
                for (labels, value) in series {
                    self.write_sample(out, &sample, labels, None, &self.float(*value));
                }
            }
            FamilyData::Gauge(series) => {
                for (labels, value) in series {
                    self.write_sample(out, name, labels, None, &self.float(*value));
                }
            }
            FamilyData::Histogram(series) => {
                let bucket = format!("{name}_bucket");
                let count = format!("{name}_count");
                let sum = format!("{name}_sum");
                for (labels, value) in series {
                    for (bound, cumulative) in &value.buckets {
                        let le = ("le", self.float(*bound));
                        self.write_sample(out, &bucket, labels, Some(le), &cumulative.to_string());
                    }
                    self.write_sample(out, &count, labels, None, &value.count.to_string());
                    self.write_sample(out, &sum, labels, None, &self.float(value.sum));
                }
            }
        }
    }

    fn write_sample(
        self,
        out: &mut String,
        name: &str,
        labels: &Labels,
        extra: Option<(&str, String)>,
        value: &str,
    ) {
        out.push_str(name);
        let pairs = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.as_ref().map(|(k, v)| (*k, v.as_str())));
        let mut first = true;
        for (key, label_value) in pairs {
            out.push(if first { '{' } else { ',' });
            first = false;
            let _ = write!(out, "{key}=\"{}\"", escape(label_value, true));
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        out.push_str(value);
        out.push('\n');
    }

    fn float(self, value: f64) -> String {
        let text = format_float(value);
        // OpenMetrics wants canonical numbers (`le="1.0"`, as client_golang writes them), so
        // a bucket bound reads the same from every client.
        if self == Format::OpenMetrics && value.is_finite() && !text.contains(['.', 'e']) {
            text + ".0"
        } else {
            text
        }
    }
}

/// Encodes everything `registry` holds in the format `accept` asks for: `(Content-Type,
/// body)`, ready for a `/metrics` handler.
pub fn encode(registry: &Registry, accept: Option<&str>) -> (&'static str, String) {
    let format = Format::negotiate(accept);
    (format.content_type(), format.encode(&registry.gather()))
}

/// Shortest text that reads back as the same `f64`, with Prometheus' spellings of the
/// specials; exponents only for very small or large magnitudes, as Go's `%g` would.
fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value == 0.0 || (1e-4..1e21).contains(&value.abs()) {
        value.to_string()
    } else {
        format!("{value:e}")
    }
}

/// Backslash escapes for label values (`\\`, `\"`, `\n`); Prometheus text's HELP keeps `"`
/// as is.
fn escape(text: &str, quote: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if quote => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn registry() -> Registry {
        let registry = Registry::new();
        let requests = registry
            .counter("rpc_server_requests", "RPCs handled.", &["method", "code"])
            .expect("counter");
        requests.with(&["GetX", "OK"]).inc_by(3);
        requests.with(&["GetX", "NOT_FOUND"]).inc();
        requests
            .with(&["Escape", "a\"b\\c\nd"])
            .add(0.5)
            .expect("add");
        let duration = registry
            .histogram(
                "rpc_server_duration_seconds",
                "Time to handle an RPC.",
                &["method"],
                &[0.001, 0.01, 1.0],
            )
            .expect("histogram");
        for value in [0.0005, 0.002, 0.002, 5.0] {
            duration.with(&["GetX"]).observe(value);
        }
        registry
            .gauge("queue_depth", "Items waiting.\nSecond \"line\" \\.", &[])
            .expect("gauge")
            .with(&[])
            .set(-2.5);
        registry
            .counter("idle", "Never incremented.", &["x"])
            .expect("idle");
        registry
    }

    #[test]
    fn prometheus_text() {
        let body = Format::Prometheus.encode(&registry().gather());
        expect![[r#"
            # HELP idle_total Never incremented.
            # TYPE idle_total counter
            # HELP queue_depth Items waiting.\nSecond "line" \\.
            # TYPE queue_depth gauge
            queue_depth -2.5
            # HELP rpc_server_duration_seconds Time to handle an RPC.
            # TYPE rpc_server_duration_seconds histogram
            rpc_server_duration_seconds_bucket{method="GetX",le="0.001"} 1
            rpc_server_duration_seconds_bucket{method="GetX",le="0.01"} 3
            rpc_server_duration_seconds_bucket{method="GetX",le="1"} 3
            rpc_server_duration_seconds_bucket{method="GetX",le="+Inf"} 4
            rpc_server_duration_seconds_count{method="GetX"} 4
            rpc_server_duration_seconds_sum{method="GetX"} 5.0045
            # HELP rpc_server_requests_total RPCs handled.
            # TYPE rpc_server_requests_total counter
            rpc_server_requests_total{method="Escape",code="a\"b\\c\nd"} 0.5
            rpc_server_requests_total{method="GetX",code="NOT_FOUND"} 1
            rpc_server_requests_total{method="GetX",code="OK"} 3
        "#]]
        .assert_eq(&body);
    }

    #[test]
    fn openmetrics_text() {
        let body = Format::OpenMetrics.encode(&registry().gather());
        expect![[r#"
            # TYPE idle counter
            # HELP idle Never incremented.
            # TYPE queue_depth gauge
            # HELP queue_depth Items waiting.\nSecond \"line\" \\.
            queue_depth -2.5
            # TYPE rpc_server_duration_seconds histogram
            # UNIT rpc_server_duration_seconds seconds
            # HELP rpc_server_duration_seconds Time to handle an RPC.
            rpc_server_duration_seconds_bucket{method="GetX",le="0.001"} 1
            rpc_server_duration_seconds_bucket{method="GetX",le="0.01"} 3
            rpc_server_duration_seconds_bucket{method="GetX",le="1.0"} 3
            rpc_server_duration_seconds_bucket{method="GetX",le="+Inf"} 4
            rpc_server_duration_seconds_count{method="GetX"} 4
            rpc_server_duration_seconds_sum{method="GetX"} 5.0045
            # TYPE rpc_server_requests counter
            # HELP rpc_server_requests RPCs handled.
            rpc_server_requests_total{method="Escape",code="a\"b\\c\nd"} 0.5
            rpc_server_requests_total{method="GetX",code="NOT_FOUND"} 1.0
            rpc_server_requests_total{method="GetX",code="OK"} 3.0
            # EOF
        "#]]
        .assert_eq(&body);
    }

    #[test]
    fn floats_read_back_exactly() {
        for value in [
            0.0,
            1.0,
            -2.5,
            0.1,
            1e-7,
            123456.789,
            1e21,
            5e-324,
            f64::MAX,
        ] {
            let text = format_float(value);
            assert_eq!(text.parse::<f64>(), Ok(value), "{text}");
        }
        assert_eq!(format_float(1e-7), "1e-7");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(1e21), "1e21");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(Format::OpenMetrics.float(10.0), "10.0");
        assert_eq!(Format::OpenMetrics.float(1e-7), "1e-7");
        assert_eq!(Format::OpenMetrics.float(f64::INFINITY), "+Inf");
        assert_eq!(Format::OpenMetrics.float(f64::NAN), "NaN");
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        let om = Format::OpenMetrics;
        let text = Format::Prometheus;
        for (accept, expected) in [
            (None, text),
            (Some(""), text),
            (Some("*/*"), text),
            (Some("text/plain;version=0.0.4"), text),
            (Some("application/openmetrics-text"), om),
            (Some("Application/OpenMetrics-Text; version=1.0.0"), om),
            // What Prometheus 2.x sends.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                     version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                om,
            ),
            (
                Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
                text,
            ),
            (Some("application/openmetrics-text;q=0"), text),
            (Some("application/openmetrics-text;q=oops"), text),
            (Some("application/json"), text),
        ] {
            assert_eq!(Format::negotiate(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn encode_pairs_the_body_with_its_content_type() {
        let (content_type, body) = encode(&registry(), Some("application/openmetrics-text"));
        assert_eq!(
            content_type,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert!(body.ends_with("# EOF\n"));
        let (content_type, body) = encode(&registry(), None);
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert!(!body.contains("# EOF"));
    }
}
