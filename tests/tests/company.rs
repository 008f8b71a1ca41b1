//! The company behind a site, end to end: the HTTP extractor against a real
//! local HTTPS server, the home page and the imprint or legal page it
//! links to, in six countries, and the values that must not be taken for
//! the company's.
//!
//! Real-looking top-level domains: `.test` addresses are placeholders to
//! the e-mail rules. The fixture's resolve rules keep every name on
//! loopback.

use scheduler_domain::{
    Company, CompanyPart, CountrySource, IdentifierKind, PostalAddress, SiteMetadata,
};
use scheduler_http_extractor::{HttpExtractor, Url};
use scheduler_tests::https_fixture::{FixtureServer, Site};

/// A server with `host`'s home page and its other pages by path.
async fn serve(host: &str, home: &str, pages: &[(&str, &str)]) -> FixtureServer {
    let mut builder = FixtureServer::builder().site(host, Site::html(home.to_owned()));
    for (path, html) in pages {
        builder = builder.page(host, path, Site::html((*html).to_owned()));
    }
    builder
        .start()
        .await
        .unwrap_or_else(|error| panic!("fixture: {error}"))
}

async fn extract(server: &FixtureServer, host: &str) -> SiteMetadata {
    let extractor = HttpExtractor::new(server.fetch_settings())
        .unwrap_or_else(|error| panic!("extractor: {error}"));
    let home =
        Url::parse(&format!("https://{host}/")).unwrap_or_else(|error| panic!("{host}: {error}"));
    extractor
        .extract_url(&home)
        .await
        .unwrap_or_else(|error| panic!("{host}: {error}"))
}

fn paths(server: &FixtureServer, host: &str) -> Vec<String> {
    server
        .requests(host)
        .into_iter()
        .map(|request| request.path)
        .collect()
}

fn identifiers(company: &Company) -> Vec<(IdentifierKind, &str, Option<&str>)> {
    company
        .identifiers
        .iter()
        .map(|found| (found.kind, found.value.as_str(), found.authority.as_deref()))
        .collect()
}

fn address(street: &str, postal: &str, town: &str, country: &str) -> Option<PostalAddress> {
    Some(PostalAddress {
        street_address: Some(street.to_owned()),
        postal_code: Some(postal.to_owned()),
        locality: Some(town.to_owned()),
        region: None,
        country: Some(country.to_owned()),
    })
}

