//! OpenTelemetry metric and attribute names → Prometheus names, as the OpenTelemetry
//! specification's "Prometheus and OpenMetrics Compatibility" defines them. Pure.

/// What kind of Prometheus family a metric becomes (the unit `1` and `_total` depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The family name of an OTLP metric: characters outside `[a-zA-Z0-9_:]` become `_`, runs
/// of `_` one `_`, a leading digit gets a `_` before it; then the unit's Prometheus word
/// (`ms` → `_milliseconds`, `By` → `_bytes`, `1` → `_ratio` for gauges, `{request}`
/// dropped, `By/s` → `_bytes_per_second`) unless the name already ends in it. Counters are
/// named without `_total` (the encoder writes it on every sample).
pub(crate) fn family_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut family = collapse(&sanitize(name, |c| c.is_ascii_alphanumeric() || c == ':'));
    if family.starts_with(|c: char| c.is_ascii_digit()) {
        family.insert(0, '_');
    }
    if kind == Kind::Counter {
        if let Some(stripped) = family.strip_suffix("_total") {
            family.truncate(stripped.len());
        }
    }
    if let Some(unit) = unit_word(unit, kind) {
        if !family.ends_with(&format!("_{unit}")) && family != unit {
            family = collapse(&format!("{family}_{unit}"));
        }
    }
    if family.is_empty() {
        family.push('_');
    }
    family
}

/// A label name for an attribute key: characters outside `[a-zA-Z0-9_]` become `_`; a
/// leading digit gets `key_` before it, a leading `_` `key` (names starting with `__` are
/// Prometheus' own).
pub(crate) fn label_name(key: &str) -> String {
    let label = sanitize(key, |c| c.is_ascii_alphanumeric());
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{label}")
    } else if label.starts_with('_') {
        format!("key{label}")
    } else if label.is_empty() {
        "key_".to_owned()
    } else {
        label
    }
}

fn sanitize(text: &str, keep: impl Fn(char) -> bool) -> String {
    text.chars()
        .map(|c| if keep(c) || c == '_' { c } else { '_' })
        .collect()
}

fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// The Prometheus spelling of a UCUM unit; `None` for no unit (empty, only annotations, or
/// `1` of a counter or histogram).
fn unit_word(unit: &str, kind: Kind) -> Option<String> {
    // Annotations (`{request}`, `By{packet}`) are dropped.
    let mut plain = String::with_capacity(unit.len());
    let mut depth = 0u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.trim();
    if plain.is_empty() {
        return None;
    }
    if plain == "1" {
        return (kind == Kind::Gauge).then(|| "ratio".to_owned());
    }
    let word = match plain.split_once('/') {
        Some((main, per)) => {
            let main = main.trim();
            let per = per_word(per.trim());
            match (main.is_empty() || main == "1", per.is_empty()) {
                (true, true) => return None,
                (true, false) => format!("per_{per}"),
                (false, true) => main_word(main),
                (false, false) => format!("{}_per_{per}", main_word(main)),
            }
        }
        None => main_word(plain),
    };
    let word = collapse(&sanitize(&word, |c| c.is_ascii_alphanumeric()));
    let word = word.trim_matches('_');
    (!word.is_empty()).then(|| word.to_owned())
}

fn main_word(unit: &str) -> String {
    let word = match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        other => other,
    };
    word.to_owned()
}

fn per_word(unit: &str) -> String {
    let word = match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    };
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_sanitized_and_a_unit_suffix() {
        let cases = [
            (
                "http.server.duration",
                "ms",
                Kind::Histogram,
                "http_server_duration_milliseconds",
            ),
            (
                "http.server.request.duration",
                "s",
                Kind::Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.active_requests",
                "{request}",
                Kind::Gauge,
                "http_server_active_requests",
            ),
            ("requests", "1", Kind::Counter, "requests"),
            ("requests_total", "", Kind::Counter, "requests"),
            ("cpu.utilization", "1", Kind::Gauge, "cpu_utilization_ratio"),
            ("sent", "By", Kind::Counter, "sent_bytes"),
            ("sent_bytes", "By", Kind::Counter, "sent_bytes"),
            (
                "throughput",
                "By/s",
                Kind::Gauge,
                "throughput_bytes_per_second",
            ),
            ("rate", "1/s", Kind::Gauge, "rate_per_second"),
            ("packets", "By{packet}", Kind::Counter, "packets_bytes"),
            ("weird--name!!x", "", Kind::Gauge, "weird_name_x"),
            ("2xx.count", "", Kind::Counter, "_2xx_count"),
            ("ns:rule", "", Kind::Gauge, "ns:rule"),
            ("temp", "Cel", Kind::Gauge, "temp_celsius"),
            ("odd", "m³", Kind::Gauge, "odd_m"),
            ("", "", Kind::Gauge, "_"),
        ];
        for (name, unit, kind, expected) in cases {
            assert_eq!(family_name(name, unit, kind), expected, "{name} [{unit}]");
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(
            label_name("http.response.status_code"),
            "http_response_status_code"
        );
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__name__"), "key__name__");
        assert_eq!(label_name(""), "key_");
    }
}
