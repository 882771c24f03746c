//! Wildcard patterns (`*`, `?`), ARN splitting and policy variables.
//!
//! One matcher serves actions, resources, `StringLike` and `ArnLike`; the callers choose
//! case folding and whether text is split into ARN parts first.

/// One token of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Char(char),
    /// `*`: any sequence, including the empty one.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Reads `*` and `?` in `text` as wildcards.
pub fn glob_tokens(text: &str) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Char(c),
        })
        .collect()
}

/// Reads every character of `text` literally.
pub fn literal_tokens(text: &str) -> Vec<Tok> {
    text.chars().map(Tok::Char).collect()
}

/// Whether `text` matches `pat` (whole string). Linear-space backtracking over the last
/// `*`, so it is O(|pat|·|text|) at worst and never exponential.
pub fn glob_match(pat: &[Tok], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let wild = |t: &Tok| match t {
        Tok::Star => Wild::Star,
        Tok::One => Wild::One,
        Tok::Char(_) => Wild::Literal,
    };
    backtrack(pat, &text, wild, |t, c| *t == Tok::Char(*c))
}

/// Case-insensitive wildcard match, as IAM matches actions.
pub fn glob_match_ignore_case(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return ascii_glob_match_ignore_case(pattern.as_bytes(), text.as_bytes());
    }
    glob_match(&glob_tokens(&pattern.to_ascii_lowercase()), &text.to_ascii_lowercase())
}

/// [`glob_match`] on ASCII bytes, folding case as it compares: the same backtracking,
/// without building tokens or lowercased copies (the who-can pre-selection matches
/// actions millions of times).
fn ascii_glob_match_ignore_case(pat: &[u8], text: &[u8]) -> bool {
    let wild = |b: &u8| match b {
        b'*' => Wild::Star,
        b'?' => Wild::One,
        _ => Wild::Literal,
    };
    backtrack(pat, text, wild, |p, c| p.eq_ignore_ascii_case(c))
}

/// What a pattern element is to the matcher.
enum Wild {
    Star,
    One,
    Literal,
}

/// The one wildcard matcher: backtracking over the last `*`. `same` compares a literal
/// pattern element with a text element.
fn backtrack<P, T>(pat: &[P], text: &[T], wild: impl Fn(&P) -> Wild, same: impl Fn(&P, &T) -> bool) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p).map(|x| (wild(x), x)) {
            Some((Wild::Star, _)) => {
                star = Some((p, t));
                p += 1;
            }
            Some((Wild::One, _)) => {
                p += 1;
                t += 1;
            }
            Some((Wild::Literal, x)) if same(x, &text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| matches!(wild(x), Wild::Star))
}

/// Splits a token pattern at its first five literal colons, like [`crate::base::arn::split`].
fn split_tokens_arn(pat: &[Tok]) -> Option<Vec<&[Tok]>> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in pat.iter().enumerate() {
        if parts.len() < 5 && *t == Tok::Char(':') {
            parts.push(&pat[start..i]);
            start = i + 1;
        }
    }
    parts.push(&pat[start..]);
    (parts.len() == 6).then_some(parts)
}

/// `ArnLike`: each of the six parts matched separately, so a `*` never crosses a colon
/// between parts. A value that is not an ARN never matches.
pub fn arn_match(pat: &[Tok], text: &str) -> bool {
    let (Some(pp), Some(tp)) = (split_tokens_arn(pat), crate::base::arn::split(text)) else {
        return false;
    };
    pp.iter().zip(tp.iter()).all(|(p, t)| glob_match(p, t))
}

/// Resource matching: segment-wise like `ArnLike` when the pattern has all six ARN parts,
/// whole-string wildcard matching otherwise (`*`, or a short pattern such as
/// `arn:aws:kms:*`). UNCONFIRMED by AWS for the short form; see `semantics.md` §2.
pub fn resource_match(pat: &[Tok], text: &str) -> bool {
    if split_tokens_arn(pat).is_some() {
        arn_match(pat, text)
    } else {
        glob_match(pat, text)
    }
}

/// A piece of a value that may contain policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text as written: its `*`/`?` are wildcards where the operator has them.
    Text(String),
    /// Text that is always literal (`${*}`, `${?}`, `${$}`).
    Literal(String),
    /// `${key}` or `${key, 'default'}`.
    Var { key: String, default: Option<String> },
}

/// The prefix of a free value's name: a value a template leaves open (a parameter without
/// a default, a generated name), written `${kmsproof:free/NAME}` by the template reader
/// and read as a variable in every policy (whatever its `Version`), so the encoder leaves
/// it free (an opaque atom) and a witness binds it to one concrete value throughout.
pub const FREE_VALUE_PREFIX: &str = "kmsproof:free/";

/// `${` and [`FREE_VALUE_PREFIX`]: where a free value starts in a policy's text.
const FREE_VALUE_OPEN: &str = "${kmsproof:free/";

