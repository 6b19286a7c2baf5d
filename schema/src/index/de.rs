//! `Deserialize` for the index types, written by hand: known keys go
//! straight into their fields, every other key into the struct's `extra`
//! map (as a `serde_json::Value`, in document order), so nothing is
//! buffered and each string is allocated once. The rules are those the
//! derived code had: a missing required field, a duplicate known field and
//! a value of the wrong type are errors; a repeated unknown key keeps its
//! last value. Errors are raised inside the offending value, so
//! `serde_path_to_error` reports its full JSON path.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    ArchiveSource, Component, Contents, Dependencies, Entry, GitSource, Index, InstallSource,
};
use crate::ident::PackRef;
use crate::manifest::check_version;

/// Reads an entry's `version`: a SemVer 2.0 string, or an error raised
/// inside the value (so its JSON path ends in `.version`) that names
/// the entry's ref when it came before.
struct VersionOf<'a>(Option<&'a str>);

impl<'de> DeserializeSeed<'de> for VersionOf<'_> {
    type Value = semver::Version;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<semver::Version, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for VersionOf<'_> {
    type Value = semver::Version;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SemVer 2.0 version string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<semver::Version, E> {
        check_version(v).map_err(|m| match self.0 {
            Some(r) => E::custom(format_args!("version of `{r}`: {m}")),
            None => E::custom(m),
        })
    }
}

/// A map key, borrowed from the input when the input allows it.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Reads the value of a known key into its slot; a second occurrence is
/// an error.
fn set<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

/// `Deserialize` for a struct with `required` fields (an error when
/// absent), `optional` fields (their `Default` when absent) and a map
/// that receives every other key. Each field is named with its JSON key.
macro_rules! keeping_unknown_keys {
    (
        $ty:ident, $expecting:literal, unknown: $extra:ident,
        required { $($req:ident: $rkey:literal),* $(,)? }
        $(seeded { $($sd:ident: $skey:literal => $seed:expr),* $(,)? })?
        optional { $($opt:ident: $okey:literal),* $(,)? }
    ) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct StructVisitor;
                impl<'de> Visitor<'de> for StructVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $req = None;)*
                        $($(let mut $sd = None;)*)?
                        $(let mut $opt = None;)*
                        let mut $extra = Map::new();
                        while let Some(key) = map.next_key::<Key<'de>>()? {
                            match key.as_str() {
                                $($rkey => set(&mut $req, $rkey, &mut map)?,)*
                                $($($skey => {
                                    if $sd.is_some() {
                                        return Err(de::Error::duplicate_field($skey));
                                    }
                                    $sd = Some(map.next_value_seed($seed)?);
                                })*)?
                                $($okey => set(&mut $opt, $okey, &mut map)?,)*
                                _ => {
                                    let value: Value = map.next_value()?;
                                    $extra.insert(key.into_string(), value);
                                }
                            }
                        }
                        Ok($ty {
                            $($req: required($req, $rkey)?,)*
                            $($($sd: required($sd, $skey)?,)*)?
                            $($opt: $opt.unwrap_or_default(),)*
                            $extra,
                        })
                    }
                }
                d.deserialize_map(StructVisitor)
            }
        }
    };
}

keeping_unknown_keys! {
    Index, "an index (a JSON object)", unknown: extra,
    required {
        registry_name: "registry_name",
        registry_url: "registry_url",
        version: "version",
        last_updated: "last_updated",
        packs: "packs",
    }
    optional {}
}

keeping_unknown_keys! {
    Entry, "an index entry (a JSON object)", unknown: extra,
    required {
        pack_ref: "ref",
        label: "label",
        description: "description",
        author: "author",
        license: "license",
        keywords: "keywords",
        runtime_deps: "runtime_deps",
        install_sources: "install_sources",
        contents: "contents",
    }
    seeded {
        version: "version" => VersionOf(pack_ref.as_ref().map(|r: &PackRef| r.as_str())),
    }
    optional {
        email: "email",
        homepage: "homepage",
        repository: "repository",
        use_case: "use_case",
        dependencies: "dependencies",
        yanked: "yanked",
        meta: "meta",
    }
}

