//! Splits a filter or PATCH path into tokens, each with its byte offset.
//!
//! A "word" is a run of characters other than white space, brackets, parentheses and `"`: an
//! attribute path (`urn:…:2.0:User:name.givenName`), a keyword, or a bare value (`true`,
//! `-1.5e3`, and the unquoted strings clients send: `O`, `jyoung@example.com`,
//! `2015-10-10T14:38:21.8617979-07:00`). The parser decides what a word means from where it
//! stands, so attribute names such as `and` or `not` still work, and checks attribute names itself.

use super::error::FilterError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind<'a> {
    /// An attribute path, keyword, operator, number or `true`/`false`/`null`.
    Word(&'a str),
    /// A JSON string literal, already unescaped.
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
}

/// A token and where it starts and ends (byte offsets into the input).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token<'a> {
    pub kind: Kind<'a>,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self, input: &str) -> String {
        match &self.kind {
            // A string literal is shown as written: it is already quoted.
            Kind::Str(_) => format!("the string {}", truncate(&input[self.start..self.end])),
            _ => quote(&input[self.start..self.end]),
        }
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// The 1-based character position of byte offset `at`, as shown to clients.
pub(super) fn position(input: &str, at: usize) -> usize {
    input[..at].chars().count() + 1
}

/// `text` quoted for an error message, shortened so hostile input cannot bloat responses.
pub(super) fn quote(text: &str) -> String {
    let (head, cut) = head(text);
    format!("{head:?}{}", if cut { "…" } else { "" })
}

/// `text` shortened like [`quote`], for text that is already quoted.
fn truncate(text: &str) -> String {
    let (head, cut) = head(text);
    format!("{head}{}", if cut { "…" } else { "" })
}

/// The first 100 characters of `text` (enough for a URN-qualified path), and whether that cut
/// anything off.
fn head(text: &str) -> (&str, bool) {
    match text.char_indices().nth(100) {
        Some((i, _)) => (&text[..i], true),
        None => (text, false),
    }
}

/// Tokenises `input`; fails on an unterminated or malformed string.
pub(super) fn tokenize(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        let single = match c {
            '(' => Some(Kind::LParen),
            ')' => Some(Kind::RParen),
            '[' => Some(Kind::LBracket),
            ']' => Some(Kind::RBracket),
            _ => None,
        };
        if let Some(kind) = single {
            chars.next();
            tokens.push(Token {
                kind,
                start,
                end: start + 1,
            });
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let end = string_end(input, start)?;
            let text = &input[start..end];
            let value: String = serde_json::from_str(text).map_err(|e| {
                FilterError(format!(
                    "invalid string {} at position {}: {}",
                    quote(text),
                    position(input, start),
                    // serde's "at line 1 column N" refers to the literal, not the filter.
                    e.to_string().split(" at line").next().unwrap_or_default()
                ))
            })?;
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
            tokens.push(Token {
                kind: Kind::Str(value),
                start,
                end,
            });
        } else {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !is_word_char(c) {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            tokens.push(Token {
                kind: Kind::Word(&input[start..end]),
                start,
                end,
            });
        }
    }
    Ok(tokens)
}

/// The byte offset just past the closing quote of the string starting at `start`.
fn string_end(input: &str, start: usize) -> Result<usize, FilterError> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(FilterError(format!(
        "unterminated string starting at position {}: add the closing '\"'",
        position(input, start)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<Kind<'_>> {
        tokenize(input).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn splits_words_strings_and_brackets() {
        assert_eq!(
            kinds(r#"emails[type eq "work"].value"#),
            vec![
                Kind::Word("emails"),
                Kind::LBracket,
                Kind::Word("type"),
                Kind::Word("eq"),
                Kind::Str("work".into()),
                Kind::RBracket,
                Kind::Word(".value"),
            ]
        );
        assert_eq!(
            kinds("not(a pr)"),
            vec![
                Kind::Word("not"),
                Kind::LParen,
                Kind::Word("a"),
                Kind::Word("pr"),
                Kind::RParen
            ]
        );
    }

    #[test]
    fn unescapes_strings() {
        assert_eq!(kinds(r#""a\"b\\c\u00e9\n""#), vec![Kind::Str("a\"b\\c\u{e9}\n".into())]);
        assert_eq!(kinds(r#""é ü""#), vec![Kind::Str("é ü".into())]);
    }

    #[test]
    fn records_offsets() {
        let t = tokenize(r#"ab  "x""#).unwrap();
        assert_eq!((t[0].start, t[0].end), (0, 2));
        assert_eq!((t[1].start, t[1].end), (4, 7));
    }

    #[test]
    fn rejects_bad_strings_and_characters() {
        assert_eq!(
            tokenize(r#"a eq "abc"#).unwrap_err().0,
            "unterminated string starting at position 6: add the closing '\"'"
        );
        assert_eq!(
            tokenize(r#"a eq "abc\"#).unwrap_err().0,
            "unterminated string starting at position 6: add the closing '\"'"
        );
        let err = tokenize(r#"a eq "\q""#).unwrap_err().0;
        assert!(
            err.starts_with(r#"invalid string "\"\\q\"" at position 6: invalid escape"#),
            "{err}"
        );
    }

    /// Unquoted values are single words, however odd their characters.
    #[test]
    fn bare_values_are_words() {
        assert_eq!(
            kinds("a eq 'x' and b sw jo@x.io)"),
            vec![
                Kind::Word("a"),
                Kind::Word("eq"),
                Kind::Word("'x'"),
                Kind::Word("and"),
                Kind::Word("b"),
                Kind::Word("sw"),
                Kind::Word("jo@x.io"),
                Kind::RParen
            ]
        );
        assert_eq!(
            kinds("meta.created gt 2015-10-10T14:38:21.8617979-07:00]"),
            vec![
                Kind::Word("meta.created"),
                Kind::Word("gt"),
                Kind::Word("2015-10-10T14:38:21.8617979-07:00"),
                Kind::RBracket
            ]
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(position("éé x", 5), 4);
        assert_eq!(quote(&"x".repeat(100)), format!("\"{}\"", "x".repeat(100)));
        assert_eq!(quote(&"x".repeat(150)), format!("\"{}\"…", "x".repeat(100)));
    }
}
