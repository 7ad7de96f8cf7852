//! The API document served at `/openapi.json`: the fixed parts (`ApiDoc`), the paths and
//! schemas utoipa gathers from the handlers' annotations, then what annotations cannot say
//! well: every field's bound from the constants the validators use (`rules.rs`), and every
//! status each operation can answer (`statuses.rs`). The fuzz step of `make test`
//! (`tests/fuzz`) checks the server against this document.

mod rules;
mod statuses;

use serde_json::Value;

use super::error;

/// The API document's fixed parts; paths come from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "OdeaDev TTS API",
        description = "Metered text-to-speech: API keys on plans, quotas in seconds of real audio, \
                       rate and concurrency limits, and speech from the configured engines. \
                       Errors are `{\"detail\", \"code\", \"request_id\"}` (OpenAI's shape on `/v1/audio/speech`). \
                       Integers may be written with a zero fraction (`5.0`), as JSON Schema's `integer` allows."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody)),
    tags(
        (name = "speech", description = "Text to speech, metered"),
        (name = "openai", description = "OpenAI-compatible speech"),
        (name = "voices", description = "The voice catalogue"),
        (name = "account", description = "Your account and usage"),
        (name = "admin", description = "Users, keys and voices (admin role)"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the operations refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("odt_ API key")
                    .build(),
            ),
        );
    }
}

/// The document as served: what utoipa gathered, with every bound and every status added.
pub fn document(generated: &utoipa::openapi::OpenApi) -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(generated)?;
    for pointer in rules::apply(&mut document) {
        // A rule that finds no schema is a renamed type or field: `every_rule_applies` fails.
        tracing::warn!(pointer = %pointer, "API document: a bound found no schema to go on");
    }
    statuses::apply(&mut document);
    Ok(document)
}

/// The operations of a document, with their path and method.
fn operations(document: &mut Value) -> impl Iterator<Item = (String, String, &mut Value)> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .flat_map(|(path, item)| {
            item.as_object_mut()
                .into_iter()
                .flat_map(|methods| methods.iter_mut())
                .map(move |(method, operation)| (path.clone(), method.clone(), operation))
        })
}

/// Adds the `keywords` (an object) to the schema at `pointer`; false when there is none.
fn merge(document: &mut Value, pointer: &str, keywords: Value) -> bool {
    let (Some(target), Value::Object(keywords)) = (
        document.pointer_mut(pointer).and_then(Value::as_object_mut),
        keywords,
    ) else {
        return false;
    };
    target.extend(keywords);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_applies() {
        let (_, generated) = crate::http::api();
        let mut document = serde_json::to_value(&generated).unwrap();
        assert_eq!(rules::apply(&mut document), Vec::<String>::new());
    }
}
