//! [`Company`]: the legal entity behind a site, as the site states it
//! (`meta_json.company`). Field names are schema.org's in snake_case; a
//! part the site does not state is absent, never guessed.

use serde::{Deserialize, Serialize};

/// Who stands behind the site: its names, registered address, country,
/// registration and tax numbers, and where each was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    /// The name the business goes by (JSON-LD `name` of its node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The registered name with its legal form (`Möbel Schmidt GmbH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// The company's own postal address: never a hoster's, a data
    /// protection officer's or a partner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    /// ISO 3166-1 alpha-2 code of the company's country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// What `country` was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_source: Option<CountrySource>,
    /// Registration and tax numbers, normalised; those with a checksum
    /// only when it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<CompanyIdentifier>,
    /// The pages and parts of pages the values above were read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<CompanySource>,
}

/// A postal address split as schema.org's `PostalAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// Street and house number (`Hauptstraße 5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// The postal code as the country writes it (`10115`, `LS1 4AP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// The town or city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// A state, province or county where the country uses one (`NSW`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Where a company's country was read, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountrySource {
    /// The company's address.
    Address,
    /// The country code of the site's international phone numbers.
    Phone,
    /// The site's country-code top-level domain alone (`.de`).
    Cctld,
    /// The region of the page's language tag (`sv-SE`); a language
    /// without a region never gives a country.
    LanguageRegion,
}

/// One registration or tax number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyIdentifier {
    /// What the number is.
    pub kind: IdentifierKind,
    /// Normalised: no spaces or dots; a VAT number with its country
    /// prefix (`DE269543714`), a register entry with its kind
    /// (`HRB 218734`).
    pub value: String,
    /// The register or court that keeps it, when the site says
    /// (`Amtsgericht München`, `RCS Nantes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// ISO 3166-1 alpha-2 code of the issuing country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// The kinds of [`CompanyIdentifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// A VAT identification number (EU check digits validated).
    Vat,
    /// An entry of a commercial register (`HRB 218734`, `FN 123456a`).
    TradeRegister,
    /// A national company number (UK Companies House, Dutch KvK, Danish
    /// CVR, Belgian enterprise number, Swiss UID, Australian ABN).
    CompanyNumber,
    /// The French SIREN (Luhn validated).
    Siren,
    /// The French SIRET (Luhn validated).
    Siret,
    /// The Swedish or Norwegian organisation number (checksum validated).
    OrgNr,
}

/// Which part of which page gave company details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanySource {
    /// The page's URL.
    pub page: String,
    /// The part of it.
    pub part: CompanyPart,
}

/// The parts of a page company details are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyPart {
    /// A JSON-LD `Organization`/`LocalBusiness` node.
    JsonLd,
    /// Microdata (`itemprop`) on the home page.
    Microdata,
    /// The home page's footer.
    Footer,
    /// An imprint or legal notice page.
    Imprint,
    /// A contact or about page's text.
    ContactPage,
}

impl Company {
    /// Whether the site stated the legal entity (its legal name, an
    /// address or a number): a brand name, or a country its domain or
    /// language suggests, is not enough.
    pub fn is_stated(&self) -> bool {
        self.legal_name.is_some() || self.address.is_some() || !self.identifiers.is_empty()
    }

    /// Adds what `other` (read from a later, less trusted page) states and
    /// this lacks: a name, an address, identifiers not yet known, and its
    /// sources; and its country when it came from a better source (an
    /// address where this one only had the domain).
    pub fn merge(&mut self, other: Company) {
        let better_country = match (self.country_source, other.country_source) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(held), Some(offered)) => offered < held,
        };
        if better_country {
            self.country.clone_from(&other.country);
            self.country_source = other.country_source;
        }
        let mut used = false;
        if self.name.is_none() && other.name.is_some() {
            self.name = other.name;
            used = true;
        }
        if self.legal_name.is_none() && other.legal_name.is_some() {
            self.legal_name = other.legal_name;
            used = true;
        }
        if self.address.is_none() && other.address.is_some() {
            self.address = other.address;
            used = true;
        }
        for identifier in other.identifiers {
            if !self
                .identifiers
                .iter()
                .any(|known| known.kind == identifier.kind && known.value == identifier.value)
            {
                self.identifiers.push(identifier);
                used = true;
            }
        }
        if used {
            for source in other.sources {
                if !self.sources.contains(&source) {
                    self.sources.push(source);
                }
            }
        }
    }
}
