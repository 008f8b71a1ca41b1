use super::*;

fn tech(name: &str, category: &str) -> Technology {
    Technology {
        name: name.into(),
        category: category.into(),
        version: None,
        evidence: "test".into(),
    }
}

#[test]
fn tech_stack_groups_names_in_the_old_shape_without_duplicates() {
    let metadata = SiteMetadata {
        tech: vec![
            tech("WordPress", "cms"),
            tech("jQuery", "javascript-library"),
            tech("Google Analytics", "analytics"),
            tech("Google Analytics", "analytics"),
            tech("Intercom", "chat"),
            tech("Cloudflare", "cdn"),
        ],
        ..SiteMetadata::default()
    };
    let stack = metadata.tech_stack();
    assert_eq!(stack.cms, ["WordPress"]);
    assert_eq!(stack.frameworks, ["jQuery"]);
    assert_eq!(stack.analytics, ["Google Analytics"]);
    assert_eq!(stack.widgets, ["Intercom"]);
}

#[test]
fn tech_stack_gives_every_other_category_a_key_of_its_own() {
    let metadata = SiteMetadata {
        tech: vec![
            tech("Stripe", "payments"),
            tech("Cloudflare", "cdn"),
            tech("Fastly", "cdn"),
            tech("OneTrust", "consent"),
        ],
        ..SiteMetadata::default()
    };
    let json = serde_json::to_value(metadata.tech_stack()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "cms": [], "frameworks": [], "analytics": [], "widgets": [],
            "payments": ["Stripe"],
            "cdn": ["Cloudflare", "Fastly"],
            "consent": ["OneTrust"],
        })
    );
}

#[test]
fn advertising_pixels_stay_in_the_old_analytics_list_too() {
    let metadata = SiteMetadata {
        tech: vec![
            tech("Facebook Pixel", "advertising"),
            tech("Google Analytics", "analytics"),
        ],
        ..SiteMetadata::default()
    };
    let stack = metadata.tech_stack();
    assert_eq!(stack.analytics, ["Facebook Pixel", "Google Analytics"]);
    assert_eq!(stack.by_category["advertising"], ["Facebook Pixel"]);
}

#[test]
fn document_inlines_the_fields_and_adds_the_old_tech_stack() {
    let metadata = SiteMetadata {
        url: "https://example.com/".into(),
        title: Some("Example".into()),
        tech: vec![tech("WordPress", "cms")],
        ..SiteMetadata::default()
    };
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(json["url"], "https://example.com/");
    assert_eq!(json["title"], "Example");
    assert_eq!(json["tech"][0]["name"], "WordPress");
    assert_eq!(json["tech_stack"]["cms"][0], "WordPress");
    assert_eq!(json["social"]["facebook"], serde_json::Value::Null);
    assert_eq!(json["site_kind"], "site");
    let parked = SiteMetadata {
        site_kind: SiteKind::ServerDefault,
        ..SiteMetadata::default()
    };
    let json = serde_json::to_value(parked.document()).unwrap();
    assert_eq!(json["site_kind"], SiteKind::ServerDefault.as_str());
}

#[test]
fn merged_contacts_come_after_the_home_pages_and_say_where_they_are_from() {
    let mut metadata = SiteMetadata {
        emails: vec!["Sales@acme.test".into()],
        phones: vec!["+4930123456".into()],
        social: SocialProfiles {
            twitter: Some("https://twitter.com/acme".into()),
            ..SocialProfiles::default()
        },
        ..SiteMetadata::default()
    };
    metadata.attribute_contacts_to("https://acme.test/");
    metadata.merge_contacts(
        "https://acme.test/kontakt/",
        PageContacts {
            emails: vec!["sales@ACME.test".into(), "info@acme.test".into()],
            phones: vec!["+4930123456".into(), "+4930999999".into()],
            social: SocialProfiles {
                twitter: Some("https://twitter.com/someone-else".into()),
                linkedin: Some("https://www.linkedin.com/company/acme".into()),
                ..SocialProfiles::default()
            },
        },
    );
    assert_eq!(metadata.emails, ["Sales@acme.test", "info@acme.test"]);
    assert_eq!(metadata.phones, ["+4930123456", "+4930999999"]);
    assert_eq!(
        metadata.social.twitter.as_deref(),
        Some("https://twitter.com/acme")
    );
    let from = |value: &str| {
        metadata
            .contact_sources
            .iter()
            .find(|source| source.value == value)
            .map(|source| source.page.as_str())
    };
    assert_eq!(from("Sales@acme.test"), Some("https://acme.test/"));
    assert_eq!(from("info@acme.test"), Some("https://acme.test/kontakt/"));
    assert_eq!(from("+4930999999"), Some("https://acme.test/kontakt/"));
    assert_eq!(
        from("https://www.linkedin.com/company/acme"),
        Some("https://acme.test/kontakt/")
    );
    assert_eq!(from("https://twitter.com/someone-else"), None);
    assert_eq!(metadata.contact_sources.len(), 6);
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(json["contact_sources"][3]["kind"], "email");
    assert_eq!(
        json["contact_sources"][3]["page"],
        "https://acme.test/kontakt/"
    );
}

