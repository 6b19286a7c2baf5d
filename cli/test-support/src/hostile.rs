//! The archives a pack install must refuse, in one catalogue: the
//! installer's extraction tests check each refusal by its typed error, and
//! the `knap` binary's tests check each end to end (exit 4, the reason on
//! stderr, the installed version and everything around it untouched).
//!
//! Every archive carries the caller's `pack.yaml` as its first entry (but
//! the polyglot, whose first bytes are the attack), so that only the attack
//! can be the reason for a refusal. Payloads aim out of the extraction
//! directory at `../sentinel` and at `/tmp/knap-hostile-pwned`, which a
//! test can check afterwards.

use std::io::{self, Read, Write};

use tar::{EntryType, Header};
use zip::write::SimpleFileOptions;

use crate::archive::{
    file, gnu_long_name, gz, lie_about_zip_size, pax, raw_entry, rename_in, tar_of, zip_files,
    zip_of,
};

/// Why an archive is refused: the class of the installer's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AbsolutePath,
    ParentComponent,
    /// A path that cannot be used: not UTF-8, a directory name over file
    /// data, ...
    BadPath,
    DotGit,
    ControlCharacter,
    NameTooLong,
    TooDeep,
    Polyglot,
    Symlink,
    HardLink,
    /// A device, a FIFO, a sparse file.
    SpecialFile,
    TooManyEntries,
    TooLarge,
    SizeMismatch,
    Duplicate,
}

/// One hostile archive.
#[derive(Debug, Clone)]
pub struct HostileArchive {
    /// What the attack is.
    pub name: String,
    pub bytes: Vec<u8>,
    pub refusal: Refusal,
    /// The entry the refusal names, as knap shows it (escaped), when the
    /// case pins it.
    pub entry: Option<String>,
    /// Words the refusal's message holds.
    pub reason: String,
    /// The limits it is refused under, (total bytes, entries); `None`: the
    /// defaults (1 GiB, 100,000 entries).
    pub limits: Option<(u64, u64)>,
    /// A plain tar: refused the same when gzipped.
    pub tar: bool,
}

/// A path outside the extraction directory and its root's private area,
/// where a test may keep a sentinel.
pub const OUTSIDE_ABSOLUTE: &str = "/tmp/knap-hostile-pwned";

struct Builder {
    manifest: Vec<u8>,
    out: Vec<HostileArchive>,
}

impl Builder {
    fn case(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        refusal: Refusal,
        entry: Option<&str>,
        reason: &str,
    ) -> &mut HostileArchive {
        self.out.push(HostileArchive {
            name: name.to_owned(),
            bytes,
            refusal,
            entry: entry.map(str::to_owned),
            reason: reason.to_owned(),
            limits: None,
            tar: false,
        });
        self.out.last_mut().expect("just pushed")
    }

    /// A tar of the manifest, then `f`'s entries.
    fn tar(&self, f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        tar_of(|b| {
            file(b, "pack.yaml", &self.manifest);
            f(b);
        })
    }

    fn tar_case(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut tar::Builder<Vec<u8>>),
        refusal: Refusal,
        entry: Option<&str>,
        reason: &str,
    ) -> &mut HostileArchive {
        let bytes = self.tar(f);
        let c = self.case(name, bytes, refusal, entry, reason);
        c.tar = true;
        c
    }

    /// A zip of the manifest, then `f`'s entries.
    fn zip(&self, f: impl FnOnce(&mut zip::ZipWriter<io::Cursor<Vec<u8>>>)) -> Vec<u8> {
        zip_of(|w| {
            w.start_file("pack.yaml", SimpleFileOptions::default())
                .unwrap();
            w.write_all(&self.manifest).unwrap();
            f(w);
        })
    }
}

