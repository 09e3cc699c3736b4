//! Prometheus naming rules, and the unit a name implies.

use crate::Error;

/// Prometheus' base units. A family whose name ends in `_UNIT` carries that unit.
const BASE_UNITS: &[&str] = &[
    "seconds", "bytes", "ratio", "meters", "grams", "joules", "volts", "amperes", "celsius",
];

pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn check_metric_name(name: &str) -> Result<(), Error> {
    if is_metric_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidMetricName {
            name: name.to_owned(),
        })
    }
}

/// `reserved` names the labels the family's type writes itself (`le` for histograms).
pub(crate) fn check_label_names(
    metric: &str,
    labels: &[&str],
    reserved: &[&str],
) -> Result<(), Error> {
    for (i, label) in labels.iter().enumerate() {
        let reason = if !is_label_name(label) {
            "expected [a-zA-Z_][a-zA-Z0-9_]*"
        } else if label.starts_with("__") {
            "names starting with \"__\" are reserved for Prometheus"
        } else if reserved.contains(label) {
            "the metric type writes this label itself"
        } else if labels[..i].contains(label) {
            "given twice"
        } else {
            continue;
        };
        return Err(Error::InvalidLabelName {
            metric: metric.to_owned(),
            label: (*label).to_owned(),
            reason,
        });
    }
    Ok(())
}

pub(crate) fn unit_of(family_name: &str) -> Option<&'static str> {
    BASE_UNITS.iter().copied().find(|unit| {
        family_name
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_prometheus_rules() {
        for good in [
            "a",
            "_a",
            ":a",
            "rpc_server_duration_seconds",
            "ns:rule:rate5m",
            "A9",
        ] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a.b", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }

    #[test]
    fn label_names_follow_prometheus_rules() {
        assert!(check_label_names("m", &["method", "_x", "code9"], &[]).is_ok());
        let reason = |labels: &[&str]| match check_label_names("m", labels, &["le"]) {
            Err(Error::InvalidLabelName { reason, label, .. }) => format!("{label}: {reason}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(&["a:b"]), "a:b: expected [a-zA-Z_][a-zA-Z0-9_]*");
        assert_eq!(reason(&["9"]), "9: expected [a-zA-Z_][a-zA-Z0-9_]*");
        assert_eq!(
            reason(&["__name__"]),
            "__name__: names starting with \"__\" are reserved for Prometheus"
        );
        assert_eq!(
            reason(&["le"]),
            "le: the metric type writes this label itself"
        );
        assert_eq!(reason(&["a", "b", "a"]), "a: given twice");
    }

    #[test]
    fn the_unit_is_the_names_suffix() {
        assert_eq!(unit_of("rpc_server_duration_seconds"), Some("seconds"));
        assert_eq!(unit_of("process_resident_memory_bytes"), Some("bytes"));
        assert_eq!(unit_of("seconds"), None);
        assert_eq!(unit_of("fractionalseconds"), None);
        assert_eq!(unit_of("rpc_server_requests"), None);
    }
}
