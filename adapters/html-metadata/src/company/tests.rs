//! The company read from whole pages: JSON-LD, footers, legal pages, and
//! the country and phones that follow from them.

use scheduler_domain::{Company, CompanyPart, CountrySource, IdentifierKind, SiteMetadata};
use url::Url;

use crate::{Page, extract, extract_linked_page};

fn home(url: &str, html: &str) -> SiteMetadata {
    let url = Url::parse(url).unwrap();
    extract(&Page {
        url: &url,
        body: html.as_bytes(),
        headers: &[],
    })
}

fn company(url: &str, html: &str) -> Company {
    home(url, html).company.unwrap_or_default()
}

fn values(company: &Company) -> Vec<(IdentifierKind, &str)> {
    company
        .identifiers
        .iter()
        .map(|identifier| (identifier.kind, identifier.value.as_str()))
        .collect()
}

const US_LOCAL_BUSINESS: &str = r#"<!doctype html><html lang="en"><head><title>Smile Dental</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Dentist",
 "name":"Smile Dental","legalName":"Smile Dental Care LLC","telephone":"(217) 555-0134",
 "address":{"@type":"PostalAddress","streetAddress":"1200 Main Street","addressLocality":"Springfield",
 "addressRegion":"IL","postalCode":"62701","addressCountry":"US"}}</script></head>
<body><main><p>Gentle care for the whole family.</p></main></body></html>"#;

#[test]
fn a_local_business_in_json_ld_gives_names_address_and_country() {
    let metadata = home("https://smiledental.com/", US_LOCAL_BUSINESS);
    let company = metadata.company.unwrap();
    assert_eq!(company.name.as_deref(), Some("Smile Dental"));
    assert_eq!(company.legal_name.as_deref(), Some("Smile Dental Care LLC"));
    let address = company.address.unwrap();
    assert_eq!(address.street_address.as_deref(), Some("1200 Main Street"));
    assert_eq!(address.locality.as_deref(), Some("Springfield"));
    assert_eq!(address.region.as_deref(), Some("IL"));
    assert_eq!(address.postal_code.as_deref(), Some("62701"));
    assert_eq!(company.country.as_deref(), Some("US"));
    assert_eq!(company.country_source, Some(CountrySource::Address));
    assert_eq!(company.sources.len(), 1);
    assert_eq!(company.sources[0].part, CompanyPart::JsonLd);
    assert_eq!(metadata.phones, ["+12175550134"], "the node's telephone");
}

#[test]
fn a_uk_footer_gives_legal_name_address_and_numbers() {
    let company = company(
        "https://example-trading.co.uk/",
        "<html><body><main><p>Fine teas.</p></main><footer>\
         Example Trading Ltd · 3 Castle Wynd, Leeds LS1 4AP · Registered in England and Wales, \
         company no. 11223344 · VAT Reg. No. GB 651 9034 43</footer></body></html>",
    );
    assert_eq!(company.legal_name.as_deref(), Some("Example Trading Ltd"));
    let address = company.address.clone().unwrap();
    assert_eq!(address.postal_code.as_deref(), Some("LS1 4AP"));
    assert_eq!(address.country.as_deref(), Some("GB"));
    assert_eq!(
        values(&company),
        [
            (IdentifierKind::Vat, "GB651903443"),
            (IdentifierKind::CompanyNumber, "11223344"),
        ]
    );
    assert_eq!(company.sources[0].part, CompanyPart::Footer);
}

#[test]
fn a_swedish_footer_reads_the_national_phone_in_sweden() {
    let metadata = home(
        "https://exempel.com/",
        "<html lang=\"sv\"><body><main><p>Välkommen.</p></main><footer>\
         <p>Exempel AB · Org.nr 559012-3450 · Drottninggatan 21, 411 14 Göteborg · Tel 031-123 45 67</p>\
         </footer></body></html>",
    );
    let company = metadata.company.unwrap();
    assert_eq!(company.legal_name.as_deref(), Some("Exempel AB"));
    assert_eq!(values(&company), [(IdentifierKind::OrgNr, "5590123450")]);
    assert_eq!(company.country.as_deref(), Some("SE"));
    assert_eq!(company.country_source, Some(CountrySource::Address));
    assert_eq!(metadata.phones, ["+46311234567"]);
}

