use super::*;
use crate::company::context::segments;

fn address(text: &str, hints: &[&str]) -> Option<PostalAddress> {
    find(&segments(text), hints).map(|(address, _)| address)
}

/// Street, postal code, town, region and country.
type Parts = Option<[Option<String>; 5]>;

fn parts(text: &str, hints: &[&str]) -> Parts {
    address(text, hints).map(|address| {
        [
            address.street_address,
            address.postal_code,
            address.locality,
            address.region,
            address.country,
        ]
    })
}

fn expected(
    street: &str,
    postal: &str,
    town: &str,
    region: Option<&str>,
    country: Option<&str>,
) -> Parts {
    Some([
        Some(street.to_owned()),
        Some(postal.to_owned()),
        Some(town.to_owned()),
        region.map(str::to_owned),
        country.map(str::to_owned),
    ])
}

#[test]
fn code_before_town_countries() {
    let cases: &[(&str, &[&str], Parts)] = &[
        (
            "Hauptstraße 5, 10115 Berlin",
            &[],
            expected("Hauptstraße 5", "10115", "Berlin", None, Some("DE")),
        ),
        (
            "Möbel Schmidt GmbH\nHauptstr. 5\nD-80331 München",
            &[],
            expected("Hauptstr. 5", "80331", "München", None, Some("DE")),
        ),
        (
            "Mariahilfer Straße 1\n1060 Wien",
            &["AT"],
            expected("Mariahilfer Straße 1", "1060", "Wien", None, Some("AT")),
        ),
        (
            "Bahnhofstrasse 10\nCH-8001 Zürich",
            &[],
            expected("Bahnhofstrasse 10", "8001", "Zürich", None, Some("CH")),
        ),
        (
            "12 rue de la Paix\n75002 Paris",
            &[],
            expected("12 rue de la Paix", "75002", "Paris", None, Some("FR")),
        ),
        (
            "Rue Neuve 45, 1000 Bruxelles",
            &["BE"],
            expected("Rue Neuve 45", "1000", "Bruxelles", None, Some("BE")),
        ),
        (
            "Keizersgracht 123\n1015 CJ Amsterdam",
            &[],
            expected(
                "Keizersgracht 123",
                "1015 CJ",
                "Amsterdam",
                None,
                Some("NL"),
            ),
        ),
        (
            "Calle Mayor 10, 28013 Madrid",
            &[],
            expected("Calle Mayor 10", "28013", "Madrid", None, Some("ES")),
        ),
        (
            "Via Roma 12\n20121 Milano (MI)",
            &[],
            expected("Via Roma 12", "20121", "Milano", Some("MI"), Some("IT")),
        ),
        (
            "Drottninggatan 21 · 411 14 Göteborg",
            &[],
            expected("Drottninggatan 21", "411 14", "Göteborg", None, Some("SE")),
        ),
        (
            "Vesterbrogade 3, 1620 København",
            &[],
            expected("Vesterbrogade 3", "1620", "København", None, Some("DK")),
        ),
        (
            "Karl Johans gate 22, 0159 Oslo",
            &["NO"],
            expected("Karl Johans gate 22", "0159", "Oslo", None, Some("NO")),
        ),
        (
            "ul. Marszałkowska 10\n00-950 Warszawa",
            &[],
            expected(
                "ul. Marszałkowska 10",
                "00-950",
                "Warszawa",
                None,
                Some("PL"),
            ),
        ),
    ];
    for (text, hints, want) in cases {
        assert_eq!(&parts(text, hints), want, "{text}");
    }
}

