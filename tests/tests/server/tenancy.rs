//! Item 8: nothing of one organization is visible to another, not even whether it exists.

use super::{create, creative_cloud};
use lm_tests::{Backend, Server};
use serde_json::json;

async fn organizations_are_invisible_to_each_other(backend: Backend) {
    let server = Server::start(backend).await;
    let acme = server.user("alice", "manager", "acme");
    let globex = server.user("gus", "manager", "globex");
    let license = create(&acme, creative_cloud()).await;
    let id = license["id"].as_str().unwrap();
    let path = format!("/v1/licenses/{id}");

    let missing = globex
        .get("/v1/licenses/01a20000-0000-7000-8000-000000000000")
        .await
        .expect(404);
    let foreign = globex.get(&path).await.expect(404);
    assert_eq!(
        foreign.body["detail"], missing.body["detail"],
        "a foreign record looks exactly like a missing one"
    );
    assert_eq!(
        globex.get("/v1/licenses").await.expect(200).body["items"],
        json!([])
    );
    assert_eq!(
        globex.get(&format!("/v1/licenses?id={id}")).await.body["items"],
        json!([])
    );
    globex
        .patch(&path, 1, &json!({"name": "mine now"}))
        .await
        .expect(404);
    globex.delete(&path).await.expect(404);
    globex
        .post(&format!("{path}/restore"), &json!({}))
        .await
        .expect(404);
    globex
        .post(&format!("{path}/assignments"), &json!({"employee": "gus"}))
        .await
        .expect(404);
    let assigned = acme
        .post(&format!("{path}/assignments"), &json!({"employee": "bob"}))
        .await
        .expect(201)
        .body;
    let assignment = assigned["assignments"][0]["id"].as_str().unwrap();
    globex.get(&format!("{path}/seats")).await.expect(404);
    globex
        .get(&format!("{path}/seats?limit=1"))
        .await
        .expect(404);
    globex
        .delete(&format!("{path}/seats/{assignment}"))
        .await
        .expect(404);
    globex
        .delete(&format!("{path}/assignments/{assignment}"))
        .await
        .expect(404);
    assert_eq!(
        globex
            .get(&format!("/v1/audit?record={id}"))
            .await
            .expect(200)
            .body["items"],
        json!([])
    );
    assert_eq!(globex.get("/v1/audit").await.body["items"], json!([]));

    let untouched = acme.get(&path).await.expect(200).body;
    assert_eq!(untouched["version"], 2);
    assert_eq!(untouched["seats_used"], 1);
}

crate::on_both_databases!(organizations_are_invisible_to_each_other);
