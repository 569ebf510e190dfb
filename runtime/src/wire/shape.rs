//! The serialized shape of a type, as one canonical line of text: what the schema lock
//! records for each stored event name and version.
//!
//! The shape is traced from the type's `Deserialize` impl with `serde-reflection`, so serde
//! attributes (renames, skipped fields) count, and nested types are written out inline: a
//! change deep inside a field changes the event's shape. Struct fields and enum variants are
//! sorted by name, because a self-describing format such as JSON does not depend on their
//! order; newtype structs are written as their content, as JSON does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_reflection::{
    ContainerFormat, Format, Named, Samples, Tracer, TracerConfig, VariantFormat,
};

/// Traces the serialized shape of a type (see [`SchemaLock`](crate::testing::SchemaLock)).
pub type ShapeFn = fn() -> Result<String, ShapeError>;

/// An older version of an event read through a typed upcaster's old struct.
#[derive(Debug, Clone, Copy)]
pub struct OldVersion {
    /// The version the old struct reads.
    pub version: u32,
    /// The old struct's type, as written in `#[upcast(typed = ...)]`.
    pub rust_type: &'static str,
    /// Its serialized shape.
    pub shape: ShapeFn,
}

/// The shape of a type could not be traced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot trace the serialized shape: {0}")]
pub struct ShapeError(String);

/// The canonical shape of `T`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Deposited { currency: String, amount: Option<u64>, tags: Vec<(u8, bool)> }
/// assert_eq!(
///     eventsmith::testing::shape_of::<Deposited>().unwrap(),
///     "{amount: option<u64>, currency: str, tags: [(u8, bool)]}"
/// );
/// ```
///
/// # Errors
/// [`ShapeError`] for types the tracer cannot follow: those that deserialize through
/// `deserialize_any` (internally tagged or untagged enums, `#[serde(flatten)]`,
/// `serde_json::Value`).
pub fn shape_of<T: DeserializeOwned>() -> Result<String, ShapeError> {
    let (format, registry) = trace::<T>()?;
    let mut out = String::new();
    Writer {
        registry: &registry,
        path: Vec::new(),
        out: &mut out,
    }
    .format(&format);
    Ok(out)
}

fn config() -> TracerConfig {
    TracerConfig::default().is_human_readable(true)
}

/// Traces `T` until every variant of every enum in it, nested ones too, is known. The tracer
/// reveals one more variant of an enum per pass, and names the enums still incomplete only
/// when the registry is taken, so the names learnt are fed into a fresh tracer until none
/// is missing. Returns the format of `T` itself and the containers it refers to.
pub(crate) fn trace<T: DeserializeOwned>()
-> Result<(Format, BTreeMap<String, ContainerFormat>), ShapeError> {
    const MAX_PASSES: usize = 10_000;
    let error = |e: serde_reflection::Error| ShapeError(e.to_string());
    let samples = Samples::new();
    let mut enums: Vec<String> = Vec::new();
    for _ in 0..MAX_PASSES {
        let mut tracer = Tracer::new(config());
        let mut passes = 0;
        let format = loop {
            passes += 1;
            let (format, _) = tracer.trace_type_once::<T>(&samples).map_err(error)?;
            let mut again = false;
            if let Format::TypeName(name) = &format {
                again |= tracer.check_incomplete_enum(name).is_some();
            }
            for name in &enums {
                again |= tracer.check_incomplete_enum(name).is_some();
            }
            if !again || passes >= MAX_PASSES {
                break format;
            }
        };
        match tracer.registry() {
            Ok(registry) => return Ok((format, registry)),
            Err(serde_reflection::Error::MissingVariants(missing))
                if missing.iter().any(|m| !enums.contains(m)) =>
            {
                enums.extend(missing);
            }
            Err(e) => return Err(error(e)),
        }
    }
    Err(ShapeError("the tracer did not converge".to_owned()))
}

struct Writer<'a> {
    registry: &'a BTreeMap<String, ContainerFormat>,
    /// The containers being written, to cut recursion.
    path: Vec<&'a str>,
    out: &'a mut String,
}

