//! The [`Aggregate`] trait that `#[aggregate]` implements.

use crate::model::event::EventSet;
use crate::wire::codec::{Codec, CodecError};

/// A consistency boundary whose state is the fold of its events.
///
/// Implemented by `#[aggregate]` on an impl block of the state type; `apply` is a `match` over
/// the generated event enum that calls the `#[apply]` methods.
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The aggregate's type name; stream ids are `"{TYPE}-{id}"`.
    const TYPE: &'static str;

    /// The names of the commands its `#[handle]` methods take.
    const COMMANDS: &'static [&'static str];

    /// Stored event names that loading skips instead of failing on: events no type of this
    /// aggregate decodes any more (say, of a retired feature). Any other unknown name is a
    /// [`DecodeError`](crate::event::DecodeError). Set with `#[aggregate(skip_unknown = ["..."])]`.
    const SKIP_UNKNOWN: &'static [&'static str] = &[];

    /// The enum of every event the aggregate applies.
    type Event: EventSet;

    /// Take a snapshot whenever the stream version crosses a multiple of this; 0 (the
    /// default) for never. Set with `#[aggregate(snapshot_every = N)]`.
    const SNAPSHOT_EVERY: u64 = 0;

    /// The version of the state's serialized shape. Bump it (`#[aggregate(snapshot_version =
    /// N)]`) when the state's fields change: snapshots of other versions are then ignored and
    /// the state is rebuilt from the events.
    const SNAPSHOT_VERSION: u32 = 1;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);

    /// The serialized state, when the aggregate takes snapshots.
    fn encode_snapshot<C: Codec>(&self, codec: &C) -> Option<Result<Vec<u8>, CodecError>> {
        let _ = codec;
        None
    }

    /// The state from a snapshot, when the aggregate takes snapshots.
    fn decode_snapshot<C: Codec>(codec: &C, bytes: &[u8]) -> Option<Result<Self, CodecError>> {
        let _ = (codec, bytes);
        None
    }

    /// The stream id of the instance with `id`.
    ///
    /// ```
    /// # use eventsmith::Aggregate;
    /// # #[derive(Default)] struct Account;
    /// # #[eventsmith::aggregate] impl Account {}
    /// assert_eq!(Account::stream_id("42"), "Account-42");
    /// ```
    fn stream_id(id: &str) -> String {
        let mut stream = String::with_capacity(Self::TYPE.len() + 1 + id.len());
        stream.push_str(Self::TYPE);
        stream.push('-');
        stream.push_str(id);
        stream
    }
}
