//! Fresh ids for containers and execs: 64 lowercase hex characters from 32 random bytes, like Docker's.

use podshim_translate::labels;

pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    labels::new_container_id(bytes)
}