/// The text standing for the free value `name`.
pub fn free_value(name: &str) -> String {
    format!("${{{FREE_VALUE_PREFIX}{name}}}")
}

/// Splits a value into text and `${...}` variables. `vars` is false for policies without
/// `Version: 2012-10-17`, where `${...}` is plain text.
pub fn pieces(raw: &str, vars: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = raw;
    let next = |r: &str| if vars { r.find("${") } else { r.find(FREE_VALUE_OPEN) };
    while let Some(start) = next(rest) {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_string()));
        }
        out.push(match inner {
            "*" | "?" | "$" => Piece::Literal(inner.to_string()),
            _ => parse_var(inner),
        });
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    out
}

fn parse_var(inner: &str) -> Piece {
    match inner.split_once(',') {
        Some((key, default)) => {
            let d = default.trim();
            let default = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d);
            Piece::Var { key: key.trim().to_string(), default: Some(default.to_string()) }
        }
        None => Piece::Var { key: inner.trim().to_string(), default: None },
    }
}

/// Resolves pieces to tokens; `wild` says whether written `*`/`?` are wildcards.
/// `lookup` gives a single-valued context value; `None` when a variable has no value
/// and no default, which makes the whole value match nothing.
pub fn resolve(pieces: &[Piece], wild: bool, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) if wild => toks.extend(glob_tokens(t)),
            Piece::Text(t) | Piece::Literal(t) => toks.extend(literal_tokens(t)),
            Piece::Var { key, default } => {
                let v = lookup(key).or_else(|| default.clone())?;
                toks.extend(literal_tokens(&v));
            }
        }
    }
    Some(toks)
}

/// Tokens back to plain text (for equality operators, where nothing is a wildcard).
pub fn tokens_text(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Char(c) => *c,
            Tok::Star => '*',
            Tok::One => '?',
        })
        .collect()
}

/// A value as written in the policy (variables as `${key}`), for messages.
pub fn pieces_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) | Piece::Literal(t) => t.clone(),
            Piece::Var { key, default: None } => format!("${{{key}}}"),
            Piece::Var { key, default: Some(d) } => format!("${{{key}, '{d}'}}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path of `glob_match_ignore_case` agrees with the token matcher on
    /// every pattern and text of up to four characters over a small alphabet.
    #[test]
    fn ascii_fold_agrees_with_tokens() {
        fn all(alphabet: &[char], n: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            for len in 1..=n {
                let mut next = vec![String::new()];
                for _ in 0..len {
                    next = next.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
                }
                out.extend(next);
            }
            out
        }
        let patterns = all(&['a', 'B', '*', '?'], 4);
        let texts = all(&['A', 'b', ':'], 4);
        for p in &patterns {
            for t in &texts {
                let slow = glob_match(&glob_tokens(&p.to_ascii_lowercase()), &t.to_ascii_lowercase());
                assert_eq!(glob_match_ignore_case(p, t), slow, "{p:?} on {t:?}");
            }
        }
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("ec2.*.amazonaws.com", "ec2.us-east-1.amazonaws.com", true),
            ("ec2.*.amazonaws.com", "ec2.amazonaws.com", false),
            ("*a*b", "xaxbxab", true),
            ("*a*b", "xaxbxa", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pat, text, want) in cases {
            assert_eq!(glob_match(&glob_tokens(pat), text), want, "{pat} vs {text}");
        }
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pat = glob_tokens(&"*a".repeat(50));
        assert!(!glob_match(&pat, &"a".repeat(49)));
    }

    #[test]
    fn arn_like_keeps_stars_inside_parts() {
        // The example from the IAM condition-operator page.
        let pat = glob_tokens("arn:aws:someservice:*:111122223333:finance/*");
        let value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
        assert!(glob_match(&pat, value));
        assert!(!arn_match(&pat, value));
        assert!(arn_match(&glob_tokens("arn:aws:iam::*:role/*"), "arn:aws:iam::111122223333:role/a/b"));
        assert!(!arn_match(&glob_tokens("*"), "not-an-arn"));
    }

    #[test]
    fn variables_and_specials() {
        let ps = pieces("arn:aws:s3:::b/${aws:username}/${*}x${aws:PrincipalTag/team, 'all'}", true);
        let lookup = |k: &str| (k == "aws:username").then(|| "bob*".to_string());
        let toks = resolve(&ps, true, &lookup).unwrap();
        assert_eq!(tokens_text(&toks), "arn:aws:s3:::b/bob*/*xall");
        assert!(toks.iter().all(|t| *t != Tok::Star), "substituted and ${{*}} text is literal");
        assert!(resolve(&pieces("${aws:userid}", true), true, &lookup).is_none());
        assert_eq!(pieces("${aws:username}", false), vec![Piece::Text("${aws:username}".into())]);
    }
}
