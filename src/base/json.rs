//! A small JSON reader that keeps positions and rejects duplicate keys.
//!
//! Why not `serde_json::Value`: policy errors must point at a line and column, and AWS
//! rejects a policy with a duplicated element while serde silently keeps the last one.
//! Nesting is bounded so hostile input cannot overflow the stack.

use std::fmt;

/// Deepest nesting accepted; real policies stay below 10.
const MAX_DEPTH: usize = 128;

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A JSON value together with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// Numbers keep their source text: policies compare them as decimals, not floats.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in source order; keys are unique (duplicates are a syntax error).
    Object(Vec<Member>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Json,
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// A value the program built (from command-line flags, or a question it asks itself)
/// enters the same readers as a file, without being printed and parsed again. It has no
/// position: diagnostics on it name the source and JSON path only (line 0).
impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Json {
        use serde_json::Value as V;
        let kind = match v {
            V::Null => Kind::Null,
            V::Bool(b) => Kind::Bool(*b),
            V::Number(n) => Kind::Number(n.to_string()),
            V::String(s) => Kind::String(s.clone()),
            V::Array(items) => Kind::Array(items.iter().map(Json::from).collect()),
            V::Object(members) => Kind::Object(
                members
                    .iter()
                    .map(|(k, v)| Member { key: k.clone(), key_pos: Pos::default(), value: Json::from(v) })
                    .collect(),
            ),
        };
        Json { pos: Pos::default(), kind }
    }
}

