use super::*;
use chrono::DateTime;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

const CREATE: &str = r#"{
    "product": "adobe-cc", "name": "Creative Cloud, design team", "kind": "Subscription",
    "vendor": "Adobe", "cost": {"amount": 59900, "currency": "eur"}, "seats": 10,
    "expires": "2027-01-14", "assignments": [{"employee": "alice"}, {"device": "LAPTOP-7"}],
    "key": "XXXX-XXXX"
}"#;

#[test]
fn create_body_parses_with_defaults() {
    let body: NewLicense = serde_json::from_str(CREATE).unwrap();
    let (fields, assignees) = body.into_parts(today()).unwrap();
    assert_eq!(fields.kind.as_str(), "subscription");
    assert_eq!(fields.added, today());
    assert_eq!(fields.cost.currency.as_str(), "EUR");
    assert_eq!(assignees.len(), 2);
    assert_eq!(fields.notes.as_str(), "");
}

/// Parses the create body with `field` set to `value` (or removed when `value` is null).
fn create_with(field: &str, value: serde_json::Value) -> Result<LicenseFields, String> {
    let mut body: serde_json::Value = serde_json::from_str(CREATE).unwrap();
    if value.is_null() {
        body.as_object_mut().unwrap().remove(field);
    } else {
        body[field] = value;
    }
    serde_json::from_value::<NewLicense>(body)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            b.into_parts(today())
                .map(|(f, _)| f)
                .map_err(|e| e.to_string())
        })
}

#[test]
fn create_body_names_the_bad_field() {
    use serde_json::json;
    let cases = [
        ("name", json!(""), "name must not be empty"),
        ("name", json!(null), "missing field `name`"),
        ("seats", json!(0), "seats: must be at least 1"),
        (
            "expires",
            json!("2020-01-01"),
            "expires: 2020-01-01 is before",
        ),
        (
            "expires",
            json!("+10000-01-01"),
            "expires: +10000-01-01 is not a date from 1900-01-01 to 9999-12-30",
        ),
        (
            "added",
            json!("1066-10-14"),
            "added: 1066-10-14 is not a date from 1900-01-01 to 9999-12-30",
        ),
        ("kind", json!("Not A Kind"), "not a license kind"),
        (
            "cost",
            json!({"amount": 5, "currency": "XYZ"}),
            "not an ISO 4217",
        ),
        ("colour", json!("red"), "unknown field `colour`"),
    ];
    for (field, value, expected) in cases {
        let err = create_with(field, value).expect_err(field);
        assert!(err.contains(expected), "{field}: {err}");
    }
}

#[test]
fn create_refuses_more_assignments_than_seats() {
    let json = CREATE.replace(r#""seats": 10"#, r#""seats": 1"#);
    let err = serde_json::from_str::<NewLicense>(&json)
        .unwrap()
        .into_parts(today())
        .unwrap_err();
    assert_eq!(err.field, "assignments");
}

#[test]
fn patch_distinguishes_null_from_absent() {
    let patch: LicensePatch = serde_json::from_str(r#"{"expires": null, "name": "x"}"#).unwrap();
    assert_eq!(patch.expires, Some(None));
    assert_eq!(patch.seats, None);
    let body: NewLicense = serde_json::from_str(CREATE).unwrap();
    let (fields, _) = body.into_parts(today()).unwrap();
    let patched = patch.apply(fields.clone());
    assert_eq!(patched.expires, None);
    assert_eq!(patched.seats, fields.seats);
    assert_eq!(patched.name.as_str(), "x");
}

#[test]
fn patch_refuses_server_owned_fields() {
    for body in [
        r#"{"version": 3}"#,
        r#"{"id": "x"}"#,
        r#"{"seats_used": 1}"#,
    ] {
        assert!(
            serde_json::from_str::<LicensePatch>(body).is_err(),
            "{body}"
        );
    }
}

#[test]
fn license_key_never_shows_in_debug_output() {
    let key = LicenseKey::new("SECRET-1234").unwrap();
    assert!(!format!("{key:?}").contains("SECRET"));
}

#[test]
fn assignment_wire_shape_is_flat() {
    let a = Assignment {
        id: AssignmentId::new("a1").unwrap(),
        assignee: Assignee::Employee(EmployeeId::new("alice").unwrap()),
        since: DateTime::from_timestamp(0, 0).unwrap(),
        last_seen: None,
    };
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["employee"], "alice");
    assert!(json.get("last_seen").is_none(), "absent when unknown");
    assert_eq!(serde_json::from_value::<Assignment>(json).unwrap(), a);
}

/// The contract's `maxLength` counts what is sent: a value over it is refused even if,
/// trimmed, it would fit (the contract fuzzer found one accepted).
#[test]
fn a_value_over_its_length_is_refused_even_if_trimmed_it_would_fit() {
    let padded = format!(" {} ", "n".repeat(199));
    assert!(padded.parse::<LicenseName>().is_err());
    let fits = format!(" {} ", "n".repeat(198));
    assert_eq!(
        fits.parse::<LicenseName>().unwrap().as_str(),
        "n".repeat(198)
    );
}

#[test]
fn an_assignment_reads_as_written_and_names_whom_it_is_of() {
    let written = serde_json::json!({
        "id": "0190d5a0-0000-7000-8000-000000000001", "device": "LAPTOP-7",
        "since": "2026-01-02T03:04:05Z", "last_seen": "2026-02-01T00:00:00Z"
    });
    let read: Assignment = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(read.assignee, Assignee::Device("LAPTOP-7".parse().unwrap()));
    assert_eq!(serde_json::to_value(&read).unwrap(), written);
    let neither = serde_json::json!({"id": "a1", "since": "2026-01-02T03:04:05Z"});
    let e = serde_json::from_value::<Assignment>(neither).unwrap_err();
    assert!(e.to_string().contains("`employee` or `device`"), "{e}");
    let both = serde_json::json!({"id": "a1", "employee": "ann", "device": "PC-1", "since": "2026-01-02T03:04:05Z"});
    let e = serde_json::from_value::<Assignment>(both).unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
}
