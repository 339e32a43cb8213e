//! CSV export and import: moving in from spreadsheets, all or nothing.

use super::{create, creative_cloud, list_all, with};
use lm_tests::{Backend, Client, Server};
use serde_json::{Value, json};

async fn import(client: &Client, query: &str, csv: &str) -> lm_tests::Reply {
    client
        .post_bytes(
            &format!("/v1/licenses/import{query}"),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await
}

async fn head(client: &Client) -> i64 {
    client
        .get("/v1/changes?after=0&limit=1")
        .await
        .expect(200)
        .body["head"]
        .as_i64()
        .unwrap()
}

/// Two rows from a spreadsheet of another tool: columns in their own order.
const SPREADSHEET: &str = "\
vendor,name,product,kind,cost_currency,cost_amount,expires,seats,employees,devices,key,notes
Adobe,\"Creative Cloud, design\",adobe-cc,subscription,EUR,599.00,2027-01-14,10,alice;bob,,CC-KEY-1,\"renew via reseller\"
JetBrains,All Products,jetbrains-all,subscription,EUR,\"1,249.50\",2026-12-31,,,LAPTOP-7;LAPTOP-8,,
Microsoft,Office 2021,office-2021,perpetual,USD,439,,,carol,,,
";

async fn an_import_creates_then_a_second_import_changes_nothing(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let report = import(&alice, "", SPREADSHEET).await.expect(200).body;
    assert_eq!(
        (
            report["created"].clone(),
            report["updated"].clone(),
            report["unchanged"].clone()
        ),
        (json!(3), json!(0), json!(0)),
        "{report:#}"
    );
    let licenses = list_all(&alice, "sort=name").await;
    assert_eq!(licenses.len(), 3);
    let jetbrains = licenses
        .iter()
        .find(|l| l.product.as_str() == "jetbrains-all")
        .unwrap();
    assert_eq!(jetbrains.cost.amount, 124950);
    assert_eq!(jetbrains.seats, None, "empty seats: unlimited");
    assert_eq!(jetbrains.assignments.len(), 2);
    let cc = licenses
        .iter()
        .find(|l| l.product.as_str() == "adobe-cc")
        .unwrap();
    assert_eq!(cc.seats_used, 2);
    assert_eq!(cc.key.as_ref().unwrap().expose(), "CC-KEY-1");

    let revision = head(&alice).await;
    let again = import(&alice, "", SPREADSHEET).await.expect(200).body;
    assert_eq!(again["unchanged"], 3, "{again:#}");
    assert_eq!(
        head(&alice).await,
        revision,
        "an idempotent import writes nothing"
    );

    // A row that changes something updates the license it matches, in place.
    let changed = SPREADSHEET.replace("2026-12-31", "2027-06-30");
    let third = import(&alice, "", &changed).await.expect(200).body;
    assert_eq!(
        (third["updated"].clone(), third["unchanged"].clone()),
        (json!(1), json!(2))
    );
    let updated: Value = alice
        .get(&format!("/v1/licenses/{}", jetbrains.id))
        .await
        .expect(200)
        .body;
    assert_eq!(updated["expires"], "2027-06-30");
    assert_eq!(updated["version"], jetbrains.version + 1);

    let audit = alice.get("/v1/audit?action=import").await.expect(200).body;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        2,
        "one audit entry per import that wrote: {audit:#}"
    );
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["after"]["updated"][0], jetbrains.id.as_str());
}