#[test]
fn town_before_code_countries() {
    let cases: &[(&str, Parts)] = &[
        (
            "3 Castle Wynd, Leeds LS1 4AP",
            expected("3 Castle Wynd", "LS1 4AP", "Leeds", None, Some("GB")),
        ),
        (
            "12 Grafton Street, Dublin D02 X285",
            expected("12 Grafton Street", "D02 X285", "Dublin", None, Some("IE")),
        ),
        (
            "1200 Main Street, Springfield, IL 62701",
            expected(
                "1200 Main Street",
                "62701",
                "Springfield",
                Some("IL"),
                Some("US"),
            ),
        ),
        (
            "350 Rue Sherbrooke, Montréal, QC H2X 1Y4",
            expected(
                "350 Rue Sherbrooke",
                "H2X 1Y4",
                "Montréal",
                Some("QC"),
                Some("CA"),
            ),
        ),
        (
            "Level 5, 100 George Street\nSydney NSW 2000",
            expected(
                "Level 5, 100 George Street",
                "2000",
                "Sydney",
                Some("NSW"),
                Some("AU"),
            ),
        ),
    ];
    for (text, want) in cases {
        let got = parts(text, &[]);
        // A street written after a name keeps only its last part.
        let want = want.clone().map(|mut want| {
            if let Some(street) = &want[0] {
                want[0] = Some(street_after_lead_in(street).to_owned());
            }
            want
        });
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn a_shared_code_shape_takes_the_country_named_or_the_sites_hint() {
    let berlin = "Hauptweg 5, 10115 Berlin";
    assert_eq!(
        address(berlin, &["DE"]).and_then(|a| a.country).as_deref(),
        Some("DE")
    );
    assert_eq!(
        address("Kungsgatan 3, 10115 Berlin, Germany", &[])
            .and_then(|a| a.country)
            .as_deref(),
        Some("DE"),
        "named after the town"
    );
    assert_eq!(
        address("Musterweg 1a, 12345 Oststadt", &[])
            .and_then(|a| a.country)
            .as_deref(),
        Some("DE"),
        "five digits and a German street word"
    );
    assert_eq!(
        address("Am Markt 1, 12345 Oststadt", &[]),
        None,
        "DE, FR, ES or IT: none named, hinted or told by the street"
    );
    assert_eq!(
        address("Rue Neuve 45, 1000 Bruxelles", &[]),
        None,
        "BE or CH by the street"
    );
}

#[test]
fn a_hosters_address_is_not_the_companys() {
    assert_eq!(
        address(
            "Hébergeur : o2switch, Chemin des Pardiaux, 63000 Clermont-Ferrand",
            &["FR"]
        ),
        None
    );
    let imprint = "Mentions légales\nBoulangerie Martin SARL\n8 rue des Halles\n44000 Nantes\n\
                   Hébergeur\no2switch\nChemin des Pardiaux\n63000 Clermont-Ferrand";
    assert_eq!(
        address(imprint, &["FR"])
            .and_then(|a| a.locality)
            .as_deref(),
        Some("Nantes")
    );
    let hoster_first = "Hébergement\nOVH SAS\n2 rue Kellermann\n59100 Roubaix\n\
                        Éditeur\nBoulangerie Martin SARL\n8 rue des Halles\n44000 Nantes";
    assert_eq!(
        address(hoster_first, &["FR"])
            .and_then(|a| a.locality)
            .as_deref(),
        Some("Nantes")
    );
}

#[test]
fn a_data_protection_officers_or_partners_address_is_not_the_companys() {
    let text = "Datenschutzbeauftragter\nMax Muster\nDatenweg 1\n20095 Hamburg";
    assert_eq!(address(text, &["DE"]), None);
    let text = "Our partner: Beispiel GmbH, Musterweg 3, 20095 Hamburg";
    assert_eq!(address(text, &["DE"]), None);
}

#[test]
fn a_town_or_code_alone_is_no_address() {
    assert_eq!(
        address("Wir liefern in ganz Berlin und Umgebung", &["DE"]),
        None
    );
    assert_eq!(address("10115 Berlin", &["DE"]), None, "no street");
    assert_eq!(address("Offices in London, Paris and Berlin", &[]), None);
    assert_eq!(address("© 2024 Acme", &[]), None);
    assert_eq!(address("Tel. 030 12345 Berlin", &["DE"]), None);
    assert_eq!(address("CBS 2, 1010 WINS", &[]), None, "no country");
    assert_eq!(
        address("© 2003 - 2017 PIXNET Travel", &["TW"]),
        None,
        "a copyright's years"
    );
}

#[test]
fn json_ld_countries_become_codes() {
    assert_eq!(country_code("de").as_deref(), Some("DE"));
    assert_eq!(country_code("Germany").as_deref(), Some("DE"));
    assert_eq!(country_code("UK").as_deref(), Some("GB"));
    assert_eq!(country_code("USA").as_deref(), Some("US"));
    assert_eq!(country_code("Atlantis"), None);
}
