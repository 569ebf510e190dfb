//! [`RedisSubscription`]: one member of a Redis Streams consumer group as a
//! [`Subscription`]. New entries come with `XREADGROUP`; entries another member read and did
//! not acknowledge within the idle time (it died mid-batch), and this member's own failed
//! ones, are taken over with `XAUTOCLAIM`.

use std::collections::HashMap;
use std::time::Duration;

use redis::Value;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::TransportError;
use super::pattern::subject_matches;
use super::redis::{PAYLOAD, RedisTransport, SUBJECT, unavailable};
use crate::outbox::consumer::{Delivery, Fetched, Incoming, Subscription};

/// A member of a consumer group of one Redis stream, on a subject pattern.
pub struct RedisSubscription {
    connection: ConnectionManager,
    key: String,
    group: String,
    member: String,
    pattern: String,
    idle: Duration,
    wait: Duration,
}

impl std::fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscription")
            .field("key", &self.key)
            .field("group", &self.group)
            .field("member", &self.member)
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl RedisTransport {
    /// Joins `group` as `member` (a name unique to the process, stable across its restarts)
    /// for the entries whose subjects match `pattern` (NATS wildcards: `orders.*`,
    /// `orders.>`), creating the group on first use from the stream's start. Entries another
    /// member has held unacknowledged for `idle` are taken over; a failed entry is delivered
    /// again after `idle` too. Entries of other subjects are acknowledged unseen: give each
    /// pattern a group of its own.
    ///
    /// # Errors
    /// [`TransportError::Unavailable`] when the server does not answer.
    pub async fn subscribe(
        &self,
        group: &str,
        member: &str,
        pattern: &str,
        idle: Duration,
    ) -> Result<RedisSubscription, TransportError> {
        let wait = Duration::from_millis(500);
        let mut connection = self
            .client()
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new()
                    .set_response_timeout(Some(wait + Duration::from_secs(5))),
            )
            .await
            .map_err(unavailable)?;
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.key())
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut connection)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(unavailable(e)),
            _ => {}
        }
        Ok(RedisSubscription {
            connection,
            key: self.key().to_owned(),
            group: group.to_owned(),
            member: member.to_owned(),
            pattern: pattern.to_owned(),
            idle,
            wait,
        })
    }
}

impl RedisSubscription {
    /// How long one `receive` blocks for new entries before it answers none (default
    /// 500 ms).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.max(Duration::from_millis(1));
        self
    }

    /// Takes over entries idle for longer than the idle time, with their delivery counts.
    async fn claim(&mut self, max: usize) -> Result<Vec<Delivery<String>>, TransportError> {
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.member)
            .arg(u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.connection)
            .await
            .map_err(unavailable)?;
        let entries = match &reply {
            Value::Array(parts) if parts.len() >= 2 => entries(&parts[1]),
            _ => Vec::new(),
        };
        let mut deliveries = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let attempt = self.delivery_count(&id).await?;
            deliveries.push(delivery(id, &fields, attempt));
        }
        Ok(deliveries)
    }

    /// How many times entry `id` has been delivered.
    async fn delivery_count(&mut self, id: &str) -> Result<u32, TransportError> {
        let reply: Value = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(&self.group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(&mut self.connection)
            .await
            .map_err(unavailable)?;
        let count = match reply {
            Value::Array(rows) => rows.first().and_then(|row| match row {
                Value::Array(fields) => fields.get(3).and_then(int),
                _ => None,
            }),
            _ => None,
        };
        Ok(count.map_or(1, |c| u32::try_from(c).unwrap_or(u32::MAX)))
    }

    async fn xack(&mut self, id: &str) -> Result<(), TransportError> {
        redis::cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(id)
            .query_async::<()>(&mut self.connection)
            .await
            .map_err(unavailable)
    }
}

impl Subscription for RedisSubscription {
    const NAME: &'static str = "redis";
    type Ack = String;

