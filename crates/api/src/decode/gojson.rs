//! Go's `encoding/json` syntax errors (its scanner, `scanner.go`), for the
//! places upstream reports them verbatim: `invalid character 'o' in literal
//! null (expecting 'u')`, `unexpected end of JSON input`, ...

/// Go's `quoteChar`.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = format!("{:?}", c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

type Res = Result<(), String>;

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ch(&self) -> char {
        // Go reports the byte as a rune (invalid UTF-8 as U+FFFD).
        std::str::from_utf8(&self.s[self.i..])
            .ok()
            .and_then(|t| t.chars().next())
            .unwrap_or(self.s[self.i] as char)
    }

    fn err(&self, ctx: &str) -> String {
        match self.peek() {
            None => "unexpected end of JSON input".into(),
            Some(_) => format!("invalid character {} {ctx}", quote_char(self.ch())),
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Res {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            _ => Err(self.err("looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str) -> Res {
        for (k, expected) in word.bytes().enumerate() {
            if k > 0 && self.peek() != Some(expected) {
                return Err(self.err(&format!(
                    "in literal {word} (expecting {})",
                    quote_char(expected as char)
                )));
            }
            self.i += 1;
        }
        Ok(())
    }

    fn string(&mut self) -> Res {
        self.i += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            for _ in 0..4 {
                                if !self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                                    return Err(self.err("in \\u hexadecimal character escape"));
                                }
                                self.i += 1;
                            }
                        }
                        _ => return Err(self.err("in string escape code")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("in string literal")),
                Some(_) => self.i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Res {
        if self.peek() == Some(b'-') {
            self.i += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err("in numeric literal"));
            }
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("after decimal point in numeric literal"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("in exponent of numeric literal"));
            }
        }
        Ok(())
    }

    fn object(&mut self) -> Res {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("looking for beginning of object key string"));
            }
            self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("after object key"));
            }
            self.i += 1;
            self.value()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Res {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("after array element")),
            }
        }
    }
}

/// Go's `json.Unmarshal` syntax error for `bytes`, if any.
pub fn syntax_error(bytes: &[u8]) -> Option<String> {
    let mut s = Scanner { s: bytes, i: 0 };
    if let Err(e) = s.value() {
        return Some(e);
    }
    s.ws();
    if s.peek().is_some() {
        return Some(s.err("after top-level value"));
    }
    None
}

/// Go's error for `json.Unmarshal(bytes, &map[string]interface{}{})`.
pub fn unmarshal_map_error(bytes: &[u8]) -> Option<String> {
    if let Some(e) = syntax_error(bytes) {
        return Some(e);
    }
    let what = match serde_json::from_slice::<serde_json::Value>(bytes).ok()? {
        serde_json::Value::Object(_) | serde_json::Value::Null => return None,
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
    };
    Some(format!(
        "json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_errors() {
        let e = |s: &str| unmarshal_map_error(s.as_bytes());
        assert_eq!(
            e("not-json").unwrap(),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(e("{").unwrap(), "unexpected end of JSON input");
        assert_eq!(e("").unwrap(), "unexpected end of JSON input");
        assert_eq!(
            e("abc").unwrap(),
            "invalid character 'a' looking for beginning of value"
        );
        assert_eq!(
            e("[]").unwrap(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(
            e("{\"a\" 1}").unwrap(),
            "invalid character '1' after object key"
        );
        assert_eq!(
            e("{} x").unwrap(),
            "invalid character 'x' after top-level value"
        );
        assert_eq!(e("{\"auths\": {}}"), None);
        assert_eq!(e("null"), None);
    }
}
