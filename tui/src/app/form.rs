//! The add and edit form: text fields validated as they are typed, with the same rules the
//! server applies (the validated types of `lm-protocol`).

use super::text::TextInput;
use chrono::NaiveDate;
use lm_protocol::license::{LicenseName, Notes, Vendor};
use lm_protocol::query::amount;
use lm_protocol::{
    Currency, Kind, License, LicenseKey, LicensePatch, Money, NewLicense, ProductEid,
};

/// The form's fields, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Product,
    Name,
    Kind,
    Vendor,
    Cost,
    Currency,
    Seats,
    Added,
    Expires,
    Key,
    Notes,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Product,
        Field::Name,
        Field::Kind,
        Field::Vendor,
        Field::Cost,
        Field::Currency,
        Field::Seats,
        Field::Added,
        Field::Expires,
        Field::Key,
        Field::Notes,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Product => "Product id",
            Field::Name => "Name",
            Field::Kind => "Kind",
            Field::Vendor => "Vendor",
            Field::Cost => "Cost",
            Field::Currency => "Currency",
            Field::Seats => "Seats",
            Field::Added => "Added",
            Field::Expires => "Expires",
            Field::Key => "Product key",
            Field::Notes => "Notes",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Field::Product => "e.g. adobe-cc",
            Field::Kind => "subscription, perpetual, per-seat, per-device, site, trial, …",
            Field::Cost => "in major units, e.g. 599.00",
            Field::Currency => "ISO 4217, e.g. EUR",
            Field::Seats => "empty: unlimited",
            Field::Added => "YYYY-MM-DD",
            Field::Expires => "YYYY-MM-DD, empty: never",
            Field::Key => "secret; managers only",
            _ => "",
        }
    }

    /// The name the server uses for this field in problems.
    pub fn wire_name(self) -> &'static str {
        match self {
            Field::Product => "product",
            Field::Name => "name",
            Field::Kind => "kind",
            Field::Vendor => "vendor",
            Field::Cost => "cost.amount",
            Field::Currency => "cost.currency",
            Field::Seats => "seats",
            Field::Added => "added",
            Field::Expires => "expires",
            Field::Key => "key",
            Field::Notes => "notes",
        }
    }

    fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// An add form (no `editing`) or an edit form of one license at the version the user saw.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseForm {
    pub editing: Option<License>,
    pub inputs: Vec<TextInput>,
    original: Vec<String>,
    pub focus: usize,
    /// What the server said, attached to a field when it named one.
    pub server_error: Option<(Option<Field>, String)>,
    pub submitting: bool,
    /// Whether saving was tried: from then on every field shows its error, not only the
    /// ones already typed in.
    pub attempted: bool,
}

impl LicenseForm {
    pub fn add(today: NaiveDate) -> LicenseForm {
        let mut values = vec![String::new(); Field::ALL.len()];
        values[Field::Currency.index()] = "EUR".into();
        values[Field::Added.index()] = today.to_string();
        Self::with(None, values)
    }

    pub fn edit(license: &License) -> LicenseForm {
        Self::with(Some(license.clone()), Self::values_of(license))
    }

    fn values_of(l: &License) -> Vec<String> {
        vec![
            l.product.to_string(),
            l.name.to_string(),
            l.kind.to_string(),
            l.vendor.to_string(),
            l.cost.major(),
            l.cost.currency.to_string(),
            l.seats.map(|s| s.to_string()).unwrap_or_default(),
            l.added.to_string(),
            l.expires.map(|d| d.to_string()).unwrap_or_default(),
            l.key
                .as_ref()
                .map(|k| k.expose().to_owned())
                .unwrap_or_default(),
            l.notes.to_string(),
        ]
    }

    fn with(editing: Option<License>, values: Vec<String>) -> LicenseForm {
        LicenseForm {
            editing,
            inputs: values.iter().map(|v| TextInput::new(v)).collect(),
            original: values,
            focus: 0,
            server_error: None,
            submitting: false,
            attempted: false,
        }
    }

    /// After a conflict: the form of `theirs`, with the fields this user changed laid on top.
    pub fn rebased_on(&self, theirs: &License) -> LicenseForm {
        let mut rebased = LicenseForm::edit(theirs);
        for (i, input) in self.inputs.iter().enumerate() {
            if input.text != self.original[i] {
                rebased.inputs[i] = input.clone();
            }
        }
        rebased.focus = self.focus;
        rebased
    }

    pub fn value(&self, field: Field) -> &str {
        self.inputs[field.index()].text.trim()
    }

    pub fn focused(&self) -> Field {
        Field::ALL[self.focus]
    }

    pub fn focused_input(&mut self) -> &mut TextInput {
        &mut self.inputs[self.focus]
    }

