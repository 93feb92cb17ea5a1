//! Revocations one store announces to the others on the same database: what was
//! revoked ([`Revoked`]), the feed a subscriber hears them on, and how one is
//! written as a PostgreSQL notification's payload.
//!
//! A payload is `<kind>:<id> <origin>`: the kind (`credential`, `service_account`,
//! `token`, or `everything` with an empty ID), the ID of what was revoked, and the
//! announcing store's random origin, so that a store can tell its own announcements
//! from the others'. A payload that cannot be read is heard as
//! [`Revoked::Everything`]: forgetting too much only costs database reads.

use tokio::sync::mpsc;

/// Tokens that no longer work, as stores tell one another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Every token of this credential (deleted, or otherwise no longer good).
    Credential(String),
    /// Every token of this service account (deleted, or its role changed).
    ServiceAccount(String),
    /// This one token (revoked by its client, RFC 7009).
    Token(String),
    /// Any token may have been revoked unheard: forget every one.
    Everything,
}

/// Where a subscriber hears revocations (see [`crate::Store::subscribe_revocations`]).
/// `None` from it means nothing more will ever be heard.
pub type RevocationFeed = mpsc::UnboundedReceiver<Revoked>;

impl Revoked {
    /// The kind and ID a payload carries.
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Revoked::Credential(id) => ("credential", id),
            Revoked::ServiceAccount(id) => ("service_account", id),
            Revoked::Token(id) => ("token", id),
            Revoked::Everything => ("everything", ""),
        }
    }
}

/// The payload announcing `revoked` from the store `origin`.
pub(crate) fn payload(revoked: &Revoked, origin: &str) -> String {
    let (kind, id) = revoked.parts();
    format!("{kind}:{id} {origin}")
}

/// What a payload announces, and the origin that announced it (empty if the payload
/// names none). Anything unreadable is [`Revoked::Everything`].
pub(crate) fn parse(payload: &str) -> (Revoked, &str) {
    let (what, origin) = payload.split_once(' ').unwrap_or((payload, ""));
    let revoked = match what.split_once(':') {
        Some(("credential", id)) if !id.is_empty() => Revoked::Credential(id.to_owned()),
        Some(("service_account", id)) if !id.is_empty() => Revoked::ServiceAccount(id.to_owned()),
        Some(("token", id)) if !id.is_empty() => Revoked::Token(id.to_owned()),
        _ => Revoked::Everything,
    };
    (revoked, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revocation_reads_back_from_its_payload_with_its_origin() {
        for revoked in [
            Revoked::Credential("c1".to_owned()),
            Revoked::ServiceAccount("s1".to_owned()),
            Revoked::Token("t1".to_owned()),
            Revoked::Everything,
        ] {
            let written = payload(&revoked, "origin1");
            assert_eq!(parse(&written), (revoked, "origin1"), "{written}");
        }
        assert_eq!(payload(&Revoked::Token("t1".to_owned()), "o"), "token:t1 o");
    }

    #[test]
    fn an_unreadable_payload_is_heard_as_everything() {
        for unreadable in ["", "token:", "rotation:c1 o", "nonsense", "credential"] {
            assert_eq!(parse(unreadable).0, Revoked::Everything, "{unreadable:?}");
        }
    }
}
