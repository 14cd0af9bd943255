//! `noOverwriteDirNonDir` of `PUT /containers/{id}/archive` (the docker CLI always sends it): an entry may not
//! replace a directory with a non-directory, nor a non-directory (a file, a symlink) with a directory.
//!
//! podshim extracts with `tar` in the container, and tar has no such option, so podshim checks each entry itself
//! before tar sees it:
//! - [`HeldBack`] keeps the bytes of entries not yet checked (only headers are examined; data flows on once its
//!   entry passed), in batches of at most [`BATCH_ENTRIES`] entries or [`BATCH_BYTES`] bytes;
//! - the paths of a batch are looked up in the container by a small POSIX `sh` loop ([`CHECK_SCRIPT`]), one
//!   answer line per path ([`Existing::from_answer`]);
//! - [`Rule`] judges each entry against what exists, or against what an earlier entry of the same archive put
//!   there, and words a refusal as Docker does.

use std::collections::HashMap;
use std::path::Path;

use bytes::{Bytes, BytesMut};

use super::files::join_inside;
use super::tar_entries::{TarEntries, TarEntry};

/// A batch is checked once it holds this many entries...
pub const BATCH_ENTRIES: usize = 256;
/// ...or this many held bytes.
pub const BATCH_BYTES: usize = 1024 * 1024;

/// Run as `/bin/sh -c CHECK_SCRIPT`: reads absolute paths, one per line, and answers each with `d` (a
/// directory), `f` (anything else, a symlink included, as Docker's `lstat`) or `n` (nothing there).
pub const CHECK_SCRIPT: &str = r#"while IFS= read -r p; do
  if [ -L "$p" ]; then echo f; elif [ -d "$p" ]; then echo d; elif [ -e "$p" ]; then echo f; else echo n; fi
done"#;

/// What a path holds before an entry is extracted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Nothing,
    Directory,
    NonDirectory,
}

impl Existing {
    /// One answer line of [`CHECK_SCRIPT`].
    pub fn from_answer(line: &str) -> Option<Existing> {
        match line.trim() {
            "d" => Some(Existing::Directory),
            "f" => Some(Existing::NonDirectory),
            "n" => Some(Existing::Nothing),
            _ => None,
        }
    }
}

/// The judge of one upload into the directory `dir`.
#[derive(Debug)]
pub struct Rule {
    dir: String,
    /// Paths extracted by earlier entries of this archive, and whether each is a directory.
    extracted: HashMap<String, bool>,
}

impl Rule {
    pub fn new(dir: &str) -> Rule {
        let dir = join_inside("/", Path::new(dir)).unwrap_or_else(|_| dir.to_string());
        Rule { dir, extracted: HashMap::new() }
    }

    /// The absolute path an entry names, or `None` for the extraction directory itself and for names tar refuses
    /// on its own (climbing out with `..`).
    fn target(&self, entry: &TarEntry) -> Option<String> {
        let path = join_inside(&self.dir, Path::new(&entry.path)).ok()?;
        (path != self.dir).then_some(path)
    }

    /// The paths of `entries` that must be looked up in the container: those no earlier entry extracted.
    pub fn paths_to_check(&self, entries: &[TarEntry]) -> Result<Vec<String>, String> {
        let mut paths: Vec<String> = Vec::new();
        for path in entries.iter().filter_map(|e| self.target(e)) {
            if path.contains('\n') {
                return Err(format!("podshim cannot check {path:?} for noOverwriteDirNonDir: it contains a newline"));
            }
            if !self.extracted.contains_key(&path) && !paths.contains(&path) {
                paths.push(path);
            }
        }
        Ok(paths)
    }

    /// Judges `entries` in order, given what the container holds at the paths [`Self::paths_to_check`] named.
    /// The refusal is Docker's message, word for word.
    pub fn judge(&mut self, entries: &[TarEntry], existing: &HashMap<String, Existing>) -> Result<(), String> {
        for entry in entries {
            let Some(path) = self.target(entry) else { continue };
            let before = match self.extracted.get(&path) {
                Some(true) => Existing::Directory,
                Some(false) => Existing::NonDirectory,
                None => existing.get(&path).copied().unwrap_or(Existing::Nothing),
            };
            let refused = match (before, entry.is_dir) {
                (Existing::Directory, false) => Some(("directory", "non-directory")),
                (Existing::NonDirectory, true) => Some(("non-directory", "directory")),
                _ => None,
            };
            if let Some((was, now)) = refused {
                return Err(format!(
                    "Error processing tar file(exit status 1): cannot overwrite {was} {path:?} with {now} {:?}",
                    self.dir
                ));
            }
            self.extracted.insert(path, entry.is_dir);
        }
        Ok(())
    }
}

/// The upload's bytes, held from the first entry not yet judged.
#[derive(Debug, Default)]
pub struct HeldBack {
    entries: TarEntries,
    held: BytesMut,
    /// Stream offset of `held[0]`.
    held_start: u64,
    unjudged: Vec<TarEntry>,
}

