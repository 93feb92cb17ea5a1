//! Identifiers and random secrets: nanoid-style strings from the operating system's CSPRNG.

use rand::Rng;

const LOWER_ALPHANUMERIC: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random string of `length` characters drawn uniformly from `alphabet`.
fn random_string(alphabet: &[u8], length: usize) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A resource ID: 26 characters of `0-9a-z` (URL and DNS safe, ~134 bits).
pub fn resource_id() -> String {
    random_string(LOWER_ALPHANUMERIC, 26)
}

/// Whether `text` has the shape of a [`resource_id`]: 26 characters of `0-9a-z`.
pub fn looks_like_resource_id(text: &str) -> bool {
    text.len() == 26 && text.bytes().all(|byte| LOWER_ALPHANUMERIC.contains(&byte))
}

/// A credential's client_id: 21 characters of `0-9A-Za-z` (~125 bits).
pub fn client_id() -> String {
    random_string(ALPHANUMERIC, 21)
}

/// A credential's client_secret: 64 characters of `0-9A-Za-z` (~381 bits).
pub fn client_secret() -> String {
    random_string(ALPHANUMERIC, 64)
}

/// The secret half of a bearer token: 43 characters of `0-9A-Za-z` (~256 bits).
pub fn token_secret() -> String {
    random_string(ALPHANUMERIC, 43)
}

/// A server-generated request ID (a random UUID, version 4). Its bytes come from the
/// thread's CSPRNG, like every other ID here, rather than from a system call per request.
pub fn request_id() -> String {
    uuid::Builder::from_random_bytes(rand::rng().random())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_random_version_4_uuids() {
        let id = request_id();
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id, parsed.hyphenated().to_string(), "canonical lowercase form");
        assert_ne!(request_id(), id);
    }

    #[test]
    fn resource_ids_are_26_lowercase_alphanumerics() {
        let id = resource_id();
        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|byte| LOWER_ALPHANUMERIC.contains(&byte)));
    }

    #[test]
    fn client_ids_and_secrets_have_their_lengths_and_alphabet() {
        assert_eq!(client_id().len(), 21);
        let secret = client_secret();
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    }

    #[test]
    fn two_secrets_differ() {
        assert_ne!(client_secret(), client_secret());
    }
}