/// Every hostile archive, each starting with `manifest` as `pack.yaml`.
pub fn archives(manifest: &[u8]) -> Vec<HostileArchive> {
    use Refusal::*;
    let m = manifest.len() as u64;
    let mut c = Builder {
        manifest: manifest.to_vec(),
        out: Vec::new(),
    };

    // Paths that leave the pack.
    c.tar_case(
        "tar absolute path",
        |b| file(b, OUTSIDE_ABSOLUTE, b"x"),
        AbsolutePath,
        Some(OUTSIDE_ABSOLUTE),
        "absolute path",
    );
    c.tar_case(
        "tar ../",
        |b| file(b, "../sentinel/pwned", b"x"),
        ParentComponent,
        Some("../sentinel/pwned"),
        "`..`",
    );
    c.tar_case(
        "tar a/../../",
        |b| {
            file(b, "a/ok", b"fine");
            file(b, "a/../../sentinel/pwned", b"x");
        },
        ParentComponent,
        Some("a/../../sentinel/pwned"),
        "`..`",
    );
    c.tar_case(
        "PAX path ../ overriding an innocent name",
        |b| {
            pax(b, &[("path", "../sentinel/pwned")]);
            file(b, "innocent", b"x");
        },
        ParentComponent,
        Some("../sentinel/pwned"),
        "`..`",
    );
    c.tar_case(
        "GNU long name with ../",
        |b| {
            gnu_long_name(b, b"actions/../../../sentinel/pwned");
            file(b, "innocent", b"x");
        },
        ParentComponent,
        Some("actions/../../../sentinel/pwned"),
        "`..`",
    );
    c.tar_case(
        "ustar prefix ../",
        |b| {
            let mut h = Header::new_ustar();
            {
                let u = h.as_ustar_mut().unwrap();
                u.prefix[..11].copy_from_slice(b"../sentinel");
                u.name[..5].copy_from_slice(b"pwned");
            }
            h.set_entry_type(EntryType::Regular);
            h.set_size(1);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, b"x".as_slice()).unwrap();
        },
        ParentComponent,
        Some("../sentinel/pwned"),
        "`..`",
    );
    let zip = c.zip(|w| {
        w.start_file("../sentinel/pwned", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
    });
    c.case(
        "zip ../",
        zip,
        ParentComponent,
        Some("../sentinel/pwned"),
        "`..`",
    );
    let zip = c.zip(|w| {
        w.start_file("/abs", SimpleFileOptions::default()).unwrap();
        w.write_all(b"x").unwrap();
    });
    c.case(
        "zip absolute path",
        zip,
        AbsolutePath,
        Some("/abs"),
        "absolute path",
    );

    // Links, devices and other non-files.
    c.tar_case(
        "tar symlink, then a write through it",
        |b| {
            raw_entry(b, b"out", EntryType::Symlink, b"../../sentinel", b"");
            file(b, "out/pwned", b"x");
        },
        Symlink,
        Some("out"),
        "symbolic link",
    );
    c.tar_case(
        "PAX linkpath on a symlink",
        |b| {
            pax(b, &[("linkpath", "../../sentinel")]);
            raw_entry(b, b"link", EntryType::Symlink, b"x", b"");
        },
        Symlink,
        Some("link"),
        "symbolic link",
    );
    let zip = c.zip(|w| {
        w.add_symlink("link", "/etc", SimpleFileOptions::default())
            .unwrap();
    });
    c.case("zip symlink", zip, Symlink, Some("link"), "symbolic link");
    c.tar_case(
        "tar hard link",
        |b| raw_entry(b, b"hl", EntryType::Link, b"../sentinel/keep.txt", b""),
        HardLink,
        Some("hl"),
        "hard link",
    );
    c.tar_case(
        "tar character device",
        |b| raw_entry(b, b"null", EntryType::Char, b"", b""),
        SpecialFile,
        Some("null"),
        "character device",
    );
    c.tar_case(
        "tar FIFO",
        |b| raw_entry(b, b"fifo", EntryType::Fifo, b"", b""),
        SpecialFile,
        Some("fifo"),
        "FIFO",
    );
    c.tar_case(
        "PAX sparse file (GNU.sparse 1.0)",
        |b| {
            pax(
                b,
                &[
                    ("GNU.sparse.major", "1"),
                    ("GNU.sparse.minor", "0"),
                    ("GNU.sparse.name", "actions/big.bin"),
                    ("GNU.sparse.realsize", "1073741824"),
                ],
            );
            file(b, "GNUSparseFile.0/big.bin", b"1\n0\n512\n");
        },
        SpecialFile,
        None,
        "sparse",
    );

    // Names a pack may not hold.
    for name in [
        ".git/config",
        "actions/.GIT/config",
        ".Git./hooks/post-checkout",
        "deep/er/.git /config",
    ] {
        c.tar_case(
            &format!("tar {name:?}"),
            |b| file(b, name, b"[core]\n\tfsmonitor = touch ../sentinel/pwned\n"),
            DotGit,
            Some(name),
            ".git",
        );
    }
    c.tar_case(
        "tar `.Git.` directory entry",
        |b| raw_entry(b, b".Git./", EntryType::Directory, b"", b""),
        DotGit,
        None,
        ".git",
    );
    let zip = c.zip(|w| {
        w.start_file(".git/hooks/post-checkout", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"#!/bin/sh\n").unwrap();
    });
    c.case(
        "zip .git/hooks/post-checkout",
        zip,
        DotGit,
        Some(".git/hooks/post-checkout"),
        ".git",
    );
    c.tar_case(
        "tar name with terminal escapes and line breaks",
        |b| {
            file(
                b,
                "a\x1b[2J\x1b]0;owned\x07\nINJECTED: all good\r.txt",
                b"x",
            )
        },
        ControlCharacter,
        Some(r"a\u{1b}[2J\u{1b}]0;owned\u{7}\nINJECTED: all good\r.txt"),
        "control character",
    );
    let zip = c.zip(|w| {
        w.start_file("a\u{9b}31m", SimpleFileOptions::default())
            .unwrap();
    });
    c.case(
        "zip name with a C1 control (CSI)",
        zip,
        ControlCharacter,
        Some(r"a\u{9b}31m"),
        "control character",
    );
    c.tar_case(
        "tar non-UTF-8 name",
        |b| raw_entry(b, b"bad\xff", EntryType::Regular, b"", b"x"),
        BadPath,
        Some(r"bad\xff"),
        "UTF-8",
    );
    c.tar_case(
        "GNU long name with a 300-byte component",
        |b| {
            gnu_long_name(b, "n".repeat(300).as_bytes());
            file(b, "placeholder", b"x");
        },
        NameTooLong,
        None,
        "longer than 255 bytes",
    );
    let deep = format!("{}f", "d/".repeat(300));
    c.tar_case(
        "PAX path 300 directories deep",
        |b| {
            pax(b, &[("path", &deep)]);
            file(b, "placeholder", b"x");
        },
        TooDeep,
        None,
        "nested deeper",
    );
    let zip = c.zip(|w| {
        w.start_file("actions/", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"hidden bytes").unwrap();
    });
    c.case(
        "zip entry named as a directory but holding data",
        zip,
        BadPath,
        Some("actions/"),
        "says directory",
    );

    // Two readers, two packs.
    c.tar_case(
        "tar duplicate pack.yaml",
        |b| file(b, "pack.yaml", b"ref: evil\n"),
        Duplicate,
        Some("pack.yaml"),
        "clashes",
    );
    c.tar_case(
        "tar file under a file",
        |b| {
            file(b, "a", b"1");
            file(b, "a/b", b"2");
        },
        Duplicate,
        Some("a/b"),
        "clashes",
    );
    let zip = rename_in(
        c.zip(|w| {
            w.start_file("README.md", SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"honest\n").unwrap();
            w.start_file("README.mX", SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"the one that would win\n").unwrap();
        }),
        b"README.mX",
        b"README.md",
    );
    c.case(
        "zip listing a name twice",
        zip,
        Duplicate,
        Some("README.md"),
        "clashes",
    );
    // The tar half starts with the zip magic; the zip half ends the file.
    let mut polyglot = tar_of(|b| {
        raw_entry(b, b"PK\x03\x04tar-half", EntryType::Regular, b"", b"t");
        file(b, "pack.yaml", manifest);
    });
    polyglot.extend(zip_files(&[
        ("pack.yaml", manifest),
        ("actions/zip-half.sh", b"#!/bin/sh\n"),
    ]));
    c.case("tar/zip polyglot", polyglot, Polyglot, None, "polyglot");

    // Bombs and limits. Totals are counted from the manifest's size on, so
    // that each case is refused at the entry it names.
    let bomb = gz(&c.tar(|b| {
        let mut h = Header::new_ustar();
        h.set_path("zeros").unwrap();
        h.set_size(64 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, io::repeat(0).take(64 << 20)).unwrap();
    }));
    c.case(
        "tar.gz bomb: 64 MiB of zeros in a small file",
        bomb,
        TooLarge,
        Some("zeros"),
        "limit",
    )
    .limits = Some((1 << 20, 100));
    let claim = gz(&c.tar(|b| {
        let mut h = Header::new_ustar();
        h.set_path("huge").unwrap();
        h.set_size(2 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        // The header claims 2 GiB; the stream holds a little.
        b.get_mut().extend_from_slice(h.as_bytes());
        b.get_mut().extend_from_slice(&[0u8; 4096]);
    }));
    c.case(
        "tar.gz claiming 2 GiB",
        claim,
        TooLarge,
        Some("huge"),
        "limit",
    )
    .limits = Some((1 << 20, 100));
    c.tar_case(
        "tar too large in total",
        |b| {
            for i in 0..3 {
                file(b, &format!("f{i}"), &[7u8; 400]);
            }
        },
        TooLarge,
        Some("f2"),
        &format!("limit of {} bytes", m + 1000),
    )
    .limits = Some((m + 1000, 100));
    c.tar_case(
        "tar too many entries",
        |b| {
            for i in 0..20 {
                file(b, &format!("f{i:02}"), b"x");
            }
        },
        TooManyEntries,
        Some("f09"),
        "more than 10 entries",
    )
    .limits = Some((1 << 20, 10));
    let zip = lie_about_zip_size(
        c.zip(|w| {
            w.start_file("bomb", SimpleFileOptions::default()).unwrap();
            w.write_all(&[0u8; 100_000]).unwrap();
        }),
        "bomb",
        100,
    );
    c.case(
        "zip whose declared size lies (deflated)",
        zip,
        SizeMismatch,
        Some("bomb"),
        "100 bytes",
    );
    let zip = c.zip(|w| {
        w.start_file("big", SimpleFileOptions::default()).unwrap();
        w.write_all(&[1u8; 5000]).unwrap();
    });
    c.case(
        "zip declaring more than the limit",
        zip,
        TooLarge,
        Some("big"),
        &format!("limit of {} bytes", m + 1000),
    )
    .limits = Some((m + 1000, 100));
    let zip = c.zip(|w| {
        for i in 0..5 {
            w.start_file(format!("f{i}"), SimpleFileOptions::default())
                .unwrap();
        }
    });
    c.case(
        "zip too many entries",
        zip,
        TooManyEntries,
        Some("f2"),
        "more than 3 entries",
    )
    .limits = Some((m + 1000, 3));
    c.out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    /// The name of the first entry of a tar, tar.gz or zip.
    fn first_name(bytes: &[u8]) -> String {
        if bytes.starts_with(b"PK\x03\x04") {
            let len = u16::from_le_bytes([bytes[26], bytes[27]]) as usize;
            return String::from_utf8_lossy(&bytes[30..30 + len]).into_owned();
        }
        let mut head = vec![0u8; 100];
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(bytes)
                .read_exact(&mut head)
                .unwrap();
        } else {
            head.copy_from_slice(&bytes[..100]);
        }
        let end = head.iter().position(|b| *b == 0).unwrap_or(100);
        String::from_utf8_lossy(&head[..end]).into_owned()
    }

    #[test]
    fn every_case_starts_with_the_manifest_and_has_a_name_of_its_own() {
        let cases = super::archives(b"ref: victim\nversion: 2.0.0\n");
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "names repeat");
        for c in &cases {
            if c.refusal != super::Refusal::Polyglot {
                assert_eq!(first_name(&c.bytes), "pack.yaml", "{}", c.name);
            }
        }
    }
}