async fn an_export_filters_like_the_list_and_reimports_unchanged(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let cc = create(&alice, creative_cloud()).await;
    let id = cc["id"].as_str().unwrap();
    alice
        .post(
            &format!("/v1/licenses/{id}/assignments"),
            &json!({"employee": "dave"}),
        )
        .await
        .expect(201);
    create(&alice, with(creative_cloud(), json!({"vendor": "Autodesk", "product": "autocad", "notes": "line one\nline two, \"quoted\""}))).await;

    let adobe = alice
        .get("/v1/licenses/export.csv?vendor=adobe")
        .await
        .expect(200);
    assert!(
        adobe
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        adobe
            .header("content-disposition")
            .unwrap()
            .contains("licenses-")
    );
    let mut lines = adobe.text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,product,name,kind,vendor,cost_amount,cost_currency,seats,seats_used,added,expires,owner_level,owner_eids,key,notes,employees,devices"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("599.00,EUR") && row.contains("XXXX-YYYY-ZZZZ") && row.ends_with(",dave,"),
        "{row}"
    );
    assert_eq!(lines.next(), None, "only Adobe");

    let everything = alice
        .get("/v1/licenses/export.csv?sort=name")
        .await
        .expect(200)
        .text;
    let before = list_all(&alice, "").await;
    let report = import(&alice, "", &everything).await.expect(200).body;
    assert_eq!(
        report["unchanged"], 2,
        "an export re-imports unchanged: {report:#}"
    );
    assert_eq!(list_all(&alice, "").await, before);

    // Employees export too, without product keys; they may not import.
    let eve = server.employee("eve");
    let theirs = eve
        .get("/v1/licenses/export.csv?vendor=adobe")
        .await
        .expect(200)
        .text;
    assert!(!theirs.contains("XXXX-YYYY-ZZZZ"), "{theirs}");
    import(&eve, "", &everything).await.expect(403);
    alice
        .get("/v1/licenses/export.csv?limit=5")
        .await
        .expect_problem(422, "limit");
}

/// Text that a spreadsheet would run as a formula (OWASP's CSV injection) is exported with a
/// leading `'`, so it shows as text; importing the export gives back the text exactly.
async fn formulas_in_license_text_are_exported_inert_and_reimport_unchanged(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    create(
        &alice,
        with(
            creative_cloud(),
            json!({"name": "=HYPERLINK(\"http://evil.example\",\"x\")", "vendor": "@Adobe",
                   "notes": "+cmd|' /C calc'!A0", "key": "-1+1"}),
        ),
    )
    .await;
    let exported = alice.get("/v1/licenses/export.csv").await.expect(200).text;
    let mut cells = csv::Reader::from_reader(exported.as_bytes());
    for record in cells.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a live formula in {exported}"
            );
        }
    }
    assert!(exported.contains("'=HYPERLINK"), "{exported}");
    let before = list_all(&alice, "").await;
    let report = import(&alice, "", &exported).await.expect(200).body;
    assert_eq!(report["unchanged"], 1, "{report:#}");
    assert_eq!(list_all(&alice, "").await, before);
}

/// However broken a file, the report lists the first thousand problems and counts the rest:
/// 3,000 rows naming licenses that do not exist once got 3,000 problems back.
async fn a_report_of_a_very_broken_file_stays_small(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let mut csv = String::from("id,product,name,kind,vendor,cost_amount,cost_currency\n");
    for i in 0..3_000 {
        csv.push_str(&format!(
            "01a248b0-ffb6-7678-b36d-{i:012},p,n{i},subscription,V,1,EUR\n"
        ));
    }
    let report = import(&alice, "", &csv).await.expect(422).body;
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1_001, "{:#}", problems.last().unwrap());
    assert!(
        problems[1_000]["problem"]
            .as_str()
            .unwrap()
            .contains("2000 more"),
        "{:#}",
        problems[1_000]
    );
    assert_eq!(list_all(&alice, "").await.len(), 0, "nothing written");

    // A file over the limit is refused as it arrives, whole rows or not.
    let row = format!("p,a name,subscription,V,1,EUR,{}\n", "n".repeat(1_000));
    let mut huge = String::from("product,name,kind,vendor,cost_amount,cost_currency,notes\n");
    while huge.len() <= lm_protocol::csv::MAX_IMPORT_BYTES {
        huge.push_str(&row);
    }
    let refused = import(&alice, "?dry_run=true", &huge).await;
    assert_eq!(
        refused.status,
        413,
        "{}",
        &refused.text[..refused.text.len().min(300)]
    );
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
}

