//! `knap-index validate`'s check of a large `index.json` in one pass,
//! each entry parsed, checked and dropped in turn ([`check_index_streaming`]),
//! with the exact parse of [`super::check_index_text`] as its fallback.

use super::*;

/// The problems [`check_index_text`] finds, exactly and in its order,
/// without holding the index: each entry is parsed, checked and dropped in
/// turn, and only what the checks across entries need is kept (each
/// entry's ref and version; for [`Compat::Attune`], its dependencies), so
/// that checking a large index costs little more memory than the document
/// itself (`knap-index validate`). A document this cannot read as it goes
/// (not an object with one `packs` list, an entry that does not parse, a
/// repeated key) is left to [`check_index_text`], which locates the error.
pub fn check_index_streaming(text: &str, compat: Compat) -> Problems {
    match stream_index(text, compat) {
        Some(p) => p,
        None => check_index_text(text, compat).1,
    }
}

/// What [`check_index_streaming`] keeps of an entry for the checks across
/// entries of the Attune form.
struct HeldDeps {
    pack_ref: Box<str>,
    version: semver::Version,
    deps: Vec<String>,
}

/// [`check_index_streaming`]'s one pass, `None` where the document is left
/// to the exact parse.
fn stream_index(text: &str, compat: Compat) -> Option<Problems> {
    use serde::Deserializer as _;
    let mut entries = Problems::new();
    let mut list = EntryListCheck::new("$.packs", compat, true, 0);
    let mut held: Vec<HeldDeps> = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let rest = de
        .deserialize_map(StreamTop {
            compat,
            entries: &mut entries,
            list: &mut list,
            held: &mut held,
        })
        .ok()?;
    de.end().ok()?;
    let mut rest = rest;
    rest.insert("packs".into(), Value::Array(vec![]));
    let index: Index = from_json_value(Value::Object(rest)).ok()?;
    // As `validate_index`: the document's own fields, each entry with the
    // checks across entries as they come, the end of the list, then the
    // dependencies of the Attune form.
    let mut p = validate_index(&index, compat);
    p.extend(entries);
    list.finish(&mut p);
    if compat == Compat::Attune {
        let views: Vec<DepsOf<'_>> = held
            .iter()
            .map(|h| DepsOf {
                pack_ref: &h.pack_ref,
                version: &h.version,
                deps: &h.deps,
            })
            .collect();
        dependencies_within(&views, "$.packs", UnmetDependency::Error, &mut p);
    }
    Some(p)
}

/// The top-level object: `packs` checked entry by entry, the rest kept.
struct StreamTop<'s> {
    compat: Compat,
    entries: &'s mut Problems,
    list: &'s mut EntryListCheck,
    held: &'s mut Vec<HeldDeps>,
}

impl<'de> serde::de::Visitor<'de> for StreamTop<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an index (a JSON object)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut rest = Map::new();
        let mut packs = false;
        let Self {
            compat,
            entries,
            list,
            held,
        } = self;
        while let Some(key) = map.next_key::<String>()? {
            if key == "packs" {
                if packs {
                    return Err(A::Error::duplicate_field("packs"));
                }
                packs = true;
                map.next_value_seed(StreamPacks {
                    compat,
                    entries: &mut *entries,
                    list: &mut *list,
                    held: &mut *held,
                })?;
            } else {
                let value: Value = map.next_value()?;
                if rest.insert(key, value).is_some() {
                    return Err(A::Error::custom("a repeated key"));
                }
            }
        }
        if !packs {
            return Err(A::Error::missing_field("packs"));
        }
        Ok(rest)
    }
}

/// The `packs` list, each entry checked and dropped.
struct StreamPacks<'s> {
    compat: Compat,
    entries: &'s mut Problems,
    list: &'s mut EntryListCheck,
    held: &'s mut Vec<HeldDeps>,
}

impl<'de> serde::de::DeserializeSeed<'de> for StreamPacks<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StreamPacks<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut path = String::new();
        let mut i = 0;
        while let Some(e) = seq.next_element::<Entry>()? {
            path.clear();
            {
                use std::fmt::Write;
                let _ = write!(path, "$.packs[{i}]");
            }
            validate_entry(&e, &path, self.compat, self.entries);
            self.list.push(&e.pack_ref, &e.version, self.entries);
            if self.compat == Compat::Attune {
                self.held.push(HeldDeps {
                    pack_ref: e.pack_ref.as_str().into(),
                    version: e.version,
                    deps: e.dependencies.map(|d| d.packs).unwrap_or_default(),
                });
            }
            i += 1;
        }
        Ok(())
    }
}
