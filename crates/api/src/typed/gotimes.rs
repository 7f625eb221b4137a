//! Go's `time.Parse` for the two layouts the API's times use, with Go's error
//! texts: `metav1.Time` (RFC 3339, `2006-01-02T15:04:05Z07:00`, fractional
//! seconds allowed after the seconds) and `metav1.MicroTime`
//! (`2006-01-02T15:04:05.000000Z07:00`, exactly six fractional digits).

const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
const RFC3339_MICRO: &str = "2006-01-02T15:04:05.000000Z07:00";

/// A layout element: the literal before it and the element itself.
#[derive(Clone, Copy)]
enum Elem {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Micro,
    Zone,
}

impl Elem {
    fn text(self) -> &'static str {
        match self {
            Elem::Year => "2006",
            Elem::Month => "01",
            Elem::Day => "02",
            Elem::Hour => "15",
            Elem::Minute => "04",
            Elem::Second => "05",
            Elem::Micro => ".000000",
            Elem::Zone => "Z07:00",
        }
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn digit(s: &str, i: usize) -> bool {
    s.as_bytes().get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    if !digit(s, 0) {
        return None;
    }
    if !digit(s, 1) {
        if fixed {
            return None;
        }
        return Some((i64::from(s.as_bytes()[0] - b'0'), &s[1..]));
    }
    let n = s[..2].parse().ok()?;
    Some((n, &s[2..]))
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `value` as Go parses it with the Time (or, `micro`, MicroTime)
/// layout; the error is Go's `ParseError` text.
pub fn parse_rfc3339(value: &str, micro: bool) -> Result<(), String> {
    let layout = if micro { RFC3339_MICRO } else { RFC3339 };
    let cannot = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(value),
            quote(layout),
            quote(rest),
            quote(elem)
        )
    };
    let out_of_range = |what: &str| format!("parsing time {}: {what} out of range", quote(value));
    let mut elems: Vec<(&str, Elem)> = vec![
        ("", Elem::Year),
        ("-", Elem::Month),
        ("-", Elem::Day),
        ("T", Elem::Hour),
        (":", Elem::Minute),
        (":", Elem::Second),
    ];
    if micro {
        elems.push(("", Elem::Micro));
    }
    elems.push(("", Elem::Zone));
    let mut rest = value;
    let (mut year, mut month, mut day) = (0, 0, 0);
    for (i, (prefix, elem)) in elems.iter().enumerate() {
        rest = match rest.strip_prefix(prefix) {
            Some(r) => r,
            None => return Err(cannot(rest, prefix)),
        };
        let hold = rest;
        let bad = || cannot(hold, elem.text());
        match elem {
            Elem::Year => {
                if rest.len() < 4 || !digit(rest, 0) {
                    return Err(bad());
                }
                // `get` refuses a cut inside a multi-byte character.
                year = rest
                    .get(..4)
                    .ok_or_else(bad)?
                    .parse::<i64>()
                    .map_err(|_| bad())?;
                rest = rest.get(4..).ok_or_else(bad)?;
            }
            Elem::Month | Elem::Day | Elem::Hour | Elem::Minute | Elem::Second => {
                let fixed = !matches!(elem, Elem::Hour);
                let (n, r) = getnum(rest, fixed).ok_or_else(bad)?;
                rest = r;
                let (limit_ok, what) = match elem {
                    Elem::Month => ((1..=12).contains(&n), "month"),
                    Elem::Day => ((0..=31).contains(&n), "day"),
                    Elem::Hour => ((0..24).contains(&n), "hour"),
                    Elem::Minute => ((0..60).contains(&n), "minute"),
                    _ => ((0..60).contains(&n), "second"),
                };
                if !limit_ok {
                    return Err(out_of_range(what));
                }
                match elem {
                    Elem::Month => month = n,
                    Elem::Day => day = n,
                    _ => {}
                }
                // Fractional seconds where the layout has none.
                let next_is_micro = matches!(elems.get(i + 1), Some((_, Elem::Micro)));
                if matches!(elem, Elem::Second)
                    && !next_is_micro
                    && matches!(rest.as_bytes().first(), Some(b'.' | b','))
                    && digit(rest, 1)
                {
                    let n = 2 + rest[2..].bytes().take_while(u8::is_ascii_digit).count();
                    if n > 10 {
                        // More than nine digits: Go's parseNanoseconds refuses it.
                        return Err(out_of_range("fractional second"));
                    }
                    rest = &rest[n..];
                }
            }
            Elem::Micro => {
                if rest.len() < 7
                    || !matches!(rest.as_bytes()[0], b'.' | b',')
                    || !(1..7).all(|i| digit(rest, i))
                {
                    return Err(bad());
                }
                rest = &rest[7..];
            }
            Elem::Zone => {
                if let Some(r) = rest.strip_prefix('Z') {
                    rest = r;
                } else {
                    let b = rest.as_bytes();
                    if b.len() < 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
                        return Err(bad());
                    }
                    let hh = getnum(rest.get(1..3).ok_or_else(bad)?, true)
                        .ok_or_else(bad)?
                        .0;
                    let mm = getnum(rest.get(4..6).ok_or_else(bad)?, true)
                        .ok_or_else(bad)?
                        .0;
                    if hh > 24 || mm > 60 {
                        return Err(out_of_range("time zone offset"));
                    }
                    rest = rest.get(6..).ok_or_else(bad)?;
                }
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            quote(value),
            quote(rest)
        ));
    }
    if day < 1 || day > days_in(month, year) {
        return Err(out_of_range("day"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn go_texts() {
        assert!(parse_rfc3339("2024-01-02T03:04:05Z", false).is_ok());
        assert!(parse_rfc3339("2024-01-02T03:04:05.123456789+02:00", false).is_ok());
        assert!(parse_rfc3339("0001-01-01T00:00:00Z", false).is_ok());
        assert!(parse_rfc3339("2024-01-02T03:04:05.123456Z", true).is_ok());
        let layout = "\"2006-01-02T15:04:05Z07:00\"";
        assert_eq!(
            parse_rfc3339("bad", false).unwrap_err(),
            format!("parsing time \"bad\" as {layout}: cannot parse \"bad\" as \"2006\"")
        );
        assert_eq!(
            parse_rfc3339("", false).unwrap_err(),
            format!("parsing time \"\" as {layout}: cannot parse \"\" as \"2006\"")
        );
        assert_eq!(
            parse_rfc3339("2024-01-01", false).unwrap_err(),
            format!("parsing time \"2024-01-01\" as {layout}: cannot parse \"\" as \"T\"")
        );
        assert_eq!(
            parse_rfc3339("2024-13-01T00:00:00Z", false).unwrap_err(),
            "parsing time \"2024-13-01T00:00:00Z\": month out of range"
        );
        assert_eq!(
            parse_rfc3339("2023-02-29T00:00:00Z", false).unwrap_err(),
            "parsing time \"2023-02-29T00:00:00Z\": day out of range"
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z!", false).unwrap_err(),
            "parsing time \"2024-01-01T00:00:00Z!\": extra text: \"!\""
        );
        // Multi-byte characters where digits belong are refused, not cut.
        for v in [
            "1éé",
            "2024-01-01T00:00:00+00:0é",
            "2024-01-01T00:00:00+é0:00",
            "é",
            "2024é",
        ] {
            assert!(parse_rfc3339(v, false).is_err(), "{v}");
            assert!(parse_rfc3339(v, true).is_err(), "{v}");
        }
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z", true).unwrap_err(),
            "parsing time \"2024-01-01T00:00:00Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
        );
    }
}
