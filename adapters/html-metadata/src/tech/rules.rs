//! The rule file, `rules/technologies.toml`, as written: its entries, the
//! categories a rule may name, and why a file does not load. Its header
//! documents the format.

use serde::Deserialize;

use super::signals::SignalKind;

/// The rule file embedded in the binary.
pub(super) const RULES_SOURCE: &str = include_str!("../../rules/technologies.toml");

/// Every category a rule may name. `SiteMetadata::tech_stack()` groups them:
/// some fill the old four lists, the others become keys of their own.
pub(crate) const CATEGORIES: &[&str] = &[
    "cms",
    "ecommerce",
    "ecommerce-app",
    "payments",
    "site-builder",
    "static-site-generator",
    "page-builder",
    "plugin",
    "framework",
    "web-framework",
    "javascript-library",
    "css-framework",
    "ui",
    "analytics",
    "ab-testing",
    "tag-manager",
    "advertising",
    "marketing",
    "crm",
    "chat",
    "forms",
    "widget",
    "consent",
    "scheduling",
    "reviews",
    "search",
    "captcha",
    "accessibility",
    "fonts",
    "maps",
    "video",
    "translation",
    "monitoring",
    "security",
    "cdn",
    "hosting",
    "web-server",
    "language",
    "database",
    "feature",
];

/// The rule file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    pub(super) technology: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleSpec {
    pub(super) name: String,
    pub(super) category: String,
    #[serde(default)]
    pub(super) implies: Vec<String>,
    pub(super) signals: Vec<SignalSpec>,
    /// Snippets the tests run the rule on; nothing at run time reads them.
    #[serde(default, rename = "examples")]
    _examples: serde::de::IgnoredAny,
    #[serde(default, rename = "ignores")]
    _ignores: serde::de::IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignalSpec {
    pub(super) on: SignalKind,
    pub(super) pattern: String,
    pub(super) version: Option<String>,
}

/// A rule file that does not load: a bad pattern, an unknown key, an
/// `implies` naming no rule.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RuleError {
    /// The file is not valid TOML of the expected shape.
    #[error("technology rules: {0}")]
    Format(#[from] toml::de::Error),
    /// A pattern does not compile.
    #[error("technology rule {name}: pattern {pattern:?}: {source}")]
    Pattern {
        /// The technology.
        name: String,
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
    /// Two rules share a name.
    #[error("technology rule {0} is written twice")]
    DuplicateName(String),
    /// A category outside [`CATEGORIES`].
    #[error("technology rule {name}: unknown category {category}")]
    UnknownCategory {
        /// The technology.
        name: String,
        /// The category as written.
        category: String,
    },
    /// `implies` names a technology that has no rule.
    #[error("technology rule {name} implies unknown technology {implied}")]
    UnknownImplied {
        /// The technology.
        name: String,
        /// The missing name.
        implied: String,
    },
}
