use super::*;

#[test]
fn requests_read_as_people_type_them() {
    let frame = ClientFrame::parse(
        r#"{"id":2,"op":"list","filter":{"vendor":"adobe"},"sort":"-expires","limit":2}"#,
    )
    .unwrap();
    assert_eq!(frame.id, 2);
    let Request::List(ListRequest {
        filter,
        sort,
        offset,
        limit,
        within: None,
    }) = frame.request
    else {
        panic!("a list request")
    };
    assert_eq!(filter.vendor.as_deref(), Some("adobe"));
    assert_eq!(sort.to_string(), "-expires");
    assert_eq!((offset, limit), (0, 2));

    let assign =
        ClientFrame::parse(r#"{"id":3,"op":"assign","license":"x","to":{"employee":"alice"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(assign.request, Request::Assign(_)));
    assert_eq!(ClientFrame::parse(&assign.encode()), Ok(assign));
}

#[test]
fn unknown_fields_are_refused_by_name() {
    for line in [
        r#"{"id":1,"op":"status","colour":1}"#,
        r#"{"id":1,"op":"list","filter":{"colour":"red"}}"#,
    ] {
        let err = ClientFrame::parse(line).unwrap_err();
        assert_eq!(err.id, Some(1));
        assert!(err.message.contains("colour"), "{err}");
        assert!(!err.message.starts_with('.'), "{err}");
    }
    assert_eq!(ClientFrame::parse("{").unwrap_err().id, None);
    let nested =
        ClientFrame::parse(r#"{"id":4,"op":"list","filter":{"cost_min":"ten"}}"#).unwrap_err();
    assert!(nested.message.starts_with("filter.cost_min:"), "{nested}");
}

#[test]
fn a_reply_keeps_the_items_that_fit_a_frame_and_at_least_one() {
    let item = "x".repeat(100_000);
    let mut many = vec![item.clone(); 30];
    assert!(keep_within_frame(&mut many));
    assert_eq!(many.len(), MAX_REPLY_ITEMS_BYTES / 100_003);
    let mut few = vec![item.clone(); 3];
    assert!(!keep_within_frame(&mut few));
    assert_eq!(few.len(), 3);
    let mut huge = vec!["y".repeat(2 * MAX_FRAME), item];
    assert!(keep_within_frame(&mut huge));
    assert_eq!(huge.len(), 1, "the first stays, so paging goes on");
}

/// Requests as a fuzzer writes them: JSON of every shape, with the real ops and field
/// names among the random ones, so that the parser reaches past the first check.
fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let names = prop_oneof![
        Just("id".to_owned()),
        Just("op".to_owned()),
        Just("filter".to_owned()),
        Just("limit".to_owned()),
        Just("path".to_owned()),
        Just("license".to_owned()),
        Just("patch".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        proptest::sample::select(Request::OPS.to_vec()).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(names.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// Whatever a client sends — any bytes, any JSON — the daemon reads a request or an
    /// error naming what is wrong, and never panics.
    #[test]
    fn any_line_reads_as_a_request_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let line = String::from_utf8_lossy(&bytes);
        if let Err(e) = ClientFrame::parse(&line) {
            proptest::prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn any_json_reads_as_a_request_or_an_error(value in arbitrary_json(), id in 0u64..10, op in proptest::sample::select(Request::OPS.to_vec())) {
        let mut value = value;
        if let serde_json::Value::Object(object) = &mut value {
            object.entry("id").or_insert(id.into());
            object.entry("op").or_insert(op.into());
        }
        match ClientFrame::parse(&value.to_string()) {
            Ok(frame) => {
                // What was read writes back as a request that reads the same.
                proptest::prop_assert_eq!(ClientFrame::parse(&frame.encode()).ok(), Some(frame));
            }
            Err(e) => proptest::prop_assert!(!e.message.is_empty()),
        }
    }
}

#[test]
fn a_key_given_twice_is_refused_not_read_one_way() {
    for line in [
        r#"{"id":1,"op":"status","op":"logout"}"#,
        r#"{"id":1,"op":"list","filter":{"kind":"a","kind":"b"}}"#,
    ] {
        let err = ClientFrame::parse(line).unwrap_err();
        assert!(err.message.contains("appears twice"), "{err}");
    }
}