impl HeldBack {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the (uncompressed) archive.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        let found = self.entries.feed(chunk)?;
        self.unjudged.extend(found);
        self.held.extend_from_slice(chunk);
        Ok(())
    }

    /// True when enough is held that the batch should be judged now rather than wait for more.
    pub fn batch_full(&self) -> bool {
        self.unjudged.len() >= BATCH_ENTRIES || self.held.len() >= BATCH_BYTES
    }

    /// The entries whose headers are complete and not judged yet; once taken they count as judged.
    pub fn take_unjudged(&mut self) -> Vec<TarEntry> {
        std::mem::take(&mut self.unjudged)
    }

    /// The bytes that may go to tar now: everything before the first entry not judged (or not complete).
    pub fn release(&mut self) -> Bytes {
        let first_unjudged = self.unjudged.first().map(|e| e.start);
        let limit = [first_unjudged, self.entries.open_entry_start()].into_iter().flatten().min();
        let end = match limit {
            Some(offset) => (offset.saturating_sub(self.held_start) as usize).min(self.held.len()),
            None => self.held.len(),
        };
        self.held_start += end as u64;
        self.held.split_to(end).freeze()
    }

    /// Everything still held, at the end of the upload (after the last batch was judged).
    pub fn finish(&mut self) -> Bytes {
        self.held_start += self.held.len() as u64;
        self.held.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, is_dir: bool) -> TarEntry {
        TarEntry { start: 0, path: path.into(), is_dir }
    }

    fn judge(dir: &str, entries: &[TarEntry], existing: &[(&str, Existing)]) -> Result<(), String> {
        let existing = existing.iter().map(|(p, e)| (p.to_string(), *e)).collect();
        Rule::new(dir).judge(entries, &existing)
    }

    #[test]
    fn docker_words_both_refusals_with_the_path_and_the_extraction_directory() {
        let refused = judge("/tmp/c", &[entry("d1", false)], &[("/tmp/c/d1", Existing::Directory)]);
        assert_eq!(
            refused.unwrap_err(),
            r#"Error processing tar file(exit status 1): cannot overwrite directory "/tmp/c/d1" with non-directory "/tmp/c""#
        );
        let refused = judge("/tmp/c/", &[entry("f1/", true)], &[("/tmp/c/f1", Existing::NonDirectory)]);
        assert_eq!(
            refused.unwrap_err(),
            r#"Error processing tar file(exit status 1): cannot overwrite non-directory "/tmp/c/f1" with directory "/tmp/c""#
        );
    }

    #[test]
    fn same_kinds_and_new_paths_pass() {
        let entries = [entry("./", true), entry("tree/", true), entry("tree/f", false), entry("tree/new/", true)];
        let existing = [("/data/tree", Existing::Directory), ("/data/tree/f", Existing::NonDirectory)];
        assert_eq!(judge("/data", &entries, &existing), Ok(()));
    }

    #[test]
    fn earlier_entries_of_the_same_archive_count_as_existing() {
        let entries = [entry("x", false), entry("x/", true)];
        assert!(judge("/d", &entries, &[]).unwrap_err().contains(r#"non-directory "/d/x" with directory"#));
        let rule = Rule::new("/d");
        assert_eq!(
            rule.paths_to_check(&[entry("a", false), entry("./a", false), entry(".", true)]),
            Ok(vec!["/d/a".into()])
        );
    }

    #[test]
    fn entries_climbing_out_are_left_to_tar() {
        assert_eq!(judge("/d", &[entry("../etc/passwd", false)], &[]), Ok(()));
    }

    #[test]
    fn held_bytes_are_released_up_to_the_first_unjudged_entry() {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in [("a", &b"1"[..]), ("b", &[2u8; 600][..])] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, data).expect("in memory");
        }
        let bytes = builder.into_inner().expect("in memory");
        let mut held = HeldBack::new();
        held.push(&bytes[..300]).expect("valid");
        assert_eq!(held.release().len(), 0, "the first header is incomplete");
        held.push(&bytes[300..1100]).expect("valid");
        assert_eq!(held.release().len(), 0, "entry a is not judged");
        assert_eq!(held.take_unjudged().len(), 1, "a; the header of b (from 1024) is incomplete");
        assert_eq!(held.release().len(), 1024, "a and its data, up to b");
        held.push(&bytes[1100..]).expect("valid");
        assert_eq!(held.release().len(), 0, "b is not judged");
        assert_eq!(held.take_unjudged().len(), 1);
        assert_eq!(held.release().len() + 1024, bytes.len());
        assert_eq!(held.finish().len(), 0);
    }

    #[test]
    fn answers_of_the_check_script() {
        assert_eq!(Existing::from_answer("d\n"), Some(Existing::Directory));
        assert_eq!(Existing::from_answer("f"), Some(Existing::NonDirectory));
        assert_eq!(Existing::from_answer("n"), Some(Existing::Nothing));
        assert_eq!(Existing::from_answer("sh: [: not found"), None);
    }
}
