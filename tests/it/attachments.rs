//! Attachments: typed by their content, stored once by hash, downloaded intact by agents;
//! a refused upload creates no request and leaves no file behind.

use serde_json::Value;

use crate::support::*;

/// Disguised content under an innocent name: a Windows program, HTML, and SVG with a script.
const HOSTILE: [(&str, &[u8]); 3] = [
    ("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8\x00 a Windows program"),
    ("photo.jpg", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"),
    ("photo.jpg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
];

/// Files of a multipart request: (file name, bytes).
type Files<'a> = Vec<(&'a str, &'a [u8])>;

async fn send_multipart(s: &Server, files: &[(&str, &[u8])]) -> (u16, Value) {
    let (content_type, body) = multipart(&citizen_request("voirie", "Photo du trou"), files);
    s.post_raw("/api/v1/requests", None, &content_type, body).await
}

/// How many requests an agent sees.
async fn requests(s: &Server, agent: &str) -> usize {
    s.list_all("", 200, agent).await.len()
}

#[tokio::test]
async fn a_photo_is_typed_by_content_stored_once_and_downloaded_intact() {
    let s = Server::start(&[]).await;
    let agent = s.token("agent");
    let (status, created) = send_multipart(&s, &[("trou.png", PNG)]).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    let attachments = detail["request"]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{detail}");
    let file = &attachments[0];
    assert_eq!(file["media_type"], "image/png", "typed by content, not by the part's image/jpeg");
    assert_eq!(file["name"], "trou.png");
    assert_eq!(file["size"], PNG.len());
    let sha = file["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    assert_eq!(s.list_all("", 10, &agent).await[0]["attachments"], 1);

    let url = s.at(&format!("/api/v1/requests/{id}/attachments/{sha}"));
    let download = s.http.get(&url).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment") && disposition.contains("trou.png"), "{disposition}");
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG, "the same bytes come back");
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 401, "citizens cannot download");
    let (status, body) = s.get(&format!("/api/v1/requests/{id}/attachments/{}", "0".repeat(64)), Some(&agent)).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, _) = s.get(&format!("/api/v1/requests/{id}/attachments/..%2F..%2Finstance.key"), Some(&agent)).await;
    assert_eq!(status, 404);
    assert_eq!(stored_files(&s.data), 1);

    // The same photo sent again is stored once; an agent attaches a PDF scan to the request.
    let (status, again) = send_multipart(&s, &[("IMG_0001.PNG", PNG)]).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(stored_files(&s.data), 1, "content-addressed: one copy");
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
    let (content_type, body) = multipart_parts(&[("file", "scan.pdf".into(), pdf.to_vec())]);
    let (status, updated) =
        s.post_raw(&format!("/api/v1/requests/{id}/attachments"), Some(&agent), &content_type, body).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["attachments"][1]["media_type"], "application/pdf", "{updated}");
    assert_eq!(stored_files(&s.data), 2);

    // A letter recorded by an agent, with its scan.
    let intake = serde_json::json!({"channel": "post", "request": citizen_request("voirie", "Courrier")});
    let (content_type, body) = multipart(&intake, &[("courrier.pdf", pdf)]);
    let (status, created) = s.post_raw("/api/v1/intake", Some(&agent), &content_type, body).await;
    assert_eq!(status, 201, "{created}");
    let (_, detail) = s.get(&format!("/api/v1/requests/{}", created["id"]), Some(&agent)).await;
    assert_eq!(detail["request"]["channel"], "post");
    assert_eq!(detail["request"]["attachments"][0]["name"], "courrier.pdf", "{detail}");
    assert_eq!(stored_files(&s.data), 2, "the same scan is stored once");
    assert_eq!(temp_uploads(&s.data), 0);
    s.cli(&["check"]).assert_ok();
}

