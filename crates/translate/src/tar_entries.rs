//! The entries of a tar stream, read as it arrives: which path each entry names, whether it is a directory, and at
//! which byte offset its headers start. `PUT /containers/{id}/archive` with `noOverwriteDirNonDir` needs this to
//! hold an entry back until its path has been checked in the container (see [`super::overwrite`]).
//!
//! Only headers are kept; entry data is counted and skipped, so a file of any size costs nothing here. GNU long
//! names (`L`) and PAX `path` records name the entry that follows them; the entry's start offset is then the
//! offset of its first extension header.

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Offset in the stream of the entry's first header (an extension header when there is one).
    pub start: u64,
    /// The path as the archive names it (relative to the extraction directory).
    pub path: String,
    pub is_dir: bool,
}

/// Extension data larger than this is refused: a name of a megabyte is not a real archive.
const EXTENSION_MAX: u64 = 1024 * 1024;
const BLOCK: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Collecting a header block.
    Header,
    /// Collecting the data of an extension header (`kind`), `remaining` bytes of it, then `padding`.
    Extension { kind: u8, remaining: u64, padding: u64 },
    /// Skipping entry data and padding.
    Skip(u64),
    /// After the end-of-archive block: nothing more is read.
    End,
}

/// An incremental reader of tar headers.
#[derive(Debug)]
pub struct TarEntries {
    /// Offset of the next byte fed.
    pos: u64,
    state: State,
    block: Vec<u8>,
    extension: Vec<u8>,
    /// Where the entry being read began (its first header), while its own header is not complete.
    group_start: Option<u64>,
    /// The path given by a GNU long name or a PAX record, for the next entry.
    next_path: Option<String>,
    /// Offset just past the end-of-archive block.
    end_at: Option<u64>,
}

impl Default for TarEntries {
    fn default() -> Self {
        TarEntries {
            pos: 0,
            state: State::Header,
            block: Vec::with_capacity(BLOCK as usize),
            extension: Vec::new(),
            group_start: None,
            next_path: None,
            end_at: None,
        }
    }
}

impl TarEntries {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset of the first byte of an entry whose header is not complete yet (so it cannot be judged).
    pub fn open_entry_start(&self) -> Option<u64> {
        self.group_start
    }

    /// True once the end-of-archive block was read.
    pub fn ended(&self) -> bool {
        self.state == State::End
    }

    /// Reads `data`, the next bytes of the stream; gives the entries whose headers completed in it.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<Vec<TarEntry>, String> {
        let mut entries = Vec::new();
        while !data.is_empty() {
            match self.state.clone() {
                State::End => {
                    self.pos += data.len() as u64;
                    break;
                }
                State::Skip(n) => {
                    let take = n.min(data.len() as u64);
                    self.advance(&mut data, take as usize);
                    self.state = if take == n { State::Header } else { State::Skip(n - take) };
                }
                State::Extension { kind, remaining, padding } => {
                    let take = remaining.min(data.len() as u64) as usize;
                    self.extension.extend_from_slice(&data[..take]);
                    self.advance(&mut data, take);
                    if take as u64 == remaining {
                        self.end_extension(kind);
                        self.state = if padding > 0 { State::Skip(padding) } else { State::Header };
                    } else {
                        self.state = State::Extension { kind, remaining: remaining - take as u64, padding };
                    }
                }
                State::Header => {
                    if self.block.is_empty() && self.group_start.is_none() {
                        self.group_start = Some(self.pos);
                    }
                    let take = (BLOCK as usize - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    self.advance(&mut data, take);
                    if self.block.len() == BLOCK as usize {
                        if let Some(entry) = self.end_header()? {
                            entries.push(entry);
                        }
                    }
                }
            }
        }
        Ok(entries)
    }

    /// Offset just past the end-of-archive block, once it was read.
    pub fn end_offset(&self) -> Option<u64> {
        self.end_at
    }

    /// True between entries: no header, extension or entry data is half read.
    pub fn at_boundary(&self) -> bool {
        match self.state {
            State::End => true,
            State::Header => self.block.is_empty() && self.group_start.is_none(),
            _ => false,
        }
    }

