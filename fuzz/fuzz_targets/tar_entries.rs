//! An upload, as a client sends it, through the tar entry reader and the upload check, split into pieces where
//! the input says; and through the reading of files copied before start. Never a panic; and the bytes the
//! check passes on never exceed what came in plus the end-of-archive blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podshim_translate::files::tar_to_files;
use podshim_translate::tar_entries::{TarEntries, UploadCheck};

fuzz_target!(|data: &[u8]| {
    let (cut, body) = match data.split_first() {
        Some((cut, body)) => (usize::from(*cut).max(1) * 7, body),
        None => return,
    };
    let mut entries = TarEntries::new();
    for piece in body.chunks(cut) {
        if entries.feed(piece).is_err() {
            break;
        }
    }
    let mut check = UploadCheck::new("/fuzz/dir");
    let mut sent = 0usize;
    for piece in body.chunks(cut) {
        match check.feed(piece) {
            Ok(out) => sent += out.len(),
            Err(_) => return,
        }
    }
    if let Ok(last) = check.finish() {
        sent += last.len();
        assert!(sent <= body.len() + 1024, "{sent} bytes passed on from {}", body.len());
    }
    let _ = tar_to_files(body, "/fuzz/dir");
});