impl Json {
    /// Short name of the JSON type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The member named `key` (exact match) of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.members()?.iter().find(|m| m.key == key).map(|m| &m.value)
    }

    /// Scalar text as policies read it: strings as-is, numbers and booleans as written.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::String(s) => Some(s.clone()),
            Kind::Number(n) => Some(n.clone()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Parses a whole document; trailing non-whitespace is an error.
pub fn parse(text: &str) -> Result<Json, SyntaxError> {
    let mut p = Parser { chars: text.chars().collect(), i: 0, line: 1, col: 1 };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.i < p.chars.len() {
        return Err(p.err("unexpected text after the end of the JSON document"));
    }
    Ok(v)
}

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Parser {
    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn err(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError { pos: self.pos(), message: message.into() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r' | '\u{feff}')) {
            self.bump();
        }
    }

    fn expect(&mut self, want: char) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(c) if c == want => {
                self.bump();
                Ok(())
            }
            Some(c) => Err(self.err(format!("expected '{want}', found '{}'", c.escape_default()))),
            None => Err(self.err(format!("expected '{want}', found the end of the input"))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("JSON nested deeper than {MAX_DEPTH} levels")));
        }
        let pos = self.pos();
        let kind = match self.peek() {
            None => return Err(self.err("expected a JSON value, found the end of the input")),
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Kind::String(self.string()?),
            Some('t') => self.word("true", Kind::Bool(true))?,
            Some('f') => self.word("false", Kind::Bool(false))?,
            Some('n') => self.word("null", Kind::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => Kind::Number(self.number()?),
            Some(c) => return Err(self.err(format!("expected a JSON value, found '{}'", c.escape_default()))),
        };
        Ok(Json { pos, kind })
    }

    fn word(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        for want in word.chars() {
            if self.peek() != Some(want) {
                return Err(self.err(format!("expected '{word}'")));
            }
            self.bump();
        }
        Ok(kind)
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump();
        let mut members: Vec<Member> = Vec::new();
        // The names seen, hashed: a generated object of 50,000 members is not 50,000² compares.
        let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            if self.peek() != Some('"') {
                return Err(self.err("expected a quoted member name"));
            }
            let key = self.string()?;
            if !names.insert(key.clone()) {
                return Err(SyntaxError {
                    pos: key_pos,
                    message: format!("duplicate member \"{key}\" (AWS rejects duplicated elements)"),
                });
            }
            self.skip_ws();
            self.expect(':')?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member { key, key_pos, value });
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return Ok(Kind::Object(members)),
                _ => return Err(self.err("expected ',' or '}' after an object member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some(']') => return Ok(Kind::Array(items)),
                _ => return Err(self.err("expected ',' or ']' after an array element")),
            }
        }
    }

    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.i;
        if self.peek() == Some('-') {
            self.bump();
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.peek(), Some('0'..='9')) {
                p.bump();
            }
            p.i > s
        };
        if !digits(self) {
            return Err(self.err("expected digits in a number"));
        }
        if self.peek() == Some('.') {
            self.bump();
            if !digits(self) {
                return Err(self.err("expected digits after the decimal point"));
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if !digits(self) {
                return Err(self.err("expected digits in the exponent"));
            }
        }
        Ok(self.chars[start..self.i].iter().collect())
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.bump();
        let mut out = String::new();
        loop {
            let c = match self.bump() {
                None => return Err(self.err("unterminated string")),
                Some(c) => c,
            };
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                c if (c as u32) < 0x20 => return Err(self.err("control character inside a string (escape it)")),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        Ok(match self.bump() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => return self.unicode_escape(),
            _ => return Err(self.err("invalid escape sequence")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.bump() != Some('\\') || self.bump() != Some('u') {
                return Err(self.err("unpaired surrogate in \\u escape"));
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err("invalid low surrogate in \\u escape"));
            }
            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"));
        }
        char::from_u32(hi).ok_or_else(|| self.err("unpaired surrogate in \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.err("expected 4 hex digits in \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }
}

/// Serializes `v` so that every key and value sits at its original line and column:
/// diagnostics on the extracted policy then point into the original file.
pub fn render_in_place(v: &Json) -> String {
    let mut out = String::new();
    let mut at = Pos { line: 1, col: 1 };
    render(v, &mut out, &mut at);
    out
}

fn move_to(target: Pos, out: &mut String, at: &mut Pos) {
    if target.line > at.line {
        out.extend(std::iter::repeat_n('\n', target.line - at.line));
        *at = Pos { line: target.line, col: 1 };
    }
    if target.line == at.line && target.col > at.col {
        out.extend(std::iter::repeat_n(' ', target.col - at.col));
        at.col = target.col;
    }
}

fn emit(s: &str, out: &mut String, at: &mut Pos) {
    out.push_str(s);
    at.col += s.chars().count();
}

fn render(v: &Json, out: &mut String, at: &mut Pos) {
    move_to(v.pos, out, at);
    match &v.kind {
        Kind::Null => emit("null", out, at),
        Kind::Bool(b) => emit(&b.to_string(), out, at),
        Kind::Number(n) => emit(n, out, at),
        Kind::String(s) => emit(&serde_json::Value::from(s.as_str()).to_string(), out, at),
        Kind::Array(items) => {
            emit("[", out, at);
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    emit(",", out, at);
                }
                render(it, out, at);
            }
            emit("]", out, at);
        }
        Kind::Object(ms) => {
            emit("{", out, at);
            for (i, m) in ms.iter().enumerate() {
                if i > 0 {
                    emit(",", out, at);
                }
                move_to(m.key_pos, out, at);
                emit(&serde_json::Value::from(m.key.as_str()).to_string(), out, at);
                emit(":", out, at);
                render(&m.value, out, at);
            }
            emit("}", out, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let v = parse("{\n  \"a\": [1, \"x\"]\n}").unwrap();
        let m = &v.members().unwrap()[0];
        assert_eq!(m.key_pos, Pos { line: 2, col: 3 });
        assert_eq!(m.value.pos, Pos { line: 2, col: 8 });
    }

    #[test]
    fn duplicate_keys_are_rejected_at_the_second_key() {
        let e = parse("{\"Effect\": \"Allow\",\n \"Effect\": \"Deny\"}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 2 });
        assert!(e.message.contains("duplicate"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        assert!(parse(&text).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn escapes_and_surrogates() {
        let v = parse(r#""a\u00e9\ud83d\ude00\n""#).unwrap();
        assert_eq!(v.as_str(), Some("aé😀\n"));
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01x", "tru", "\"abc", "1 2", "-", "1.", "1e"] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }
}
