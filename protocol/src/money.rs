//! Money as integer minor units and an ISO 4217 currency. Never a float.

use crate::problem::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Active ISO 4217 alphabetic codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND \
BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB \
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY \
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR \
MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF \
SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS \
UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// Currencies without a minor unit (amounts are whole units).
const ZERO_DECIMALS: &str = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF";
/// Currencies with three decimals.
const THREE_DECIMALS: &str = "BHD IQD JOD KWD LYD OMR TND";

/// An ISO 4217 currency code, always three uppercase letters from the active list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "EUR"))]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// How many decimal digits the minor unit has (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        let code = self.as_str();
        if ZERO_DECIMALS.split(' ').any(|c| c == code) {
            0
        } else if THREE_DECIMALS.split(' ').any(|c| c == code) {
            3
        } else {
            2
        }
    }
}

impl FromStr for Currency {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() == 3
            && bytes.iter().all(u8::is_ascii_uppercase)
            && ISO_4217.split(' ').any(|c| c == upper)
        {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(FieldError::new(
                "",
                format!("`{s}` is not an ISO 4217 currency code (e.g. EUR, USD)"),
            ))
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map_err(|e: FieldError| e.message)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-negative amount in minor units (cents for EUR) and its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units: 59900 EUR is 599.00 €.
    #[serde(deserialize_with = "non_negative")]
    pub amount: i64,
    pub currency: Currency,
}

fn non_negative<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = i64::deserialize(d)?;
    if v < 0 {
        return Err(serde::de::Error::custom(format!(
            "must not be negative (got {v}); amounts are in minor units"
        )));
    }
    Ok(v)
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Result<Self, FieldError> {
        if amount < 0 {
            return Err(FieldError::new("amount", "must not be negative"));
        }
        Ok(Money { amount, currency })
    }
}

impl Money {
    /// The amount in major units as people write it: `599.00` for 59900 EUR, `1200` for
    /// 1200 JPY.
    pub fn major(&self) -> String {
        let digits = self.currency.minor_digits();
        if digits == 0 {
            return self.amount.to_string();
        }
        let scale = 10_i64.pow(digits);
        format!(
            "{}.{:0width$}",
            self.amount / scale,
            self.amount % scale,
            width = digits as usize
        )
    }
}

impl fmt::Display for Money {
    /// `599.00 EUR`, `1200 JPY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_accepts_iso_codes_case_insensitively() {
        assert_eq!("eur".parse::<Currency>().unwrap(), Currency::EUR);
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_digits(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_digits(), 3);
    }

    #[test]
    fn currency_rejects_unknown_codes() {
        for bad in ["", "EU", "EURO", "XYZ", "€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn money_rejects_negative_amounts_on_the_wire() {
        let err = serde_json::from_str::<Money>(r#"{"amount": -1, "currency": "EUR"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not be negative"), "{err}");
    }

    #[test]
    fn money_displays_in_major_units() {
        assert_eq!(
            Money::new(59900, Currency::EUR).unwrap().to_string(),
            "599.00 EUR"
        );
        let jpy = "JPY".parse().unwrap();
        assert_eq!(Money::new(1200, jpy).unwrap().to_string(), "1200 JPY");
    }
}
