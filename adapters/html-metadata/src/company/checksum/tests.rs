use super::*;

/// Published or issued numbers, and the same with one digit changed.
const VAT_CASES: &[(&str, &str, &str)] = &[
    ("DE", "136695976", "136695977"),
    ("DE", "811907980", "811907981"),
    ("FR", "40303265045", "41303265045"),
    ("FR", "64432187656", "64432187657"),
    ("GB", "980780684", "980780685"),
    ("GB", "651903443", "651903442"),
    ("IT", "00743110157", "00743110158"),
    ("ES", "A28015865", "A28015866"),
    ("ES", "B58378431", "B58378432"),
    ("NL", "004495445B01", "004495446B01"),
    ("NL", "810433941B01", "810433942B01"),
    ("BE", "0411905847", "0411905848"),
    ("AT", "U13585627", "U13585628"),
    ("SE", "556188840401", "556188840501"),
    ("DK", "13585628", "13585629"),
    ("PL", "5260250274", "5260250275"),
    ("FI", "20774740", "20774741"),
    ("LU", "15027442", "15027443"),
    ("PT", "501964843", "501964844"),
];

#[test]
fn vat_numbers_with_valid_check_digits_pass() {
    for (country, valid, _) in VAT_CASES {
        assert!(vat(country, valid), "{country}{valid} should be valid");
    }
}

#[test]
fn vat_numbers_with_one_digit_changed_fail() {
    for (country, _, invalid) in VAT_CASES {
        assert!(
            !vat(country, invalid),
            "{country}{invalid} should be invalid"
        );
    }
}

#[test]
fn vat_numbers_of_the_wrong_shape_or_an_unchecked_country_fail() {
    assert!(!vat("DE", "13669597"), "eight digits");
    assert!(!vat("DE", "036695976"), "a leading zero");
    assert!(!vat("FR", "XY303265045"), "letter keys are not checked");
    assert!(!vat("NL", "004495445C01"));
    assert!(!vat("AT", "13585627"), "no U");
    assert!(!vat("SE", "556188840402"), "not 01 at the end");
    assert!(!vat("XX", "123456789"));
}

#[test]
fn spanish_personal_numbers_check_their_letter() {
    assert!(vat("ES", "12345678Z"));
    assert!(!vat("ES", "12345678A"));
    assert!(vat("ES", "X1234567L"));
    assert!(!vat("ES", "X1234567M"));
}

#[test]
fn british_branch_numbers_check_their_first_nine_digits() {
    assert!(vat("GB", "980780684001"));
    assert!(!vat("GB", "980780685001"));
}

#[test]
fn luhn_holds_for_siren_siret_and_swedish_organisation_numbers() {
    for valid in ["432187656", "552100554", "73282932000074", "5590123450"] {
        assert!(luhn(valid), "{valid}");
    }
    for invalid in [
        "432187657",
        "552100555",
        "73282932000075",
        "5590123451",
        "",
        "12a",
    ] {
        assert!(!luhn(invalid), "{invalid}");
    }
}

#[test]
fn national_company_numbers_check_their_digits() {
    assert!(org_nr_no("923609016"));
    assert!(!org_nr_no("923609017"));
    assert!(uid_ch("116281710"));
    assert!(!uid_ch("116281711"));
    assert!(abn_au("51824753556"));
    assert!(!abn_au("51824753557"));
    assert!(cvr_dk("88146328"));
    assert!(!cvr_dk("88146329"));
    assert!(vat_be("411905847"), "the nine-digit form");
}
