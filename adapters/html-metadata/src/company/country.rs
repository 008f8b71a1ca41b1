//! The company's country and what it was read from, most trusted first:
//! its address, the country code of the site's international phone
//! numbers, the site's country-code domain, the region of the page's
//! language tag. A language without a region (`de`, `fr`) never gives a
//! country: German is spoken in three countries, French in dozens.

use scheduler_domain::{Company, CountrySource};

/// Country codes sold as generic names: a `.io` site says nothing about
/// where its company is.
const GENERIC_COUNTRY_CODES: &[&str] = &[
    "io", "co", "ai", "tv", "me", "ly", "fm", "gg", "to", "ws", "cc", "so", "sh", "ac", "am", "eu",
    "gd", "la", "nu", "vc",
];

/// The country of the host's country-code top-level domain (`uk` is
/// `GB`), unless the code is sold as a generic name.
pub(crate) fn of_cctld(host: Option<&str>) -> Option<String> {
    let tld = host?.rsplit('.').next()?.to_ascii_lowercase();
    if tld.len() != 2
        || !tld.bytes().all(|b| b.is_ascii_alphabetic())
        || GENERIC_COUNTRY_CODES.contains(&tld.as_str())
    {
        return None;
    }
    Some(if tld == "uk" {
        "GB".to_owned()
    } else {
        tld.to_ascii_uppercase()
    })
}

/// The region of a language tag (`sv-SE` is `SE`); none for a bare
/// language (`sv`).
pub(crate) fn of_language(language: Option<&str>) -> Option<String> {
    language?
        .split(['-', '_'])
        .skip(1)
        .find(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
}

/// The country of an E.164 number (`+4930...` is `DE`).
pub(crate) fn of_phone(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    let id = number.country().id()?;
    Some(id.as_ref().to_owned())
}

/// Sets `country` and `country_source` from the best source there is;
/// `international_phones` are the site's numbers as written with their
/// country code (a number read in an assumed country proves nothing).
pub(crate) fn settle(
    company: &mut Company,
    international_phones: &[String],
    host: Option<&str>,
    language: Option<&str>,
) {
    let from_address = || {
        company
            .address
            .as_ref()
            .and_then(|address| address.country.clone())
            .map(|country| (country, CountrySource::Address))
    };
    let from_phones = || {
        let mut countries = international_phones
            .iter()
            .filter_map(|phone| of_phone(phone));
        let first = countries.next()?;
        countries
            .all(|other| other == first)
            .then_some((first, CountrySource::Phone))
    };
    let settled = from_address()
        .or_else(from_phones)
        .or_else(|| of_cctld(host).map(|country| (country, CountrySource::Cctld)))
        .or_else(|| of_language(language).map(|country| (country, CountrySource::LanguageRegion)));
    if let Some((country, source)) = settled {
        company.country = Some(country);
        company.country_source = Some(source);
    }
}

#[cfg(test)]
mod tests {
    use scheduler_domain::PostalAddress;

    use super::*;

    fn settled(
        company: Company,
        phones: &[&str],
        host: &str,
        language: Option<&str>,
    ) -> (Option<String>, Option<CountrySource>) {
        let mut company = company;
        let phones: Vec<String> = phones.iter().map(|phone| (*phone).to_owned()).collect();
        settle(&mut company, &phones, Some(host), language);
        (company.country, company.country_source)
    }

    fn with_address_in(country: &str) -> Company {
        Company {
            address: Some(PostalAddress {
                country: Some(country.to_owned()),
                ..PostalAddress::default()
            }),
            ..Company::default()
        }
    }

    #[test]
    fn the_address_wins_over_phones_domain_and_language() {
        assert_eq!(
            settled(
                with_address_in("AT"),
                &["+4930123456"],
                "shop.de",
                Some("de-DE")
            ),
            (Some("AT".into()), Some(CountrySource::Address))
        );
    }

    #[test]
    fn international_phones_of_one_country_come_next() {
        let company = Company::default();
        assert_eq!(
            settled(company.clone(), &["+41446681800"], "shop.de", None),
            (Some("CH".into()), Some(CountrySource::Phone))
        );
        assert_eq!(
            settled(company, &["+41446681800", "+4930123456"], "shop.de", None),
            (Some("DE".into()), Some(CountrySource::Cctld)),
            "phones of two countries say nothing"
        );
    }

    #[test]
    fn a_language_gives_a_country_only_with_its_region() {
        assert_eq!(
            settled(Company::default(), &[], "shop.com", Some("sv-SE")),
            (Some("SE".into()), Some(CountrySource::LanguageRegion))
        );
        assert_eq!(
            settled(Company::default(), &[], "shop.com", Some("fr")),
            (None, None)
        );
        assert_eq!(
            settled(Company::default(), &[], "startup.io", None),
            (None, None),
            "a generic country code"
        );
        assert_eq!(
            settled(Company::default(), &[], "shop.co.uk", None),
            (Some("GB".into()), Some(CountrySource::Cctld))
        );
    }
}
