//! The OpenAPI 3.1 document (`openapi.json` beside this crate's `Cargo.toml`), checked against
//! the route table by tests: a route missing from the document, or documented but missing,
//! fails the build.
//!
//! Operations marked `"x-local-gateway-only": true` are the [`LOCAL_ROUTES`] (served by the
//! local gateway alone, with no Lambda function): [`documented_operations`] leaves them out,
//! so it lists exactly the deployable API of [`ROUTES`], and [`documented_local_operations`]
//! lists them.
//!
//! [`LOCAL_ROUTES`]: crate::routes::LOCAL_ROUTES
//! [`ROUTES`]: crate::routes::ROUTES

pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The extension marking an operation of a [`crate::routes::LOCAL_ROUTES`] route.
pub const LOCAL_ONLY_EXTENSION: &str = "x-local-gateway-only";

/// `(METHOD, path)` pairs the document describes, local-gateway-only operations excluded.
pub fn documented_operations() -> Vec<(String, String)> {
    operations(false)
}

/// `(METHOD, path)` pairs of the operations marked local-gateway-only.
pub fn documented_local_operations() -> Vec<(String, String)> {
    operations(true)
}

fn operations(local_only: bool) -> Vec<(String, String)> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else {
                    continue;
                };
                let marked = op
                    .get(LOCAL_ONLY_EXTENSION)
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false);
                if marked == local_only {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::LOCAL_ROUTES;

    #[test]
    fn local_routes_are_documented_as_local_only() {
        let mut local: Vec<(String, String)> = LOCAL_ROUTES
            .iter()
            .map(|s| (s.method.as_str().to_owned(), s.path.to_owned()))
            .collect();
        local.sort();
        assert_eq!(documented_local_operations(), local);
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        for spec in LOCAL_ROUTES {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
            let description = op["description"].as_str().unwrap_or_default();
            assert!(description.contains("Sandbox only"), "{}", spec.path);
            assert!(description.contains("local gateway"), "{}", spec.path);
        }
    }
}
