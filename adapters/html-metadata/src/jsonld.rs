//! What the page's JSON-LD (`<script type="application/ld+json">`) says about
//! the site: the WebSite and Organization names, the organization's logo and
//! its `sameAs` profiles, and the business node's legal facts (legal name,
//! address, VAT number, telephone) for the company.

use serde_json::Value;

/// JSON-LD nodes deeper than this are not looked at (a hostile document
/// cannot make the walk expensive).
const MAX_DEPTH: usize = 16;

/// The facts the extractors use, each from the best-placed node.
#[derive(Debug, Default)]
pub(crate) struct LinkedData {
    pub(crate) website_name: Option<String>,
    pub(crate) organization_name: Option<String>,
    pub(crate) organization_logo: Option<String>,
    pub(crate) same_as: Vec<String>,
    /// The name of the node the page names its `publisher`.
    pub(crate) publisher_name: Option<String>,
    /// The `description` of the page's own node (not an author's).
    pub(crate) description: Option<String>,
    /// The `image` or `thumbnailUrl` of the page's own node.
    pub(crate) image: Option<String>,
    /// The best-placed Organization or LocalBusiness node that states a
    /// legal name, an address, a VAT number or a telephone.
    pub(crate) business: Option<Business>,
}

/// What an Organization or LocalBusiness node states about the company,
/// as written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Business {
    pub(crate) name: Option<String>,
    pub(crate) legal_name: Option<String>,
    pub(crate) address: Option<WrittenAddress>,
    pub(crate) vat_id: Option<String>,
    pub(crate) telephone: Option<String>,
}

/// A `PostalAddress` node's parts, or an address written as one string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WrittenAddress {
    pub(crate) street_address: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) locality: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) country: Option<String>,
    /// The whole address when the node gives it as text.
    pub(crate) text: Option<String>,
}

#[derive(Debug, Default)]
struct Found {
    publisher_name: Option<(Rank, String)>,
    description: Option<(Rank, String)>,
    image: Option<(Rank, String)>,
    website_name: Option<(Rank, String)>,
    organization_name: Option<(Rank, String)>,
    organization_logo: Option<(Rank, String)>,
    same_as: Vec<String>,
    business: Option<(Rank, Business)>,
    /// `ImageObject` nodes by `@id`, for logos given as a reference.
    images_by_id: Vec<(String, String)>,
}

/// Marks a logo that is a reference to another node's `@id`.
const REFERENCE: &str = "@id:";

/// Reads every JSON-LD block; blocks that are not valid JSON are skipped.
pub(crate) fn read(blocks: &[String]) -> LinkedData {
    let mut found = Found::default();
    for block in blocks {
        let text = strip_wrappers(block);
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            visit(&value, 0, Role::TopLevel, &mut found);
        }
    }
    let images_by_id = std::mem::take(&mut found.images_by_id);
    let dereference = |image: Option<(Rank, String)>| {
        image.and_then(|(_, image)| match image.strip_prefix(REFERENCE) {
            Some(id) => images_by_id
                .iter()
                .find(|(image_id, _)| image_id == id)
                .map(|(_, url)| url.clone()),
            None => Some(image),
        })
    };
    LinkedData {
        website_name: found.website_name.map(|(_, name)| name),
        organization_name: found.organization_name.map(|(_, name)| name),
        organization_logo: dereference(found.organization_logo),
        image: dereference(found.image),
        same_as: found.same_as,
        publisher_name: found.publisher_name.map(|(_, name)| name),
        description: found.description.map(|(_, text)| text),
        business: found.business.map(|(_, business)| business),
    }
}

/// Some pages wrap the JSON in an HTML comment or CDATA section.
fn strip_wrappers(block: &str) -> &str {
    let mut text = block.trim();
    for (open, close) in [
        ("<!--", "-->"),
        ("<![CDATA[", "]]>"),
        ("//<![CDATA[", "//]]>"),
    ] {
        if let Some(inner) = text.strip_prefix(open) {
            text = inner.trim();
            text = text.strip_suffix(close).unwrap_or(text).trim();
        }
    }
    text.trim_end_matches(';')
}