#[tokio::test]
async fn a_german_impressum_is_read_although_the_home_page_has_an_email() {
    let host = "moebel-schmidt.de";
    let server = serve(
        host,
        "<!doctype html><html lang=\"de\"><head><title>Möbel Schmidt</title></head><body>\
         <main><p>Handgefertigte Möbel. Schreiben Sie an info@moebel-schmidt.de</p></main>\
         <footer><a href=\"/datenschutz\">Datenschutz</a> <a href=\"/impressum\">Impressum</a></footer>\
         </body></html>",
        &[(
            "/impressum",
            "<!doctype html><html lang=\"de\"><body><h1>Impressum</h1>\
             <p>Angaben gemäß § 5 TMG</p><p>Möbel Schmidt GmbH<br>Hauptstraße 5<br>80331 München</p>\
             <p>Telefon: 089 1234567</p>\
             <p>Registergericht: Amtsgericht München<br>Registernummer: HRB 218734</p>\
             <p>Umsatzsteuer-Identifikationsnummer gemäß § 27 a UStG: DE 269 543 714</p>\
             <h2>Datenschutzbeauftragter</h2><p>Datenschutz Nord GmbH<br>Datenweg 1<br>20095 Hamburg</p>\
             </body></html>",
        )],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/", "/impressum"]);
    let company = metadata.company.clone().unwrap();
    assert_eq!(company.legal_name.as_deref(), Some("Möbel Schmidt GmbH"));
    assert_eq!(
        company.address,
        address("Hauptstraße 5", "80331", "München", "DE"),
        "not the data protection officer's in Hamburg"
    );
    assert_eq!(company.country.as_deref(), Some("DE"));
    assert_eq!(company.country_source, Some(CountrySource::Address));
    assert_eq!(
        identifiers(&company),
        [
            (IdentifierKind::Vat, "DE269543714", None),
            (
                IdentifierKind::TradeRegister,
                "HRB 218734",
                Some("Amtsgericht München")
            ),
        ]
    );
    let impressum = format!("https://{host}/impressum");
    assert!(
        company
            .sources
            .iter()
            .any(|source| source.page == impressum && source.part == CompanyPart::Imprint)
    );
    assert!(metadata.phones.contains(&"+49891234567".to_owned()));
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(json["company"]["country"], "DE");
    assert_eq!(json["company"]["identifiers"][0]["kind"], "vat");
    assert_eq!(json["company"]["sources"][0]["part"], "imprint");
}

#[tokio::test]
async fn a_uk_footer_states_the_company_and_no_other_page_is_read() {
    let host = "example-trading.co.uk";
    let server = serve(
        host,
        "<!doctype html><html lang=\"en-GB\"><head><title>Example Trading</title></head><body>\
         <main><p>Fine teas. hello@example-trading.co.uk</p></main>\
         <footer><p>Example Trading Ltd · 3 Castle Wynd, Leeds LS1 4AP · Registered in England and Wales, \
         company no. 11223344 · VAT Reg. No. GB 651 9034 43</p><a href=\"/legal\">Legal notice</a></footer>\
         </body></html>",
        &[],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/"], "the home page said it all");
    let company = metadata.company.unwrap();
    assert_eq!(company.legal_name.as_deref(), Some("Example Trading Ltd"));
    assert_eq!(
        company.address,
        address("3 Castle Wynd", "LS1 4AP", "Leeds", "GB")
    );
    assert_eq!(
        identifiers(&company),
        [
            (IdentifierKind::Vat, "GB651903443", None),
            (
                IdentifierKind::CompanyNumber,
                "11223344",
                Some("England and Wales")
            ),
        ]
    );
    assert_eq!(company.sources[0].part, CompanyPart::Footer);
}

#[tokio::test]
async fn french_mentions_legales_give_the_company_not_its_hoster_and_its_phone_in_france() {
    let host = "boulangerie-martin.com";
    let server = serve(
        host,
        "<!doctype html><html lang=\"fr\"><head><title>Boulangerie Martin</title></head><body>\
         <main><p>Pains au levain, viennoiseries.</p></main>\
         <footer><a href=\"/mentions-legales\">Mentions légales</a></footer></body></html>",
        &[(
            "/mentions-legales",
            "<!doctype html><html lang=\"fr\"><body><h1>Mentions légales</h1>\
             <h2>Éditeur</h2><p>Boulangerie Martin SARL<br>8 rue des Halles<br>44000 Nantes</p>\
             <p>Téléphone : 02 40 12 34 56 – contact@boulangerie-martin.com</p>\
             <p>RCS Nantes 432 187 656 – TVA intracommunautaire : FR 64 432187656</p>\
             <h2>Hébergeur</h2><p>o2switch<br>Chemin des Pardiaux<br>63000 Clermont-Ferrand<br>\
             RCS Clermont-Ferrand 510 909 807</p></body></html>",
        )],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/", "/mentions-legales"]);
    assert_eq!(metadata.emails, ["contact@boulangerie-martin.com"]);
    assert_eq!(
        metadata.phones,
        ["+33240123456"],
        "a national number read in the company's country"
    );
    let company = metadata.company.unwrap();
    assert_eq!(
        company.legal_name.as_deref(),
        Some("Boulangerie Martin SARL")
    );
    assert_eq!(
        company.address,
        address("8 rue des Halles", "44000", "Nantes", "FR")
    );
    assert_eq!(company.country.as_deref(), Some("FR"));
    assert_eq!(company.country_source, Some(CountrySource::Address));
    assert_eq!(
        identifiers(&company),
        [
            (IdentifierKind::Vat, "FR64432187656", None),
            (IdentifierKind::Siren, "432187656", Some("RCS Nantes")),
        ]
    );
}

#[tokio::test]
async fn a_us_local_business_in_json_ld_is_the_company() {
    let host = "smile-dental.com";
    let server = serve(
        host,
        r#"<!doctype html><html lang="en"><head><title>Smile Dental</title>
        <script type="application/ld+json">{"@context":"https://schema.org","@type":"Dentist",
        "name":"Smile Dental","legalName":"Smile Dental Care LLC","telephone":"+1 217-555-0134",
        "address":{"@type":"PostalAddress","streetAddress":"1200 Main Street",
        "addressLocality":"Springfield","addressRegion":"IL","postalCode":"62701","addressCountry":"US"}}
        </script></head><body><main><p>Gentle care. frontdesk@smile-dental.com</p></main>
        <footer><a href="/contact">Contact</a></footer></body></html>"#,
        &[],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/"]);
    let company = metadata.company.unwrap();
    assert_eq!(company.name.as_deref(), Some("Smile Dental"));
    assert_eq!(company.legal_name.as_deref(), Some("Smile Dental Care LLC"));
    assert_eq!(
        company.address.and_then(|address| address.region),
        Some("IL".to_owned())
    );
    assert_eq!(company.country.as_deref(), Some("US"));
    assert_eq!(company.sources[0].part, CompanyPart::JsonLd);
    assert_eq!(metadata.phones, ["+12175550134"]);
}

#[tokio::test]
async fn a_swedish_footer_gives_the_organisation_number_and_address() {
    let host = "exempel.se";
    let server = serve(
        host,
        "<!doctype html><html lang=\"sv\"><head><title>Exempel</title></head><body>\
         <main><p>Välkommen! info@exempel.se</p></main>\
         <footer><p>Exempel AB · Org.nr 559012-3450 · Drottninggatan 21, 411 14 Göteborg · Tel 031-123 45 67</p>\
         </footer></body></html>",
        &[],
    )
    .await;
    let metadata = extract(&server, host).await;

    let company = metadata.company.unwrap();
    assert_eq!(company.legal_name.as_deref(), Some("Exempel AB"));
    assert_eq!(
        identifiers(&company),
        [(IdentifierKind::OrgNr, "5590123450", None)]
    );
    assert_eq!(
        company.address,
        address("Drottninggatan 21", "411 14", "Göteborg", "SE")
    );
    assert_eq!(metadata.phones, ["+46311234567"]);
}

#[tokio::test]
async fn an_italian_legal_page_gives_the_partita_iva_and_the_address() {
    let host = "pizzeria-roma.it";
    let server = serve(
        host,
        "<!doctype html><html lang=\"it\"><head><title>Pizzeria Roma</title></head><body>\
         <main><p>Pizza napoletana. ciao@pizzeria-roma.it</p></main>\
         <footer><a href=\"/note-legali\">Note legali</a></footer></body></html>",
        &[(
            "/note-legali",
            "<!doctype html><html lang=\"it\"><body><h1>Note legali</h1>\
             <p>Pizzeria Roma S.r.l.<br>Via Roma 12<br>20121 Milano (MI)</p>\
             <p>P.IVA 00743110157</p></body></html>",
        )],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/", "/note-legali"]);
    let company = metadata.company.unwrap();
    assert_eq!(company.legal_name.as_deref(), Some("Pizzeria Roma S.r.l."));
    assert_eq!(
        identifiers(&company),
        [(IdentifierKind::Vat, "IT00743110157", None)]
    );
    let address = company.address.unwrap();
    assert_eq!(address.locality.as_deref(), Some("Milano"));
    assert_eq!(address.region.as_deref(), Some("MI"));
    assert_eq!(address.country.as_deref(), Some("IT"));
}

#[tokio::test]
async fn a_bad_check_digit_a_partners_address_and_a_city_alone_are_not_the_company() {
    let host = "gartenbau-weber.de";
    let server = serve(
        host,
        "<!doctype html><html lang=\"de\"><head><title>Gartenbau Weber</title></head><body>\
         <main><p>Wir gestalten Gärten in ganz Berlin und Umgebung. post@gartenbau-weber.de</p></main>\
         <footer><p>USt-IdNr. DE 269 543 715</p><a href=\"/impressum\">Impressum</a></footer></body></html>",
        &[(
            "/impressum",
            "<!doctype html><html lang=\"de\"><body><h1>Impressum</h1>\
             <p>Inhaber: Thomas Weber</p>\
             <h2>Unser Partner</h2><p>Baumschule Beispiel GmbH<br>Musterweg 3<br>20095 Hamburg</p>\
             </body></html>",
        )],
    )
    .await;
    let metadata = extract(&server, host).await;

    assert_eq!(paths(&server, host), ["/", "/impressum"]);
    let company = metadata.company.unwrap();
    assert_eq!(company.identifiers, [], "DE 269 543 715 fails its check");
    assert_eq!(company.address, None, "the partner's address is theirs");
    assert_eq!(company.legal_name, None, "the partner's name is theirs");
    assert_eq!(company.country.as_deref(), Some("DE"));
    assert_eq!(company.country_source, Some(CountrySource::Cctld));
}
