//! What a backup holds: every table an organization's data lives in, with its columns.

use crate::db::Type;

/// A table as the backup sees it: its columns in order, and the columns that are unique
/// together (its primary key), which it is read in the order of, page by page.
pub struct Table {
    pub name: &'static str,
    pub(super) key: &'static [&'static str],
    pub(super) columns: &'static [(&'static str, Type)],
    /// A restore merges the backup's rows into this table (keeping rows made since) instead
    /// of replacing its contents.
    pub(super) merged: bool,
}

use Type::{Bool, Date, Int, Text, Time};

/// Every table that holds what an organization owns, parents before children. Sessions and
/// one-time codes (device and authorization codes, refresh tokens, revoked token ids) are not
/// kept: a restore signs everyone out of nothing they could not sign in to again.
/// `license_owners` is not kept either: it is rebuilt from the licenses' owners.
pub const TABLES: [Table; 13] = [
    Table {
        name: "orgs",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("revision", Int),
            ("created_at", Time),
            ("purged_through", Int),
            ("self_purchase_max_seats", Int),
            ("display_name", Text),
            ("default_currency", Text),
            ("alert_days", Text),
            ("seat_free_types", Text),
        ],
    },
    Table {
        name: "users",
        merged: false,
        key: &["name"],
        columns: &[
            ("name", Text),
            ("org_id", Text),
            ("role", Text),
            ("disabled", Bool),
            ("created_at", Time),
            ("password_hash", Text),
            ("failed_logins", Int),
            ("locked_until", Time),
            ("totp_secret", Text),
            ("totp_last_step", Int),
            ("revision", Int),
        ],
    },
    Table {
        name: "signing_keys",
        merged: true,
        key: &["kid"],
        columns: &[
            ("kid", Text),
            ("algorithm", Text),
            ("private_pkcs8", Text),
            ("public_key", Text),
            ("created_at", Time),
            ("retired_at", Time),
        ],
    },
    Table {
        name: "oauth_clients",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("name", Text),
            ("secret_hash", Text),
            ("redirect_uris", Text),
            ("grants", Text),
            ("org_id", Text),
            ("role", Text),
            ("created_at", Time),
            ("removed_at", Time),
            ("previous_secret_hash", Text),
            ("previous_secret_until", Time),
        ],
    },
    Table {
        name: "api_keys",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("secret_hash", Text),
            ("user_name", Text),
            ("label", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
        ],
    },
    Table {
        name: "hierarchy_levels",
        merged: false,
        key: &["org_id", "name"],
        columns: &[("org_id", Text), ("name", Text), ("level", Int)],
    },
    Table {
        name: "entities",
        merged: false,
        key: &["org_id", "type", "eid"],
        columns: &[
            ("org_id", Text),
            ("type", Text),
            ("eid", Text),
            ("name", Text),
        ],
    },
    Table {
        name: "memberships",
        merged: false,
        key: &[
            "org_id",
            "member_type",
            "member_eid",
            "parent_type",
            "parent_eid",
        ],
        columns: &[
            ("org_id", Text),
            ("member_type", Text),
            ("member_eid", Text),
            ("parent_type", Text),
            ("parent_eid", Text),
        ],
    },
    Table {
        name: "products",
        merged: false,
        key: &["org_id", "eid"],
        columns: &[
            ("org_id", Text),
            ("eid", Text),
            ("name", Text),
            ("description", Text),
            ("permissions", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "licenses",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("org_id", Text),
            ("product", Text),
            ("name", Text),
            ("name_key", Text),
            ("kind", Text),
            ("vendor", Text),
            ("vendor_key", Text),
            ("cost_amount", Int),
            ("cost_currency", Text),
            ("seats", Int),
            ("seats_sort", Int),
            ("seats_used", Int),
            ("added", Date),
            ("expires", Date),
            ("expires_sort", Date),
            ("owner_level", Text),
            ("owner_eids", Text),
            ("license_key", Text),
            ("notes", Text),
            ("assignments", Text),
            ("search", Text),
            ("version", Int),
            ("revision", Int),
            ("created_at", Time),
            ("updated_at", Time),
            ("deleted_at", Time),
            ("deleted_by", Text),
        ],
    },
    Table {
        name: "assignments",
        merged: false,
        key: &["id"],
        columns: &[
            ("id", Text),
            ("org_id", Text),
            ("license_id", Text),
            ("employee", Text),
            ("device", Text),
            ("since", Time),
            ("redeemed", Bool),
            ("last_seen", Time),
            ("revision", Int),
        ],
    },
    Table {
        name: "purchases",
        merged: false,
        key: &["license_id"],
        columns: &[
            ("license_id", Text),
            ("org_id", Text),
            ("purchaser", Text),
            ("hierarchy_provider", Text),
            ("valid_from", Date),
            ("created_at", Time),
        ],
    },
    Table {
        name: "audit",
        merged: true,
        key: &["id"],
        columns: &[
            ("id", Int),
            ("org_id", Text),
            ("at", Time),
            ("actor", Text),
            ("action", Text),
            ("record_type", Text),
            ("record_id", Text),
            ("before", Text),
            ("after", Text),
            ("request_id", Text),
            ("client_addr", Text),
        ],
    },
];

impl Table {
    pub(super) fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    pub(super) fn types(&self) -> Vec<Type> {
        self.columns.iter().map(|(_, t)| *t).collect()
    }

    /// Where the key's columns are in a row.
    pub(super) fn key_indexes(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|(n, _)| n == k)
                    .expect("a key column is a column")
            })
            .collect()
    }
}
