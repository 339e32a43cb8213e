//! Validated text newtypes. Each trims its input and enforces length and character rules,
//! so a value of the type is always acceptable to store and to show.

/// Checks a text value against the shared rules and returns it trimmed.
pub(crate) fn checked<'a>(
    raw: &'a str,
    what: &str,
    max_chars: usize,
    allow_empty: bool,
    allowed: fn(char) -> bool,
) -> Result<&'a str, String> {
    let value = raw.trim();
    if value.is_empty() && !allow_empty {
        return Err(format!("{what} must not be empty"));
    }
    // Counted as sent, white space around it included: what the contract's `maxLength`
    // says (the contract fuzzer found a longer one, trimmed short enough, accepted).
    let count = raw.chars().count();
    if count > max_chars {
        return Err(format!(
            "{what} is {count} characters long; at most {max_chars} are allowed"
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!("{what} must not contain {bad:?}"));
    }
    Ok(value)
}

/// A text value kept as a shared string, which a holder of many equal values (the daemon's
/// cache: one vendor, product or employee across thousands of licenses) makes one.
pub trait SharedText {
    fn shared(&mut self) -> &mut std::sync::Arc<str>;

    /// Makes this value the pool's equal one, or the pool's from now on.
    fn share_from(&mut self, pool: &mut TextPool) {
        pool.share(self.shared());
    }
}

/// Distinct text values, each kept once (see [`SharedText`]).
#[derive(Debug, Default)]
pub struct TextPool {
    values: std::collections::HashSet<std::sync::Arc<str>>,
    /// Its size after the last [`TextPool::prune`].
    pruned_at: usize,
}

impl TextPool {
    pub fn share(&mut self, value: &mut std::sync::Arc<str>) {
        match self.values.get(&**value) {
            Some(kept) => {
                if !std::sync::Arc::ptr_eq(kept, value) {
                    *value = kept.clone();
                }
            }
            None => {
                self.values.insert(value.clone());
            }
        }
    }

    /// Forgets the values no one else holds any more, once the pool has doubled since it
    /// last did: values that went out of use do not stay forever.
    pub fn prune(&mut self) {
        if self.values.len() > 1024 && self.values.len() > self.pruned_at * 2 {
            self.values.retain(|v| std::sync::Arc::strong_count(v) > 1);
            self.pruned_at = self.values.len();
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The heap bytes of the pool's table and values.
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * (size_of::<std::sync::Arc<str>>() + 1)
            + self.values.iter().map(|v| v.len() + 16).sum::<usize>()
    }
}

pub(crate) fn printable(c: char) -> bool {
    !c.is_control()
}

pub(crate) fn printable_or_newline(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

/// The JSON Schema `pattern` (ECMA-262, as Python's `re` reads it too) of the values a
/// validated string takes: its characters (`allowed`, by the rule's name), a character that
/// is not white space unless it may be empty (values are trimmed), and no `.`/`..` segment.
#[cfg(feature = "openapi")]
pub(crate) fn schema_pattern(allowed: &str, allow_empty: bool, whole: &str) -> Option<String> {
    const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
    // White space around the value is trimmed before the rules apply.
    let (any, some) = match allowed {
        "identifier" => return Some("^\\s*[A-Za-z0-9._:@-]+\\s*$".into()),
        "printable" => (format!("[^{CONTROL}]"), format!("[^\\s{CONTROL}]")),
        "printable_or_newline" => (
            "[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]".to_owned(),
            format!("[^\\s{CONTROL}]"),
        ),
        _ => return None,
    };
    let body = if allow_empty {
        format!("{any}*")
    } else {
        format!("{any}*{some}{any}*")
    };
    let guard = if whole == "not_a_dot_segment" {
        "(?!\\s*\\.\\.?\\s*$)"
    } else {
        ""
    };
    Some(format!("^{guard}\\s*{body}\\s*$"))
}

/// Every value whose characters are allowed is allowed.
pub(crate) fn any_whole(_: &str, _: &str) -> Result<(), String> {
    Ok(())
}

/// A value that is sent as one segment of a URL path (`/hierarchy/users/{eid}/…`): `.` and
/// `..` would move up the path whatever their escaping (URL parsers treat `%2E%2E` as `..`).
pub(crate) fn not_a_dot_segment(value: &str, what: &str) -> Result<(), String> {
    if value == "." || value == ".." {
        Err(format!("{what} must not be `.` or `..`"))
    } else {
        Ok(())
    }
}

pub(crate) fn identifier(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-' | '@')
}

/// Declares a string newtype validated on construction and on deserialization.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $allow_empty:literal, $allowed:path) => {
        $crate::text::validated_string!($(#[$doc])* $name, $what, $max, $allow_empty, $allowed, $crate::text::any_whole);
    };
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $allow_empty:literal, $allowed:path, $whole:path) => {
        $(#[$doc])*
        ///
        /// Shared, not copied: a clone is a reference count, and a daemon holding the same
        /// value many times keeps one (see [`SharedText`](crate::text::SharedText)).
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Text;
                impl serde::de::Visitor<'_> for Text {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    // Checked where it lies in the input: no owned copy before the shared one.
                    fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<$name, E> {
                        $name::checked(raw).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Text)
            }
        }

        impl $crate::text::SharedText for $name {
            fn shared(&mut self) -> &mut std::sync::Arc<str> {
                &mut self.0
            }
        }

        // By hand, not derived: the contract says how long the text may be.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .max_length(Some($max))
                    .min_length((!$allow_empty).then_some(1))
                    .pattern($crate::text::schema_pattern(
                        stringify!($allowed),
                        $allow_empty,
                        stringify!($whole),
                    ))
                    .description(Some(concat!($what, ", at most ", $max, " characters")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            pub fn new(raw: &str) -> Result<Self, $crate::problem::FieldError> {
                Self::checked(raw).map_err(|m| $crate::problem::FieldError::new("", m))
            }

            fn checked(raw: &str) -> Result<Self, String> {
                $crate::text::checked(raw, $what, $max, $allow_empty, $allowed)
                    .and_then(|v| $whole(v, $what).map(|()| v))
                    .map(|v| $name(v.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::checked(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.to_string()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::problem::FieldError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}
pub(crate) use validated_string;
