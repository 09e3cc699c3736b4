//! Unit tests of the aggregator: each StatsD type in its metric family, bad lines counted by
//! reason.

use expect_test::expect;
use tern_metrics::{parse, Exposition, Format};

use super::*;

const WINDOW: Duration = Duration::from_secs(60);

struct Fixture {
    registry: Registry,
    aggregator: Aggregator,
    start: Instant,
}

impl Fixture {
    fn new() -> Self {
        let registry = Registry::new();
        let config = StatsdConfig {
            registry: registry.clone(),
            buckets: vec![0.01, 0.1, 1.0],
            set_window: WINDOW,
        };
        let start = Instant::now();
        Fixture {
            aggregator: Aggregator::new(&config, start).expect("aggregator"),
            registry,
            start,
        }
    }

    /// Applies a packet at `start + offset`; returns the errors' reasons.
    fn send_at(&mut self, offset: Duration, packet: &str) -> Vec<&'static str> {
        self.aggregator
            .apply_packet(packet.as_bytes(), self.start + offset)
            .iter()
            .map(Error::reason)
            .collect()
    }

    fn send(&mut self, packet: &str) -> Vec<&'static str> {
        self.send_at(Duration::ZERO, packet)
    }

    fn errors(&mut self, packet: &str) -> Vec<String> {
        self.aggregator
            .apply_packet(packet.as_bytes(), self.start)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn scrape(&self) -> Exposition {
        parse(&Format::Prometheus.encode(&self.registry.gather())).expect("parses")
    }

    /// The received metrics only, as Prometheus text.
    fn text(&self) -> String {
        let families: Vec<_> = self
            .registry
            .gather()
            .into_iter()
            .filter(|f| !f.name.starts_with("statsd_"))
            .collect();
        Format::Prometheus.encode(&families)
    }
}

