//! A query string, as a client sends it, through every query parser: the raw pairs, booleans, integers,
//! timestamps, the container list and prune `filters`, and detach keys. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podshim_translate::detach_keys;
use podshim_translate::list_filters::ListFilters;
use podshim_translate::query::Query;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let query = Query::parse(Some(text));
    for key in ["t", "since", "until", "filters", "detachKeys", "all", "limit", "tail", "h", "w", "signal"] {
        let _ = query.bool(key);
        let _ = query.int(key);
        let _ = query.timestamp(key);
        if let Some(value) = query.get(key) {
            let _ = ListFilters::parse(value);
            let _ = ListFilters::parse_prune(value);
            let _ = detach_keys::parse(value);
        }
    }
    let _ = ListFilters::parse(text);
    let _ = detach_keys::parse(text);
    let _ = podshim_translate::files::check_archive_path(text);
    let _ = podshim_translate::image_ref::check_reference(text);
});
