//! The OpenAPI 3.1 document, as OpenAPI 3.0 for generators that read only 3.0 (progenitor).
//!
//! The conversion is lossless or it fails: every 3.1 construct the document uses has an exact
//! 3.0 spelling (below), and a schema keyword this converter does not know is an error, never
//! dropped silently.
//! - `type: [T, "null"]` becomes `type: T` with `nullable: true`; a `{"type": "null"}` member
//!   of `oneOf`/`anyOf` becomes `nullable: true` on the union.
//! - `$ref` with sibling keywords (allowed in 3.1, ignored in 3.0) becomes `allOf: [{$ref}]`
//!   beside them.
//! - `const: v` becomes `enum: [v]`; `examples: [e]` becomes `example: e`.
//! - A numeric `exclusiveMinimum`/`exclusiveMaximum` becomes `minimum`/`maximum` with the
//!   boolean form.
//! - `contentMediaType` on a string (a binary body) becomes `format: binary`.
//! - `propertyNames: {"type": "string"}` says nothing JSON does not already say (object keys are
//!   strings) and is left out; any other `propertyNames` is an error.
//! - `info.license.identifier` (an SPDX id) is kept as the license `name` when there is none.

use serde_json::{json, Map, Value};

/// Schema keywords OpenAPI 3.0 knows, kept as they are.
const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "default",
    "example",
    "enum",
    "multipleOf",
    "maximum",
    "minimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "deprecated",
    "$ref",
];

/// Converts a whole document.
pub fn convert(document: &Value) -> Result<Value, String> {
    let mut out = document.clone();
    let root = out.as_object_mut().ok_or("the document is not an object")?;
    match root.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.1") => {}
        other => return Err(format!("not an OpenAPI 3.1 document: {other:?}")),
    }
    root.insert("openapi".into(), json!("3.0.3"));
    for key in ["webhooks", "jsonSchemaDialect"] {
        if root.contains_key(key) {
            return Err(format!("`{key}` has no OpenAPI 3.0 form"));
        }
    }
    if let Some(license) = root
        .get_mut("info")
        .and_then(|i| i.get_mut("license"))
        .and_then(Value::as_object_mut)
    {
        if let Some(identifier) = license.remove("identifier") {
            license.entry("name").or_insert(identifier);
        }
    }
    if let Some(schemas) = root
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            *schema = schema_30(schema).map_err(|e| format!("components.schemas.{name}: {e}"))?;
        }
    }
    for key in ["paths", "components"] {
        if let Some(part) = root.get_mut(key) {
            convert_schema_fields(part, key)?;
        }
    }
    Ok(out)
}

