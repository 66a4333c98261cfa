//! Who may do what: roles on the agents' API, and the catalogue admins manage.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn roles_decide_who_reads_works_and_sees_the_dashboard() {
    let s = Server::start(&[]).await;
    // A JSON body with its charset is JSON.
    let body = serde_json::to_vec(&citizen_request("voirie", "une demande")).unwrap();
    let (status, created) = s.post_raw("/api/v1/requests", None, "application/json; charset=utf-8", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    let (agent, manager, elected, guest) = (s.token("agent"), s.token("manager"), s.token("elected"), s.token("guest"));
    let work = json!({"status": "in_progress"});
    let status_path = format!("/api/v1/requests/{id}/status");

    let response = s.http.get(s.at("/api/v1/requests")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(&read(response).await.1, "unauthorized");
    for forged in ["gtk_forged-token-that-does-not-exist", "", &format!("{agent}x")] {
        let (status, body) = s.get("/api/v1/requests", Some(forged)).await;
        assert_eq!(status, 401, "{forged:?}");
        assert_error(&body, "unauthorized");
    }
    let basic = s.http.get(s.at("/api/v1/requests")).basic_auth("admin", Some("admin")).send().await.unwrap();
    assert_eq!(basic.status(), 401);

    // A guest token sees what it is invited to: with a token, nothing (invitations need an account).
    let (status, body) = s.get("/api/v1/requests", Some(&guest)).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]), "{body}");
    assert_eq!(s.get(&format!("/api/v1/requests/{id}"), Some(&guest)).await.0, 404);
    let (status, body) = s.get("/api/v1/dashboard", Some(&agent)).await;
    assert_eq!(status, 403);
    assert_error(&body, "forbidden");
    assert_eq!(s.get("/api/v1/dashboard", None).await.0, 401);
    assert_eq!(s.get("/api/v1/dashboard", Some(&manager)).await.0, 200);

    // Elected officials read and follow the figures, but do not work requests.
    assert_eq!(s.get(&format!("/api/v1/requests/{id}"), Some(&elected)).await.0, 200);
    assert_eq!(s.get("/api/v1/dashboard", Some(&elected)).await.0, 200);
    let (status, body) = s.post(&status_path, Some(&elected), &work).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(s.post(&status_path, Some(&guest), &work).await.0, 403);
    assert_eq!(s.post(&status_path, None, &work).await.0, 401);
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    assert_eq!(detail["request"]["status"], "received", "refused callers changed nothing");
    assert_eq!(s.post(&status_path, Some(&manager), &work).await.0, 200);
}

#[tokio::test]
async fn admins_manage_the_catalogue_and_citizens_use_it() {
    let s = Server::start(&[]).await;
    let (admin, agent) = (s.token("admin"), s.token("agent"));
    let category = json!({"id": "graffiti", "name": "Graffitis", "department": "environnement", "sla_days": 5,
                          "required": ["location"], "public": true, "active": true});
    let (status, body) = s.post("/api/v1/admin/categories", Some(&agent), &category).await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "forbidden");
    assert_eq!(s.post("/api/v1/admin/categories", None, &category).await.0, 401);
    let (_, categories) = s.get("/api/v1/categories", None).await;
    assert!(!categories.as_array().unwrap().iter().any(|c| c["id"] == "graffiti"), "refused creation");

    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "already_exists");
    let mut orphan = category.clone();
    orphan["id"] = json!("orphan");
    orphan["department"] = json!("nowhere");
    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &orphan).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "unknown_department", "department");

    let (_, categories) = s.get("/api/v1/categories", None).await;
    let graffiti = categories.as_array().unwrap().iter().find(|c| c["id"] == "graffiti").expect("listed");
    assert_eq!(graffiti["department"], "Environnement et cadre de vie");
    assert_eq!(graffiti["sla_days"], 5);
    let created = s.post("/api/v1/requests", None, &citizen_request("graffiti", "Tag sur l'école")).await;
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(created.1["acknowledgement"]["category"], "Graffitis");
    let mut no_location = citizen_request("graffiti", "Tag");
    no_location.as_object_mut().unwrap().remove("location");
    let (status, body) = s.post("/api/v1/requests", None, &no_location).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "required", "location");

    // Retired: gone from the public list and refused at intake, still known to agents.
    let mut retired = category.clone();
    retired["active"] = json!(false);
    let put = s.http.put(s.at("/api/v1/admin/categories/graffiti")).bearer_auth(&admin).json(&retired);
    assert_eq!(put.send().await.unwrap().status(), 200);
    let (_, categories) = s.get("/api/v1/categories", None).await;
    assert!(!categories.as_array().unwrap().iter().any(|c| c["id"] == "graffiti"));
    let (status, body) = s.post("/api/v1/requests", None, &citizen_request("graffiti", "Tag")).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "unknown_category", "category");
    let (status, all) = s.get("/api/v1/admin/categories", Some(&agent)).await;
    assert_eq!(status, 200);
    assert!(all.as_array().unwrap().iter().any(|c| c["id"] == "graffiti" && c["active"] == false), "{all}");

    // An internal category: not offered to citizens, but agents record requests in it.
    let internal = json!({"id": "signalement-elu", "name": "Signalement d'un élu", "department": "accueil",
                          "sla_days": 3, "public": false, "active": true});
    assert_eq!(s.post("/api/v1/admin/categories", Some(&admin), &internal).await.0, 201);
    let (_, categories) = s.get("/api/v1/categories", None).await;
    assert!(!categories.as_array().unwrap().iter().any(|c| c["id"] == "signalement-elu"), "{categories}");
    let (status, body) = s.post("/api/v1/requests", None, &citizen_request("signalement-elu", "x")).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "unknown_category", "category");
    let intake = json!({"channel": "counter", "request": citizen_request("signalement-elu", "Banc cassé")});
    let (status, body) = s.post("/api/v1/intake", Some(&agent), &intake).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["acknowledgement"]["department"]["name"], "Accueil de la mairie");

    let (status, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    for path in ["/api/v1/requests", "/api/v1/track/{tracking_code}", "/api/v1/admin/categories", "/api/v1/intake"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
}
