//! Reading a [`Change`] by hand. A derived internally tagged enum buffers every field of
//! every change before it looks at `op` — a tenth of lmd's first sync went into that
//! buffering. The feed writes `op` first, so the rest of the object is read straight into
//! its variant; a change whose `op` comes later (another writer) is buffered, and read the
//! same.

use super::Change;
use crate::license::{Assignment, AssignmentId, License, LicenseId};
use crate::member::Member;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Upsert,
    Delete,
    Assign,
    Unassign,
    Member,
    Uninvite,
}

#[derive(Deserialize)]
struct UpsertBody {
    revision: i64,
    license: Box<License>,
}

#[derive(Deserialize)]
struct DeleteBody {
    revision: i64,
    id: LicenseId,
}

#[derive(Deserialize)]
struct AssignBody {
    revision: i64,
    license: LicenseId,
    assignment: Assignment,
}

#[derive(Deserialize)]
struct UnassignBody {
    revision: i64,
    license: LicenseId,
    id: AssignmentId,
}

#[derive(Deserialize)]
struct MemberBody {
    revision: i64,
    member: Box<Member>,
}

#[derive(Deserialize)]
struct UninviteBody {
    revision: i64,
    name: String,
}

impl Op {
    /// The change of this kind whose other fields `rest` holds.
    fn read<'de, D: Deserializer<'de>>(self, rest: D) -> Result<Change, D::Error> {
        Ok(match self {
            Op::Upsert => {
                let UpsertBody { revision, license } = UpsertBody::deserialize(rest)?;
                Change::Upsert { revision, license }
            }
            Op::Delete => {
                let DeleteBody { revision, id } = DeleteBody::deserialize(rest)?;
                Change::Delete { revision, id }
            }
            Op::Assign => {
                let AssignBody {
                    revision,
                    license,
                    assignment,
                } = AssignBody::deserialize(rest)?;
                Change::Assign {
                    revision,
                    license,
                    assignment,
                }
            }
            Op::Unassign => {
                let UnassignBody {
                    revision,
                    license,
                    id,
                } = UnassignBody::deserialize(rest)?;
                Change::Unassign {
                    revision,
                    license,
                    id,
                }
            }
            Op::Member => {
                let MemberBody { revision, member } = MemberBody::deserialize(rest)?;
                Change::Member { revision, member }
            }
            Op::Uninvite => {
                let UninviteBody { revision, name } = UninviteBody::deserialize(rest)?;
                Change::Uninvite { revision, name }
            }
        })
    }
}

/// The first key of a change: `op`, or another (kept, for the buffered reading).
enum FirstKey {
    Op,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;
        impl Visitor<'_> for Key {
            type Value = FirstKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<FirstKey, E> {
                Ok(if key == "op" {
                    FirstKey::Op
                } else {
                    FirstKey::Other(key.to_owned())
                })
            }
        }
        deserializer.deserialize_identifier(Key)
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChangeObject;
        impl<'de> Visitor<'de> for ChangeObject {
            type Value = Change;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a change of the feed: an object with `op`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
                match map.next_key::<FirstKey>()? {
                    Some(FirstKey::Op) => {
                        let op: Op = map.next_value()?;
                        op.read(de::value::MapAccessDeserializer::new(map))
                    }
                    Some(FirstKey::Other(first)) => {
                        let mut fields = serde_json::Map::new();
                        fields.insert(first, map.next_value()?);
                        while let Some((key, value)) = map.next_entry::<String, _>()? {
                            fields.insert(key, value);
                        }
                        let op = fields
                            .remove("op")
                            .ok_or_else(|| de::Error::missing_field("op"))?;
                        let op = Op::deserialize(op).map_err(de::Error::custom)?;
                        op.read(serde_json::Value::Object(fields))
                            .map_err(de::Error::custom)
                    }
                    None => Err(de::Error::missing_field("op")),
                }
            }
        }
        deserializer.deserialize_map(ChangeObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: serde_json::Value) -> Result<Change, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// Every kind reads back as written, `op` first as the feed writes it.
    #[test]
    fn every_change_reads_back_as_written() {
        let written = [
            json!({"op": "delete", "revision": 3, "id": "a"}),
            json!({"op": "unassign", "revision": 4, "license": "a", "id": "x"}),
            json!({"op": "uninvite", "revision": 5, "name": "ann"}),
            json!({"op": "assign", "revision": 6, "license": "a",
                   "assignment": {"id": "x", "employee": "ann", "since": "2026-01-01T00:00:00Z"}}),
        ];
        for value in written {
            let change = read(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&change).unwrap(), value);
            let text = serde_json::to_string(&change).unwrap();
            assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
        }
    }

    /// `op` after other fields reads the same (another writer may order keys otherwise).
    #[test]
    fn op_anywhere_reads_the_same() {
        let later = read(json!({"revision": 5, "name": "ann", "op": "uninvite"})).unwrap();
        let first = read(json!({"op": "uninvite", "revision": 5, "name": "ann"})).unwrap();
        assert_eq!(later, first);
    }

    #[test]
    fn a_bad_change_is_refused_with_what_is_wrong() {
        let unknown = read(json!({"op": "rename", "revision": 1})).unwrap_err();
        assert!(unknown.contains("rename"), "{unknown}");
        let missing = read(json!({"revision": 1})).unwrap_err();
        assert!(missing.contains("op"), "{missing}");
        let field = read(json!({"op": "delete", "revision": 1})).unwrap_err();
        assert!(field.contains("id"), "{field}");
    }
}
