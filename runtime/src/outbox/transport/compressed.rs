//! [`Compressed`]: a publishing layer that gzips the payloads above a size threshold and
//! says so in the [`header::ENCODING`] header, which every consumer reads
//! ([`Incoming::from_headers`](crate::outbox::Incoming::from_headers) inflates them again).
//! gzip, because every language reads it.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Transport, TransportError};
use crate::outbox::message::{Outgoing, header};

/// The encoding's name in the [`header::ENCODING`] header.
pub(crate) const GZIP: &str = "gzip";

/// The most bytes a payload may inflate to: a larger one is refused, not allocated.
const MAX_INFLATED: u64 = 64 << 20;

/// A transport whose messages' payloads above a threshold (default 1 KiB) travel gzipped.
///
/// ```
/// use eventsmith::outbox::{Compressed, MemoryTransport};
///
/// // Payloads of 4 KiB and more go out compressed at gzip's fastest level.
/// let broker = Compressed::new(MemoryTransport::new()).above(4096).level(1);
/// ```
#[derive(Debug, Clone)]
pub struct Compressed<T> {
    inner: T,
    above: usize,
    level: u32,
}

impl<T: Transport> Compressed<T> {
    /// Compresses for `inner` the payloads of 1 KiB and more, at gzip's default level (6).
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            above: 1024,
            level: 6,
        }
    }

    /// Payloads of at least `bytes` are compressed; smaller ones, which gzip would hardly
    /// shrink, go as they are.
    #[must_use]
    pub fn above(mut self, bytes: usize) -> Self {
        self.above = bytes;
        self
    }

    /// The gzip level, 0 (none) to 9 (smallest).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// The transport it publishes through.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for Compressed<T> {
    const NAME: &'static str = T::NAME;

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        if messages
            .iter()
            .all(|m| m.payload.len() < self.above || m.encoding.is_some())
        {
            return self.inner.publish(messages).await;
        }
        let mut compressed = Vec::with_capacity(messages.len());
        for message in messages {
            let mut message = message.clone();
            if message.payload.len() >= self.above && message.encoding.is_none() {
                let mut encoder = GzEncoder::new(
                    Vec::with_capacity(message.payload.len() / 2),
                    Compression::new(self.level),
                );
                // Writing to a Vec does not fail.
                let done = encoder
                    .write_all(&message.payload)
                    .and_then(|()| encoder.finish());
                if let Ok(payload) = done {
                    message.payload = payload;
                    message.encoding = Some(GZIP);
                }
            }
            compressed.push(message);
        }
        self.inner.publish(&compressed).await
    }
}

/// The payload of a message whose [`header::ENCODING`] header says `encoding`, inflated.
pub(crate) fn inflate(encoding: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    if encoding != GZIP {
        return Err(format!(
            "`{}` header `{encoding}`: an encoding this build does not read (it reads `{GZIP}`)",
            header::ENCODING
        ));
    }
    let mut out = Vec::with_capacity(payload.len() * 3);
    MultiGzDecoder::new(payload)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzipped payload does not inflate: {e}"))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(format!(
            "the gzipped payload inflates past {} MiB",
            MAX_INFLATED >> 20
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_deflated_inflates_and_garbage_is_an_error() {
        let payload = br#"{"order":"o-1","lines":"#.repeat(100);
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&payload).unwrap();
        let gz = encoder.finish().unwrap();
        assert!(gz.len() < payload.len() / 10);
        assert_eq!(inflate(GZIP, &gz).unwrap(), payload);
        assert!(
            inflate(GZIP, b"not gzip")
                .unwrap_err()
                .contains("does not inflate")
        );
        assert!(inflate("zstd", &gz).unwrap_err().contains("`zstd`"));
    }
}