/// Where a node sits, best first: the page's own top-level nodes describe
/// the site, a `publisher` is the site's owner, an `author` is often
/// someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    TopLevel,
    Publisher,
    Other,
    Author,
}

impl Role {
    fn of_child(self, key: &str) -> Role {
        let child = match key {
            "@graph" => Role::TopLevel,
            "publisher" | "provider" | "sourceOrganization" => Role::Publisher,
            "author" | "creator" | "contributor" | "editor" | "copyrightHolder" | "funder"
            | "sponsor" => Role::Author,
            _ => Role::Other,
        };
        self.max(child)
    }
}

fn visit(value: &Value, depth: usize, role: Role, found: &mut Found) {
    if depth > MAX_DEPTH {
        return;
    }
    let rank = (role, depth);
    match value {
        Value::Array(items) => {
            for item in items {
                visit(item, depth, role, found);
            }
        }
        Value::Object(object) => {
            let types = types_of(object.get("@type"));
            let is_website = types.contains(&"WebSite");
            let is_organization = types.iter().any(|t| is_organization_type(t));
            let name = object.get("name").and_then(text_of);
            if types.contains(&"ImageObject") {
                let id = object.get("@id").and_then(Value::as_str);
                let url = object.get("url").or_else(|| object.get("contentUrl"));
                if let (Some(id), Some(Value::String(url))) = (id, url) {
                    found.images_by_id.push((id.to_owned(), url.clone()));
                }
            }
            if is_website {
                keep_best(&mut found.website_name, rank, name.clone());
            }
            let is_image = types.contains(&"ImageObject");
            if role == Role::Publisher && !is_image {
                keep_best(&mut found.publisher_name, rank, name.clone());
            }
            // A publisher's or author's description and picture are about
            // them, not the page.
            if matches!(role, Role::TopLevel | Role::Other) && !is_image && !is_organization {
                keep_best(
                    &mut found.description,
                    rank,
                    object.get("description").and_then(text_of),
                );
                keep_best(
                    &mut found.image,
                    rank,
                    object
                        .get("image")
                        .or_else(|| object.get("thumbnailUrl"))
                        .and_then(image_url),
                );
            }
            if (is_organization || types.iter().any(|t| is_business_type(t)))
                && role != Role::Author
                && let Some(business) = business(object, name.clone())
                && found.business.as_ref().is_none_or(|(seen, _)| rank < *seen)
            {
                found.business = Some((rank, business));
            }
            if is_organization {
                keep_best(&mut found.organization_name, rank, name);
                keep_best(
                    &mut found.organization_logo,
                    rank,
                    object.get("logo").and_then(image_url),
                );
                match object.get("sameAs") {
                    Some(Value::String(url)) => found.same_as.push(url.clone()),
                    Some(Value::Array(urls)) => found
                        .same_as
                        .extend(urls.iter().filter_map(Value::as_str).map(str::to_owned)),
                    _ => {}
                }
            }
            for (key, child) in object {
                if key != "sameAs" && (child.is_object() || child.is_array()) {
                    visit(child, depth + 1, role.of_child(key), found);
                }
            }
        }
        _ => {}
    }
}

fn keep_best(slot: &mut Option<(Rank, String)>, rank: Rank, value: Option<String>) {
    let Some(value) = value else { return };
    if slot.as_ref().is_none_or(|(seen, _)| rank < *seen) {
        *slot = Some((rank, value));
    }
}

/// Lower is better: the role, then the depth.
type Rank = (Role, usize);

fn types_of(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(single)) => vec![short_type(single)],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(short_type)
            .collect(),
        _ => Vec::new(),
    }
}

/// `https://schema.org/Organization` and `schema:Organization` name the
/// same type as `Organization`.
fn short_type(full: &str) -> &str {
    full.rsplit(['/', ':', '#']).next().unwrap_or(full)
}

