//! The syntax tree shared by the filter parser, the evaluator and the PATCH engine.

use serde_json::Value;

/// `[schemaURN ":"] attrName ["." subAttr]`, e.g. `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN when the path is qualified.
    pub schema: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// An unqualified path without a sub-attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath {
            schema: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }
}

/// The comparison operators of RFC 7644 §3.4.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op compValue`; the value is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `attrPath pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath "[" valFilter "]"`: some value of the multi-valued `attr` matches `filter`,
    /// whose paths are relative to that value (`emails[type eq "work"]`).
    /// The parser folds `emails[type eq "work"].value eq "x"` into this node as
    /// `emails[type eq "work" and value eq "x"]`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH `path`: `attrPath` or `valuePath ["." subAttr]` (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (and, without a value filter, possibly its sub-attribute).
    pub attr: AttrPath,
    /// `members[value eq "…"]`: selects the values of a multi-valued attribute.
    pub value_filter: Option<Filter>,
    /// `emails[type eq "work"].value`: the sub-attribute after a value filter.
    pub sub_attr: Option<String>,
}
