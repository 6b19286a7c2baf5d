//! The format of an archive, from its content alone.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::{ArchiveFormat, ExtractError, io_err};

/// Detects the format of an archive from its content: its first bytes (gzip
/// magic, zip local header magic, `ustar` at 257) and its last (a zip's
/// end of central directory record that ends the file exactly, which is
/// where zip readers look). Content that sniffs as two formats is refused
/// as a polyglot.
pub fn detect_format(archive: &Path) -> Result<ArchiveFormat, ExtractError> {
    let mut file = File::open(archive).map_err(io_err("open", archive))?;
    let head = read_up_to(&mut file, 262).map_err(io_err("read", archive))?;
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io_err("read", archive))?;
    // The EOCD record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))
        .map_err(io_err("read", archive))?;
    let tail = read_up_to(&mut file, tail_len as usize).map_err(io_err("read", archive))?;

    let gz = head.starts_with(&[0x1f, 0x8b]);
    let zip_head = head.starts_with(b"PK\x03\x04");
    let tar = head.len() >= 262 && &head[257..262] == b"ustar";
    let zip_tail = ends_with_zip_directory(&tail);
    let mut found = Vec::new();
    if gz {
        found.push("gzip");
    }
    if tar {
        found.push("tar");
    }
    if zip_head || zip_tail {
        found.push("zip");
    }
    if found.len() > 1 {
        return Err(ExtractError::Polyglot {
            path: archive.to_owned(),
            formats: found.join(" and "),
        });
    }
    if gz {
        Ok(ArchiveFormat::TarGz)
    } else if zip_head {
        Ok(ArchiveFormat::Zip)
    } else if tar {
        Ok(ArchiveFormat::Tar)
    } else {
        Err(ExtractError::UnknownFormat {
            path: archive.to_owned(),
        })
    }
}

fn read_up_to(file: &mut File, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max);
    file.take(max as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// True when `tail` (the file's last bytes) ends with a zip end of central
/// directory record: its signature, then 18 bytes whose comment length
/// reaches exactly the end of the file.
fn ends_with_zip_directory(tail: &[u8]) -> bool {
    (0..tail.len().saturating_sub(21)).rev().any(|i| {
        tail[i..].starts_with(b"PK\x05\x06") && {
            let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
            i + 22 + comment == tail.len()
        }
    })
}