fn is_organization_type(name: &str) -> bool {
    name.ends_with("Organization")
        || name.ends_with("Organisation")
        || matches!(
            name,
            "Corporation"
                | "LocalBusiness"
                | "Store"
                | "Restaurant"
                | "ProfessionalService"
                | "Brand"
        )
}

/// `LocalBusiness` and its subtypes (`Dentist`, `Bakery`, `AutoRepair`,
/// ...): the list's more common members, and the suffixes most of the
/// others share.
fn is_business_type(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "Business",
        "Store",
        "Shop",
        "Service",
        "Agency",
        "Salon",
        "Restaurant",
        "Office",
        "Clinic",
        "Center",
        "Centre",
    ];
    const TYPES: &[&str] = &[
        "Attorney",
        "Notary",
        "Dentist",
        "Physician",
        "Optician",
        "Pharmacy",
        "Bakery",
        "BarOrPub",
        "Brewery",
        "CafeOrCoffeeShop",
        "Winery",
        "Hotel",
        "Motel",
        "Hostel",
        "BedAndBreakfast",
        "Resort",
        "Electrician",
        "Plumber",
        "Locksmith",
        "RoofingContractor",
        "HVACBusiness",
        "GeneralContractor",
        "HousePainter",
        "MovingCompany",
        "AutoRepair",
        "AutoDealer",
        "AutoBodyShop",
        "AutoRental",
        "GasStation",
        "HairSalon",
        "BeautySalon",
        "DaySpa",
        "NailSalon",
        "TattooParlor",
        "HealthClub",
        "ExerciseGym",
        "SportsClub",
        "Accountant",
        "AccountingService",
        "Bank",
        "InsuranceAgency",
        "RealEstateAgent",
        "TravelAgency",
        "EmploymentAgency",
        "ChildCare",
        "Library",
        "VeterinaryCare",
        "Florist",
    ];
    TYPES.contains(&name) || SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

/// The business facts of a node, when it states any beyond its name.
fn business(object: &serde_json::Map<String, Value>, name: Option<String>) -> Option<Business> {
    let business = Business {
        name,
        legal_name: object.get("legalName").and_then(text_of),
        address: object.get("address").and_then(written_address),
        vat_id: object.get("vatID").and_then(text_of),
        telephone: object.get("telephone").and_then(text_of),
    };
    let states_more = business.legal_name.is_some()
        || business.address.is_some()
        || business.vat_id.is_some()
        || business.telephone.is_some();
    states_more.then_some(business)
}

fn written_address(value: &Value) -> Option<WrittenAddress> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(WrittenAddress {
            text: Some(text.clone()),
            ..WrittenAddress::default()
        }),
        Value::Object(object) => {
            let part = |key: &str| object.get(key).and_then(text_or_name);
            let address = WrittenAddress {
                street_address: part("streetAddress"),
                postal_code: part("postalCode"),
                locality: part("addressLocality"),
                region: part("addressRegion"),
                country: part("addressCountry"),
                text: None,
            };
            let any = address.street_address.is_some()
                || address.postal_code.is_some()
                || address.locality.is_some();
            any.then_some(address)
        }
        Value::Array(items) => items.iter().find_map(written_address),
        _ => None,
    }
}

/// A string, a number written as one (`"postalCode": 10115`), or a
/// node's `name` (`"addressCountry": {"@type": "Country", "name": "DE"}`).
fn text_or_name(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => Some(number.to_string()),
        Value::Object(object) => object.get("name").and_then(text_of),
        other => text_of(other),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Array(items) => items.iter().find_map(text_of),
        _ => None,
    }
}

fn image_url(value: &Value) -> Option<String> {
    match value {
        Value::String(url) if !url.trim().is_empty() => Some(url.clone()),
        Value::Object(object) => object
            .get("url")
            .or_else(|| object.get("contentUrl"))
            .and_then(image_url)
            .or_else(|| {
                object
                    .get("@id")
                    .and_then(Value::as_str)
                    .map(|id| format!("{REFERENCE}{id}"))
            }),
        Value::Array(items) => items.iter().find_map(image_url),
        _ => None,
    }
}