keeping_unknown_keys! {
    GitSource, "a git install source (a JSON object)", unknown: extra,
    required { url: "url", git_ref: "ref", checksum: "checksum" }
    optional {}
}

keeping_unknown_keys! {
    ArchiveSource, "an archive install source (a JSON object)", unknown: extra,
    required { url: "url", checksum: "checksum" }
    optional {}
}

keeping_unknown_keys! {
    Dependencies, "dependencies (a JSON object)", unknown: versions,
    required {}
    optional { packs: "packs" }
}

keeping_unknown_keys! {
    Contents, "contents (a JSON object)", unknown: extra,
    required {}
    optional {
        actions: "actions",
        sensors: "sensors",
        triggers: "triggers",
        rules: "rules",
        workflows: "workflows",
    }
}

keeping_unknown_keys! {
    Component, "a component (a JSON object)", unknown: extra,
    required { name: "name", description: "description" }
    optional {}
}

/// The `type` of an install source.
#[derive(Clone, Copy)]
enum SourceType {
    Git,
    Archive,
}

const SOURCE_TYPES: &[&str] = &["git", "archive"];

impl<'de> Deserialize<'de> for SourceType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl Visitor<'_> for TypeVisitor {
            type Value = SourceType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`git` or `archive`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SourceType, E> {
                match v {
                    "git" => Ok(SourceType::Git),
                    "archive" => Ok(SourceType::Archive),
                    other => Err(E::unknown_variant(other, SOURCE_TYPES)),
                }
            }
        }
        d.deserialize_str(TypeVisitor)
    }
}

