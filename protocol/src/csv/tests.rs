use super::*;

const HEADER: &str =
    "product,name,kind,vendor,cost_amount,cost_currency,seats,expires,employees,devices,notes\n";

#[test]
fn a_row_reads_into_typed_fields() {
    let csv = format!(
        "{HEADER}adobe-cc,\"Creative Cloud, design\",subscription,Adobe,599.00,EUR,10,2027-01-14,alice; bob,,\"two\nlines\"\n"
    );
    let (rows, problems) = parse_import(csv.as_bytes());
    assert_eq!(problems, []);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.row, 2);
    assert_eq!(r.name.as_ref().unwrap().as_str(), "Creative Cloud, design");
    assert_eq!(r.cost.unwrap().amount, 59900);
    assert_eq!(r.seats, Some(Some(10)));
    assert_eq!(r.employees.as_ref().unwrap().len(), 2);
    assert_eq!(r.devices, Some(vec![]));
    assert_eq!(r.notes.as_ref().unwrap().as_str(), "two\nlines");
    assert_eq!(r.id, None);
    assert_eq!(r.added, None, "absent column");
}

proptest::proptest! {
    /// Any file — bytes of any kind, or rows of real columns with cells of any text —
    /// reads as rows and problems without a panic, each problem placed in the file.
    #[test]
    fn any_file_reads_as_rows_and_placed_problems(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let (rows, problems) = parse_import(bytes.as_slice());
        proptest::prop_assert!(problems.len() <= MAX_PROBLEMS + 1);
        for p in &problems {
            proptest::prop_assert!(p.row >= 1 && !p.field.is_empty() && !p.problem.is_empty());
        }
        proptest::prop_assert!(rows.len() <= MAX_IMPORT_ROWS);
    }

    #[test]
    fn any_cells_under_a_real_header_read_as_rows_or_named_problems(
        cells in proptest::collection::vec(proptest::collection::vec("[ -~é;'=+\\-]{0,14}", COLUMNS.len()), 0..6)
    ) {
        let mut out = ::csv::Writer::from_writer(Vec::new());
        out.write_record(COLUMNS).unwrap();
        for row in &cells {
            out.write_record(row).unwrap();
        }
        let bytes = out.into_inner().unwrap();
        let (rows, problems) = parse_import(bytes.as_slice());
        for p in &problems {
            proptest::prop_assert!(p.field == "row" || p.field == "file" || COLUMNS.contains(&p.field.as_str()), "{:?}", p);
        }
        proptest::prop_assert!(rows.len() + problems.len() >= cells.len().min(1) || cells.iter().all(|r| r.iter().all(|c| c.trim().is_empty())));
    }
}

#[test]
fn a_file_of_more_rows_than_an_import_takes_is_refused_at_the_first_row_too_many() {
    let mut csv = String::from("product,name,kind,vendor,cost_amount,cost_currency\n");
    for i in 0..=MAX_IMPORT_ROWS {
        csv.push_str(&format!("p,n{i},subscription,V,1,EUR\n"));
    }
    let (rows, problems) = parse_import(csv.as_bytes());
    assert_eq!(rows.len(), MAX_IMPORT_ROWS);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].row, problems[0].field.as_str()),
        (MAX_IMPORT_ROWS + 2, "file")
    );
}

#[test]
fn a_report_lists_the_first_problems_and_counts_the_rest() {
    let mut problems: Vec<RowProblem> = (0..MAX_PROBLEMS + 500)
        .rev()
        .map(|i| problem(i + 2, "cost_amount", "bad"))
        .collect();
    cap_problems(&mut problems);
    assert_eq!(problems.len(), MAX_PROBLEMS + 1);
    assert_eq!(problems[0].row, 2, "in row order");
    let last = problems.last().unwrap();
    assert_eq!(last.field, "file");
    assert!(last.problem.contains("500 more"), "{}", last.problem);
}

#[test]
fn every_problem_names_its_row_and_field() {
    let csv = format!(
        "{HEADER}adobe-cc,CC,subscription,Adobe,-5,EUR,0,2027-02-30,,,\n\
         ,CC,subscription,Adobe,5,EURO,,,,,\n"
    );
    let (_, problems) = parse_import(csv.as_bytes());
    let found: Vec<(usize, &str)> = problems.iter().map(|p| (p.row, p.field.as_str())).collect();
    assert_eq!(
        found,
        [
            (2, "cost_amount"),
            (2, "seats"),
            (2, "expires"),
            (3, "product"),
            (3, "cost_currency"),
        ],
        "{problems:#?}"
    );
    assert!(problems[0].problem.contains("negative"));
}