    fn advance(&mut self, data: &mut &[u8], n: usize) {
        self.pos += n as u64;
        *data = &data[n..];
    }

    fn end_header(&mut self) -> Result<Option<TarEntry>, String> {
        let block = std::mem::take(&mut self.block);
        if block.iter().all(|b| *b == 0) {
            self.state = State::End;
            self.end_at = Some(self.pos);
            self.group_start = None;
            return Ok(None);
        }
        let header = tar::Header::from_byte_slice(&block);
        if !checksum_matches(&block) {
            return Err(INVALID_HEADER.to_string());
        }
        let size = header.entry_size().map_err(|e| format!("bad tar header: {e}"))?;
        let padding = size.div_ceil(BLOCK) * BLOCK - size;
        let kind = header.entry_type();
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            if size > EXTENSION_MAX {
                return Err(format!("bad tar header: an extension header of {size} bytes"));
            }
            self.extension.clear();
            self.state = State::Extension { kind: kind.as_byte(), remaining: size, padding };
            if size == 0 {
                self.end_extension(kind.as_byte());
                self.state = State::Header;
            }
            return Ok(None);
        }
        self.state = if size + padding > 0 { State::Skip(size + padding) } else { State::Header };
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            return Ok(None);
        }
        let path = match self.next_path.take() {
            Some(path) => path,
            None => String::from_utf8_lossy(&header.path_bytes()).into_owned(),
        };
        let start = self.group_start.take().unwrap_or(self.pos - BLOCK);
        let is_dir = kind.is_dir() || kind.as_byte() == b'D';
        Ok(Some(TarEntry { start, path, is_dir }))
    }

    fn end_extension(&mut self, kind: u8) {
        let data = std::mem::take(&mut self.extension);
        if kind == b'L' {
            self.next_path = Some(String::from_utf8_lossy(&data).trim_end_matches('\0').to_string());
            return;
        }
        for record in tar::PaxExtensions::new(&data).flatten() {
            if record.key() == Ok("path") {
                if let Ok(path) = record.value() {
                    self.next_path = Some(path.to_string());
                }
            }
        }
    }
}

/// Go's `archive/tar` words for a block that is not a tar header.
const INVALID_HEADER: &str = "archive/tar: invalid tar header";

/// The header checksum: the sum of the block's bytes with the checksum field counted as spaces, as an octal
/// number in that field (signed sums are accepted too, as Go's reader does).
fn checksum_matches(block: &[u8]) -> bool {
    let field = &block[148..156];
    let text = String::from_utf8_lossy(field);
    let Ok(stored) = i64::from_str_radix(text.trim_matches(|c: char| c == ' ' || c == '\0'), 8) else {
        return false;
    };
    let spaces = 8 * i64::from(b' ');
    let rest = || block[..148].iter().chain(&block[156..]);
    let unsigned: i64 = rest().map(|b| i64::from(*b)).sum::<i64>() + spaces;
    let signed: i64 = rest().map(|b| i64::from(*b as i8)).sum::<i64>() + spaces;
    stored == unsigned || stored == signed
}

/// An upload to a directory, checked as it passes, before tar in the container sees it: every header is a tar
/// header and no entry climbs out of the directory. What goes to tar is a whole archive, as Docker reads one: an
/// incomplete header at the end is dropped (Docker ignores it), nothing after the end-of-archive blocks is sent
/// (tar stops reading there, and the upload would wait for a reader that is gone), and the end-of-archive blocks
/// are added when the upload lacks them (an empty upload extracts nothing, as in Docker).
#[derive(Debug)]
pub struct UploadCheck {
    entries: TarEntries,
    dir: String,
    /// Bytes fed so far.
    fed: u64,
    /// Bytes of a header (group) not complete yet, held back.
    held: Vec<u8>,
    /// Bytes given out so far.
    sent: u64,
}

impl UploadCheck {
    pub fn new(dir: &str) -> Self {
        UploadCheck { entries: TarEntries::new(), dir: dir.to_string(), fed: 0, held: Vec::new(), sent: 0 }
    }

