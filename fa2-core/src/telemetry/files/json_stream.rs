//! Streaming over one array inside a large top-level JSON object, element by element, so that
//! a 2 GB `filter-log-events` dump never sits in memory as a whole (the parsers put the JSON
//! guard in front, so that no one string does either).

use super::FileError;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;

/// Calls `each` for every element of the array stored under `key` in the top-level object read
/// from `reader`. Other keys are skipped without being kept. An error from `each` stops the
/// stream and is returned as is.
pub(crate) fn for_each_element<R, T, F>(reader: R, key: &str, each: F) -> Result<(), FileError>
where
    R: Read,
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), FileError>,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut state = State {
        each,
        failure: None,
        found: false,
        _t: PhantomData,
    };
    let res = de::Deserializer::deserialize_map(
        &mut de,
        ObjectVisitor {
            key,
            state: &mut state,
        },
    );
    if let Some(f) = state.failure.take() {
        return Err(f);
    }
    res.map_err(json_error)?;
    de.end().map_err(json_error)?;
    if !state.found {
        return Err(FileError::Malformed(format!(
            "no `{key}` array in the JSON object"
        )));
    }
    Ok(())
}

/// Maps serde_json errors to file errors, keeping I/O causes (truncation, the deadline) as I/O.
pub(crate) fn json_error(e: serde_json::Error) -> FileError {
    if e.is_io() {
        return FileError::from(std::io::Error::from(e));
    }
    let text = e.to_string();
    if let Some(at) = text.strip_prefix("recursion limit exceeded") {
        // Valid JSON, just deeper than serde_json's limit: not "broken".
        return FileError::Malformed(format!(
            "JSON nested more than 128 levels deep{at}: fa2 reads at most 128 levels (the records before it were kept)"
        ));
    }
    if e.is_eof() {
        return FileError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            e.to_string(),
        ));
    }
    FileError::Malformed(format!("broken JSON: {e}"))
}

struct State<T, F> {
    each: F,
    failure: Option<FileError>,
    found: bool,
    _t: PhantomData<fn() -> T>,
}

struct ObjectVisitor<'s, T, F> {
    key: &'s str,
    state: &'s mut State<T, F>,
}

impl<'de, T, F> Visitor<'de> for ObjectVisitor<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), FileError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object with a `{}` array", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == self.key && !self.state.found {
                self.state.found = true;
                map.next_value_seed(ArraySeed {
                    state: &mut *self.state,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ArraySeed<'s, T, F> {
    state: &'s mut State<T, F>,
}

impl<'de, T, F> DeserializeSeed<'de> for ArraySeed<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), FileError>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F> Visitor<'de> for ArraySeed<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), FileError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            if let Err(e) = (self.state.each)(item) {
                self.state.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Calls `each` for every JSON document of `reader`: each top-level object, and each element
/// of a top-level array (streamed one by one, never the array as a whole), for a file holding
/// one object, a bare array, or several objects one after another (pretty-printed or not).
/// Returns how many top-level values were neither objects nor arrays (they are not records).
pub(crate) fn for_each_document<R, F>(reader: R, mut each: F) -> Result<u64, FileError>
where
    R: Read,
    F: FnMut(serde_json::Value) -> Result<(), FileError>,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut scalars = 0u64;
    loop {
        let mut doc = DocState {
            each: &mut each,
            failure: None,
            started: false,
            scalar: false,
        };
        let res = de::Deserializer::deserialize_any(&mut de, DocVisitor { state: &mut doc });
        if let Some(f) = doc.failure.take() {
            return Err(f);
        }
        match res {
            Ok(()) => {
                if doc.scalar {
                    scalars += 1;
                }
            }
            // nothing but white space after the last document: the clean end
            Err(e) if e.is_eof() && !doc.started => return Ok(scalars),
            Err(e) => return Err(json_error(e)),
        }
    }
}

struct DocState<'f, F> {
    each: &'f mut F,
    failure: Option<FileError>,
    /// An object or array was begun (an EOF after this is a truncation).
    started: bool,
    scalar: bool,
}

struct DocVisitor<'s, 'f, F> {
    state: &'s mut DocState<'f, F>,
}

impl<'de, F> Visitor<'de> for DocVisitor<'_, '_, F>
where
    F: FnMut(serde_json::Value) -> Result<(), FileError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.state.started = true;
        let v = serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        if let Err(e) = (self.state.each)(v) {
            self.state.failure = Some(e);
            return Err(de::Error::custom("stopped"));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.state.started = true;
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            if let Err(e) = (self.state.each)(item) {
                self.state.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.state.scalar = true;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn streams_elements_and_skips_other_keys() {
        let json = r#"{"nextToken": {"a": [1,2]}, "events": [1, 2, 3], "x": null}"#;
        let mut got = Vec::new();
        for_each_element(json.as_bytes(), "events", |v: u32| {
            got.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[test]
    fn missing_key_and_broken_json_are_errors() {
        let r = for_each_element(r#"{"a": 1}"#.as_bytes(), "events", |_: u32| Ok(()));
        assert!(matches!(r, Err(FileError::Malformed(_))));
        let mut n = 0;
        let r = for_each_element(r#"{"events": [1, 2, "#.as_bytes(), "events", |_: u32| {
            n += 1;
            Ok(())
        });
        assert!(matches!(r, Err(FileError::Io(_))), "{r:?}");
        assert_eq!(n, 2);
        let r = for_each_element(r#"{"events": [1, }"#.as_bytes(), "events", |_: u32| Ok(()));
        assert!(matches!(r, Err(FileError::Malformed(_))));
    }

    #[test]
    fn deep_nesting_is_not_called_broken() {
        let deep = format!(
            r#"{{"events": [1, {}{}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let mut n = 0;
        let r = for_each_element(deep.as_bytes(), "events", |_: serde_json::Value| {
            n += 1;
            Ok(())
        });
        match r {
            Err(FileError::Malformed(m)) => {
                assert!(
                    m.starts_with("JSON nested more than 128 levels deep at line 1"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(n, 1);
    }

    #[test]
    fn callback_error_stops_the_stream() {
        let mut n = 0;
        let r = for_each_element(r#"{"events": [1, 2, 3]}"#.as_bytes(), "events", |_: u32| {
            n += 1;
            if n == 2 {
                Err(FileError::Stopped)
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(FileError::Stopped)));
        assert_eq!(n, 2);
    }
}