    async fn receive(&mut self, max: usize) -> Result<Vec<Delivery<String>>, TransportError> {
        let mut deliveries = self.claim(max).await?;
        if deliveries.is_empty() {
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&self.group)
                .arg(&self.member)
                .arg("COUNT")
                .arg(max)
                .arg("BLOCK")
                .arg(u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX))
                .arg("STREAMS")
                .arg(&self.key)
                .arg(">")
                .query_async(&mut self.connection)
                .await
                .map_err(unavailable)?;
            if let Value::Array(streams) = &reply {
                for stream in streams {
                    if let Value::Array(parts) = stream {
                        if let Some(list) = parts.get(1) {
                            for (id, fields) in entries(list) {
                                deliveries.push(delivery(id, &fields, 1));
                            }
                        }
                    }
                }
            }
        }
        // Entries of other subjects are not this group's.
        let mut mine = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if subject_matches(&self.pattern, &delivery.subject) {
                mine.push(delivery);
            } else {
                self.xack(&delivery.ack).await?;
            }
        }
        Ok(mine)
    }

    async fn ack(&mut self, ack: String) -> Result<(), TransportError> {
        self.xack(&ack).await
    }

    async fn retry_later(&mut self, _ack: String, _delay: Duration) -> Result<(), TransportError> {
        // Left pending: taken over again once idle for the idle time.
        Ok(())
    }

    async fn fetch(&mut self, sequence: u64) -> Result<Option<Fetched>, TransportError> {
        let id = entry_id(sequence);
        let reply: Value = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(&id)
            .arg(&id)
            .query_async(&mut self.connection)
            .await
            .map_err(unavailable)?;
        Ok(entries(&reply).into_iter().next().map(|(id, fields)| {
            let d = delivery(id, &fields, 1);
            (d.subject, d.message)
        }))
    }

    async fn give_up(&mut self, ack: String) -> Result<(), TransportError> {
        self.xack(&ack).await
    }
}

/// The entries of a reply: `[[id, [field, value, …]], …]`.
fn entries(list: &Value) -> Vec<(String, HashMap<String, Vec<u8>>)> {
    let Value::Array(items) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = text(pair.first()?)?;
            let mut fields = HashMap::new();
            if let Some(Value::Array(flat)) = pair.get(1) {
                for chunk in flat.chunks(2) {
                    if let [name, value] = chunk {
                        if let (Some(name), Some(value)) = (text(name), bytes(value)) {
                            fields.insert(name, value);
                        }
                    }
                }
            }
            Some((id, fields))
        })
        .collect()
}

fn delivery(id: String, fields: &HashMap<String, Vec<u8>>, attempt: u32) -> Delivery<String> {
    let get = |name: &str| fields.get(name).and_then(|v| std::str::from_utf8(v).ok());
    let subject = get(SUBJECT).unwrap_or_default().to_owned();
    let message = match fields.get(PAYLOAD) {
        Some(payload) => Incoming::from_headers(get, payload.clone()),
        None => Err("no payload field".to_owned()),
    };
    Delivery::new(subject, sequence_of(&id), attempt, message, id)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

/// An entry id `ms-seq` as one number: the milliseconds above 20 bits of sequence (entries
/// of one millisecond beyond a million would collide; Redis numbers them from 0).
fn sequence_of(id: &str) -> u64 {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    let (ms, seq) = (
        ms.parse::<u64>().unwrap_or(0),
        seq.parse::<u64>().unwrap_or(0),
    );
    (ms << 20) | (seq & 0xF_FFFF)
}

fn entry_id(sequence: u64) -> String {
    format!("{}-{}", sequence >> 20, sequence & 0xF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_survive_the_round_trip_through_a_sequence() {
        for id in ["1700000000000-0", "1700000000000-17", "5-999999"] {
            assert_eq!(entry_id(sequence_of(id)), id);
        }
        assert!(sequence_of("1700000000001-0") > sequence_of("1700000000000-5"));
    }
}
