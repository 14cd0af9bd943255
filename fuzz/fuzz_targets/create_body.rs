//! A create body, as a client sends it, through what podshim does with it at create: decoding as moby's Go
//! decoder would, then the translation to a pod. Any input must give a body or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podshim_translate::body::decode_create_body;
use podshim_translate::pod::{create_to_pod, PodIdentity};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = decode_create_body(data) else { return };
    let ids = PodIdentity {
        id: "f".repeat(64),
        name: "fuzz".to_string(),
        namespace: "default".to_string(),
        host_gateway: Some(std::net::Ipv4Addr::LOCALHOST.into()),
    };
    let _ = create_to_pod(&body, &ids);
});
