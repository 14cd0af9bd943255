//! Request bodies as moby's Go decoder reads them: keys matched without regard to case, moby's `StrSlice`
//! fields that also take a single string, and the create body's fields that bollard's model no longer has.

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use serde::de::{DeserializeOwned, Visitor};
use serde::Deserializer;
use serde_json::Value;

use crate::TranslateError;

/// Decodes a JSON body into `T`. An empty body is 400 with moby's words for it (runconfig decoder: "invalid JSON:
/// got EOF while reading request body"); malformed JSON or a wrong type is 400 with serde's message.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TranslateError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TranslateError::InvalidParameter("invalid JSON: got EOF while reading request body".to_string()));
    }
    serde_json::from_slice(bytes).map_err(|e| TranslateError::InvalidParameter(format!("invalid JSON: {e}")))
}

/// Decodes a JSON object body into `T` as Go's `encoding/json` does for moby: a top-level key matches `T`'s field
/// without regard to case (docker-py sends `detachKeys` for `DetachKeys`), when no key spells it exactly.
pub fn decode_json_folded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TranslateError> {
    let mut value: serde_json::Value = decode_json(bytes)?;
    fold_keys(&mut value, field_names::<T>());
    serde_json::from_value(value).map_err(|e| TranslateError::InvalidParameter(format!("invalid JSON: {e}")))
}

/// Renames the keys of a JSON object that match one of `fields` only without regard to ASCII case.
pub fn fold_keys(value: &mut serde_json::Value, fields: &[&str]) {
    let serde_json::Value::Object(map) = value else { return };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter(|key| !fields.contains(&key.as_str()))
        .filter_map(|key| fields.iter().find(|f| f.eq_ignore_ascii_case(key)).map(|f| (key.clone(), *f)))
        .collect();
    for (key, field) in renames {
        if let Some(v) = map.remove(&key) {
            map.entry(field.to_string()).or_insert(v);
        }
    }
}

/// The top-level field names of a struct as its `Deserialize` names them (empty for anything else): serde hands
/// them to the deserializer, which here only notes them.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Decodes a create body. moby's `StrSlice` fields (`Cmd`, `Entrypoint`, `Shell`) also take a single string,
/// meaning a one-element list (`"Cmd": "date"`), so those are widened before decoding into bollard's model.
/// `Config.MacAddress` (API < 1.44) is refused: bollard's model no longer has it, so it would be dropped
/// silently, and Kubernetes cannot set a MAC address.
pub fn decode_create_body(bytes: &[u8]) -> Result<ContainerCreateBody, TranslateError> {
    let mut value: Value = decode_json(bytes)?;
    fold_keys(&mut value, field_names::<ContainerCreateBody>());
    if let Some(hc) = value.get_mut("HostConfig") {
        fold_keys(hc, field_names::<HostConfig>());
    }
    if value.get("MacAddress").and_then(Value::as_str).is_some_and(|mac| !mac.is_empty()) {
        return Err(TranslateError::unsupported("MacAddress", "Kubernetes cannot set a container's MAC address"));
    }
    if let Value::Object(map) = &mut value {
        for key in ["Cmd", "Entrypoint", "Shell"] {
            if let Some(Value::String(s)) = map.get(key) {
                let one = Value::Array(vec![Value::String(s.clone())]);
                map.insert(key.to_string(), one);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| TranslateError::InvalidParameter(format!("invalid JSON: {e}")))
}