    pub fn changed(&self, field: Field) -> bool {
        self.inputs[field.index()].text != self.original[field.index()]
    }

    /// The labels of the fields this user changed, for a conflict screen.
    pub fn changed_fields(&self) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|f| self.changed(*f))
            .collect()
    }

    /// The fields whose values differ between the version edited and `theirs`.
    pub fn differences(&self, theirs: &License) -> Vec<(Field, String, String)> {
        let now = Self::values_of(theirs);
        Field::ALL
            .into_iter()
            .filter(|f| now[f.index()] != self.original[f.index()])
            .map(|f| {
                let shown = |v: &str| {
                    if f == Field::Key && !v.is_empty() {
                        "(changed)".to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                (f, shown(&self.original[f.index()]), shown(&now[f.index()]))
            })
            .collect()
    }

    /// The rule `field` breaks as typed, if any.
    pub fn error(&self, field: Field) -> Option<String> {
        if let Some((Some(f), message)) = &self.server_error
            && *f == field
        {
            return Some(message.clone());
        }
        let v = self.value(field);
        let check = |r: Result<(), String>| r.err();
        match field {
            Field::Product => check(ProductEid::new(v).map(drop).map_err(|e| e.message)),
            Field::Name => check(LicenseName::new(v).map(drop).map_err(|e| e.message)),
            Field::Kind => check(Kind::new(v).map(drop).map_err(|e| e.message)),
            Field::Vendor => check(Vendor::new(v).map(drop).map_err(|e| e.message)),
            Field::Cost => check(self.cost().map(drop)),
            Field::Currency => check(
                v.to_uppercase()
                    .parse::<Currency>()
                    .map(drop)
                    .map_err(|e| e.message),
            ),
            Field::Seats => check(self.seats().map(drop)),
            Field::Added => check(self.date(Field::Added, false).map(drop)),
            Field::Expires => check(self.date(Field::Expires, true).map(drop)),
            Field::Key => check(if v.is_empty() {
                Ok(())
            } else {
                LicenseKey::new(v).map(drop).map_err(|e| e.message)
            }),
            Field::Notes => check(
                Notes::new(&self.inputs[field.index()].text)
                    .map(drop)
                    .map_err(|e| e.message),
            ),
        }
    }

    /// The error to show beside `field` now: once it was changed, or after a save attempt.
    pub fn shown_error(&self, field: Field) -> Option<String> {
        if self.attempted || self.changed(field) || self.server_error.is_some() {
            self.error(field)
        } else {
            None
        }
    }

    /// The first field with an error.
    pub fn first_error(&self) -> Option<(Field, String)> {
        Field::ALL
            .into_iter()
            .find_map(|f| self.error(f).map(|e| (f, e)))
    }

    fn currency(&self) -> Option<Currency> {
        self.value(Field::Currency).to_uppercase().parse().ok()
    }

    fn cost(&self) -> Result<Money, String> {
        let currency = self
            .currency()
            .unwrap_or_else(|| "EUR".parse().expect("EUR"));
        let raw = self.value(Field::Cost);
        if raw.is_empty() {
            return Err("a cost is needed (0 for free licenses)".into());
        }
        let minor = amount(raw, currency.minor_digits())?;
        Money::new(minor, currency).map_err(|e| e.message)
    }

    fn seats(&self) -> Result<Option<u32>, String> {
        let raw = self.value(Field::Seats);
        if raw.is_empty() {
            return Ok(None);
        }
        match raw.parse::<u32>() {
            Ok(0) => Err("at least 1 seat, or empty for unlimited".into()),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(format!("`{raw}` is not a whole number")),
        }
    }

    fn date(&self, field: Field, optional: bool) -> Result<Option<NaiveDate>, String> {
        let raw = self.value(field);
        if raw.is_empty() {
            return if optional {
                Ok(None)
            } else {
                Err("a date is needed".into())
            };
        }
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| format!("`{raw}` is not a date like 2027-01-31"))
            .and_then(lm_protocol::license::license_date)
            .map(Some)
    }

    fn key(&self) -> Option<LicenseKey> {
        LicenseKey::new(self.value(Field::Key)).ok()
    }

    /// The create request, or the first field at fault.
    pub fn to_new(&self) -> Result<NewLicense, (Field, String)> {
        if let Some(e) = self.first_error() {
            return Err(e);
        }
        let bad = |f: Field| move |e: lm_protocol::FieldError| (f, e.message);
        Ok(NewLicense {
            product: ProductEid::new(self.value(Field::Product)).map_err(bad(Field::Product))?,
            name: LicenseName::new(self.value(Field::Name)).map_err(bad(Field::Name))?,
            kind: Kind::new(self.value(Field::Kind)).map_err(bad(Field::Kind))?,
            vendor: Vendor::new(self.value(Field::Vendor)).map_err(bad(Field::Vendor))?,
            cost: self.cost().map_err(|e| (Field::Cost, e))?,
            seats: self.seats().map_err(|e| (Field::Seats, e))?,
            added: self
                .date(Field::Added, false)
                .map_err(|e| (Field::Added, e))?,
            expires: self
                .date(Field::Expires, true)
                .map_err(|e| (Field::Expires, e))?,
            owner: None,
            assignments: Vec::new(),
            key: self.key(),
            notes: Notes::new(&self.inputs[Field::Notes.index()].text).ok(),
        })
    }

    /// The changed fields only, so a concurrent change of another field is not undone.
    pub fn to_patch(&self) -> Result<LicensePatch, (Field, String)> {
        let full = self.to_new()?;
        let mut patch = LicensePatch::default();
        let changed = |f| self.changed(f);
        if changed(Field::Product) {
            patch.product = Some(full.product);
        }
        if changed(Field::Name) {
            patch.name = Some(full.name);
        }
        if changed(Field::Kind) {
            patch.kind = Some(full.kind);
        }
        if changed(Field::Vendor) {
            patch.vendor = Some(full.vendor);
        }
        if changed(Field::Cost) || changed(Field::Currency) {
            patch.cost = Some(full.cost);
        }
        if changed(Field::Seats) {
            patch.seats = Some(full.seats);
        }
        if changed(Field::Added) {
            patch.added = full.added;
        }
        if changed(Field::Expires) {
            patch.expires = Some(full.expires);
        }
        if changed(Field::Key) {
            patch.key = Some(full.key);
        }
        if changed(Field::Notes) {
            patch.notes = full.notes;
        }
        Ok(patch)
    }

    /// Attaches a server problem to the field it names (`cost.amount`, `expires`, …).
    pub fn set_server_error(&mut self, field: Option<&str>, message: String) {
        let field = field.and_then(|name| {
            Field::ALL
                .into_iter()
                .find(|f| f.wire_name() == name || name.starts_with(f.wire_name()))
                .or_else(|| (name == "cost").then_some(Field::Cost))
        });
        if let Some(f) = field {
            self.focus = f.index();
        }
        self.server_error = Some((field, message));
        self.submitting = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn filled() -> LicenseForm {
        let mut form = LicenseForm::add(today());
        for (field, value) in [
            (Field::Product, "adobe-cc"),
            (Field::Name, "Creative Cloud, design"),
            (Field::Kind, "subscription"),
            (Field::Vendor, "Adobe"),
            (Field::Cost, "599.00"),
            (Field::Seats, "10"),
            (Field::Expires, "2027-01-14"),
        ] {
            form.inputs[field.index()] = TextInput::new(value);
        }
        form
    }

    #[test]
    fn a_filled_form_makes_a_create_request() {
        let new = filled().to_new().unwrap();
        assert_eq!(new.cost.amount, 59_900);
        assert_eq!(new.seats, Some(10));
        assert_eq!(new.added, Some(today()));
    }

    #[test]
    fn each_field_reports_its_rule_as_typed() {
        let mut form = filled();
        form.inputs[Field::Cost.index()] = TextInput::new("12.345");
        form.inputs[Field::Expires.index()] = TextInput::new("next year");
        assert!(form.error(Field::Cost).unwrap().contains("decimals"));
        assert!(form.error(Field::Expires).unwrap().contains("next year"));
        form.inputs[Field::Added.index()] = TextInput::new("1066-10-14");
        assert_eq!(
            form.error(Field::Added).unwrap(),
            "1066-10-14 is not a date from 1900-01-01 to 9999-12-30"
        );
        assert_eq!(form.to_new().unwrap_err().0, Field::Cost);
        form.inputs[Field::Name.index()] = TextInput::new("");
        assert_eq!(form.first_error().unwrap().0, Field::Name);
    }

    #[test]
    fn an_edit_sends_only_what_changed() {
        let new = filled().to_new().unwrap();
        let license: License = serde_json::from_value(serde_json::json!({
            "id": "l1", "product": new.product, "name": new.name, "kind": new.kind,
            "vendor": new.vendor, "cost": new.cost, "seats": 10, "seats_used": 0,
            "added": "2026-11-22", "expires": "2027-01-14", "version": 3, "revision": 9
        }))
        .unwrap();
        let mut form = LicenseForm::edit(&license);
        assert_eq!(form.to_patch().unwrap(), LicensePatch::default());
        form.inputs[Field::Expires.index()] = TextInput::new("");
        let patch = form.to_patch().unwrap();
        assert_eq!(patch.expires, Some(None), "an emptied date is cleared");
        assert_eq!(patch.name, None);
    }
}
