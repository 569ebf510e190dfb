//! The codec that turns event payloads into bytes and back. JSON by default; replaceable by
//! implementing [`Codec`].

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An error of a [`Codec`], carrying the underlying library's error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CodecError(#[from] Box<dyn std::error::Error + Send + Sync + 'static>);

impl CodecError {
    /// Wraps any error as a codec error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

/// Serializes event payloads. Stores keep the bytes opaque.
///
/// ```
/// use eventsmith::codec::{Codec, JsonCodec};
///
/// let bytes = JsonCodec.encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<i32> = JsonCodec.decode(&bytes).unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// ```
pub trait Codec: Send + Sync + 'static {
    /// A media type naming the encoding, such as `application/json`.
    const CONTENT_TYPE: &'static str;

    /// Serializes a value.
    ///
    /// # Errors
    /// The serializer's error.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError>;

    /// Deserializes a value.
    ///
    /// # Errors
    /// The deserializer's error, for malformed bytes or a shape that does not match `T`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// JSON through `serde_json`: the default codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    const CONTENT_TYPE: &'static str = "application/json";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(CodecError::new)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(CodecError::new)
    }
}