#[test]
fn every_type_lands_in_its_family() {
    let mut fixture = Fixture::new();
    let packet = "api.hits:1|c\napi.hits:2|c|@0.5\n\
                  queue:10|g\nqueue:+5|g\nqueue:-3|g\n\
                  db.query:5|ms\ndb.query:50:500|ms|@0.5\n\
                  payload:0.2|h\npayload:2|d\n\
                  users:alice|s\nusers:bob|s\nusers:alice|s\n\
                  route.hits:1|c|#route:/a\nroute.hits:1|c|#route:/b\nroute.hits:2|c|#route:/a";
    assert!(fixture.send(packet).is_empty());
    expect![[r#"
        # HELP api_hits_total StatsD counter.
        # TYPE api_hits_total counter
        api_hits_total 5
        # HELP db_query StatsD timer (seconds), histogram or distribution (as received).
        # TYPE db_query histogram
        db_query_bucket{le="0.01"} 1
        db_query_bucket{le="0.1"} 3
        db_query_bucket{le="1"} 5
        db_query_bucket{le="+Inf"} 5
        db_query_count 5
        db_query_sum 1.105
        # HELP payload StatsD timer (seconds), histogram or distribution (as received).
        # TYPE payload histogram
        payload_bucket{le="0.01"} 0
        payload_bucket{le="0.1"} 0
        payload_bucket{le="1"} 1
        payload_bucket{le="+Inf"} 2
        payload_count 2
        payload_sum 2.2
        # HELP queue StatsD gauge.
        # TYPE queue gauge
        queue 12
        # HELP route_hits_total StatsD counter.
        # TYPE route_hits_total counter
        route_hits_total{route="/a"} 3
        route_hits_total{route="/b"} 1
        # HELP users Distinct members of a StatsD set over the current and previous window.
        # TYPE users gauge
        users 2
    "#]]
    .assert_eq(&fixture.text());
    let scrape = fixture.scrape();
    assert_eq!(scrape.value("statsd_packets_total", &[]), Some(1.0));
    assert_eq!(scrape.value("statsd_lines_total", &[]), Some(15.0));
}

#[test]
fn bad_lines_are_counted_by_reason_and_the_rest_applies() {
    let mut fixture = Fixture::new();
    let reasons = fixture.send("ok:1|c\nbroken\nok:1|c|@7\nok:-1|c\nok:2|c\n\n");
    assert_eq!(
        reasons,
        ["malformed_line", "invalid_sample_rate", "negative_counter"]
    );
    let utf8 = fixture
        .aggregator
        .apply_packet(b"ok:1|c\n\xff:1|c", fixture.start);
    assert_eq!(
        utf8.iter().map(Error::reason).collect::<Vec<_>>(),
        ["invalid_utf8"]
    );
    let scrape = fixture.scrape();
    assert_eq!(scrape.value("ok_total", &[]), Some(4.0));
    assert_eq!(scrape.value("statsd_packets_total", &[]), Some(2.0));
    assert_eq!(scrape.value("statsd_lines_total", &[]), Some(7.0));
    let bad = |reason: &str| scrape.value("statsd_bad_lines_total", &[("reason", reason)]);
    assert_eq!(bad("malformed_line"), Some(1.0));
    assert_eq!(bad("invalid_sample_rate"), Some(1.0));
    assert_eq!(bad("negative_counter"), Some(1.0));
    assert_eq!(bad("invalid_utf8"), Some(1.0));
}

#[test]
fn a_name_keeps_its_first_type() {
    let mut fixture = Fixture::new();
    assert_eq!(
        fixture.errors("x:1|c\nx:1|g\nx:1|ms\nx:a|s\nx:2|c"),
        [
            "x was received as a counter first, now as a gauge: a name keeps its first type",
            "x was received as a counter first, now as a timer/histogram/distribution: a name \
             keeps its first type",
            "x was received as a counter first, now as a set: a name keeps its first type",
        ]
    );
    assert!(
        fixture.send("t:1|ms\nt:1|h\nt:1|d").is_empty(),
        "one kind of family"
    );
    let scrape = fixture.scrape();
    assert_eq!(scrape.value("x_total", &[]), Some(3.0));
    assert_eq!(scrape.value("t_count", &[]), Some(3.0));
    assert_eq!(
        scrape.value("statsd_bad_lines_total", &[("reason", "type_conflict")]),
        Some(3.0)
    );
}

#[test]
fn a_name_keeps_its_first_tag_keys() {
    let mut fixture = Fixture::new();
    assert_eq!(
        fixture.errors("y:1|c|#a:1\ny:1|c\ny:1|c|#a:1,b:2\ny,a=2:1|c"),
        [
            "y was received with tag keys [a] first, now with []: a name keeps its first tag keys",
            "y was received with tag keys [a] first, now with [a, b]: a name keeps its first tag keys",
        ]
    );
    let scrape = fixture.scrape();
    assert_eq!(scrape.value("y_total", &[("a", "1")]), Some(1.0));
    assert_eq!(scrape.value("y_total", &[("a", "2")]), Some(1.0));
    assert_eq!(
        scrape.value("statsd_bad_lines_total", &[("reason", "label_conflict")]),
        Some(2.0)
    );
}

#[test]
fn names_the_registry_refuses_are_rejected() {
    let mut fixture = Fixture::new();
    fixture
        .registry
        .gauge("owned_elsewhere", "Another component's gauge.", &[])
        .expect("gauge");
    assert_eq!(
        fixture.send("owned_elsewhere:1|c\nstatsd_packets:1|g\nz:1|c|#__reserved:x\nz:1|c"),
        [
            "rejected_by_registry",
            "rejected_by_registry",
            "rejected_by_registry"
        ]
    );
    // The refused first line fixed nothing: z is free for the next line.
    assert_eq!(fixture.scrape().value("z_total", &[]), Some(1.0));
}

#[test]
fn dropped_tags_are_counted() {
    let mut fixture = Fixture::new();
    assert!(fixture.send("t:1|c|#flag,env:prod,other").is_empty());
    let scrape = fixture.scrape();
    assert_eq!(scrape.value("t_total", &[("env", "prod")]), Some(1.0));
    assert_eq!(scrape.value("statsd_tag_errors_total", &[]), Some(2.0));
}

#[test]
fn fractional_counter_increments_from_sample_rates_add_up() {
    let mut fixture = Fixture::new();
    assert!(fixture.send("f:1|c|@0.25\nf:1|c|@0.4").is_empty());
    assert_eq!(fixture.scrape().value("f_total", &[]), Some(6.5));
}

#[test]
fn sets_count_members_over_two_windows() {
    let mut fixture = Fixture::new();
    let users = |fixture: &Fixture| fixture.scrape().value("users", &[("team", "a")]);
    let minute = |n: u32| WINDOW * n;
    fixture.send_at(
        minute(0),
        "users:alice|s|#team:a\nusers:bob|s|#team:a\nusers:bob|s|#team:a",
    );
    assert_eq!(users(&fixture), Some(2.0));
    // A new window: alice and bob still count, carol adds, alice again does not.
    fixture.send_at(minute(1), "users:carol|s|#team:a\nusers:alice|s|#team:a");
    assert_eq!(users(&fixture), Some(3.0));
    // The roll without traffic: only the last window's carol and alice remain.
    fixture
        .aggregator
        .roll(fixture.start + minute(2) + Duration::from_secs(1));
    assert_eq!(users(&fixture), Some(2.0));
    // Two whole windows without members: nothing counts.
    fixture.aggregator.roll(fixture.start + minute(4));
    assert_eq!(users(&fixture), Some(0.0));
    fixture.send_at(minute(4), "users:dave|s|#team:a");
    assert_eq!(users(&fixture), Some(1.0));
    // Windows stay aligned to the start: 4m59s is still the window that began at 4m.
    fixture.send_at(minute(5) - Duration::from_secs(1), "users:erin|s|#team:a");
    assert_eq!(users(&fixture), Some(2.0));
}
