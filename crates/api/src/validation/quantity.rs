//! Resource quantities (`500m`, `1.5Gi`, `2e3`) as upstream's
//! `k8s.io/apimachinery/pkg/api/resource` parses, compares and prints them:
//! the scanner of `parseQuantityString`, the suffixes of `suffix.go`, rounding
//! up to nano units, and the canonical form of `CanonicalizeBytes`
//! (`1.5` prints `1500m`, `1536Mi` for `1.5Gi`, `1` for `1000m`).
//!
//! Values are exact decimals (`mantissa × 10^exponent`); a value too large for
//! 128 bits is kept as written and never compared.

use std::cmp::Ordering;

/// Upstream's `ErrFormatWrong`.
pub const ERR_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Upstream's `ErrNumeric`.
pub const ERR_NUMERIC: &str = "unable to parse numeric part of quantity";
/// Upstream's `ErrSuffix`.
pub const ERR_SUFFIX: &str = "unable to parse quantity's suffix";

/// How a quantity prints: the kind of suffix it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    /// Magnitude: `mantissa × 10^exponent` (exponent ≥ -9 after rounding).
    mantissa: u128,
    exponent: i32,
    format: Format,
    /// Set when the value does not fit: then `original` prints and nothing compares.
    overflow: bool,
    original: String,
}

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