/// Converts every `schema` field (parameters, media types, headers) below `value`.
fn convert_schema_fields(value: &mut Value, at: &str) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let here = format!("{at}.{key}");
                if key == "schema" {
                    *child = schema_30(child).map_err(|e| format!("{here}: {e}"))?;
                } else if key != "schemas"
                    && key != "links"
                    && key != "example"
                    && key != "examples"
                {
                    convert_schema_fields(child, &here)?;
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                convert_schema_fields(child, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_null_type(schema: &Value) -> bool {
    schema
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.get("type") == Some(&json!("null")))
}

/// One schema in its 3.0 form.
pub fn schema_30(schema: &Value) -> Result<Value, String> {
    let Some(map) = schema.as_object() else {
        // `true`/`false` schemas exist only as `additionalProperties` in 3.0.
        return Err(format!("a schema that is not an object: {schema}"));
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in map {
        match key.as_str() {
            "type" => match value {
                Value::String(_) => {
                    if value == "null" {
                        return Err("a schema of type null alone".into());
                    }
                    out.insert(key.clone(), value.clone());
                }
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= non_null.len() < types.len();
                    match non_null.as_slice() {
                        [one] => {
                            out.insert("type".into(), (*one).clone());
                        }
                        _ => return Err(format!("type {value} has no 3.0 form")),
                    }
                }
                _ => return Err(format!("type {value} is not a type")),
            },
            "oneOf" | "anyOf" | "allOf" => {
                let members = value.as_array().ok_or(format!("{key} is not a list"))?;
                let mut kept = Vec::new();
                for member in members {
                    if key != "allOf" && is_null_type(member) {
                        nullable = true;
                    } else {
                        kept.push(schema_30(member)?);
                    }
                }
                if kept.is_empty() {
                    return Err(format!("{key} of null alone"));
                }
                out.insert(key.clone(), Value::Array(kept));
            }
            "properties" => {
                let props = value.as_object().ok_or("properties is not an object")?;
                let mut converted = Map::new();
                for (name, prop) in props {
                    converted.insert(
                        name.clone(),
                        schema_30(prop).map_err(|e| format!("{name}: {e}"))?,
                    );
                }
                out.insert(key.clone(), Value::Object(converted));
            }
            "items" | "not" => {
                out.insert(key.clone(), schema_30(value)?);
            }
            "additionalProperties" => {
                let converted = if value.is_boolean() {
                    value.clone()
                } else {
                    schema_30(value)?
                };
                out.insert(key.clone(), converted);
            }
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            "examples" => {
                let list = value.as_array().ok_or("examples is not a list")?;
                match list.as_slice() {
                    [] => {}
                    [one] => {
                        out.insert("example".into(), one.clone());
                    }
                    _ => return Err("more than one example has no 3.0 form".into()),
                }
            }
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_number() => {
                let bound = if key == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), value.clone());
                out.insert(key.clone(), json!(true));
            }
            "contentMediaType" => {
                out.insert("format".into(), json!("binary"));
            }
            "propertyNames" => {
                if value != &json!({"type": "string"}) {
                    return Err(format!("propertyNames {value} has no 3.0 form"));
                }
            }
            other if KEPT.contains(&other) || other.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => return Err(format!("the keyword `{other}` has no 3.0 form")),
        }
    }
    if nullable {
        out.insert("nullable".into(), json!(true));
    }
    if let Some(reference) = out.get("$ref").cloned() {
        if out.len() > 1 {
            out.remove("$ref");
            out.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(schemas: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
            "paths": {"/x": {"get": {
                "parameters": [{"name": "q", "in": "query", "schema": {"type": ["string", "null"]}}],
                "responses": {"200": {"description": "ok", "content": {"application/pdf": {
                    "schema": {"type": "string", "contentMediaType": "application/pdf"}}}}}
            }}},
            "components": {"schemas": schemas}
        })
    }

    #[test]
    fn nullable_types_refs_consts_and_binaries_take_their_3_0_form() {
        let converted = convert(&document(json!({
            "A": {"type": "object", "required": ["b"], "properties": {
                "b": {"type": ["integer", "null"], "format": "int64", "exclusiveMinimum": 0},
                "c": {"$ref": "#/components/schemas/C", "description": "the c"},
                "d": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/C"}]},
                "e": {"const": "fixed", "examples": ["fixed"]},
                "f": {"type": "object", "additionalProperties": {"type": "string"},
                      "propertyNames": {"type": "string"}}
            }},
            "C": {"type": "string", "enum": ["x", "y"]}
        })));
        let converted = converted.expect("converts");
        assert_eq!(converted["openapi"], "3.0.3");
        assert_eq!(converted["info"]["license"], json!({"name": "Apache-2.0"}));
        let a = &converted["components"]["schemas"]["A"]["properties"];
        assert_eq!(
            a["b"],
            json!({"type": "integer", "format": "int64", "nullable": true, "minimum": 0, "exclusiveMinimum": true})
        );
        assert_eq!(
            a["c"],
            json!({"allOf": [{"$ref": "#/components/schemas/C"}], "description": "the c"})
        );
        assert_eq!(
            a["d"],
            json!({"oneOf": [{"$ref": "#/components/schemas/C"}], "nullable": true})
        );
        assert_eq!(a["e"], json!({"enum": ["fixed"], "example": "fixed"}));
        assert_eq!(
            a["f"],
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
        let get = &converted["paths"]["/x"]["get"];
        assert_eq!(
            get["parameters"][0]["schema"],
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            get["responses"]["200"]["content"]["application/pdf"]["schema"],
            json!({"type": "string", "format": "binary"})
        );
    }

    #[test]
    fn what_has_no_3_0_form_is_refused_not_dropped() {
        for schema in [
            json!({"type": ["string", "integer"]}),
            json!({"type": "null"}),
            json!({"type": "array", "prefixItems": [{"type": "string"}]}),
            json!({"type": "object", "propertyNames": {"pattern": "^a"}}),
            json!({"type": "string", "examples": ["a", "b"]}),
            json!({"if": {"type": "string"}}),
        ] {
            let result = convert(&document(json!({ "S": schema.clone() })));
            assert!(result.is_err(), "{schema} was converted");
        }
        let mut not_31 = document(json!({}));
        not_31["openapi"] = json!("3.0.3");
        assert!(convert(&not_31).is_err());
    }

    /// The committed document converts, and what it holds beyond schemas (paths, operations,
    /// links, security) is carried over unchanged.
    #[test]
    fn the_committed_document_converts() {
        let text = include_str!("../../../openapi/openapi.json");
        let document: Value = serde_json::from_str(text).expect("the committed document parses");
        let converted = convert(&document).expect("the committed document converts");
        assert_eq!(
            converted["paths"].as_object().map(Map::len),
            document["paths"].as_object().map(Map::len)
        );
        assert_eq!(
            converted["components"]["securitySchemes"],
            document["components"]["securitySchemes"]
        );
        assert_eq!(
            converted["paths"]["/v1/admin/accounts"]["post"]["responses"]["201"]["links"],
            document["paths"]["/v1/admin/accounts"]["post"]["responses"]["201"]["links"]
        );
        let text = converted.to_string();
        assert!(!text.contains("\"null\""), "a null type is left");
        assert!(!text.contains("contentMediaType"));
    }
}
