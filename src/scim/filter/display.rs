//! Canonical filter syntax: `Display` output parses back to the same AST.
//!
//! Operators and keywords print in lower case, values as JSON, and parentheses appear only
//! where precedence needs them (`a or b` under `and`, and a right operand of the same operator,
//! since the parser groups `a and b and c` to the left).

use std::fmt;

use super::ast::{AttrPath, CompareOp, Filter, PatchPath};

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl CompareOp {
    /// The operator as written in a filter (`eq`, `ne`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `filter`, in parentheses when `paren` says so.
fn operand(f: &mut fmt::Formatter<'_>, filter: &Filter, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(l, r) => {
                operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                write!(f, "{l} or ")?;
                operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.value_filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::scim::filter::parse_filter;

    fn canonical(input: &str) -> String {
        parse_filter(input).unwrap().to_string()
    }

    #[test]
    fn prints_canonical_syntax() {
        assert_eq!(canonical(r#"userName EQ "a\"b""#), r#"userName eq "a\"b""#);
        assert_eq!(canonical("a pr OR b pr AND c pr"), "a pr or b pr and c pr");
        assert_eq!(canonical("(a pr or b pr) and c pr"), "(a pr or b pr) and c pr");
        assert_eq!(canonical("a pr and (b pr and c pr)"), "a pr and (b pr and c pr)");
        assert_eq!(canonical("a pr or (b pr or c pr)"), "a pr or (b pr or c pr)");
        assert_eq!(canonical("((a pr))"), "a pr");
        assert_eq!(canonical("NOT(a eq 1.5)"), "not (a eq 1.5)");
        assert_eq!(
            canonical(r#"emails[type eq "work"].value eq "x""#),
            r#"emails[type eq "work" and value eq "x"]"#
        );
        assert_eq!(
            canonical("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq null"),
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq null"
        );
    }

    #[test]
    fn prints_patch_paths() {
        let p = crate::scim::filter::parse_patch_path(r#"emails[type EQ "work"].value"#).unwrap();
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    }
}