/// An install source: a map whose `type` says which. `ref` is the
/// commit of a git source and an unknown key of an archive source; when
/// it comes before `type` it is held among the unknown keys until the
/// type is known.
impl<'de> Deserialize<'de> for InstallSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = InstallSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an install source (a JSON object with a `type`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InstallSource, A::Error> {
                let mut kind: Option<SourceType> = None;
                let mut url: Option<String> = None;
                let mut git_ref: Option<String> = None;
                let mut checksum: Option<String> = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match (key.as_str(), kind) {
                        ("type", _) => set(&mut kind, "type", &mut map)?,
                        ("url", _) => set(&mut url, "url", &mut map)?,
                        ("checksum", _) => set(&mut checksum, "checksum", &mut map)?,
                        ("ref", Some(SourceType::Git)) => set(&mut git_ref, "ref", &mut map)?,
                        _ => {
                            let value: Value = map.next_value()?;
                            extra.insert(key.into_string(), value);
                        }
                    }
                }
                match required(kind, "type")? {
                    SourceType::Git => {
                        if let Some(early) = extra.shift_remove("ref") {
                            if git_ref.is_some() {
                                return Err(de::Error::duplicate_field("ref"));
                            }
                            git_ref = Some(
                                String::deserialize(early)
                                    .map_err(|e| de::Error::custom(format_args!("ref: {e}")))?,
                            );
                        }
                        Ok(InstallSource::Git(GitSource {
                            url: required(url, "url")?,
                            git_ref: required(git_ref, "ref")?,
                            checksum: required(checksum, "checksum")?,
                            extra,
                        }))
                    }
                    SourceType::Archive => Ok(InstallSource::Archive(ArchiveSource {
                        url: required(url, "url")?,
                        checksum: required(checksum, "checksum")?,
                        extra,
                    })),
                }
            }
        }
        d.deserialize_map(SourceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::index::*;
    use crate::json::{ParseError, from_json_str, from_json_value};

    fn entry_json() -> Value {
        json!({
            "x-first": {"nested": [1, "two", null]},
            "ref": "core", "label": "Core", "description": "d", "version": "1.0.0",
            "author": "a", "license": "MIT", "keywords": ["k"], "runtime_deps": [],
            "install_sources": [
                {"type": "git", "url": "https://example.org/c.git",
                 "ref": "0123456789abcdef0123456789abcdef01234567",
                 "checksum": format!("sha256:{}", "0".repeat(64)), "x-mirror": "m"},
                {"x-before-type": 1, "ref": "v1", "type": "archive",
                 "url": "c.tgz", "checksum": format!("sha256:{}", "1".repeat(64))},
            ],
            "dependencies": {"packs": ["base@^1"], "python_version": ">=3.8", "x-dep": true},
            "contents": {"actions": [{"name": "run", "description": "", "x-c": 2}], "x-contents": []},
            "meta": {"b": 1, "a": 2},
            "x-last": "kept",
        })
    }

    /// The keys of every object in `v`, in order, with their paths.
    fn key_order(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(format!("{path}.{k}"));
                    key_order(v, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    key_order(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn unknown_fields_survive_a_round_trip_at_every_level_in_document_order() {
        let doc = entry_json();
        let e: Entry = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(e.extra.keys().collect::<Vec<_>>(), ["x-first", "x-last"]);
        assert_eq!(e.extra["x-first"], json!({"nested": [1, "two", null]}));
        let InstallSource::Git(g) = &e.install_sources[0] else {
            panic!("a git source")
        };
        assert_eq!(g.git_ref, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(g.extra["x-mirror"], "m");
        let InstallSource::Archive(a) = &e.install_sources[1] else {
            panic!("an archive source")
        };
        // `ref` is not an archive field: kept where it was among the unknown keys.
        assert_eq!(a.extra.keys().collect::<Vec<_>>(), ["x-before-type", "ref"]);
        let d = e.dependencies.as_ref().unwrap();
        assert_eq!(d.packs, ["base@^1"]);
        assert_eq!(
            d.versions.keys().collect::<Vec<_>>(),
            ["python_version", "x-dep"]
        );
        assert_eq!(e.contents.extra["x-contents"], json!([]));
        assert_eq!(e.contents.actions[0].extra["x-c"], 2);

        // Written and read again: the same value, and the unknown keys of
        // each object in the order they were read (after the known ones).
        let written = serde_json::to_value(&e).unwrap();
        let again: Entry = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(again, e);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        key_order(&serde_json::to_value(&again).unwrap(), "$", &mut after);
        key_order(&written, "$", &mut before);
        assert_eq!(before, after);
        for (k, v) in doc.as_object().unwrap() {
            if k != "contents" {
                assert_eq!(&written[k], v, "{k}");
            }
        }
    }

    #[test]
    fn reading_text_and_reading_a_value_agree() {
        let doc = entry_json();
        let from_text: Entry = from_json_str(&doc.to_string()).unwrap();
        let from_value: Entry = from_json_value(doc).unwrap();
        assert_eq!(from_text, from_value);
    }

    #[test]
    fn a_git_ref_before_the_type_is_the_commit() {
        let mut doc = entry_json();
        doc["install_sources"][0] = json!({
            "ref": "0123456789abcdef0123456789abcdef01234567", "x": 1, "type": "git",
            "url": "u", "checksum": "c"});
        let e: Entry = serde_json::from_value(doc.clone()).unwrap();
        let InstallSource::Git(g) = &e.install_sources[0] else {
            panic!("a git source")
        };
        assert_eq!(g.git_ref, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(g.extra.keys().collect::<Vec<_>>(), ["x"]);
        doc["install_sources"][0]["ref"] = json!(7);
        let err = from_json_str::<Entry>(&doc.to_string()).unwrap_err();
        assert_eq!(err.path, "$.install_sources[0]");
        assert!(err.message.contains("expected a string"), "{err}");
    }

    /// The error of `doc` with `change` applied, read as an index.
    fn index_error(change: fn(&mut Value)) -> ParseError {
        let mut e = entry_json();
        change(&mut e);
        let doc = json!({
            "registry_name": "r", "registry_url": "https://example.org/",
            "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": [e],
        });
        from_json_str::<Index>(&doc.to_string()).unwrap_err()
    }

    #[test]
    fn errors_name_the_json_path_of_the_offending_value() {
        // (change to the entry, path of the error, part of its message)
        type Case = (fn(&mut Value), &'static str, &'static str);
        let cases: [Case; 10] = [
            (
                |e| e["keywords"] = json!("k"),
                "$.packs[0].keywords",
                "expected a sequence",
            ),
            (
                |e| e["install_sources"][0]["url"] = json!(5),
                "$.packs[0].install_sources[0].url",
                "expected a string",
            ),
            (
                |e| e["install_sources"][0]["type"] = json!("svn"),
                "$.packs[0].install_sources[0].type",
                "unknown variant `svn`, expected `git` or `archive`",
            ),
            (
                |e| {
                    e["install_sources"][1]
                        .as_object_mut()
                        .unwrap()
                        .remove("type");
                },
                "$.packs[0].install_sources[1]",
                "missing field `type`",
            ),
            (
                |e| {
                    e["install_sources"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("ref");
                },
                "$.packs[0].install_sources[0]",
                "missing field `ref`",
            ),
            (
                |e| e["contents"]["actions"][0]["name"] = json!(1),
                "$.packs[0].contents.actions[0].name",
                "expected a string",
            ),
            (
                |e| e["dependencies"]["packs"] = json!("base"),
                "$.packs[0].dependencies.packs",
                "expected a sequence",
            ),
            (
                |e| {
                    e.as_object_mut().unwrap().remove("label");
                },
                "$.packs[0]",
                "missing field `label`",
            ),
            (
                |e| e["yanked"] = json!("yes"),
                "$.packs[0].yanked",
                "expected a boolean",
            ),
            (
                |e| e["contents"] = json!([]),
                "$.packs[0].contents",
                "invalid type: sequence",
            ),
        ];
        for (change, path, message) in cases {
            let err = index_error(change);
            assert_eq!(err.path, path, "{err}");
            assert!(err.message.contains(message), "{err}");
        }
    }

    #[test]
    fn an_invalid_version_or_ref_is_refused_where_it_is_read_naming_the_entry() {
        let err = index_error(|e| e["version"] = json!("1.0"));
        assert_eq!(err.path, "$.packs[0].version", "{err}");
        assert!(
            err.message.contains("version of `core`: `1.0` has 2 parts"),
            "{err}"
        );
        let err = index_error(|e| e["version"] = json!("v1.0.0"));
        assert_eq!(err.path, "$.packs[0].version", "{err}");
        assert!(err.message.contains("`core`"), "{err}");
        let err = index_error(|e| e["version"] = json!(1));
        assert_eq!(err.path, "$.packs[0].version", "{err}");
        let err = index_error(|e| e["ref"] = json!("../etc"));
        assert_eq!(err.path, "$.packs[0].ref", "{err}");
        assert!(err.message.contains("invalid pack ref"), "{err}");
    }

    #[test]
    fn ref_and_version_are_written_as_they_were_read() {
        let mut doc = entry_json();
        doc["version"] = json!("1.2.3-rc.1+build.5");
        let e: Entry = from_json_value(doc.clone()).unwrap();
        assert_eq!(
            e.version,
            semver::Version::parse("1.2.3-rc.1+build.5").unwrap()
        );
        let written = serde_json::to_value(&e).unwrap();
        assert_eq!(written["version"], doc["version"]);
        assert_eq!(written["ref"], doc["ref"]);
    }

    #[test]
    fn a_repeated_known_key_is_an_error_and_a_repeated_unknown_key_keeps_the_last() {
        let text = r#"{"registry_name": "r", "registry_url": "u", "version": "1.0",
            "last_updated": "t", "packs": [], "x": 1, "x": 2}"#;
        let i: Index = from_json_str(text).unwrap();
        assert_eq!(i.extra["x"], 2);
        let text = text.replace(r#""x": 1"#, r#""packs": []"#);
        let err = from_json_str::<Index>(&text).unwrap_err();
        assert!(err.message.contains("duplicate field `packs`"), "{err}");
    }

    #[test]
    fn absent_optional_fields_take_their_defaults_and_null_is_none() {
        let mut doc = entry_json();
        let m = doc.as_object_mut().unwrap();
        for k in ["dependencies", "meta"] {
            m.remove(k);
        }
        m.insert("email".into(), Value::Null);
        m.insert("contents".into(), json!({}));
        let e: Entry = serde_json::from_value(doc).unwrap();
        assert_eq!(e.email, None);
        assert_eq!(e.dependencies, None);
        assert!(!e.yanked);
        assert_eq!(e.contents, Contents::default());
    }
}
