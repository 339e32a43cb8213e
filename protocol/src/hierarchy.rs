//! Organisational units and seat licensing: the Hierarchy Provider contract (levels and a
//! user's memberships), products and the permissions they grant, purchases of seat licenses
//! for units, and the answer of a permission check.

use crate::license::{HierarchyName, LicenseId, ProductEid};
use crate::problem::FieldError;
use crate::text::{identifier, printable, validated_string};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

validated_string!(
    /// A permission a product grants, e.g. `full_access` or `book:fractions:read`.
    Permission, "a permission", 200, false, identifier
);
validated_string!(
    /// A product's human name.
    ProductName, "a product name", 200, false, printable
);
validated_string!(
    /// An entity's name people recognize, e.g. "Class 4b"; may be empty.
    EntityName, "an entity name", 200, true, printable
);
validated_string!(
    /// What a product is, for people; may be empty.
    ProductDescription, "a description", 2_000, true, printable
);

/// The levels of a hierarchy by name: members are level 0, the units above them count up,
/// e.g. `{"student": 0, "teacher": 0, "class": 1, "school": 2}`.
pub type Levels = BTreeMap<HierarchyName, u32>;

/// An entity of the hierarchy: its type (a level's name) and its external id. Written
/// `(type)(eid)` on the wire, e.g. `(class)(344)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: HierarchyName,
    pub eid: HierarchyName,
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})({})", self.kind, self.eid)
    }
}

impl std::str::FromStr for EntityRef {
    type Err = FieldError;

    /// Reads `(type)(eid)`. The eid may itself hold parentheses; the type may not.
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("", format!("`{s}` is not an entity: write (type)(eid)"));
        let rest = s.strip_prefix('(').ok_or_else(bad)?;
        let (kind, rest) = rest.split_once(")(").ok_or_else(bad)?;
        let eid = rest.strip_suffix(')').ok_or_else(bad)?;
        Ok(EntityRef {
            kind: kind.parse().map_err(|_| bad())?,
            eid: eid.parse().map_err(|_| bad())?,
        })
    }
}

/// On the wire an entity is its `(type)(eid)` text.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for EntityRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("an entity, written (type)(eid)"))
            .examples(["(class)(344)"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for EntityRef {}

impl Serialize for EntityRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: FieldError| serde::de::Error::custom(e.message))
    }
}

/// One entry of a membership answer. lm's HP answers the string form; remote HPs may answer
/// `{"type": …, "eid": …, "level": …}` instead, and both are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MembershipEntry {
    Text(EntityRef),
    Object {
        #[serde(rename = "type")]
        kind: HierarchyName,
        eid: HierarchyName,
        #[serde(default)]
        level: Option<u32>,
    },
}

impl MembershipEntry {
    pub fn entity(&self) -> EntityRef {
        match self {
            MembershipEntry::Text(e) => e.clone(),
            MembershipEntry::Object { kind, eid, .. } => EntityRef {
                kind: kind.clone(),
                eid: eid.clone(),
            },
        }
    }
}

/// The body of `PUT /v1/hierarchy/entities/{type}/{eid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityBody {
    /// A name people recognize, e.g. "Class 4b".
    #[serde(default)]
    pub name: Option<EntityName>,
}

/// An entity as the hierarchy API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: HierarchyName,
    pub eid: HierarchyName,
    pub level: u32,
    pub name: String,
    /// The units it belongs to directly.
    pub parents: Vec<EntityRef>,
}

/// A product and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub eid: ProductEid,
    pub name: ProductName,
    pub description: ProductDescription,
    pub permissions: Vec<Permission>,
}

/// The body of `POST /v1/products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProduct {
    pub eid: ProductEid,
    pub name: ProductName,
    #[serde(default)]
    pub description: Option<ProductDescription>,
    pub permissions: Vec<Permission>,
}

