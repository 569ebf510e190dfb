//! Subject patterns with NATS wildcards, for the transports whose brokers do not filter by
//! subject themselves (Redis Streams, Kafka).

/// Whether `subject` matches the NATS-style `pattern`: `*` is one token, `>` the rest (one
/// token or more).
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for want in pattern.split('.') {
        match (want, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (want, Some(token)) if want == token => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_nats_subjects() {
        assert!(subject_matches("orders.*", "orders.placed"));
        assert!(!subject_matches("orders.*", "orders.eu.placed"));
        assert!(subject_matches("orders.>", "orders.eu.placed"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("*.user.*", "eu.user.joined"));
        assert!(!subject_matches("*.user.*", "eu.order.joined"));
        assert!(subject_matches(">", "anything.at.all"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }
}