/// The number part and suffix, as `parseQuantityString` splits them.
struct Scanned<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn scan(s: &str) -> Result<Scanned<'_>, &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    // Leading zeros.
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Scanned {
            positive,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[num_start..pos];
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let d_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d_start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(ERR_FORMAT);
    }
    Ok(Scanned {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// `(base, exponent, format)` of a suffix, as `quantitySuffixer.interpret`.
fn interpret(suffix: &str) -> Option<(u32, i64, Format)> {
    let dec = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = dec {
        return Some((10, e, Format::DecimalSI));
    }
    let bin = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = bin {
        return Some((2, e, Format::BinarySI));
    }
    if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) {
        return suffix[1..]
            .parse::<i64>()
            .ok()
            .map(|e| (10, e, Format::DecimalExponent));
    }
    None
}

impl Quantity {
    /// Parses a quantity as `resource.ParseQuantity` does (after the JSON
    /// decoder's trimming of spaces), with upstream's error messages.
    pub fn parse(input: &str) -> Result<Quantity, &'static str> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ERR_FORMAT);
        }
        let original = s.to_string();
        if s == "0" {
            return Ok(Quantity {
                negative: false,
                mantissa: 0,
                exponent: 0,
                format: Format::DecimalSI,
                overflow: false,
                original,
            });
        }
        let sc = scan(s)?;
        let (base, exp, mut format) = interpret(sc.suffix).ok_or(ERR_SUFFIX)?;
        let overflowed = |format| Quantity {
            negative: !sc.positive,
            mantissa: 0,
            exponent: 0,
            format,
            overflow: true,
            original: original.clone(),
        };
        let digits = format!("{}{}", sc.num, sc.denom);
        let Ok(mut mantissa) = digits.parse::<u128>() else {
            return Ok(overflowed(format));
        };
        let mut exponent: i64 = -(sc.denom.len() as i64);
        if base == 10 {
            exponent += exp;
        } else {
            match mantissa.checked_mul(1u128 << exp) {
                Some(m) => mantissa = m,
                None => return Ok(overflowed(format)),
            }
        }
        if !(-200..=200).contains(&exponent) {
            return Ok(overflowed(format));
        }
        let mut exponent = exponent as i32;
        // Round non-zero values up to the nano unit.
        if exponent < -9 && mantissa != 0 {
            let Some(div) = pow10((-9 - exponent) as u32) else {
                mantissa = 1;
                exponent = -9;
                return Ok(Quantity {
                    negative: !sc.positive,
                    mantissa,
                    exponent,
                    format,
                    overflow: false,
                    original,
                });
            };
            mantissa = mantissa.div_ceil(div);
            exponent = -9;
        }
        // Binary quantities below one print in decimal.
        let q = Quantity {
            negative: !sc.positive && mantissa != 0,
            mantissa,
            exponent,
            format,
            overflow: false,
            original,
        };
        if format == Format::BinarySI && q.cmp_abs_one() == Ordering::Less && mantissa != 0 {
            format = Format::DecimalSI;
        }
        Ok(Quantity { format, ..q })
    }

    /// Parses a JSON value holding a quantity (a string or a number).
    pub fn from_json(v: &serde_json::Value) -> Result<Quantity, &'static str> {
        match v {
            serde_json::Value::String(s) => Quantity::parse(s),
            serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(ERR_FORMAT),
        }
    }

    fn cmp_abs_one(&self) -> Ordering {
        self.cmp_magnitude(1, 0)
    }

    /// Compares |self| with `m × 10^e`.
    fn cmp_magnitude(&self, m: u128, e: i32) -> Ordering {
        let (a, ea, b, eb) = (self.mantissa, self.exponent, m, e);
        if a == 0 || b == 0 {
            return a.cmp(&b);
        }
        let low = ea.min(eb);
        let scale = |x: u128, ex: i32| pow10((ex - low) as u32).and_then(|p| x.checked_mul(p));
        match (scale(a, ea), scale(b, eb)) {
            (Some(x), Some(y)) => x.cmp(&y),
            // Whichever overflowed is the larger.
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (None, None) => {
                let da = a.to_string().len() as i32 + ea;
                let db = b.to_string().len() as i32 + eb;
                da.cmp(&db)
            }
        }
    }

    /// Upstream's `ScaledValue`: the value in units of `10^scale`, rounded
    /// up (away from zero), saturating at i64's bounds (`Value`: 0,
    /// `MilliValue`: -3).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        if self.overflow {
            return if self.negative { i64::MIN } else { i64::MAX };
        }
        let shift = self.exponent - scale;
        let magnitude: Option<u128> = if shift >= 0 {
            pow10(shift as u32).and_then(|p| self.mantissa.checked_mul(p))
        } else {
            pow10((-shift) as u32)
                .map(|p| self.mantissa.div_ceil(p))
                .or(Some(if self.mantissa == 0 { 0 } else { 1 }))
        };
        match magnitude.and_then(|m| i64::try_from(m).ok()) {
            Some(m) if self.negative => -m,
            Some(m) => m,
            None if self.negative => i64::MIN,
            None => i64::MAX,
        }
    }

    /// Upstream's `Cmp`: None when either side is too large to compare.
    pub fn compare(&self, other: &Quantity) -> Option<Ordering> {
        if self.overflow || other.overflow {
            return None;
        }
        let sign = |q: &Quantity| -> i8 {
            if q.mantissa == 0 {
                0
            } else if q.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb {
            return Some(sa.cmp(&sb));
        }
        let mag = self.cmp_magnitude(other.mantissa, other.exponent);
        Some(if sa < 0 { mag.reverse() } else { mag })
    }

    /// Whether the value is below zero.
    /// Whether the quantity is above zero.
    pub fn is_positive(&self) -> bool {
        !self.negative && (self.mantissa > 0 || self.overflow)
    }

    /// The sum of two non-negative quantities (None on overflow), in the
    /// first one's format.
    pub fn plus(&self, other: &Quantity) -> Option<Quantity> {
        if self.negative || other.negative || self.overflow || other.overflow {
            return None;
        }
        let exponent = self.exponent.min(other.exponent);
        let scale = |q: &Quantity| {
            pow10((q.exponent - exponent) as u32).and_then(|f| q.mantissa.checked_mul(f))
        };
        let mantissa = scale(self)?.checked_add(scale(other)?)?;
        Some(Quantity {
            negative: false,
            mantissa,
            exponent,
            format: self.format,
            overflow: false,
            original: String::new(),
        })
    }

    pub fn is_negative(&self) -> bool {
        self.negative && (self.mantissa != 0 || self.overflow)
    }

    /// Whether the value is a whole number (`MilliValue() % 1000 == 0`).
    pub fn is_integer(&self) -> bool {
        if self.overflow || self.exponent >= 0 || self.mantissa == 0 {
            return true;
        }
        // Milli-units, rounded up as MilliValue rounds.
        let milli = if self.exponent >= -3 {
            self.mantissa * pow10((self.exponent + 3) as u32).unwrap_or(1)
        } else {
            self.mantissa
                .div_ceil(pow10((-3 - self.exponent) as u32).unwrap_or(1))
        };
        milli % 1000 == 0
    }

    /// The canonical form (`Quantity.String()`).
    pub fn canonical(&self) -> String {
        if self.overflow {
            return self.original.clone();
        }
        if self.mantissa == 0 {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        if format == Format::BinarySI {
            let whole = self.exponent >= 0
                || pow10((-self.exponent) as u32).is_some_and(|p| self.mantissa.is_multiple_of(p));
            if self.cmp_magnitude(1024, 0) == Ordering::Less || !whole {
                format = Format::DecimalSI;
            }
        }
        if format == Format::BinarySI {
            let mut value = if self.exponent >= 0 {
                match pow10(self.exponent as u32).and_then(|p| self.mantissa.checked_mul(p)) {
                    Some(v) => v,
                    None => return self.original.clone(),
                }
            } else {
                self.mantissa / pow10((-self.exponent) as u32).unwrap_or(1)
            };
            let mut power = 0;
            while value % 1024 == 0 && power < 6 {
                value /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return format!("{sign}{value}{suffix}");
        }
        // Decimal: strip trailing zeros, then lower the exponent to a multiple of 3.
        let (mut m, mut e) = (self.mantissa, self.exponent);
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        match e.rem_euclid(3) {
            1 => {
                m *= 10;
                e -= 1;
            }
            2 => {
                m *= 100;
                e -= 2;
            }
            _ => {}
        }
        let suffix = match format {
            Format::DecimalExponent => {
                if e == 0 {
                    String::new()
                } else {
                    format!("e{e}")
                }
            }
            _ => match e {
                -9 => "n".into(),
                -6 => "u".into(),
                -3 => "m".into(),
                0 => String::new(),
                3 => "k".into(),
                6 => "M".into(),
                9 => "G".into(),
                12 => "T".into(),
                15 => "P".into(),
                18 => "E".into(),
                _ => String::new(),
            },
        };
        format!("{sign}{m}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        Quantity::parse(s).unwrap().canonical()
    }

    #[test]
    fn canonical_forms_are_upstreams() {
        assert_eq!(c("1.5"), "1500m");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("500m"), "500m");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1024"), "1024");
        assert_eq!(c("1Ki"), "1Ki");
        assert_eq!(c("2048Ki"), "2Mi");
        assert_eq!(c("100Mi"), "100Mi");
        assert_eq!(c("1000Mi"), "1000Mi");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("1.5e3"), "1500");
        assert_eq!(c("12000"), "12k");
        assert_eq!(c("0.1m"), "100u");
        assert_eq!(c("0.0000000001"), "1n");
        assert_eq!(c("-1"), "-1");
        assert_eq!(c("-0"), "0");
        assert_eq!(c("0"), "0");
        assert_eq!(c(" 2 "), "2");
        assert_eq!(c("1.1Ki"), "1126400m");
    }

    #[test]
    fn errors_are_upstreams() {
        assert_eq!(Quantity::parse("1Gb"), Err(ERR_FORMAT));
        assert_eq!(Quantity::parse("abc"), Err(ERR_FORMAT));
        assert_eq!(Quantity::parse(""), Err(ERR_FORMAT));
        assert_eq!(Quantity::parse("1 Gi"), Err(ERR_FORMAT));
        assert_eq!(Quantity::parse("1K"), Err(ERR_SUFFIX));
        assert_eq!(Quantity::parse("1e"), Err(ERR_SUFFIX));
        assert_eq!(Quantity::parse("1mi"), Err(ERR_SUFFIX));
    }

    #[test]
    fn compares_and_tells_integers() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(q("1").compare(&q("1000m")), Some(Ordering::Equal));
        assert_eq!(q("2").compare(&q("1500m")), Some(Ordering::Greater));
        assert_eq!(q("1Gi").compare(&q("1G")), Some(Ordering::Greater));
        assert_eq!(q("-1").compare(&q("0")), Some(Ordering::Less));
        assert_eq!(q("-2").compare(&q("-1")), Some(Ordering::Less));
        assert!(q("2").is_integer());
        assert!(q("2000m").is_integer());
        assert!(!q("500m").is_integer());
        assert!(!q("1.0001").is_integer());
        assert!(q("-1").is_negative());
        assert!(!q("-0").is_negative());
    }
}

#[cfg(test)]
mod scaled_tests {
    use super::Quantity;

    #[test]
    fn scaled_values_round_up_as_upstream() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("100m").scaled_value(-3), 100);
        assert_eq!(q("1").scaled_value(-3), 1000);
        assert_eq!(q("1.5").scaled_value(0), 2);
        assert_eq!(q("1500m").scaled_value(0), 2);
        assert_eq!(q("200Mi").scaled_value(0), 200 * 1024 * 1024);
        assert_eq!(q("1Gi").scaled_value(0), 1 << 30);
        assert_eq!(q("1n").scaled_value(-3), 1);
        assert_eq!(q("0").scaled_value(-3), 0);
        assert_eq!(q("32").scaled_value(-3), 32_000);
        assert_eq!(q("1E").scaled_value(-3), i64::MAX);
    }
}
