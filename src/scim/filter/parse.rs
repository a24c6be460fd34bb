//! A recursive-descent parser for RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths.
//!
//! ```text
//! filter    = orExp
//! orExp     = andExp *("or" andExp)              ; "and" binds tighter than "or"
//! andExp    = unary *("and" unary)
//! unary     = "not" "(" orExp ")" / "(" orExp ")" / attrExp / valuePath ["." subAttr opPart]
//! attrExp   = attrPath ("pr" / compareOp compValue)
//! valuePath = attrPath "[" orExp "]"              ; no value path inside the brackets
//! attrPath  = [URN ":"] attrName ["." subAttr]   ; the URN ends at the last ":"
//! ```
//! Keywords and operators are case-insensitive; attribute names keep their spelling (lookup is
//! case-insensitive later). `emails[type eq "work"].value eq "x"` becomes
//! `emails[type eq "work" and value eq "x"]`: "some email is a work email whose value is x",
//! which is what the RFC means and keeps the AST free of a dedicated node.

use serde_json::Value;

use super::ast::{AttrPath, CompareOp, Filter, PatchPath};
use super::error::FilterError;
use super::lexer::{Kind, Token, position, quote, tokenize};

/// The longest filter or path accepted, in bytes: a bound on work done for hostile input.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest nesting of parentheses, `not ( … )` and `[ … ]` accepted: bounds the recursion.
pub const MAX_DEPTH: usize = 64;

const OPERATORS: &str = "eq, ne, co, sw, ew, gt, ge, lt, le, pr";

/// Parses a `filter` query parameter (RFC 7644 §3.4.2.2).
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input, "filter")?;
    let filter = p.or_exp(Scope::Top)?;
    p.expect_end()?;
    Ok(filter)
}

/// Parses a PATCH operation's `path` (RFC 7644 §3.5.2):
/// `attrPath`, `attrPath "[" valFilter "]"` or `attrPath "[" valFilter "]" "." subAttr`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input, "path")?;
    let (word, start) = p.word_at_attr("a path")?;
    let attr = p.attr_path(word, start)?;
    let mut path = PatchPath {
        attr,
        value_filter: None,
        sub_attr: None,
    };
    if p.peek_kind() == Some(&Kind::LBracket) {
        let (filter, sub) = p.value_filter(&path.attr, start)?;
        path.value_filter = Some(filter);
        path.sub_attr = sub.map(|(s, _)| s);
    }
    if let Some(t) = p.peek() {
        return Err(FilterError(format!(
            "unexpected {} at position {} after the path; a path is attr, attr[filter] or attr[filter].subAttr",
            t.describe(input),
            position(input, t.start)
        )));
    }
    Ok(path)
}

