//! The SCIM schemas this server implements (RFC 7643 §4, §8.7), as data.
//!
//! One table drives discovery (`/Schemas`), filter case sensitivity, PATCH mutability and
//! attribute projection, so what `/Schemas` advertises is exactly what the server does.

use crate::scim::filter::AttrPath;

pub const USER_SCHEMA_ID: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA_ID: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA_ID: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub sub_attributes: &'static [Attribute],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
}

impl Attribute {
    /// A single-valued, optional, read-write, case-insensitive string: the common case.
    const fn string(name: &'static str, description: &'static str) -> Self {
        Attribute {
            name,
            ty: AttrType::String,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            sub_attributes: &[],
            canonical_values: &[],
            reference_types: &[],
            description,
        }
    }
    const fn of(mut self, ty: AttrType) -> Self {
        self.ty = ty;
        self
    }
    const fn complex(mut self, subs: &'static [Attribute]) -> Self {
        self.ty = AttrType::Complex;
        self.sub_attributes = subs;
        self
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.ty = AttrType::Reference;
        self.reference_types = types;
        self
    }

    /// The sub-attribute `name`, compared case-insensitively (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN and its attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The top-level attribute `name`, compared case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A resource type (RFC 7643 §6): an endpoint, its core schema and its extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: &'static [&'static Schema],
}

/// Where an attribute path lands: which schema (core or an extension) and which definitions.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The extension schema holding the attribute, or `None` for the core schema.
    pub extension: Option<&'static Schema>,
    pub attribute: &'static Attribute,
    /// The sub-attribute definition when the path names one.
    pub sub_attribute: Option<&'static Attribute>,
}

impl Resolved {
    /// The definition the path finally points at.
    pub fn target(&self) -> &'static Attribute {
        self.sub_attribute.unwrap_or(self.attribute)
    }
}

impl ResourceType {
    /// Resolves `path` against this resource type's schemas; `None` when no such attribute.
    ///
    /// A path may be URN-qualified (`urn:…:enterprise:2.0:User:employeeNumber`); an unqualified
    /// name is looked up in the core schema first, then in the extensions. The common attribute
    /// `meta` (RFC 7643 §3.1) resolves as part of the core schema (`extension: None`).
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved> {
        let core = |name: &str| {
            self.schema
                .attribute(name)
                .or_else(|| name.eq_ignore_ascii_case(META.name).then_some(&META))
        };
        let (extension, attribute) = match &path.schema {
            Some(urn) if urn.eq_ignore_ascii_case(self.schema.id) => (None, core(&path.attr)?),
            Some(urn) => {
                let ext = self.extensions.iter().find(|s| s.id.eq_ignore_ascii_case(urn))?;
                (Some(*ext), ext.attribute(&path.attr)?)
            }
            None => match core(&path.attr) {
                Some(a) => (None, a),
                None => self
                    .extensions
                    .iter()
                    .find_map(|s| s.attribute(&path.attr).map(|a| (Some(*s), a)))?,
            },
        };
        let sub_attribute = match &path.sub_attr {
            Some(sub) => Some(attribute.sub_attribute(sub)?),
            None => None,
        };
        Some(Resolved {
            extension,
            attribute,
            sub_attribute,
        })
    }

    /// All schemas of this resource type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> {
        std::iter::once(self.schema).chain(self.extensions.iter().copied())
    }
}

use AttrType::{Boolean, DateTime, Reference};
use Mutability::{Immutable, ReadOnly, WriteOnly};

/// `value`/`display`/`type`/`primary`: the sub-attributes of most multi-valued attributes.
const fn multi_valued_subs(value: Attribute, types: &'static [&'static str]) -> [Attribute; 4] {
    [
        value,
        Attribute::string("display", "A human-readable name, primarily used for display purposes."),
        Attribute::string("type", "A label indicating the attribute's function.").canonical(types),
        Attribute::string("primary", "Whether this is the primary value.").of(Boolean),
    ]
}

