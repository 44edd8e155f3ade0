//! The route table, the OpenAPI document and the SAM template must describe the same API:
//! a route one of them lacks fails here.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use pixgw_api::openapi::documented_operations;
use pixgw_api::routes::{Access, ROUTES};

fn routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|spec| (spec.method.as_str().to_owned(), spec.path.to_owned()))
        .collect()
}

#[test]
fn openapi_documents_exactly_the_routes() {
    let documented: BTreeSet<(String, String)> = documented_operations().into_iter().collect();
    assert!(!documented.is_empty(), "openapi.json has no paths");
    let routes = routes();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "openapi.json documents routes that do not exist: {phantom:?}"
    );
}

/// Whether a route takes no bearer token: public routes, and the signed provider webhooks
/// (authenticated by the provider's signature, not by a JWT). Exhaustive on purpose: a new
/// `Access` variant must decide here how it is documented.
fn documented_without_bearer(access: Access) -> bool {
    match access {
        Access::Public | Access::SandboxPublic | Access::Signed => true,
        Access::Bearer | Access::BearerSigned | Access::SandboxBearer => false,
    }
}

/// Whether a route also needs `DigitalSignature`. Exhaustive for the same reason.
fn documented_with_signature(access: Access) -> bool {
    match access {
        Access::BearerSigned => true,
        Access::Public
        | Access::Bearer
        | Access::SandboxPublic
        | Access::SandboxBearer
        | Access::Signed => false,
    }
}

#[test]
fn openapi_marks_signed_routes_as_needing_bearer_and_signature_together() {
    let doc: serde_json::Value =
        serde_json::from_str(pixgw_api::openapi::DOCUMENT).expect("valid JSON");
    let scheme = &doc["components"]["securitySchemes"]["digitalSignature"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "DigitalSignature");
    for spec in ROUTES {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
        // One requirement object naming both schemes = both at once (OpenAPI's AND).
        let signed = op["security"].as_array().is_some_and(|reqs| {
            !reqs.is_empty()
                && reqs
                    .iter()
                    .all(|r| r.get("bearerAuth").is_some() && r.get("digitalSignature").is_some())
        });
        assert_eq!(
            signed,
            documented_with_signature(spec.access),
            "{} {}: security must be [{{bearerAuth, digitalSignature}}] exactly for signed routes",
            spec.method,
            spec.path
        );
    }
}

#[test]
fn openapi_marks_public_routes_public_and_the_rest_bearer() {
    let doc: serde_json::Value =
        serde_json::from_str(pixgw_api::openapi::DOCUMENT).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let global_bearer = doc["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearerAuth").is_some()));
    for spec in ROUTES {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
        let what = format!("{} {}", spec.method, spec.path);
        let public = op["security"].as_array().is_some_and(|s| s.is_empty());
        assert_eq!(public, documented_without_bearer(spec.access), "{what}");
        if !public {
            // Bearer routes either inherit the document's bearer requirement or name it.
            let bearer = match op["security"].as_array() {
                None => global_bearer,
                Some(reqs) => reqs.iter().any(|r| r.get("bearerAuth").is_some()),
            };
            assert!(bearer, "{what} must require bearerAuth");
        }
    }
}

#[test]
fn openapi_says_which_routes_are_sandbox_only() {
    let doc: serde_json::Value =
        serde_json::from_str(pixgw_api::openapi::DOCUMENT).expect("valid JSON");
    for spec in ROUTES {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
        let description = op["description"].as_str().unwrap_or_default();
        let says_sandbox_only = description.contains("Sandbox only");
        assert_eq!(
            says_sandbox_only,
            spec.access.sandbox_only(),
            "{} {}: the description must say \"Sandbox only\" exactly for sandbox-only routes",
            spec.method,
            spec.path
        );
    }
}

/// `(METHOD, path, function)` triples of the template's HttpApi events, read from the YAML text
/// (CloudFormation tags make generic YAML parsers awkward; the layout is fixed by convention:
/// a function's `CodeUri`/`BuildProperties` name its binary, its events list `Path:` / `Method:`).
fn template_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml at the repository root");
    let mut out = BTreeSet::new();
    let mut binary = String::new();
    let mut path: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(b) = line.strip_prefix("Binary:") {
            binary = b.trim().trim_matches('\'').trim_matches('"').to_owned();
        }
        if let Some(p) = line.strip_prefix("Path:") {
            path = Some(p.trim().trim_matches('\'').trim_matches('"').to_owned());
        }
        if let (Some(m), Some(p)) = (line.strip_prefix("Method:"), path.as_ref()) {
            out.insert((m.trim().to_uppercase(), p.clone(), binary.clone()));
            path = None;
        }
    }
    out
}

#[test]
fn template_routes_every_path_to_its_function() {
    let expected: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|s| {
            (
                s.method.as_str().to_owned(),
                s.path.to_owned(),
                s.function.to_owned(),
            )
        })
        .collect();
    assert_eq!(template_routes(), expected);
}

#[test]
fn every_function_has_a_binary() {
    for spec in ROUTES {
        let path = format!(
            "{}/../functions/src/bin/{}.rs",
            env!("CARGO_MANIFEST_DIR"),
            spec.function
        );
        assert!(std::path::Path::new(&path).exists(), "missing {path}");
    }
}