#[test]
fn unknown_and_missing_columns_are_refused_in_the_header() {
    let (_, problems) = parse_import(&b"product,name,colour\nx,y,red\n"[..]);
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["colour", "kind", "vendor", "cost_amount", "cost_currency"]
    );
    assert!(problems.iter().all(|p| p.row == 1));
}

#[test]
fn text_that_is_not_utf8_is_named() {
    let mut csv = HEADER.as_bytes().to_vec();
    csv.extend_from_slice(b"adobe-cc,Caf\xe9,subscription,Adobe,5,EUR,,,,,\n");
    let (_, problems) = parse_import(csv.as_slice());
    assert_eq!((problems[0].row, problems[0].field.as_str()), (2, "name"));
    assert!(problems[0].problem.contains("UTF-8"));
}

#[test]
fn cells_a_spreadsheet_would_run_are_written_inert_and_read_back_as_they_were() {
    for (text, written) in [
        (
            "=HYPERLINK(\"http://evil\")",
            "'=HYPERLINK(\"http://evil\")",
        ),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),
        ("'=x", "''=x"),
        ("plain", "plain"),
        ("", ""),
    ] {
        assert_eq!(inert(text), written, "{text:?}");
        assert_eq!(as_written(&inert(text)), text, "{text:?}");
    }
    // A cell typed by hand keeps a leading quote that protects nothing.
    assert_eq!(as_written("'plain"), "'plain");
}

#[test]
fn a_license_with_formulas_in_its_text_exports_inert_and_imports_unchanged() {
    let license: License = serde_json::from_value(serde_json::json!({
        "id": "0190d5a0-0000-7000-8000-000000000002", "product": "evil", "name": "=1+1",
        "kind": "subscription", "vendor": "@Vendor", "cost": {"amount": 100, "currency": "EUR"},
        "added": "2026-01-01", "key": "-K", "notes": "+cmd|' /C calc'!A0",
        "assignments": [], "seats_used": 0, "version": 1, "revision": 1
    }))
    .unwrap();
    let mut out = ::csv::Writer::from_writer(Vec::new());
    write_header(&mut out).unwrap();
    write_license(&mut out, &license).unwrap();
    let bytes = out.into_inner().unwrap();
    let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(FORMULA_STARTS),
                "a live formula: {cell:?}"
            );
        }
    }
    let row = parse_import(bytes.as_slice()).0.remove(0);
    assert_eq!(row.name.as_ref(), Some(&license.name));
    assert_eq!(row.vendor.as_ref(), Some(&license.vendor));
    assert_eq!(row.key, Some(license.key.clone()));
    assert_eq!(row.notes, Some(license.notes.clone()));
}

#[test]
fn an_export_reads_back_as_the_same_license() {
    let license: License = serde_json::from_value(serde_json::json!({
        "id": "0190d5a0-0000-7000-8000-000000000001", "product": "jetbrains", "name": "IDEs",
        "kind": "subscription", "vendor": "JetBrains", "cost": {"amount": 24900, "currency": "EUR"},
        "seats": 5, "seats_used": 1, "added": "2026-01-01", "expires": "2027-01-01",
        "owner": {"level": "school", "eids": ["s1", "s2"]},
        "assignments": [{"id": "a1", "employee": "alice", "since": "2026-01-02T00:00:00Z"},
                        {"id": "a2", "device": "LAPTOP-7", "since": "2026-01-02T00:00:00Z"}],
        "key": "K-1", "notes": "a, \"quoted\" note", "version": 3, "revision": 9
    }))
    .unwrap();
    let mut out = ::csv::Writer::from_writer(Vec::new());
    write_header(&mut out).unwrap();
    write_license(&mut out, &license).unwrap();
    let bytes = out.into_inner().unwrap();
    let row = parse_import(bytes.as_slice()).0.remove(0);
    assert_eq!(row.id.as_ref(), Some(&license.id));
    assert_eq!(row.cost, Some(license.cost));
    assert_eq!(row.owner, Some(license.owner.as_deref().cloned()));
    assert_eq!(row.key, Some(license.key.clone()));
    assert_eq!(row.notes, Some(license.notes.clone()));
    assert_eq!(row.employees.unwrap()[0].as_str(), "alice");
    assert_eq!(row.devices.unwrap()[0].as_str(), "LAPTOP-7");
}