const EMAIL_SUBS: [Attribute; 4] =
    multi_valued_subs(Attribute::string("value", "Email address."), &["work", "home", "other"]);
const PHONE_SUBS: [Attribute; 4] = multi_valued_subs(
    Attribute::string("value", "Phone number."),
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IMS_SUBS: [Attribute; 4] = multi_valued_subs(
    Attribute::string("value", "Instant messaging address."),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTO_SUBS: [Attribute; 4] = multi_valued_subs(
    Attribute::string("value", "URL of a photo.").refs(&["external"]),
    &["photo", "thumbnail"],
);
const ROLE_SUBS: [Attribute; 4] = multi_valued_subs(Attribute::string("value", "Role value."), &[]);
const X509_SUBS: [Attribute; 4] = multi_valued_subs(
    Attribute::string("value", "DER-encoded X.509 certificate.").of(AttrType::Binary),
    &[],
);

const NAME_SUBS: [Attribute; 6] = [
    Attribute::string("formatted", "The full name, formatted for display."),
    Attribute::string("familyName", "The family name."),
    Attribute::string("givenName", "The given name."),
    Attribute::string("middleName", "The middle name(s)."),
    Attribute::string("honorificPrefix", "The honorific prefix(es)."),
    Attribute::string("honorificSuffix", "The honorific suffix(es)."),
];

const ADDRESS_SUBS: [Attribute; 8] = [
    Attribute::string("formatted", "The full mailing address, formatted for display."),
    Attribute::string("streetAddress", "The full street address."),
    Attribute::string("locality", "The city or locality."),
    Attribute::string("region", "The state or region."),
    Attribute::string("postalCode", "The zip code or postal code."),
    Attribute::string("country", "The country name component."),
    Attribute::string("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
    Attribute::string("primary", "Whether this is the primary address.").of(Boolean),
];

const GROUP_REF_SUBS: [Attribute; 4] = [
    Attribute::string("value", "The identifier of the group.").mutability(ReadOnly),
    Attribute::string("$ref", "The URI of the group.")
        .refs(&["Group"])
        .mutability(ReadOnly),
    Attribute::string("display", "The group's displayName.").mutability(ReadOnly),
    Attribute::string("type", "How the membership was derived.")
        .canonical(&["direct"])
        .mutability(ReadOnly),
];

const USER_ATTRIBUTES: [Attribute; 22] = [
    Attribute::string("userName", "Unique identifier for the user, typically used to sign in.")
        .required()
        .unique(),
    Attribute::string("name", "The components of the user's name.").complex(&NAME_SUBS),
    Attribute::string("displayName", "The name of the user, suitable for display."),
    Attribute::string("nickName", "The casual way to address the user."),
    Attribute::string("profileUrl", "A URI of the user's online profile.").refs(&["external"]),
    Attribute::string("title", "The user's title, such as \"Vice President\"."),
    Attribute::string("userType", "The relationship between the organization and the user."),
    Attribute::string("preferredLanguage", "The user's preferred written or spoken language."),
    Attribute::string("locale", "The user's default location for localization."),
    Attribute::string("timezone", "The user's time zone in IANA format."),
    Attribute::string("active", "The user's administrative status.").of(Boolean),
    Attribute::string("password", "Accepted and discarded: this server stores no passwords.")
        .case_exact()
        .mutability(WriteOnly)
        .returned(Returned::Never),
    Attribute::string("emails", "Email addresses for the user.")
        .complex(&EMAIL_SUBS)
        .multi(),
    Attribute::string("phoneNumbers", "Phone numbers for the user.")
        .complex(&PHONE_SUBS)
        .multi(),
    Attribute::string("ims", "Instant messaging addresses for the user.")
        .complex(&IMS_SUBS)
        .multi(),
    Attribute::string("photos", "URLs of photos of the user.")
        .complex(&PHOTO_SUBS)
        .multi(),
    Attribute::string("addresses", "Physical mailing addresses for the user.")
        .complex(&ADDRESS_SUBS)
        .multi(),
    Attribute::string("groups", "The groups the user belongs to, maintained through /Groups.")
        .complex(&GROUP_REF_SUBS)
        .multi()
        .mutability(ReadOnly),
    Attribute::string(
        "roles",
        "Roles of the user; drive the organisation role (owner > admin > member).",
    )
    .complex(&ROLE_SUBS)
    .multi(),
    Attribute::string("x509Certificates", "X.509 certificates issued to the user.")
        .complex(&X509_SUBS)
        .multi(),
    Attribute::string("externalId", "The identifier of the user in the provisioning client.").case_exact(),
    Attribute::string("id", "The server's identifier of the user.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .unique(),
];

const MANAGER_SUBS: [Attribute; 3] = [
    Attribute::string("value", "The id of the user's manager.").case_exact(),
    Attribute::string("$ref", "The URI of the manager.").refs(&["User"]),
    Attribute::string("displayName", "The manager's displayName.").mutability(ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: [Attribute; 6] = [
    Attribute::string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    Attribute::string("costCenter", "Identifies the name of a cost center."),
    Attribute::string("organization", "Identifies the name of an organization."),
    Attribute::string("division", "Identifies the name of a division."),
    Attribute::string("department", "Identifies the name of a department."),
    Attribute::string("manager", "The user's manager.").complex(&MANAGER_SUBS),
];

const MEMBER_SUBS: [Attribute; 4] = [
    Attribute::string("value", "The id of the member.")
        .case_exact()
        .mutability(Immutable),
    Attribute::string("$ref", "The URI of the member.")
        .refs(&["User"])
        .mutability(Immutable),
    Attribute::string("display", "The member's displayName.").mutability(ReadOnly),
    Attribute::string("type", "The member's resource type.")
        .canonical(&["User"])
        .mutability(Immutable),
];

const GROUP_ATTRIBUTES: [Attribute; 4] = [
    Attribute::string(
        "displayName",
        "A human-readable name for the group; unique in a directory.",
    )
    .required()
    .case_exact()
    .unique(),
    Attribute::string("members", "The users in the group.")
        .complex(&MEMBER_SUBS)
        .multi(),
    Attribute::string("externalId", "The identifier of the group in the provisioning client.").case_exact(),
    Attribute::string("id", "The server's identifier of the group.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .unique(),
];

/// Attributes every resource carries (RFC 7643 §3.1), resolvable in filters (`meta.lastModified gt …`).
pub const META: Attribute = Attribute::string("meta", "Resource metadata.")
    .complex(&META_SUBS)
    .mutability(ReadOnly);
const META_SUBS: [Attribute; 5] = [
    Attribute::string("resourceType", "The resource type.")
        .case_exact()
        .mutability(ReadOnly),
    Attribute::string("created", "When the resource was created.")
        .of(DateTime)
        .mutability(ReadOnly),
    Attribute::string("lastModified", "When the resource was last modified.")
        .of(DateTime)
        .mutability(ReadOnly),
    Attribute::string("location", "The URI of the resource.")
        .of(Reference)
        .mutability(ReadOnly),
    Attribute::string("version", "The version (ETag) of the resource.")
        .case_exact()
        .mutability(ReadOnly),
];

pub static USER_SCHEMA: Schema = Schema {
    id: USER_SCHEMA_ID,
    name: "User",
    description: "User Account",
    attributes: &USER_ATTRIBUTES,
};

pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA_ID,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_ATTRIBUTES,
};

pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP_SCHEMA_ID,
    name: "Group",
    description: "Group",
    attributes: &GROUP_ATTRIBUTES,
};

pub static USER_RESOURCE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[&ENTERPRISE_USER_SCHEMA],
};

pub static GROUP_RESOURCE: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};