/// The body of `PATCH /v1/products/{eid}`: what to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductPatch {
    #[serde(default)]
    pub name: Option<ProductName>,
    #[serde(default)]
    pub description: Option<ProductDescription>,
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
}

/// Checks a list of permissions: at least one, none twice.
pub fn check_permissions(permissions: &[Permission]) -> Result<(), FieldError> {
    if permissions.is_empty() {
        return Err(FieldError::new(
            "permissions",
            "must grant at least one permission",
        ));
    }
    let mut seen = HashSet::new();
    for (i, p) in permissions.iter().enumerate() {
        if !seen.insert(p) {
            return Err(FieldError::new(
                format!("permissions[{i}]"),
                format!("`{p}` is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The body of `POST /v1/users/{eid}/purchases`: seats of a product for units the purchaser
/// belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPurchase {
    pub product_eid: ProductEid,
    pub owner_hierarchy_level: HierarchyName,
    pub owner_eids: Vec<HierarchyName>,
    pub seats: u32,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// The remote Hierarchy Provider the owners live in; absent for the built-in one.
    #[serde(default)]
    pub hierarchy_provider_url: Option<String>,
}

/// The most seats one purchase buys (a district's students, with room to spare).
pub const MAX_PURCHASE_SEATS: u32 = 100_000;
/// The longest an employee's own purchase may run, from `valid_from` to `valid_to`.
pub const MAX_SELF_PURCHASE_DAYS: i64 = 366;

impl NewPurchase {
    /// The rules that need nothing but the body.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.seats < 1 {
            return Err(FieldError::new("seats", "must be at least 1"));
        }
        if self.seats > MAX_PURCHASE_SEATS {
            return Err(FieldError::new(
                "seats",
                format!("must be at most {MAX_PURCHASE_SEATS}"),
            ));
        }
        if self.valid_from > self.valid_to {
            return Err(FieldError::new(
                "valid_to",
                format!("{} is before valid_from {}", self.valid_to, self.valid_from),
            ));
        }
        if self.owner_eids.is_empty() {
            return Err(FieldError::new(
                "owner_eids",
                "must name at least one owner",
            ));
        }
        let mut seen = HashSet::new();
        for (i, eid) in self.owner_eids.iter().enumerate() {
            if !seen.insert(eid) {
                return Err(FieldError::new(
                    format!("owner_eids[{i}]"),
                    format!("`{eid}` is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// The further rules of an employee buying for their own units: at most `max_seats` seats
    /// (the organization's setting), valid for at most [`MAX_SELF_PURCHASE_DAYS`].
    pub fn validate_self_purchase(&self, max_seats: u32) -> Result<(), FieldError> {
        if self.seats > max_seats {
            return Err(FieldError::new(
                "seats",
                format!(
                    "your organization lets employees buy at most {max_seats} seats; ask a manager for more"
                ),
            ));
        }
        let days = (self.valid_to - self.valid_from).num_days();
        if days > MAX_SELF_PURCHASE_DAYS {
            return Err(FieldError::new(
                "valid_to",
                format!(
                    "an employee's purchase runs at most {MAX_SELF_PURCHASE_DAYS} days from valid_from; this one runs {days}"
                ),
            ));
        }
        Ok(())
    }
}

/// A product a user holds, on which license, through which unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldProduct {
    pub product: ProductEid,
    pub license: LicenseId,
    /// The unit of the user's whose license it is; absent for a seat a manager assigned.
    #[serde(default)]
    pub owner: Option<EntityRef>,
    pub permissions: Vec<Permission>,
    /// The license's last day; absent for no end.
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
    /// When the user took the seat; absent for members who use licenses without a seat.
    #[serde(default)]
    pub seat_since: Option<DateTime<Utc>>,
}

/// A product the user's units have licenses for but the user cannot use now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refused {
    pub product: ProductEid,
    pub reason: String,
}

/// The answer of `GET /v1/users/{eid}/permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Permissions {
    pub user: HierarchyName,
    /// The union of the permissions of every held product, sorted.
    pub permissions: Vec<Permission>,
    pub products: Vec<HeldProduct>,
    pub refused: Vec<Refused>,
    /// A JWS (EdDSA, verifiable with the server's JWKS) over the user, the products and the
    /// permissions, for checks without the server.
    pub grant: String,
    pub grant_expires: DateTime<Utc>,
}

/// The `typ` of a grant's JWS header.
pub const GRANT_TYPE: &str = "lm-grant+jwt";

/// What a grant says, signed (EdDSA) with the server's keys (`GET /v1/grant-keys`): the
/// user may use these products and permissions until `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The server that signed it.
    pub iss: String,
    /// The user.
    pub sub: HierarchyName,
    pub org: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Good until, seconds since the epoch.
    pub exp: i64,
    pub products: Vec<ProductEid>,
    pub permissions: Vec<Permission>,
}

/// One seat of a license, for managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seat {
    /// The assignment that holds the seat; release it with its id.
    pub id: crate::license::AssignmentId,
    pub user: String,
    pub since: DateTime<Utc>,
    /// The holder's latest permission check.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Taken by a permission check (rather than assigned by a manager).
    pub redeemed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_read_and_write_the_parenthesized_form() {
        let e: EntityRef = "(teacher)(glu::123)".parse().unwrap();
        assert_eq!(e.kind.as_str(), "teacher");
        assert_eq!(e.eid.as_str(), "glu::123");
        assert_eq!(e.to_string(), "(teacher)(glu::123)");
        let odd: EntityRef = "(class)(4b (room 2))".parse().unwrap();
        assert_eq!(odd.eid.as_str(), "4b (room 2)");
        assert!("class:344".parse::<EntityRef>().is_err());
        assert!("(class)344".parse::<EntityRef>().is_err());
    }

    #[test]
    fn a_name_cannot_climb_a_url_path() {
        for bad in [".", ".."] {
            let e = bad.parse::<HierarchyName>().unwrap_err();
            assert!(e.message.contains("must not be `.` or `..`"), "{e:?}");
        }
        for fine in ["...", "a/b", "..%2F", "glu::123"] {
            assert!(fine.parse::<HierarchyName>().is_ok(), "{fine}");
        }
    }

    #[test]
    fn membership_answers_come_in_two_forms() {
        let entries: Vec<MembershipEntry> = serde_json::from_str(
            r#"["(school)(999)", {"type": "class", "eid": "344", "level": 1}]"#,
        )
        .unwrap();
        let refs: Vec<String> = entries.iter().map(|e| e.entity().to_string()).collect();
        assert_eq!(refs, ["(school)(999)", "(class)(344)"]);
    }

    #[test]
    fn purchases_are_checked_field_by_field() {
        let good: NewPurchase = serde_json::from_value(serde_json::json!({
            "product_eid": "fractions", "owner_hierarchy_level": "class",
            "owner_eids": ["344"], "seats": 30,
            "valid_from": "2026-09-01", "valid_to": "2027-07-31"
        }))
        .unwrap();
        assert!(good.validate().is_ok());
        let field = |p: NewPurchase| p.validate().unwrap_err().field;
        assert_eq!(
            field(NewPurchase {
                seats: 0,
                ..good.clone()
            }),
            "seats"
        );
        assert_eq!(
            field(NewPurchase {
                valid_to: "2026-08-01".parse().unwrap(),
                ..good.clone()
            }),
            "valid_to"
        );
        assert_eq!(
            field(NewPurchase {
                owner_eids: vec![],
                ..good.clone()
            }),
            "owner_eids"
        );
        let twice = vec!["344".parse().unwrap(), "344".parse().unwrap()];
        assert_eq!(
            field(NewPurchase {
                owner_eids: twice,
                ..good
            }),
            "owner_eids[1]"
        );
    }
}
