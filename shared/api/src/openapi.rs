//! The OpenAPI 3.1 document (`openapi.json` beside this crate's `Cargo.toml`), checked against
//! the route table by a test: a route missing from the document, or documented but missing,
//! fails the build.

pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `(METHOD, path)` pairs the document describes.
pub fn documented_operations() -> Vec<(String, String)> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}
