//! `openapi.json` (committed at the crate root) is the document the server generates from its types.
//! After changing the API, regenerate it with `UPDATE_OPENAPI=1 cargo test -p tastebud-server --test openapi`.

#[test]
fn the_committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let now = tastebud_server::openapi_json() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "{} is out of date: run UPDATE_OPENAPI=1 cargo test -p tastebud-server --test openapi",
        path.display()
    );
    let v: serde_json::Value = serde_json::from_str(&now).unwrap();
    for p in [
        "/v1/users/{id}/recommendations",
        "/v1/recommendations",
        "/v1/items/{id}/similar",
        "/v1/events",
        "/v1/users/{id}",
        "/healthz",
        "/readyz",
        "/v1/admin/reload",
    ] {
        assert!(
            v["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
}