#[test]
fn text_outside_the_footer_of_the_home_page_is_not_read() {
    let company = company(
        "https://shop.com/",
        "<html><body><main><p>Our partner Beispiel GmbH, Musterweg 3, 20095 Hamburg.</p>\
         <p>USt-IdNr. DE 269 543 714</p></main></body></html>",
    );
    assert_eq!(company, Company::default());
}

#[test]
fn a_country_from_the_domain_alone_is_marked_so_and_a_bare_language_gives_none() {
    let company_de = company(
        "https://moebel.de/",
        "<html lang=\"de\"><body><p>Hallo</p></body></html>",
    );
    assert_eq!(company_de.country.as_deref(), Some("DE"));
    assert_eq!(company_de.country_source, Some(CountrySource::Cctld));
    assert!(!company_de.is_stated());
    let metadata = home(
        "https://boulangerie.com/",
        "<html lang=\"fr\"><body><p>Bonjour</p></body></html>",
    );
    assert_eq!(metadata.company, None);
}

#[test]
fn a_parked_page_has_no_company() {
    let metadata = home(
        "https://forsale-domain.de/",
        "<html><head><title>forsale-domain.de is for sale</title></head><body>\
         <p>This domain may be for sale. Buy now at Sedo.</p>\
         <footer>Sedo GmbH · Im Mediapark 6b, 50670 Köln · USt-IdNr. DE 811 907 980</footer></body></html>",
    );
    assert_eq!(metadata.site_kind, scheduler_domain::SiteKind::Parked);
    assert_eq!(
        metadata.company, None,
        "Sedo's footer is not the domain's company"
    );
}

#[test]
fn a_french_legal_page_gives_the_company_not_its_hoster_and_reads_national_phones_in_france() {
    let url = Url::parse("https://boulangerie-martin.com/mentions-legales").unwrap();
    let html = "<html lang=\"fr\"><body><h1>Mentions légales</h1>\
        <p>Boulangerie Martin SARL au capital de 8 000 €<br>8 rue des Halles<br>44000 Nantes</p>\
        <p>RCS Nantes 432 187 656 – TVA : FR 64 432187656</p><p>Téléphone : 02 40 12 34 56</p>\
        <h2>Hébergeur</h2><p>o2switch<br>Chemin des Pardiaux<br>63000 Clermont-Ferrand<br>RCS Clermont-Ferrand 510 909 807</p>\
        </body></html>";
    let linked = extract_linked_page(
        &Page {
            url: &url,
            body: html.as_bytes(),
            headers: &[],
        },
        CompanyPart::Imprint,
        None,
    );
    let company = linked.company;
    assert_eq!(
        company.legal_name.as_deref(),
        Some("Boulangerie Martin SARL")
    );
    let address = company.address.clone().unwrap();
    assert_eq!(address.locality.as_deref(), Some("Nantes"));
    assert_eq!(address.country.as_deref(), Some("FR"));
    assert_eq!(
        values(&company),
        [
            (IdentifierKind::Vat, "FR64432187656"),
            (IdentifierKind::Siren, "432187656"),
        ],
        "the hoster's SIREN is the hoster's"
    );
    assert_eq!(company.country_source, Some(CountrySource::Address));
    assert_eq!(company.sources[0].part, CompanyPart::Imprint);
    assert_eq!(linked.contacts.phones, ["+33240123456"]);
}

#[test]
fn microdata_gives_the_address_when_there_is_no_json_ld() {
    let company = company(
        "https://fahrschule-berg.de/",
        "<html lang=\"de\"><body><main><p>Fahrschule</p></main>\
         <div itemscope itemtype=\"https://schema.org/LocalBusiness\">\
         <span itemprop=\"legalName\">Fahrschule Berg GmbH</span>\
         <div itemprop=\"address\" itemscope itemtype=\"https://schema.org/PostalAddress\">\
         <span itemprop=\"streetAddress\">Lindenallee 4</span>, \
         <span itemprop=\"postalCode\">50667</span> <span itemprop=\"addressLocality\">Köln</span>\
         <meta itemprop=\"addressCountry\" content=\"DE\"></div></div></body></html>",
    );
    assert_eq!(company.legal_name.as_deref(), Some("Fahrschule Berg GmbH"));
    let address = company.address.unwrap();
    assert_eq!(address.street_address.as_deref(), Some("Lindenallee 4"));
    assert_eq!(address.postal_code.as_deref(), Some("50667"));
    assert_eq!(address.locality.as_deref(), Some("Köln"));
    assert_eq!(address.country.as_deref(), Some("DE"));
    assert_eq!(company.sources[0].part, CompanyPart::Microdata);
}