impl<'a> Writer<'a> {
    fn format(&mut self, format: &'a Format) {
        let primitive = match format {
            Format::TypeName(name) => return self.named(name),
            Format::Option(inner) => return self.wrapped("option<", inner, ">"),
            Format::Seq(inner) => return self.wrapped("[", inner, "]"),
            Format::Map { key, value } => {
                self.out.push_str("map<");
                self.format(key);
                self.out.push_str(", ");
                self.format(value);
                self.out.push('>');
                return;
            }
            Format::Tuple(items) => return self.tuple(items),
            Format::TupleArray { content, size } => {
                self.out.push('[');
                self.format(content);
                let _ = write!(self.out, "; {size}]");
                return;
            }
            Format::Variable(_) => "unknown",
            Format::Unit => "unit",
            Format::Bool => "bool",
            Format::I8 => "i8",
            Format::I16 => "i16",
            Format::I32 => "i32",
            Format::I64 => "i64",
            Format::I128 => "i128",
            Format::U8 => "u8",
            Format::U16 => "u16",
            Format::U32 => "u32",
            Format::U64 => "u64",
            Format::U128 => "u128",
            Format::F32 => "f32",
            Format::F64 => "f64",
            Format::Char => "char",
            Format::Str => "str",
            Format::Bytes => "bytes",
        };
        self.out.push_str(primitive);
    }

    fn wrapped(&mut self, open: &str, inner: &'a Format, close: &str) {
        self.out.push_str(open);
        self.format(inner);
        self.out.push_str(close);
    }

    fn tuple(&mut self, items: &'a [Format]) {
        self.out.push('(');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.format(item);
        }
        self.out.push(')');
    }

    fn fields(&mut self, fields: &'a [Named<Format>]) {
        self.sorted_by_name("{", fields.iter(), "}", |w, field| {
            w.out.push_str(": ");
            w.format(&field.value);
        });
    }

    /// Writes `open`, the named items sorted by name and separated by commas, each as its
    /// name followed by what `rest` writes, then `close`.
    fn sorted_by_name<T: 'a>(
        &mut self,
        open: &str,
        items: impl Iterator<Item = &'a Named<T>>,
        close: &str,
        mut rest: impl FnMut(&mut Self, &'a Named<T>),
    ) {
        let mut sorted: Vec<&Named<T>> = items.collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        self.out.push_str(open);
        for (i, item) in sorted.into_iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&item.name);
            rest(self, item);
        }
        self.out.push_str(close);
    }

    fn named(&mut self, name: &'a str) {
        let Some(container) = self.registry.get(name) else {
            let _ = write!(self.out, "unknown {name}");
            return;
        };
        if self.path.contains(&name) {
            let _ = write!(self.out, "recursive {name}");
            return;
        }
        self.path.push(name);
        match container {
            ContainerFormat::UnitStruct => self.out.push_str("unit"),
            ContainerFormat::NewTypeStruct(inner) => self.format(inner),
            ContainerFormat::TupleStruct(items) => self.tuple(items),
            ContainerFormat::Struct(fields) => self.fields(fields),
            ContainerFormat::Enum(variants) => {
                self.sorted_by_name(
                    "enum {",
                    variants.values(),
                    "}",
                    |w, variant| match &variant.value {
                        VariantFormat::Unit | VariantFormat::Variable(_) => {}
                        VariantFormat::NewType(inner) => w.wrapped("(", inner, ")"),
                        VariantFormat::Tuple(items) => w.tuple(items),
                        VariantFormat::Struct(fields) => {
                            w.out.push(' ');
                            w.fields(fields);
                        }
                    },
                );
            }
        }
        self.path.pop();
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::shape_of;

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the shape is read")]
    struct Cents(u64);

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the shape is read")]
    enum Kind {
        Cash,
        Card { last4: String },
        Transfer(Cents),
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only the shape is read")]
    struct Payment {
        #[serde(rename = "k")]
        kind: Kind,
        amount: Cents,
        notes: std::collections::BTreeMap<String, [u8; 2]>,
        #[serde(skip)]
        cache: u8,
    }

    #[test]
    fn nested_types_renames_and_skips_are_in_the_shape() {
        assert_eq!(
            shape_of::<Payment>().unwrap(),
            "{amount: u64, k: enum {Card {last4: str}, Cash, Transfer(u64)}, notes: map<str, [u8; 2]>}"
        );
    }

    #[test]
    fn a_type_read_through_deserialize_any_is_an_error_not_a_guess() {
        #[derive(Deserialize)]
        #[serde(tag = "t")]
        #[allow(dead_code, reason = "only the shape is read")]
        enum Tagged {
            A { x: u8 },
        }
        assert!(shape_of::<Tagged>().is_err());
        assert!(shape_of::<serde_json::Value>().is_err());
    }
}
