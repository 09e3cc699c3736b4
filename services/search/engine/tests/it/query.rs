//! Request validation: one case per field and rule.

use search_engine::{InvalidArgument, Point, Query, DEFAULT_PER_PAGE};

fn err(query: &str, lat: f32, lng: f32, page: i32, per_page: i32) -> InvalidArgument {
    match Query::from_request(query, lat, lng, page, per_page) {
        Ok(q) => panic!("expected an error, got {q:?}"),
        Err(e) => e,
    }
}

fn ok(query: &str, lat: f32, lng: f32, page: i32, per_page: i32) -> Query {
    Query::from_request(query, lat, lng, page, per_page)
        .unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

#[test]
fn errors_name_the_field_and_the_expected_form() {
    let cases: Vec<(InvalidArgument, &str, &str)> = vec![
        (
            err("", 95.0, 0.0, 0, 0),
            "lat",
            "lat: 95 is outside [-90, 90]",
        ),
        (
            err("", -90.5, 0.0, 0, 0),
            "lat",
            "lat: -90.5 is outside [-90, 90]",
        ),
        (
            err("", 0.0, 180.5, 0, 0),
            "lng",
            "lng: 180.5 is outside [-180, 180]",
        ),
        (
            err("", 0.0, -181.0, 0, 0),
            "lng",
            "lng: -181 is outside [-180, 180]",
        ),
        (
            err("", f32::NAN, 0.0, 0, 0),
            "lat",
            "lat: NaN is not a finite number; expected WGS84 degrees",
        ),
        (
            err("", 0.0, f32::INFINITY, 0, 0),
            "lng",
            "lng: inf is not a finite number; expected WGS84 degrees",
        ),
        (
            err("", 0.0, f32::NEG_INFINITY, 0, 0),
            "lng",
            "lng: -inf is not a finite number; expected WGS84 degrees",
        ),
        (
            err("", 0.0, 0.0, -1, 0),
            "page_number",
            "page_number: -1 is negative; expected 0 (first page) or a 1-based page number",
        ),
        (
            err("", 0.0, 0.0, 0, -1),
            "result_per_page",
            "result_per_page: -1 is outside [0, 1000] (0 means 10)",
        ),
        (
            err("", 0.0, 0.0, 0, 1001),
            "result_per_page",
            "result_per_page: 1001 is outside [0, 1000] (0 means 10)",
        ),
        (
            err(&"a".repeat(257), 0.0, 0.0, 0, 0),
            "query",
            "query: 257 bytes is longer than the limit of 256 bytes",
        ),
        (
            err(" -- ", 1.0, 1.0, 0, 0),
            "query",
            "query: \" -- \" has no letter or digit; expected a place name such as \"Texas\", \
             or an empty query to search by point only",
        ),
    ];
    for (e, field, message) in cases {
        assert_eq!(e.field(), field, "{e}");
        assert_eq!(e.to_string(), message);
    }
    // The byte limit counts UTF-8 bytes, not characters.
    assert_eq!(err(&"é".repeat(129), 0.0, 0.0, 0, 0).field(), "query");
    ok(&"é".repeat(128), 0.0, 0.0, 0, 0);
}

#[test]
fn limits_are_inclusive() {
    ok("", 90.0, 180.0, 0, 1000);
    ok("", -90.0, -180.0, i32::MAX, 1);
    ok(&"a".repeat(256), 0.0, 0.0, 0, 0);
}

#[test]
fn defaults_for_zero() {
    let q = ok("", 1.0, 2.0, 0, 0);
    assert_eq!((q.page, q.per_page), (1, DEFAULT_PER_PAGE));
    let q = ok("", 1.0, 2.0, 3, 25);
    assert_eq!((q.page, q.per_page), (3, 25));
}

#[test]
fn text_and_point_rules() {
    // Empty text: always a point search, even at (0, 0).
    let q = ok("", 0.0, 0.0, 0, 0);
    assert_eq!(
        (q.text, q.point),
        (None, Some(Point { lat: 0.0, lng: 0.0 }))
    );
    // Text at (0, 0): name only, since proto3 cannot tell 0 from unset.
    let q = ok("Texas", 0.0, 0.0, 0, 0);
    assert_eq!((q.text.as_deref(), q.point), (Some("Texas"), None));
    let q = ok("Texas", -0.0, 0.0, 0, 0);
    assert_eq!(q.point, None, "-0 is 0");
    // Text and a point: both filters.
    let q = ok("Texas", 0.0, 5.0, 0, 0);
    assert_eq!(q.point, Some(Point { lat: 0.0, lng: 5.0 }));
    let q = ok("Texas", 30.2672, -97.7431, 0, 0);
    assert!(q.text.is_some() && q.point.is_some());
}

#[test]
fn coordinates_are_widened_exactly() {
    let q = ok("", 30.2672, -97.7431, 0, 0);
    let p = q.point.expect("point search");
    assert_eq!(p.lat, f64::from(30.2672f32));
    assert_eq!(p.lng, f64::from(-97.7431f32));
    assert_ne!(p.lat, 30.2672, "no decimal round trip");
}

proptest::proptest! {
    /// Any request either fails naming one of its fields or yields a usable Query.
    #[test]
    fn any_request_validates_or_names_a_field(
        query in ".{0,300}",
        lat in proptest::num::f32::ANY,
        lng in proptest::num::f32::ANY,
        page in proptest::num::i32::ANY,
        per_page in -5i32..1100,
    ) {
        match Query::from_request(&query, lat, lng, page, per_page) {
            Ok(q) => {
                proptest::prop_assert!(q.page >= 1);
                proptest::prop_assert!((1..=search_engine::MAX_PER_PAGE).contains(&q.per_page));
                proptest::prop_assert_eq!(q.text.is_some(), !query.is_empty());
                proptest::prop_assert!(q.point.is_some() || (lat == 0.0 && lng == 0.0));
            }
            Err(e) => {
                let fields = ["query", "lat", "lng", "page_number", "result_per_page"];
                proptest::prop_assert!(fields.contains(&e.field()));
                proptest::prop_assert!(e.to_string().starts_with(e.field()));
            }
        }
    }
}
