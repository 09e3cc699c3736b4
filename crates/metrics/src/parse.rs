//! A reader for the Prometheus text format (0.0.4), lenient enough for OpenMetrics text and
//! what other clients emit: comments, `# HELP`/`# TYPE`/`# UNIT`, escaped label values,
//! `+Inf`/`NaN`, optional timestamps, exemplars (skipped), `# EOF`.

use std::collections::BTreeMap;

use crate::name::is_label_name;
use crate::{Error, Labels, MetricType};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
    /// As written: milliseconds in Prometheus text, seconds in OpenMetrics.
    pub timestamp: Option<f64>,
}

/// A parsed scrape: samples in order, and the metadata by the name it was declared for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, MetricType>,
    pub help: BTreeMap<String, String>,
    pub units: BTreeMap<String, String>,
}

/// One histogram series from a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedHistogram {
    /// The series' labels, without `le`.
    pub labels: Labels,
    /// `(le, cumulative count)`, sorted by bound.
    pub buckets: Vec<(f64, f64)>,
    pub count: Option<f64>,
    pub sum: Option<f64>,
}

impl Exposition {
    /// The type of the family a sample belongs to: declared for the sample's own name
    /// (Prometheus text names counters `x_total`), or for its name less a suffix the type
    /// writes (`_total`, `_bucket`, `_count`, `_sum`, `_created`...).
    pub fn metric_type(&self, sample_name: &str) -> MetricType {
        if let Some(kind) = self.types.get(sample_name) {
            return *kind;
        }
        const SUFFIXES: &[(&str, &[MetricType])] = &[
            ("_total", &[MetricType::Counter]),
            (
                "_bucket",
                &[MetricType::Histogram, MetricType::GaugeHistogram],
            ),
            ("_count", &[MetricType::Histogram, MetricType::Summary]),
            ("_sum", &[MetricType::Histogram, MetricType::Summary]),
            ("_gcount", &[MetricType::GaugeHistogram]),
            ("_gsum", &[MetricType::GaugeHistogram]),
            ("_info", &[MetricType::Info]),
            (
                "_created",
                &[
                    MetricType::Counter,
                    MetricType::Histogram,
                    MetricType::Summary,
                ],
            ),
        ];
        SUFFIXES
            .iter()
            .filter_map(|(suffix, kinds)| {
                let kind = self.types.get(sample_name.strip_suffix(suffix)?)?;
                kinds.contains(kind).then_some(*kind)
            })
            .next()
            .unwrap_or(MetricType::Unknown)
    }

    /// The value of the sample with this name and exactly these labels (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }

    /// The series of histogram `family` (`family_bucket`, `_count`, `_sum` samples), in
    /// the order they first appear.
    pub fn histograms(&self, family: &str) -> Vec<ParsedHistogram> {
        let bucket = format!("{family}_bucket");
        let count = format!("{family}_count");
        let sum = format!("{family}_sum");
        let mut series: Vec<ParsedHistogram> = Vec::new();
        for sample in &self.samples {
            let name = sample.name.as_str();
            if name != bucket && name != count && name != sum {
                continue;
            }
            let mut le = None;
            let labels: Labels = sample
                .labels
                .iter()
                .filter(|(k, v)| {
                    if name == bucket && k == "le" {
                        le = v.parse::<f64>().ok();
                        return false;
                    }
                    true
                })
                .cloned()
                .collect();
            let index = match series.iter().position(|h| h.labels == labels) {
                Some(index) => index,
                None => {
                    series.push(ParsedHistogram {
                        labels,
                        buckets: Vec::new(),
                        count: None,
                        sum: None,
                    });
                    series.len() - 1
                }
            };
            let entry = &mut series[index];
            if name == bucket {
                if let Some(le) = le {
                    entry.buckets.push((le, sample.value));
                }
            } else if name == count {
                entry.count = Some(sample.value);
            } else {
                entry.sum = Some(sample.value);
            }
        }
        for entry in &mut series {
            entry.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        series
    }
}

/// Parses a scrape body. Errors name the line (from 1) and what is wrong with it.
pub fn parse(text: &str) -> Result<Exposition, Error> {
    let mut exposition = Exposition::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let error = |message: String| Error::Parse {
            line: index + 1,
            message,
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                break;
            }
            let mut words = comment.splitn(3, [' ', '\t']);
            let keyword = words.next().unwrap_or("");
            let (Some(name), rest) = (words.next(), words.next().unwrap_or("").trim_start()) else {
                continue;
            };
            match keyword {
                "HELP" => {
                    exposition.help.insert(name.to_owned(), unescape_help(rest));
                }
                "TYPE" => {
                    let kind = MetricType::from_type_line(rest)
                        .ok_or_else(|| error(format!("unknown metric type {rest:?} for {name}")))?;
                    exposition.types.insert(name.to_owned(), kind);
                }
                "UNIT" => {
                    exposition.units.insert(name.to_owned(), rest.to_owned());
                }
                _ => {}
            }
            continue;
        }
        exposition.samples.push(parse_sample(line).map_err(error)?);
    }
    Ok(exposition)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("expected a metric name at the start of {line:?}"));
    }
    let mut rest = line[name_end..].trim_start();
    let mut labels = Labels::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields
        .next()
        .ok_or_else(|| format!("missing value for {name}"))?;
    let value = parse_float(value_text)
        .ok_or_else(|| format!("invalid value {value_text:?} for {name}"))?;
    let timestamp = match fields.next() {
        // An OpenMetrics exemplar follows ` # `.
        None | Some("#") => None,
        Some(text) => Some(
            parse_float(text).ok_or_else(|| format!("invalid timestamp {text:?} for {name}"))?,
        ),
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp,
    })
}