    /// Checks the next bytes of the (uncompressed) upload; gives the bytes that may go to tar now. An error says
    /// what is wrong, in Go's words where Docker uses them.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        if self.ended() {
            return Ok(Vec::new());
        }
        for entry in self.entries.feed(data)? {
            crate::files::join_inside(&self.dir, std::path::Path::new(&entry.path)).map_err(|e| e.to_string())?;
        }
        self.fed += data.len() as u64;
        self.held.extend_from_slice(data);
        // Everything up to an incomplete header, or up to the end of the archive (its second zero block too).
        let until = match (self.entries.end_offset(), self.entries.open_entry_start()) {
            (Some(end), _) => (end + BLOCK).min(self.fed),
            (None, Some(open)) => open,
            (None, None) => self.fed,
        };
        let n = until.saturating_sub(self.sent) as usize;
        let out: Vec<u8> = self.held.drain(..n.min(self.held.len())).collect();
        self.sent += out.len() as u64;
        if self.ended() {
            self.held.clear();
        }
        Ok(out)
    }

    /// True once the archive is complete, its end-of-archive blocks included: nothing more goes to tar.
    pub fn ended(&self) -> bool {
        self.entries.end_offset().is_some_and(|end| self.sent >= end + BLOCK)
    }

    /// At the end of the upload: the last bytes for tar (the end-of-archive blocks, when they were not sent). An
    /// archive cut inside an entry's data is refused (Go: "unexpected EOF").
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        if self.ended() {
            return Ok(Vec::new());
        }
        let inside_data = !self.entries.at_boundary() && self.entries.open_entry_start().is_none();
        if inside_data {
            return Err("unexpected EOF".to_string());
        }
        // The end of the archive, or an incomplete header that Docker ignores: the end-of-archive blocks.
        let missing = match self.entries.end_offset() {
            Some(end) => (end + BLOCK).saturating_sub(self.sent),
            None => 2 * BLOCK,
        };
        self.held.clear();
        self.sent += missing;
        Ok(vec![0u8; missing as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap_or_default()
    }

    fn add(builder: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        let _ = builder.append_data(&mut header, path, data);
    }

    fn scan_in_chunks(bytes: &[u8], chunk: usize) -> Vec<TarEntry> {
        let mut scanner = TarEntries::new();
        let mut all = Vec::new();
        for piece in bytes.chunks(chunk) {
            all.extend(scanner.feed(piece).expect("a valid archive"));
        }
        assert!(scanner.ended(), "the end-of-archive block was seen");
        all
    }

    #[test]
    fn entries_are_found_whatever_the_chunk_size() {
        let long = format!("tree/{}/file", "n".repeat(150));
        let bytes = archive(|b| {
            add(b, "tree/", tar::EntryType::Directory, b"");
            add(b, "tree/a", tar::EntryType::Regular, &[7u8; 1300]);
            add(b, &long, tar::EntryType::Regular, b"x");
            add(b, "tree/empty", tar::EntryType::Regular, b"");
        });
        let expected = scan_in_chunks(&bytes, bytes.len());
        let paths: Vec<_> = expected.iter().map(|e| (e.path.as_str(), e.is_dir)).collect();
        assert_eq!(paths, [("tree/", true), ("tree/a", false), (long.as_str(), false), ("tree/empty", false)]);
        assert_eq!(expected[0].start, 0);
        assert_eq!(expected[1].start, 512);
        // 1300 bytes of data take three blocks; the long name's own header and its data come first.
        assert_eq!(expected[2].start, 512 + 512 + 3 * 512);
        for chunk in [1, 7, 511, 512, 513, 4096] {
            assert_eq!(scan_in_chunks(&bytes, chunk), expected, "chunks of {chunk} bytes");
        }
    }

    #[test]
    fn an_entry_whose_header_is_incomplete_is_open_from_its_first_extension_header() {
        let long = format!("{}/x", "d".repeat(120));
        let bytes = archive(|b| add(b, &long, tar::EntryType::Regular, b"1"));
        let mut scanner = TarEntries::new();
        assert_eq!(scanner.feed(&bytes[..700]).expect("valid"), []);
        assert_eq!(scanner.open_entry_start(), Some(0));
        let entries = scanner.feed(&bytes[700..]).expect("valid");
        assert_eq!(entries.len(), 1);
        assert_eq!(scanner.open_entry_start(), None);
    }

    #[test]
    fn pax_paths_name_the_next_entry() {
        let mut pax = Vec::new();
        let record = "path=pax/named\n";
        let line = format!("{} {record}", record.len() + 3);
        pax.extend_from_slice(line.as_bytes());
        let bytes = archive(|b| {
            add(b, "PaxHeaders/x", tar::EntryType::XHeader, &pax);
            add(b, "short", tar::EntryType::Directory, b"");
        });
        let entries = scan_in_chunks(&bytes, 100);
        assert_eq!(entries, [TarEntry { start: 0, path: "pax/named".into(), is_dir: true }]);
    }

    #[test]
    fn a_corrupt_header_is_an_error_not_a_panic() {
        let mut block = vec![b'x'; 512];
        block[124..136].copy_from_slice(b"zzzzzzzzzzz\0");
        assert!(TarEntries::new().feed(&block).is_err());
    }

    /// One header of an empty regular file named `name` as given (the tar crate refuses to write `..`).
    fn raw_entry(name: &str) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(0);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    #[test]
    fn a_block_with_a_wrong_checksum_is_not_a_header() {
        let bytes = archive(|b| add(b, "f", tar::EntryType::Regular, b"1"));
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert_eq!(TarEntries::new().feed(&bad).unwrap_err(), "archive/tar: invalid tar header");
        assert_eq!(TarEntries::new().feed(&[1u8; 3000]).unwrap_err(), "archive/tar: invalid tar header");
    }

    #[test]
    fn an_upload_check_refuses_breakouts_and_cut_archives_and_finds_the_end() {
        let err = UploadCheck::new("/tmp").feed(&raw_entry("../../etc/evil")).unwrap_err();
        assert!(err.contains("is outside of"), "{err}");
        let mut ok = raw_entry("dir/../f");
        ok.extend_from_slice(&[0u8; 1024]);
        let archive = ok.clone();
        // Zeros after the end (a gzip of 20 MiB of zeros, say) are not the archive's.
        ok.extend_from_slice(&[0u8; 4096]);
        let mut check = UploadCheck::new("/tmp");
        let mut sent: Vec<u8> = ok.chunks(700).flat_map(|c| check.feed(c).unwrap()).collect();
        assert!(check.ended());
        sent.extend(check.finish().unwrap());
        assert_eq!(sent, archive);
        let with_data = archive_of_one_file();
        let mut cut = UploadCheck::new("/tmp");
        cut.feed(&with_data[..600]).unwrap();
        assert_eq!(cut.finish().unwrap_err(), "unexpected EOF");
    }

    fn archive_of_one_file() -> Vec<u8> {
        archive(|b| add(b, "f", tar::EntryType::Regular, &[7u8; 1000]))
    }

    #[test]
    fn an_empty_or_unended_upload_becomes_a_whole_archive_and_a_partial_header_is_dropped() {
        let mut empty = UploadCheck::new("/tmp");
        assert_eq!(empty.finish().unwrap(), vec![0u8; 1024]);
        let mut partial = UploadCheck::new("/tmp");
        assert_eq!(partial.feed(b"{").unwrap(), b"", "an incomplete header waits");
        assert_eq!(partial.finish().unwrap(), vec![0u8; 1024], "and is dropped at the end, as Docker");
        let whole = archive_of_one_file();
        let unended = &whole[..512 + 1024];
        let mut check = UploadCheck::new("/tmp");
        let mut sent = check.feed(unended).unwrap();
        sent.extend(check.finish().unwrap());
        assert_eq!(sent, whole[..512 + 1024 + 1024].to_vec());
        assert!(whole[512 + 1024..].iter().all(|b| *b == 0));
    }
}
