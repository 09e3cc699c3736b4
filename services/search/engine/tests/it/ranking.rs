//! Name matching, ordering and paging through Catalog::rank.

use search_engine::{Catalog, CatalogEntry, Query};

fn entry(id: i64, name: &str, area: f64) -> CatalogEntry {
    CatalogEntry {
        id,
        name: name.to_owned(),
        area,
    }
}

fn catalog() -> Catalog {
    Catalog::new(vec![
        entry(1, "United States of America", 1000.0),
        entry(2, "United Kingdom", 30.0),
        entry(3, "Île-de-France", 1.5),
        entry(4, "São Paulo", 25.0),
        entry(5, "Texas", 70.0),
        entry(6, "France", 60.0),
        entry(7, "Paulo Afonso", 0.1),
        entry(8, "New Paulo", 0.2),
        entry(9, "Sao Paulo", 25.0),
        entry(10, "Vanuatu", 1.0),
    ])
}

fn text(t: &str) -> Query {
    Query {
        text: Some(t.to_owned()),
        point: None,
        page: 1,
        per_page: 10,
    }
}

fn names(c: &Catalog, q: &Query, contained: Option<&[i64]>) -> Vec<String> {
    c.rank(q, contained)
        .iter()
        .map(|h| h.name.to_owned())
        .collect()
}

#[test]
fn accents_case_and_punctuation_are_ignored() {
    let c = catalog();
    assert_eq!(names(&c, &text("ile de france"), None), ["Île-de-France"]);
    assert_eq!(
        names(&c, &text("UNITED"), None),
        ["United Kingdom", "United States of America"]
    );
    assert_eq!(names(&c, &text("île-DE-fRaNcE!"), None), ["Île-de-France"]);
}

#[test]
fn match_class_first_then_area_name_id() {
    let c = catalog();
    // Both exact with equal areas, so by name: "Sao" < "São" bytewise.
    assert_eq!(
        names(&c, &text("sao paulo"), None),
        ["Sao Paulo", "São Paulo"]
    );
    // Prefix beats word prefix even against a smaller area; within a class, area.
    assert_eq!(
        names(&c, &text("paulo"), None),
        ["Paulo Afonso", "New Paulo", "Sao Paulo", "São Paulo"]
    );
    // "france": exact France beats the smaller Île-de-France, which is a word prefix.
    assert_eq!(
        names(&c, &text("france"), None),
        ["France", "Île-de-France"]
    );
    // Substring only: "ates" in "states"; "an" is a substring of France and Vanuatu,
    // ordered by area.
    assert_eq!(names(&c, &text("ates"), None), ["United States of America"]);
    assert_eq!(
        names(&c, &text("an"), None),
        ["Vanuatu", "Île-de-France", "France"]
    );
}

#[test]
fn ties_break_by_name_then_id() {
    let c = Catalog::new(vec![
        entry(3, "B", 1.0),
        entry(2, "A", 1.0),
        entry(1, "A", 1.0),
        entry(0, "C", 0.5),
    ]);
    let q = Query {
        text: None,
        point: None,
        page: 1,
        per_page: 10,
    };
    let ids: Vec<i64> = c.rank(&q, None).iter().map(|h| h.id).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn nan_areas_sort_deterministically() {
    let c = Catalog::new(vec![
        entry(1, "A", f64::NAN),
        entry(2, "B", 1.0),
        entry(3, "C", -0.0),
    ]);
    let q = Query {
        text: None,
        point: None,
        page: 1,
        per_page: 10,
    };
    let ids: Vec<i64> = c.rank(&q, None).iter().map(|h| h.id).collect();
    assert_eq!(ids, [3, 2, 1], "total order: NaN last");
}

#[test]
fn contained_filter() {
    let c = catalog();
    let q = Query {
        text: None,
        point: None,
        page: 1,
        per_page: 10,
    };
    // Unknown ids and repeats are ignored; order is by area.
    assert_eq!(
        names(&c, &q, Some(&[1, 5, 99, 5])),
        ["Texas", "United States of America"]
    );
    assert!(names(&c, &q, Some(&[])).is_empty());
    assert_eq!(names(&c, &text("texas"), Some(&[1, 5])), ["Texas"]);
    assert!(names(&c, &text("france"), Some(&[1, 5])).is_empty());
}

#[test]
fn pagination() {
    let c = catalog();
    let page = |page: u32, per_page: u32| {
        let q = Query {
            text: None,
            point: None,
            page,
            per_page,
        };
        c.rank(&q, None).iter().map(|h| h.id).collect::<Vec<_>>()
    };
    let all = page(1, 100);
    assert_eq!(all.len(), 10);
    assert_eq!(page(1, 3), all[0..3]);
    assert_eq!(page(2, 3), all[3..6]);
    assert_eq!(page(4, 3), all[9..10], "last, partial page");
    assert!(page(5, 3).is_empty(), "past the end");
    assert_eq!(page(0, 3), page(1, 3), "page 0 reads as 1");
    assert!(page(u32::MAX, 1000).is_empty(), "no overflow");
    assert!(page(1, 0).is_empty());
    assert_eq!(page(1, u32::MAX), all);
}

#[test]
fn text_without_words_does_not_filter() {
    let c = catalog();
    assert_eq!(c.rank(&text(" - "), None).len(), 10);
    assert_eq!(c.len(), 10);
}