/// Reads `name="value",...}` and returns what follows the closing brace.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after_name) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected label=\"value\" at {rest:?}"))?;
        let name = name.trim();
        if !is_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let after_quote = after_name
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("expected a quoted value for label {name}"))?;
        let (value, after_value) = unquote(after_quote)
            .ok_or_else(|| format!("unterminated or badly escaped value for label {name}"))?;
        labels.push((name.to_owned(), value));
        rest = after_value.trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

/// The value up to the closing quote, unescaped, and what follows the quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                _ => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// HELP text escapes `\\` and `\n` (and `\"` in OpenMetrics); anything else stays as is.
fn unescape_help(text: &str) -> String {
    let mut help = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('\\')) => help.push('\\'),
            ('\\', Some('n')) => help.push('\n'),
            ('\\', Some('"')) => help.push('"'),
            (c, _) => {
                help.push(c);
                continue;
            }
        }
        chars.next();
    }
    help
}

/// Go's `ParseFloat` spellings, which the Prometheus formats use: `+Inf`, `-Inf`, `NaN`
/// in any case, decimal and exponent forms.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("nan") {
        if text.len() - unsigned.len() > 1 {
            return None;
        }
        let magnitude = if unsigned.eq_ignore_ascii_case("inf") {
            f64::INFINITY
        } else {
            f64::NAN
        };
        return Some(if text.starts_with('-') {
            -magnitude
        } else {
            magnitude
        });
    }
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Registry};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_what_other_clients_emit() {
        let text = r#"
# A comment that is not metadata.
# HELP http_requests_total The total number of HTTP requests.\nWith "quotes" and \\.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{ method = "post" , code="400", } 3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
nan_value NaN
negative_inf -inf
	# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
empty_braces{} 1
"#;
        let exposition = parse(text).expect("valid");
        assert_eq!(
            exposition.help["http_requests_total"],
            "The total number of HTTP requests.\nWith \"quotes\" and \\."
        );
        assert_eq!(exposition.types["http_requests_total"], MetricType::Counter);
        assert_eq!(
            exposition.types["rpc_duration_seconds"],
            MetricType::Summary
        );
        let samples = &exposition.samples;
        assert_eq!(samples.len(), 11);
        assert_eq!(
            samples[1],
            Sample {
                name: "http_requests_total".to_owned(),
                labels: labels(&[("method", "post"), ("code", "400")]),
                value: 3.0,
                timestamp: Some(1395066363000.0),
            }
        );
        assert_eq!(
            samples[2].labels,
            labels(&[
                ("path", r"C:\DIR\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\"")
            ])
        );
        assert_eq!(samples[2].value, 1.458255915e9);
        assert_eq!(samples[3].timestamp, None);
        assert_eq!(samples[4].value, f64::INFINITY);
        assert_eq!(samples[4].timestamp, Some(-3982045.0));
        assert!(samples[5].value.is_nan());
        assert_eq!(samples[6].value, f64::NEG_INFINITY);
        assert_eq!(samples[8].value, 1.7560473e7);
        assert_eq!(samples[10].labels, Labels::new());
        assert_eq!(
            exposition.metric_type("rpc_duration_seconds_sum"),
            MetricType::Summary
        );
        assert_eq!(exposition.metric_type("nan_value"), MetricType::Unknown);
    }

    #[test]
    fn reads_openmetrics_with_exemplars_and_stops_at_eof() {
        let text = "# TYPE foo counter\n# UNIT foo_seconds seconds\n\
                    foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    foo_created{a=\"b\"} 1520430000.123\n# EOF\nignored after eof";
        let exposition = parse(text).expect("valid");
        assert_eq!(exposition.samples.len(), 2);
        assert_eq!(exposition.samples[0].value, 17.0);
        assert_eq!(exposition.samples[0].timestamp, Some(1520879607.789));
        assert_eq!(exposition.units["foo_seconds"], "seconds");
        assert_eq!(exposition.metric_type("foo_total"), MetricType::Counter);
        assert_eq!(exposition.metric_type("foo_created"), MetricType::Counter);
        assert_eq!(exposition.metric_type("foo_bucket"), MetricType::Unknown);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let error = |text: &str| parse(text).expect_err(text).to_string();
        assert_eq!(
            error("ok 1\n9bad 1"),
            "line 2: expected a metric name at the start of \"9bad 1\""
        );
        assert_eq!(error("m"), "line 1: missing value for m");
        assert_eq!(error("m one"), "line 1: invalid value \"one\" for m");
        assert_eq!(error("m ++Inf"), "line 1: invalid value \"++Inf\" for m");
        assert_eq!(
            error("m 1 soon"),
            "line 1: invalid timestamp \"soon\" for m"
        );
        assert_eq!(
            error("m{a=\"b\" 1"),
            "line 1: expected ',' or '}' after label a"
        );
        assert_eq!(
            error("m{a=b} 1"),
            "line 1: expected a quoted value for label a"
        );
        assert_eq!(
            error("m{a=\"b} 1"),
            "line 1: unterminated or badly escaped value for label a"
        );
        assert_eq!(
            error("m{a=\"\\t\"} 1"),
            "line 1: unterminated or badly escaped value for label a"
        );
        assert_eq!(error("m{1a=\"b\"} 1"), "line 1: invalid label name \"1a\"");
        assert_eq!(
            error("m{a} 1"),
            "line 1: expected label=\"value\" at \"a} 1\""
        );
        assert_eq!(
            error("# TYPE m bogus"),
            "line 1: unknown metric type \"bogus\" for m"
        );
    }

    #[test]
    fn round_trips_both_formats() {
        let registry = Registry::new();
        let requests = registry
            .counter("requests", "Requests \"served\".\nPer code.", &["code"])
            .expect("counter");
        requests.with(&["OK"]).inc_by(41);
        requests.with(&["we\"ird\\\n"]).add(0.25).expect("add");
        let latency = registry
            .histogram(
                "latency_seconds",
                "Latency.",
                &["route"],
                &[0.000_05, 0.5, 1.0],
            )
            .expect("histogram");
        for value in [0.00001, 0.3, 0.3, 2.0] {
            latency.with(&["/a"]).observe(value);
        }
        registry
            .gauge("temperature_celsius", "T.", &[])
            .expect("gauge")
            .with(&[])
            .set(-1e-9);
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let exposition = parse(&format.encode(&registry.gather())).expect("parses");
            assert_eq!(
                exposition.value("requests_total", &[("code", "OK")]),
                Some(41.0)
            );
            assert_eq!(
                exposition.value("requests_total", &[("code", "we\"ird\\\n")]),
                Some(0.25)
            );
            assert_eq!(
                exposition.metric_type("requests_total"),
                MetricType::Counter
            );
            assert_eq!(exposition.value("temperature_celsius", &[]), Some(-1e-9));
            assert_eq!(
                exposition.metric_type("latency_seconds_bucket"),
                MetricType::Histogram
            );
            assert_eq!(
                exposition.histograms("latency_seconds"),
                vec![ParsedHistogram {
                    labels: labels(&[("route", "/a")]),
                    buckets: vec![
                        (0.000_05, 1.0),
                        (0.5, 3.0),
                        (1.0, 3.0),
                        (f64::INFINITY, 4.0)
                    ],
                    count: Some(4.0),
                    sum: Some(0.0 + 0.00001 + 0.3 + 0.3 + 2.0),
                }]
            );
            let help_name = match format {
                Format::Prometheus => "requests_total",
                Format::OpenMetrics => "requests",
            };
            assert_eq!(
                exposition.help[help_name],
                "Requests \"served\".\nPer code."
            );
        }
    }

    #[test]
    fn floats_use_go_spellings() {
        for (text, expected) in [
            ("+Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("1e3", 1000.0),
            ("-1.5E-3", -0.0015),
            (".5", 0.5),
            ("+7", 7.0),
        ] {
            assert_eq!(parse_float(text), Some(expected), "{text}");
        }
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        for bad in ["", "Infinity", "--1", "+-Inf", "0x10", "1_000", "e5"] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
    }
}
