use super::*;

fn values(text: &str) -> Vec<(IdentifierKind, String, Option<String>, Option<String>)> {
    find(text)
        .into_iter()
        .map(|(_, found)| (found.kind, found.value, found.authority, found.country))
        .collect()
}

fn one(
    kind: IdentifierKind,
    value: &str,
    authority: Option<&str>,
    country: &str,
) -> (IdentifierKind, String, Option<String>, Option<String>) {
    (
        kind,
        value.to_owned(),
        authority.map(str::to_owned),
        Some(country.to_owned()),
    )
}

#[test]
fn a_german_imprint_gives_its_vat_number_and_register_entry_with_its_court() {
    let text = "Registergericht: Amtsgericht München\nRegisternummer: HRB 218734\n\
                Umsatzsteuer-Identifikationsnummer gemäß § 27 a UStG: DE 269 543 714";
    assert_eq!(
        values(text),
        [
            one(IdentifierKind::Vat, "DE269543714", None, "DE"),
            one(
                IdentifierKind::TradeRegister,
                "HRB 218734",
                Some("Amtsgericht München"),
                "DE"
            ),
        ]
    );
}

#[test]
fn french_legal_notices_give_vat_siren_with_registry_and_siret() {
    let text = "SARL au capital de 10 000 € · RCS Nantes 432 187 656 · \
                TVA intracommunautaire : FR 64 432187656 · SIRET : 732 829 320 00074";
    assert_eq!(
        values(text),
        [
            one(IdentifierKind::Vat, "FR64432187656", None, "FR"),
            one(IdentifierKind::Siret, "73282932000074", None, "FR"),
            one(IdentifierKind::Siren, "432187656", Some("RCS Nantes"), "FR"),
        ]
    );
}

#[test]
fn a_uk_footer_gives_its_company_and_vat_numbers() {
    let text =
        "Registered in England and Wales, company no. 11223344 · VAT Reg. No. GB 651 9034 43";
    assert_eq!(
        values(text),
        [
            one(IdentifierKind::Vat, "GB651903443", None, "GB"),
            one(
                IdentifierKind::CompanyNumber,
                "11223344",
                Some("England and Wales"),
                "GB"
            ),
        ]
    );
}

#[test]
fn nordic_organisation_numbers_are_checked() {
    assert_eq!(
        values("Exempel AB · Org.nr 559012-3450"),
        [one(IdentifierKind::OrgNr, "5590123450", None, "SE")]
    );
    assert_eq!(
        values("Eksempel AS, org.nr. 923 609 016 MVA"),
        [one(IdentifierKind::OrgNr, "923609016", None, "NO")]
    );
    assert_eq!(values("Org.nr 559012-3451"), [], "a bad check digit");
    assert_eq!(
        values("CVR-nr. 13585628"),
        [one(IdentifierKind::CompanyNumber, "13585628", None, "DK")]
    );
}

#[test]
fn numbers_written_without_their_prefix_are_read_by_their_label() {
    assert_eq!(
        values("Pizzeria Roma S.r.l. – P.IVA 00743110157"),
        [one(IdentifierKind::Vat, "IT00743110157", None, "IT")]
    );
    assert_eq!(
        values("NIP: 526-025-02-74"),
        [one(IdentifierKind::Vat, "PL5260250274", None, "PL")]
    );
    assert_eq!(
        values("CIF: B58378431"),
        [one(IdentifierKind::Vat, "ESB58378431", None, "ES")]
    );
    assert_eq!(
        values("KvK 12345678 · BTW NL004495445B01"),
        [
            one(IdentifierKind::Vat, "NL004495445B01", None, "NL"),
            one(IdentifierKind::CompanyNumber, "12345678", Some("KvK"), "NL"),
        ]
    );
    assert_eq!(
        values("Ondernemingsnummer 0411.905.847"),
        [one(IdentifierKind::CompanyNumber, "0411905847", None, "BE")]
    );
    assert_eq!(
        values("UID: CHE-116.281.710 MWST"),
        [one(
            IdentifierKind::CompanyNumber,
            "CHE116281710",
            None,
            "CH"
        )]
    );
    assert_eq!(
        values("ABN 51 824 753 556"),
        [one(
            IdentifierKind::CompanyNumber,
            "51824753556",
            None,
            "AU"
        )]
    );
    assert_eq!(
        values("Firmenbuchnummer: FN 123456a, Firmenbuchgericht: Handelsgericht Wien"),
        [one(
            IdentifierKind::TradeRegister,
            "FN 123456a",
            Some("Handelsgericht Wien"),
            "AT"
        )]
    );
}

#[test]
fn vat_shaped_numbers_with_a_bad_check_digit_are_dropped() {
    assert_eq!(values("USt-IdNr.: DE 269 543 715"), []);
    assert_eq!(values("TVA : FR 65 432187656"), []);
    assert_eq!(values("VAT GB 651 9034 44"), []);
    assert_eq!(values("SIREN 432 187 657"), []);
    assert_eq!(values("P.IVA 00743110158"), []);
}

#[test]
fn prefixes_inside_words_and_unlabelled_digits_are_not_identifiers() {
    assert_eq!(values("CODE 136695976 and order 432187656"), []);
    assert_eq!(values("Call 0301234567 today"), []);
    assert_eq!(
        values("Sony VR 4 headset"),
        [],
        "a register mark without its court"
    );
}