async fn a_bad_file_is_reported_by_row_and_field_and_nothing_is_written(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    create(&alice, creative_cloud()).await;
    let revision = head(&alice).await;
    let bad = "\
product,name,kind,vendor,cost_amount,cost_currency,added,expires
ok-1,Fine,subscription,Acme,10,EUR,2026-01-01,2027-01-01
bad-date,Bad date,subscription,Acme,10,EUR,2026-01-01,2027-02-30
negative,Negative,subscription,Acme,-10,EUR,2026-01-01,
ok-1,Fine,subscription,Acme,10,EUR,2026-01-01,2027-01-01
backwards,Backwards,subscription,Acme,10,EUR,2026-06-01,2026-01-01
";
    let report = import(&alice, "", bad).await.expect(422).body;
    let problems: Vec<(u64, &str)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_u64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (3, "expires"),
            (4, "cost_amount"),
            (5, "row"),
            (6, "expires")
        ],
        "{report:#}"
    );
    assert!(
        report["problems"][2]["problem"]
            .as_str()
            .unwrap()
            .contains("row 2")
    );
    assert_eq!(head(&alice).await, revision, "nothing is half-imported");
    assert_eq!(list_all(&alice, "").await.len(), 1);

    let unknown = import(&alice, "", "product,name,colour\nx,y,red\n")
        .await
        .expect(422)
        .body;
    assert_eq!(unknown["problems"][0]["field"], "colour");
    assert_eq!(unknown["problems"][0]["row"], 1);

    let mut latin1 = b"product,name,kind,vendor,cost_amount,cost_currency\n".to_vec();
    latin1.extend_from_slice(b"cafe,Caf\xe9 licence,subscription,Acme,1,EUR\n");
    let encoding = alice
        .post_bytes("/v1/licenses/import", "text/csv", latin1)
        .await
        .expect(422)
        .body;
    assert_eq!(encoding["problems"][0]["field"], "name");
    assert!(
        encoding["problems"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );

    alice
        .post_bytes("/v1/licenses/import", "application/json", b"{}".to_vec())
        .await
        .expect_problem(415, "text/csv");

    // A dry run of a good file says what would happen and writes nothing.
    let good = bad.lines().take(2).collect::<Vec<_>>().join("\n");
    let dry = import(&alice, "?dry_run=true", &good)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (dry["dry_run"].clone(), dry["created"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(dry["outcomes"][0], json!({"row": 2, "outcome": "created"}));
    assert_eq!(head(&alice).await, revision);
}

async fn an_import_respects_seats_and_matches_by_id(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let cc = create(&alice, with(creative_cloud(), json!({"seats": 2}))).await;
    let id = cc["id"].as_str().unwrap();
    let too_many = format!("id,employees\n{id},a;b;c\n");
    let report = import(&alice, "", &too_many).await.expect(422).body;
    assert_eq!(report["problems"][0]["field"], "seats", "{report:#}");
    let fits = format!("id,employees,seats\n{id},a;b;c,3\n");
    import(&alice, "", &fits).await.expect(200);
    let after: Value = alice
        .get(&format!("/v1/licenses/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(after["seats_used"], 3);
    assert_eq!(
        after["name"], cc["name"],
        "absent columns stay as they were"
    );
    let missing = import(
        &alice,
        "",
        "id,notes\n0190d5a0-0000-7000-8000-00000000dead,x\n",
    )
    .await
    .expect(422)
    .body;
    assert_eq!(missing["problems"][0]["field"], "id");
}

crate::on_both_databases!(
    formulas_in_license_text_are_exported_inert_and_reimport_unchanged,
    a_report_of_a_very_broken_file_stays_small,
    an_import_creates_then_a_second_import_changes_nothing,
    an_export_filters_like_the_list_and_reimports_unchanged,
    a_bad_file_is_reported_by_row_and_field_and_nothing_is_written,
    an_import_respects_seats_and_matches_by_id,
);
