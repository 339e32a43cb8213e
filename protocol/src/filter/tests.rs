use super::*;

fn parse(q: &[(&str, &str)]) -> Result<ListParams, FieldError> {
    ListParams::from_query(q.iter().copied())
}

#[test]
fn parses_every_filter() {
    let p = parse(&[
        ("kind", "subscription"),
        ("vendor", "Adobe"),
        ("cost_min", "100"),
        ("cost_max", "500"),
        ("expires_to", "2027-01-01"),
        ("expiring_within", "30"),
        ("q", "Design"),
        ("sort", "-expires"),
        ("limit", "50"),
    ])
    .unwrap();
    assert_eq!(p.filter.vendor.as_deref(), Some("adobe"));
    assert_eq!(p.filter.q.as_deref(), Some("design"));
    assert_eq!(
        p.sort,
        Sort {
            field: SortField::Expires,
            descending: true
        }
    );
    assert_eq!(p.limit, 50);
}

#[test]
fn date_bounds_past_the_years_of_licenses_select_the_same_and_keep_four_digits() {
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let p = parse(&[("expires_to", "+10000-01-01"), ("added_from", "0900-01-01")]).unwrap();
    assert_eq!(p.filter.expires_to, Some(day("9999-12-31")));
    assert_eq!(p.filter.added_from, Some(day("1899-12-31")));
    assert_eq!(add_days(day("2026-12-03"), u32::MAX), day("9999-12-31"));
    // The same from JSON, as the daemon receives a filter.
    let json: LicenseFilter =
        serde_json::from_str(r#"{"expires_from": "+10000-01-01", "added": "1066-10-14"}"#).unwrap();
    let normalized = json.normalized();
    assert_eq!(normalized.expires_from, Some(day("9999-12-31")));
    assert_eq!(normalized.added, Some(day("1899-12-31")));
    // Inside the years, untouched.
    assert_eq!(within_license_years(day("2027-02-28")), day("2027-02-28"));
}

#[test]
fn errors_name_the_parameter() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("cost_min", "ten")], "cost_min"),
        (&[("added", "2026-13-01")], "added"),
        (&[("colour", "red")], "colour"),
        (&[("limit", "0")], "limit"),
        (&[("sort", "price")], "sort"),
        (&[("kind", "a"), ("kind", "b")], "kind"),
        (&[("cost_min", "500"), ("cost_max", "100")], "cost_min"),
        (&[("cursor", "garbage!")], "cursor"),
        (&[("currency", "XYZ")], "currency"),
    ];
    for (query, field) in cases {
        assert_eq!(parse(query).unwrap_err().field, *field, "{query:?}");
    }
    let long = "a".repeat(MAX_FILTER_TEXT + 1);
    assert_eq!(parse(&[("q", &long)]).unwrap_err().field, "q");
    assert_eq!(parse(&[("vendor", &long)]).unwrap_err().field, "vendor");
    assert!(parse(&[("q", &long[1..])]).is_ok());
}

#[test]
fn cursor_round_trips_and_must_match_the_sort() {
    let cursor = Cursor {
        sort: "-cost".parse().unwrap(),
        value: CursorValue::Int(5),
        id: "x".into(),
    };
    let raw = cursor.encode();
    assert_eq!(Cursor::decode(&raw).unwrap(), cursor);
    let err = parse(&[("cursor", &raw), ("sort", "cost")]).unwrap_err();
    assert_eq!(err.field, "cursor");
    assert!(parse(&[("cursor", &raw), ("sort", "-cost")]).is_ok());
}

#[test]
fn absent_values_sort_last() {
    assert!(CursorValue::Null > CursorValue::Int(i64::MAX));
    assert!(CursorValue::Null > CursorValue::Text("9999-12-31".into()));
}