/// Where the parser is: inside `[ … ]` value paths are not allowed (RFC 7644 `valFilter`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    Top,
    Bracket,
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, what: &str) -> Result<Self, FilterError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(FilterError(format!(
                "the {what} is {} bytes long; at most {MAX_FILTER_LEN} are accepted",
                input.len()
            )));
        }
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Err(FilterError(format!("the {what} is empty")));
        }
        Ok(Parser {
            input,
            tokens,
            pos: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn peek_kind(&self) -> Option<&Kind<'a>> {
        self.peek().map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// The byte offset of the next token, or the end of input.
    fn here(&self) -> usize {
        self.peek().map_or(self.input.len(), |t| t.start)
    }

    fn error_at(&self, at: usize, message: String) -> FilterError {
        FilterError(format!("{message} at position {}", position(self.input, at)))
    }

    /// "expected X at position N, found Y".
    fn expected(&self, what: &str) -> FilterError {
        let found = match self.peek() {
            Some(t) => t.describe(self.input),
            None => "the end of the input".into(),
        };
        let at = position(self.input, self.here());
        FilterError(format!("expected {what} at position {at}, found {found}"))
    }

    /// Is the next token the keyword `kw` (case-insensitive)?
    fn at_keyword(&self, kw: &str) -> bool {
        matches!(self.peek_kind(), Some(Kind::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self, at: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(at, format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn expect_end(&self) -> Result<(), FilterError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected("\"and\", \"or\" or the end of the filter")),
        }
    }

    fn or_exp(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut left = self.and_exp(scope)?;
        while self.at_keyword("or") {
            self.pos += 1;
            let right = self.and_exp(scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_exp(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut left = self.unary(scope)?;
        while self.at_keyword("and") {
            self.pos += 1;
            let right = self.unary(scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        // `not` is a keyword only when "(" follows; otherwise it is an attribute name.
        if self.at_keyword("not") && self.tokens.get(self.pos + 1).map(|t| &t.kind) == Some(&Kind::LParen) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.parenthesized(scope)?)));
        }
        if self.peek_kind() == Some(&Kind::LParen) {
            return self.parenthesized(scope);
        }
        if self.at_keyword("not") {
            // `not userName eq "x"`: say what is missing rather than "expected an operator".
            let next = self.tokens.get(self.pos + 1).map(|t| &t.kind);
            let looks_like_attr = match next {
                Some(Kind::Word(w)) => parse_op(w).is_some(),
                Some(Kind::LBracket) => true,
                _ => false,
            };
            if !looks_like_attr {
                self.pos += 1;
                return Err(self.expected("\"(\" after \"not\""));
            }
        }
        let (word, start) = self.word_at_attr("an attribute path, \"not\" or \"(\"")?;
        let path = self.attr_path(word, start)?;
        if self.peek_kind() == Some(&Kind::LBracket) {
            if scope == Scope::Bracket {
                return Err(self.error_at(
                    self.here(),
                    "a value filter cannot contain another value filter (\"[\")".into(),
                ));
            }
            let (inner, sub) = self.value_filter(&path, start)?;
            let filter = match sub {
                None => inner,
                Some((sub, sub_start)) => {
                    let sub_path = AttrPath::new(sub);
                    let tail = self.attr_exp(sub_path, sub_start)?;
                    Filter::And(Box::new(inner), Box::new(tail))
                }
            };
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(filter),
            });
        }
        self.attr_exp(path, start)
    }

    /// `"(" orExp ")"`, the next token being "(".
    fn parenthesized(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let open = self.here();
        self.pos += 1;
        self.enter(open)?;
        let inner = self.or_exp(scope)?;
        if self.peek_kind() != Some(&Kind::RParen) {
            return Err(self.expected("\"and\", \"or\" or \")\""));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    /// `"[" orExp "]" ["." subAttr]` after `attr`; returns the filter and the sub-attribute.
    fn value_filter(
        &mut self,
        attr: &AttrPath,
        attr_start: usize,
    ) -> Result<(Filter, Option<(String, usize)>), FilterError> {
        if let Some(sub) = &attr.sub_attr {
            return Err(self.error_at(
                attr_start,
                format!(
                    "a value filter \"[…]\" applies to an attribute, not to the sub-attribute {}",
                    quote(sub)
                ),
            ));
        }
        let open = self.here();
        self.pos += 1;
        self.enter(open)?;
        let inner = self.or_exp(Scope::Bracket)?;
        if self.peek_kind() != Some(&Kind::RBracket) {
            return Err(self.expected("\"and\", \"or\" or \"]\""));
        }
        let close = self.next().map_or(self.input.len(), |t| t.end);
        self.depth -= 1;
        // `].subAttr` must be written without a space: the lexer makes ".subAttr" one word.
        let sub = match self.peek() {
            Some(Token {
                kind: Kind::Word(w),
                start,
                ..
            }) if *start == close && w.starts_with('.') => {
                let (w, start) = (*w, *start);
                self.pos += 1;
                let name = &w[1..];
                self.check_name(name, start + 1, "sub-attribute")?;
                Some((name.to_string(), start + 1))
            }
            _ => None,
        };
        Ok((inner, sub))
    }

    /// The next token as a word in attribute position.
    fn word_at_attr(&mut self, what: &str) -> Result<(&'a str, usize), FilterError> {
        match self.peek() {
            Some(Token {
                kind: Kind::Word(w),
                start,
                ..
            }) => {
                let r = (*w, *start);
                self.pos += 1;
                Ok(r)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// `pr` or `compareOp compValue` after `path`.
    fn attr_exp(&mut self, path: AttrPath, path_start: usize) -> Result<Filter, FilterError> {
        let path_text = &self.input[path_start..self.tokens[self.pos - 1].end];
        let op = match self.peek_kind() {
            Some(Kind::Word(w)) => parse_op(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.expected(&format!("an operator ({OPERATORS}) after {}", quote(path_text))));
        };
        let op_text = self.input[self.here()..self.tokens[self.pos].end].to_string();
        self.pos += 1;
        let Some(op) = op else {
            // `pr` takes no value: catch `title pr "x"` with a precise message.
            if let Some(t) = self.peek()
                && (matches!(t.kind, Kind::Str(_)) || matches!(t.kind, Kind::Word(w) if literal(w).is_some()))
            {
                return Err(self.error_at(
                    t.start,
                    format!("\"pr\" takes no value, but {} follows it", t.describe(self.input)),
                ));
            }
            return Ok(Filter::Present(path));
        };
        let value = match self.peek_kind() {
            Some(Kind::Str(s)) => Some(Value::String(s.clone())),
            // Unquoted strings (`userName sw O`, `externalId eq jyoung`) are what Microsoft's
            // documentation shows and some clients send: a bare word is a string unless it reads
            // as true, false, null or a number.
            Some(Kind::Word(w)) => Some(literal(w).unwrap_or_else(|| Value::String((*w).to_string()))),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.expected(&format!(
                "a value (a string, a number, true, false or null) after {}",
                quote(&op_text)
            )));
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }

    /// Splits a word into `[URN ":"] attrName ["." subAttr]` and checks each name.
    fn attr_path(&self, word: &str, start: usize) -> Result<AttrPath, FilterError> {
        let (schema, rest, rest_start) = match word.rfind(':') {
            Some(i) => {
                let urn = &word[..i];
                if !urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
                    return Err(FilterError(format!(
                        "invalid attribute path {} at position {}: a qualified path is a schema URN (urn:…), \":\" and an attribute name",
                        quote(word),
                        position(self.input, start)
                    )));
                }
                (Some(urn.to_string()), &word[i + 1..], start + i + 1)
            }
            None => (None, word, start),
        };
        let (attr, sub_attr) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        self.check_name(attr, rest_start, "attribute")?;
        if let Some(s) = sub_attr {
            self.check_name(s, rest_start + attr.len() + 1, "sub-attribute")?;
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_string(),
            sub_attr: sub_attr.map(str::to_string),
        })
    }

    /// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, nameChar = "-" / "_" / DIGIT / ALPHA;
    /// plus `$ref`.
    fn check_name(&self, name: &str, at: usize, what: &str) -> Result<(), FilterError> {
        let mut chars = name.chars();
        let ok = name.eq_ignore_ascii_case("$ref")
            || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if ok {
            return Ok(());
        }
        let at = position(self.input, at);
        Err(FilterError(if name.is_empty() {
            format!("missing {what} name at position {at}")
        } else {
            format!(
                "invalid {what} name {} at position {at}: a name starts with a letter and has only letters, digits, \"-\" and \"_\"",
                quote(name)
            )
        }))
    }
}

/// `Some(None)` for `pr`, `Some(Some(op))` for a comparison operator.
fn parse_op(word: &str) -> Option<Option<CompareOp>> {
    let op = match word.to_ascii_lowercase().as_str() {
        "pr" => return Some(None),
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    };
    Some(Some(op))
}

/// A bare compValue: `true`, `false`, `null` (any case) or a JSON number.
fn literal(word: &str) -> Option<Value> {
    match word.to_ascii_lowercase().as_str() {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "null" => return Some(Value::Null),
        _ => {}
    }
    if !word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    // serde_json checks the JSON number syntax; its float parsing is not correctly rounded
    // without a feature flag, so floats are re-read with `str::parse`, which is.
    match serde_json::from_str::<Value>(word) {
        Ok(Value::Number(n)) if n.is_f64() => word.parse::<f64>().ok().map(Value::from),
        Ok(v @ Value::Number(_)) => Some(v),
        _ => None,
    }
}
