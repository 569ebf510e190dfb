//! A type's serialized JSON shape as a JSON Schema (draft 2020-12), for services not written
//! in Rust: traced from its `Deserialize` impl like the schema lock's shapes (so serde's
//! renames and skipped fields count), with each named struct or enum once under `$defs`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use serde_reflection::{ContainerFormat, Format, Named, VariantFormat};

use super::shape::{ShapeError, trace};

/// Makes the JSON Schema of a type.
pub type JsonSchemaFn = fn() -> Result<Value, ShapeError>;

/// The URI of the dialect the schemas are written in.
pub(crate) const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The JSON Schema of `T` as its JSON codec writes it: objects for structs (fields of type
/// `Option` may be missing), externally tagged enums, integers bounded by their Rust type.
/// Unknown fields are allowed, as serde ignores them.
///
/// The trace reads the `Deserialize` impl, which does not tell what serializing leaves out:
/// a field with `#[serde(skip_serializing_if = "...")]` and a default is still listed as
/// required (make it an `Option`, or mark it in the schema by hand), and serde_json writes a
/// non-finite float as `null`, which the schema's `number` does not admit.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Placed { order: String, total: u64, note: Option<String> }
///
/// let schema = eventsmith::codec::json_schema_of::<Placed>().unwrap();
/// let placed = &schema["$defs"]["Placed"];
/// assert_eq!(placed["type"], "object");
/// assert_eq!(placed["required"], serde_json::json!(["order", "total"]));
/// assert_eq!(placed["properties"]["total"]["minimum"], 0);
/// ```
///
/// # Errors
/// [`ShapeError`] for types the tracer cannot follow: those that deserialize through
/// `deserialize_any` (internally tagged or untagged enums, `#[serde(flatten)]`,
/// `serde_json::Value`).
pub fn json_schema_of<T: DeserializeOwned>() -> Result<Value, ShapeError> {
    let (format, registry) = trace::<T>()?;
    let mut schema = match format_schema(&format) {
        Value::Object(map) => map,
        other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
    };
    let defs: Map<String, Value> = registry
        .iter()
        .map(|(name, container)| (name.clone(), container_schema(name, container)))
        .collect();
    let mut out = Map::new();
    out.insert("$schema".to_owned(), json!(DIALECT));
    out.append(&mut schema);
    if !defs.is_empty() {
        out.insert("$defs".to_owned(), Value::Object(defs));
    }
    Ok(Value::Object(out))
}

fn format_schema(format: &Format) -> Value {
    let integer =
        |min: i128, max: u128| json!({ "type": "integer", "minimum": min, "maximum": max });
    match format {
        Format::TypeName(name) => json!({ "$ref": format!("#/$defs/{}", pointer_token(name)) }),
        Format::Option(inner) => json!({ "anyOf": [format_schema(inner), { "type": "null" }] }),
        Format::Seq(inner) => json!({ "type": "array", "items": format_schema(inner) }),
        // JSON keys are strings: a map's keys are written as text whatever their type.
        Format::Map { value, .. } => {
            json!({ "type": "object", "additionalProperties": format_schema(value) })
        }
        Format::Tuple(items) => tuple_schema(items),
        Format::TupleArray { content, size } => json!({
            "type": "array",
            "items": format_schema(content),
            "minItems": size,
            "maxItems": size,
        }),
        Format::Variable(_) => json!({}),
        Format::Unit => json!({ "type": "null" }),
        Format::Bool => json!({ "type": "boolean" }),
        Format::I8 => integer(i8::MIN.into(), i8::MAX.unsigned_abs().into()),
        Format::I16 => integer(i16::MIN.into(), i16::MAX.unsigned_abs().into()),
        Format::I32 => integer(i32::MIN.into(), i32::MAX.unsigned_abs().into()),
        Format::I64 => integer(i64::MIN.into(), i64::MAX.unsigned_abs().into()),
        Format::I128 => json!({ "type": "integer" }),
        Format::U8 => integer(0, u8::MAX.into()),
        Format::U16 => integer(0, u16::MAX.into()),
        Format::U32 => integer(0, u32::MAX.into()),
        Format::U64 => integer(0, u64::MAX.into()),
        Format::U128 => json!({ "type": "integer", "minimum": 0 }),
        Format::F32 | Format::F64 => json!({ "type": "number" }),
        Format::Char => json!({ "type": "string", "minLength": 1, "maxLength": 1 }),
        Format::Str => json!({ "type": "string" }),
        // serde_json writes bytes as an array of numbers.
        Format::Bytes => {
            json!({ "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 255 } })
        }
    }
}

fn tuple_schema(items: &[Format]) -> Value {
    json!({
        "type": "array",
        "prefixItems": items.iter().map(format_schema).collect::<Vec<_>>(),
        "minItems": items.len(),
        "maxItems": items.len(),
    })
}

fn struct_schema(fields: &[Named<Format>]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.clone(), format_schema(&f.value)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| !matches!(f.value, Format::Option(_)))
        .map(|f| f.name.as_str())
        .collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

fn container_schema(name: &str, container: &ContainerFormat) -> Value {
    let mut schema = match container {
        ContainerFormat::UnitStruct => json!({ "type": "null" }),
        ContainerFormat::NewTypeStruct(inner) => format_schema(inner),
        ContainerFormat::TupleStruct(items) => tuple_schema(items),
        ContainerFormat::Struct(fields) => struct_schema(fields),
        ContainerFormat::Enum(variants) => enum_schema(variants),
    };
    if let Value::Object(map) = &mut schema {
        map.insert("title".to_owned(), json!(name));
    }
    schema
}

/// An externally tagged enum: a unit variant is its name, any other an object whose one key
/// is its name.
fn enum_schema(variants: &BTreeMap<u32, Named<VariantFormat>>) -> Value {
    let one_of: Vec<Value> = variants
        .values()
        .map(|variant| {
            let content = match &variant.value {
                VariantFormat::Unit | VariantFormat::Variable(_) => {
                    return json!({ "const": variant.name });
                }
                VariantFormat::NewType(inner) => format_schema(inner),
                VariantFormat::Tuple(items) => tuple_schema(items),
                VariantFormat::Struct(fields) => struct_schema(fields),
            };
            json!({
                "type": "object",
                "properties": { variant.name.clone(): content },
                "required": [variant.name],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({ "oneOf": one_of })
}

/// `name` as a token of a JSON pointer.
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::json_schema_of;

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the schema is read")]
    struct Cents(u64);

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the schema is read")]
    enum Kind {
        Cash,
        Card { last4: String },
        Transfer(Cents),
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the schema is read")]
    struct Payment {
        #[serde(rename = "k")]
        kind: Kind,
        tags: Vec<(u8, bool)>,
        note: Option<String>,
        #[serde(skip)]
        cached: u32,
    }

    #[test]
    fn structs_enums_and_tuples_follow_the_json_codec() {
        let schema = json_schema_of::<Payment>().unwrap();
        assert_eq!(schema["$schema"], super::DIALECT);
        assert_eq!(schema["$ref"], "#/$defs/Payment");
        let payment = &schema["$defs"]["Payment"];
        assert_eq!(payment["required"], json!(["k", "tags"]));
        assert!(payment["properties"].get("cached").is_none());
        assert_eq!(
            payment["properties"]["k"],
            json!({ "$ref": "#/$defs/Kind" })
        );
        assert_eq!(
            payment["properties"]["tags"]["items"]["prefixItems"][0],
            json!({ "type": "integer", "minimum": 0, "maximum": 255 })
        );
        assert_eq!(
            payment["properties"]["note"]["anyOf"][1],
            json!({ "type": "null" })
        );
        let kind = &schema["$defs"]["Kind"]["oneOf"];
        assert_eq!(kind[0], json!({ "const": "Cash" }));
        assert_eq!(kind[1]["required"], json!(["Card"]));
        assert_eq!(
            kind[2]["properties"]["Transfer"],
            json!({ "$ref": "#/$defs/Cents" })
        );
        // A newtype is its content, as JSON writes it.
        assert_eq!(schema["$defs"]["Cents"]["type"], "integer");
    }
}
