//! StatsD lines to typed values: no I/O, no state.

use crate::Error;

/// One parsed line: a Prometheus-safe name, its tags and what to do with the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Characters outside `[a-zA-Z0-9_]` replaced by `_`, `_` prepended to a leading digit.
    pub name: String,
    /// Tag keys sanitized as names, sorted, each once (the last value given wins).
    pub tags: Vec<(String, String)>,
    pub value: Value,
    /// Tags left out for having no key or no value (`|#flag`, `name,k=:1|c`).
    pub dropped_tags: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `c`: the increment, already divided by the sample rate.
    Counter(f64),
    /// `g` without a sign: the new value.
    GaugeSet(f64),
    /// `g` with a leading `+` or `-`: the adjustment.
    GaugeAdjust(f64),
    /// `ms`, `h`, `d`: the values (timers converted from milliseconds to seconds), each
    /// standing for `weight` observations (`1/rate`, rounded; 1 without a rate).
    Observations { values: Vec<f64>, weight: u64 },
    /// `s`: the member.
    SetMember(String),
}

/// The non-empty lines of a datagram.
pub fn lines(packet: &[u8]) -> impl Iterator<Item = &[u8]> {
    packet
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
}

/// Parses `name:value|type[|@rate][|#tags][|c:container][|Ttimestamp]`, with tags in the
/// DogStatsD (`|#k:v,k2:v2`), InfluxDB (`name,k=v:...`), Librato (`name#k=v:...`) or
/// SignalFx (`name[k=v]:...`) style, and DogStatsD's several values (`name:1:2:3|ms`).
pub fn parse_line(bytes: &[u8]) -> Result<Line, Error> {
    let line = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 {
        line: excerpt(&String::from_utf8_lossy(bytes)),
    })?;
    let err_line = || excerpt(line);
    if line.starts_with("_e{") || line.starts_with("_sc|") {
        return Err(Error::Unsupported { line: err_line() });
    }
    let (name_part, rest) = line
        .split_once(':')
        .ok_or_else(|| Error::Malformed { line: err_line() })?;
    let mut tags = Vec::new();
    let mut dropped_tags = 0;
    let name = split_name_tags(name_part, &mut tags, &mut dropped_tags);
    if name.is_empty() {
        return Err(Error::EmptyName { line: err_line() });
    }
    let name_tagged = !tags.is_empty() || dropped_tags > 0;

    let mut parts = rest.split('|');
    let values = parts.next().unwrap_or("");
    let kind = parts
        .next()
        .ok_or_else(|| Error::Malformed { line: err_line() })?;
    if !matches!(kind, "c" | "g" | "ms" | "h" | "d" | "s") {
        return Err(Error::UnknownType {
            kind: kind.to_owned(),
            line: err_line(),
        });
    }
    let mut rate = 1.0;
    for field in parts {
        if let Some(text) = field.strip_prefix('@') {
            rate = text
                .parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0 && *r <= 1.0)
                .ok_or_else(|| Error::InvalidSampleRate {
                    rate: text.to_owned(),
                    line: err_line(),
                })?;
        } else if let Some(text) = field.strip_prefix('#') {
            if name_tagged {
                return Err(Error::MixedTagStyles { line: err_line() });
            }
            for tag in text.split(',') {
                push_tag(
                    tag.strip_prefix('#').unwrap_or(tag),
                    ':',
                    &mut tags,
                    &mut dropped_tags,
                );
            }
        } else if let Some(container) = field.strip_prefix("c:").filter(|c| !c.is_empty()) {
            // DogStatsD 1.2's origin detection, a label as statsd_exporter makes it.
            tags.push(("container_id".to_owned(), container.to_owned()));
        } else if let Some(timestamp) = field.strip_prefix('T') {
            // DogStatsD 1.3: checked, then ignored, since Prometheus stamps at scrape time.
            if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::InvalidTimestamp {
                    field: field.to_owned(),
                    line: err_line(),
                });
            }
        } else {
            return Err(Error::InvalidField {
                field: field.to_owned(),
                line: err_line(),
            });
        }
    }

    let number = |text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| Error::InvalidValue {
                value: text.to_owned(),
                line: err_line(),
            })
    };
    let single = || {
        if values.contains(':') {
            Err(Error::MultiValue { line: err_line() })
        } else {
            number(values)
        }
    };
    let value = match kind {
        "c" => {
            let increment = single()?;
            if increment < 0.0 {
                return Err(Error::NegativeCounter { line: err_line() });
            }
            Value::Counter(increment / rate)
        }
        "g" if values.starts_with(['+', '-']) => Value::GaugeAdjust(single()?),
        "g" => Value::GaugeSet(single()?),
        "s" if values.is_empty() => {
            return Err(Error::InvalidValue {
                value: String::new(),
                line: err_line(),
            })
        }
        "s" => Value::SetMember(values.to_owned()),
        _ => {
            // Division, not * 0.001: `3|ms` reads as the f64 nearest 0.003, the same as `0.003|h`.
            let divisor = if kind == "ms" { 1000.0 } else { 1.0 };
            let values = values
                .split(':')
                .map(|text| number(text).map(|v| v / divisor))
                .collect::<Result<_, _>>()?;
            Value::Observations {
                values,
                weight: (1.0 / rate).round().max(1.0) as u64,
            }
        }
    };

    tags.sort_by(|a, b| a.0.cmp(&b.0));
    // Stable sort: of equal keys the last given comes last, and is the one kept.
    tags.reverse();
    tags.dedup_by(|a, b| a.0 == b.0);
    tags.reverse();
    Ok(Line {
        name: sanitize(&name),
        tags,
        value,
        dropped_tags,
    })
}

/// Takes SignalFx (`name[k=v]`), then Librato (`name#k=v`) or InfluxDB (`name,k=v`) tags
/// out of the name part, as statsd_exporter does; returns the bare name.
fn split_name_tags<'a>(
    part: &'a str,
    tags: &mut Vec<(String, String)>,
    dropped: &mut usize,
) -> std::borrow::Cow<'a, str> {
    let mut push_all = |list: &str| {
        for tag in list.split(',') {
            push_tag(tag, '=', tags, dropped);
        }
    };
    match (part.find('['), part.find(']')) {
        (Some(open), Some(close)) if open < close => {
            push_all(&part[open + 1..close]);
            return format!("{}{}", &part[..open], &part[close + 1..]).into();
        }
        // One bracket alone: not tags; the name keeps it (sanitized away) and a tag is lost.
        (Some(_), _) | (_, Some(_)) => {
            *dropped += 1;
            return part.into();
        }
        (None, None) => {}
    }
    match part.find(['#', ',']) {
        Some(at) => {
            push_all(&part[at + 1..]);
            part[..at].into()
        }
        None => part.into(),
    }
}

fn push_tag(tag: &str, separator: char, tags: &mut Vec<(String, String)>, dropped: &mut usize) {
    match tag.split_once(separator) {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            tags.push((sanitize(key), value.to_owned()));
        }
        _ => *dropped += 1,
    }
}

/// statsd_exporter's default mapping of a StatsD name (or tag key) to a Prometheus one.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// Lines go into errors, and errors into logs: a 64 KiB line is cut.
fn excerpt(line: &str) -> String {
    const MAX: usize = 200;
    if line.len() <= MAX {
        return line.to_owned();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

#[cfg(test)]
mod tests;