#[tokio::test]
async fn disguised_files_are_refused_and_leave_nothing() {
    let s = Server::start(&[]).await;
    let agent = s.token("agent");
    for (name, bytes) in HOSTILE {
        let (status, body) = send_multipart(&s, &[(name, bytes)]).await;
        assert_eq!(status, 415, "{}: {body}", String::from_utf8_lossy(bytes));
        assert_error(&body, "unsupported_type");
    }
    // Too short to be typed at all, and empty.
    let (status, body) = send_multipart(&s, &[("photo.jpg", b"GIF8")]).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = send_multipart(&s, &[("photo.png", b"")]).await;
    assert_eq!(status, 422, "{body}");
    assert_field_error(&body, "empty_file", "file");

    // The same files attached by an agent to an existing request are refused too.
    let id = s.submit("sans photo").await["id"].as_u64().unwrap();
    let (content_type, body) = multipart_parts(&[("file", "photo.jpg".into(), HOSTILE[0].1.to_vec())]);
    let (status, body) =
        s.post_raw(&format!("/api/v1/requests/{id}/attachments"), Some(&agent), &content_type, body).await;
    assert_eq!(status, 415, "{body}");
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    assert_eq!(detail["request"]["attachments"], serde_json::json!([]));

    assert_eq!(requests(&s, &agent).await, 1, "only the request without a file was created");
    assert_eq!(stored_files(&s.data), 0, "no refused file was stored");
    assert_eq!(temp_uploads(&s.data), 0, "and none was left half-written");
}

#[tokio::test]
async fn oversized_files_are_refused_and_leave_nothing() {
    let s = Server::start(&["--set", "attachments.max_file_mib=1", "--set", "attachments.max_request_mib=1"]).await;
    let agent = s.token("agent");
    let big = png_of_size(1_572_864, 0x5a);
    let (status, body) = send_multipart(&s, &[("grand.png", &big)]).await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "too_large");
    // Just under the limit is fine.
    let (status, body) = send_multipart(&s, &[("juste.png", &png_of_size(1_000_000, 0x5b))]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(requests(&s, &agent).await, 1);
    assert_eq!(stored_files(&s.data), 1);
    assert_eq!(temp_uploads(&s.data), 0);
}

// Regression: files of a multipart request refused because of a later file (wrong type, too
// large, too many), or attached to a request that does not exist, used to stay in `files/`
// with no record referencing them.
#[tokio::test]
async fn a_refused_upload_leaves_none_of_its_files() {
    let s = Server::start(&[
        "--set",
        "attachments.max_file_mib=1",
        "--set",
        "attachments.max_request_mib=1",
        "--set",
        "attachments.max_files=2",
    ])
    .await;
    let agent = s.token("agent");
    let (first, second) = (png_of_size(700_000, 1), png_of_size(700_000, 2));
    let (third, fourth, fifth) = (png_of_size(100, 3), png_of_size(100, 4), png_of_size(100, 5));
    let cases: [(&str, Files, u16); 3] = [
        ("a disguised second file", vec![("trou.png", PNG), HOSTILE[0]], 415),
        ("a total over the limit", vec![("a.png", &first), ("b.png", &second)], 413),
        ("one file too many", vec![("c.png", &third), ("d.png", &fourth), ("e.png", &fifth)], 413),
    ];
    let mut kept = Vec::new();
    for (what, files, expected) in cases {
        let before = stored_files(&s.data);
        let (status, body) = send_multipart(&s, &files).await;
        assert_eq!(status, expected, "{what}: {body}");
        if stored_files(&s.data) != before {
            kept.push(format!("{what}: {} file(s) kept", stored_files(&s.data) - before));
        }
    }
    assert_eq!(requests(&s, &agent).await, 0, "no request was created");
    let before = stored_files(&s.data);
    let (content_type, body) = multipart_parts(&[("file", "plan.png".into(), png_of_size(100, 6))]);
    let (status, body) = s.post_raw("/api/v1/requests/999/attachments", Some(&agent), &content_type, body).await;
    assert_eq!(status, 404, "{body}");
    if stored_files(&s.data) != before {
        kept.push("an agent's file for a request that does not exist: kept".into());
    }
    assert_eq!(temp_uploads(&s.data), 0);
    assert!(kept.is_empty(), "files of refused uploads were kept:\n{}", kept.join("\n"));
}