#[test]
fn reached_is_written_when_known_and_read_back_when_absent() {
    let metadata = SiteMetadata {
        reached: Some(Reached {
            url: "https://www.acme.test/".into(),
            via: ReachedVia::Www,
            because: Some("DNS lookup failed: acme.test".into()),
        }),
        ..SiteMetadata::default()
    };
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(
        json["reached"],
        serde_json::json!({
            "url": "https://www.acme.test/",
            "via": "www",
            "because": "DNS lookup failed: acme.test"
        })
    );
    let first = SiteMetadata {
        reached: Some(Reached {
            url: "https://acme.test/".into(),
            via: ReachedVia::Https,
            because: None,
        }),
        ..SiteMetadata::default()
    };
    let json = serde_json::to_value(first.document()).unwrap();
    assert_eq!(
        json["reached"],
        serde_json::json!({"url": "https://acme.test/", "via": "https"})
    );
    let unknown = serde_json::to_value(SiteMetadata::default().document()).unwrap();
    assert!(unknown.get("reached").is_none(), "{unknown}");
    let mut older = unknown;
    if let Some(fields) = older.as_object_mut() {
        fields.remove("tech_stack");
    }
    let read: SiteMetadata = serde_json::from_value(older).unwrap();
    assert_eq!(read.reached, None);
}

#[test]
fn column_caps_keep_the_first_values() {
    let metadata = SiteMetadata {
        emails: (0..7).map(|i| format!("a{i}@example.com")).collect(),
        phones: vec!["+1".into()],
        ..SiteMetadata::default()
    };
    assert_eq!(metadata.first_emails(5).len(), 5);
    assert_eq!(metadata.first_emails(5)[4], "a4@example.com");
    assert_eq!(metadata.first_phones(3), ["+1"]);
}

#[test]
fn a_company_merge_adds_what_is_missing_and_a_better_country() {
    let mut home = Company {
        name: Some("Acme".into()),
        country: Some("DE".into()),
        country_source: Some(CountrySource::Cctld),
        ..Company::default()
    };
    let imprint = Company {
        name: Some("Other".into()),
        legal_name: Some("Acme GmbH".into()),
        address: Some(PostalAddress {
            locality: Some("Wien".into()),
            country: Some("AT".into()),
            ..PostalAddress::default()
        }),
        country: Some("AT".into()),
        country_source: Some(CountrySource::Address),
        identifiers: vec![CompanyIdentifier {
            kind: IdentifierKind::Vat,
            value: "ATU13585627".into(),
            authority: None,
            country: Some("AT".into()),
        }],
        sources: vec![CompanySource {
            page: "https://acme.de/impressum".into(),
            part: CompanyPart::Imprint,
        }],
    };
    home.merge(imprint);
    assert_eq!(
        home.name.as_deref(),
        Some("Acme"),
        "the home page's name stays"
    );
    assert_eq!(home.legal_name.as_deref(), Some("Acme GmbH"));
    assert_eq!(home.country.as_deref(), Some("AT"));
    assert_eq!(home.country_source, Some(CountrySource::Address));
    assert_eq!(home.identifiers.len(), 1);
    assert_eq!(home.sources.len(), 1);
    assert!(home.is_stated());
}

#[test]
fn company_json_leaves_out_absent_parts_and_names_sources_in_snake_case() {
    let company = Company {
        country: Some("SE".into()),
        country_source: Some(CountrySource::LanguageRegion),
        sources: vec![CompanySource {
            page: "https://exempel.se/".into(),
            part: CompanyPart::JsonLd,
        }],
        ..Company::default()
    };
    let json = serde_json::to_value(&company).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "country": "SE",
            "country_source": "language_region",
            "sources": [{"page": "https://exempel.se/", "part": "json_ld"}]
        })
    );
    let empty = serde_json::to_value(SiteMetadata::default()).unwrap();
    assert!(empty.get("company").is_none());
}
