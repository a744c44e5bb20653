//! A payer's company: the key from the email's domain (sub-domains, case, IDN,
//! plus-addressing, invalid addresses), the free-mail list (wildcard top-level domains, the
//! configured extra list), the metadata source, the configuration, and the company's identity
//! properties and HubSpot definitions.

use serde_json::json;
use stripe2hubspot_map::{
    company_key, company_properties, CompanyKey, CompanyKeySource, CompanyNameHint, ConfigError,
    MappingConfig, COMPANY_GROUP, COMPANY_KEY_PROPERTY, FREE_MAIL_DOMAINS,
};
use stripe_events::Metadata;

fn domain_of(email: &str, config: &MappingConfig) -> Option<String> {
    company_key(Some(email), &Metadata::new(), config).map(|k| k.value().to_owned())
}

fn domain(email: &str) -> Option<String> {
    domain_of(email, &MappingConfig::default())
}

#[test]
fn the_domain_is_lower_case_trimmed_and_ignores_the_local_part() {
    assert_eq!(domain("ann@acme.com").as_deref(), Some("acme.com"));
    assert_eq!(domain("  Ann.Lee@ACME.Com ").as_deref(), Some("acme.com"));
    assert_eq!(domain("ann+billing@acme.com").as_deref(), Some("acme.com"));
    assert_eq!(domain("bob+x+y@Acme.COM").as_deref(), Some("acme.com"));
    assert_eq!(domain("ann@acme.com.").as_deref(), Some("acme.com"));
    assert_eq!(
        company_key(
            Some("ann@acme.com"),
            &Metadata::new(),
            &MappingConfig::default()
        ),
        Some(CompanyKey::Domain("acme.com".into()))
    );
}

#[test]
fn sub_domains_are_kept_as_they_are() {
    assert_eq!(
        domain("ann@mail.acme.com").as_deref(),
        Some("mail.acme.com")
    );
    assert_eq!(domain("ann@acme.co.uk").as_deref(), Some("acme.co.uk"));
    assert_eq!(
        domain("ann@eu.mail.acme.com").as_deref(),
        Some("eu.mail.acme.com")
    );
}

#[test]
fn international_domains_are_lower_case_unicode_or_punycode_as_given() {
    assert_eq!(domain("anna@BÜCHER.de").as_deref(), Some("bücher.de"));
    assert_eq!(domain("anna@bücher.de").as_deref(), Some("bücher.de"));
    assert_eq!(
        domain("anna@XN--BCHER-KVA.de").as_deref(),
        Some("xn--bcher-kva.de")
    );
    assert_eq!(domain("li@例え.テスト").as_deref(), Some("例え.テスト"));
}

#[test]
fn invalid_emails_have_no_company() {
    for bad in [
        "",
        "   ",
        "acme.com",
        "@acme.com",
        "ann@",
        "ann@acme",
        "ann@.acme.com",
        "ann@acme..com",
        "ann@-acme.com",
        "ann@acme-.com",
        "ann @acme.com",
        "ann@ac me.com",
        "ann@10.0.0.1",
        "ann@[10.0.0.1]",
        "ann@acme_corp.com",
    ] {
        assert_eq!(domain(bad), None, "{bad:?}");
    }
    let long_label = format!("ann@{}.com", "a".repeat(64));
    assert_eq!(domain(&long_label), None);
    assert_eq!(
        company_key(None, &Metadata::new(), &MappingConfig::default()),
        None
    );
}

#[test]
fn free_mail_and_disposable_domains_never_make_a_company() {
    for free in [
        "ann@gmail.com",
        "ann@GoogleMail.com",
        "ann@outlook.com",
        "ann@hotmail.com",
        "ann@hotmail.co.uk",
        "ann@live.com",
        "ann@yahoo.com",
        "ann@yahoo.co.jp",
        "ann@icloud.com",
        "ann@me.com",
        "ann@aol.com",
        "ann@proton.me",
        "ann@protonmail.com",
        "ann@web.de",
        "ann@mail.ru",
        "ann@qq.com",
        "ann@163.com",
        "ann@126.com",
        "ann@msn.com",
        "ann@mac.com",
        "ann@ymail.com",
        "ann@zoho.com",
        "ann@fastmail.com",
        "ann@hey.com",
        "ann@naver.com",
        "ann@mailinator.com",
        "ann@guerrillamail.com",
        "ann@10minutemail.com",
        "ann@tempmail.com",
    ] {
        assert_eq!(domain(free), None, "{free}");
    }
}

#[test]
fn wildcard_entries_match_any_top_level_domain_by_label() {
    for free in [
        "ann@gmx.de",
        "ann@gmx.net",
        "ann@GMX.at",
        "ann@gmx.co.uk",
        "ann@yandex.ru",
        "ann@yandex.com",
        "ann@yandex.com.tr",
    ] {
        assert_eq!(domain(free), None, "{free}");
    }
    // Another company's sub-domain, or a longer name, is not the provider.
    for company in [
        "ann@gmx.acme.com",
        "ann@mygmx.de",
        "ann@gmxx.de",
        "ann@yandex.team.acme.io",
        "ann@mail.gmail.com.acme.io",
    ] {
        assert!(domain(company).is_some(), "{company}");
    }
    assert!(FREE_MAIL_DOMAINS.contains(&"gmx.*"));
    assert!(FREE_MAIL_DOMAINS.contains(&"yandex.*"));
}

#[test]
fn the_extra_list_extends_the_shipped_one() {
    let config = MappingConfig {
        free_mail_domains_extra: vec![" Example.ORG ".into(), "posteo.*".into()],
        ..MappingConfig::default()
    };
    config.validate().unwrap();
    assert_eq!(domain_of("ann@example.org", &config), None);
    assert_eq!(domain_of("ann@posteo.de", &config), None);
    assert_eq!(domain_of("ann@posteo.net", &config), None);
    assert_eq!(domain_of("ann@gmail.com", &config), None);
    assert_eq!(
        domain_of("ann@sub.example.org", &config).as_deref(),
        Some("sub.example.org")
    );
    // Without the extra list, the same domains make companies.
    assert_eq!(domain("ann@example.org").as_deref(), Some("example.org"));
    assert_eq!(domain("ann@posteo.de").as_deref(), Some("posteo.de"));
}

#[test]
fn the_metadata_source_takes_the_trimmed_value() {
    let config = MappingConfig {
        company_key: CompanyKeySource::Metadata("company_id".into()),
        ..MappingConfig::default()
    };
    let metadata = Metadata::from([("company_id".to_owned(), "  Acme-42 ".to_owned())]);
    assert_eq!(
        company_key(Some("ann@gmail.com"), &metadata, &config),
        Some(CompanyKey::Metadata("Acme-42".into()))
    );
    let blank = Metadata::from([("company_id".to_owned(), "   ".to_owned())]);
    assert_eq!(company_key(Some("ann@acme.com"), &blank, &config), None);
    assert_eq!(
        company_key(Some("ann@acme.com"), &Metadata::new(), &config),
        None
    );

    let off = MappingConfig {
        company_key: CompanyKeySource::Disabled,
        ..MappingConfig::default()
    };
    assert_eq!(company_key(Some("ann@acme.com"), &metadata, &off), None);
}

#[test]
fn the_company_key_reads_from_json_and_old_configs_keep_working() {
    let old = MappingConfig::from_json(r#"{"pipeline": "default"}"#).unwrap();
    assert_eq!(old.company_key, CompanyKeySource::EmailDomain);
    assert!(old.free_mail_domains_extra.is_empty());
    let read = |value: serde_json::Value| {
        MappingConfig::from_json(&json!({ "company_key": value }).to_string())
    };
    assert_eq!(
        read(json!("email_domain")).unwrap().company_key,
        CompanyKeySource::EmailDomain
    );
    assert_eq!(
        read(json!({"metadata": "company_id"})).unwrap().company_key,
        CompanyKeySource::Metadata("company_id".into())
    );
    assert_eq!(
        read(json!("none")).unwrap().company_key,
        CompanyKeySource::Disabled
    );
    assert!(matches!(read(json!("domain")), Err(ConfigError::Parse(_))));
    // It writes back the way it reads.
    let config = MappingConfig {
        company_key: CompanyKeySource::Metadata("company_id".into()),
        ..MappingConfig::default()
    };
    let text = serde_json::to_string(&config).unwrap();
    assert!(
        text.contains(r#""company_key":{"metadata":"company_id"}"#),
        "{text}"
    );
    assert_eq!(MappingConfig::from_json(&text).unwrap(), config);
    let none = serde_json::to_value(CompanyKeySource::Disabled).unwrap();
    assert_eq!(none, json!("none"));
}

#[test]
fn invalid_company_settings_name_the_field() {
    let err = read_err(json!({"company_key": {"metadata": "  "}}));
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "company_key.metadata".into()
        }
    );
    for bad in [
        "",
        "gmail",
        "ann@gmail.com",
        "gmail .com",
        "*.gmail.com",
        "-x.com",
    ] {
        let err = read_err(json!({"free_mail_domains_extra": ["posteo.de", bad]}));
        assert!(
            matches!(&err, ConfigError::InvalidDomain { field, .. } if field == "free_mail_domains_extra[1]"),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().contains("free_mail_domains_extra[1]"));
    }
}

fn read_err(value: serde_json::Value) -> ConfigError {
    MappingConfig::from_json(&value.to_string()).unwrap_err()
}

#[test]
fn the_company_name_prefers_metadata_then_a_business_name_then_the_domain() {
    let config = MappingConfig::default();
    let key = CompanyKey::Domain("acme.com".into());
    let name = |hint: CompanyNameHint<'_>| {
        company_properties(hint, &key, &[], &[], &config)
            .get("name")
            .map(str::to_owned)
    };
    let both = CompanyNameHint {
        metadata_company: Some(" Acme Inc. "),
        business_name: Some("Acme Trading Ltd"),
    };
    assert_eq!(name(both).as_deref(), Some("Acme Inc."));
    let business = CompanyNameHint {
        metadata_company: Some("  "),
        business_name: Some("Acme Trading Ltd"),
    };
    assert_eq!(name(business).as_deref(), Some("Acme Trading Ltd"));
    assert_eq!(
        name(CompanyNameHint::default()).as_deref(),
        Some("acme.com")
    );

    let company = company_properties(CompanyNameHint::default(), &key, &[], &[], &config);
    assert_eq!(company.get(COMPANY_KEY_PROPERTY), Some("acme.com"));
    assert_eq!(company.get("domain"), Some("acme.com"));
    assert_eq!(company.get("stripe_payment_count"), Some("0"));
    assert_eq!(company.get("stripe_lifetime_value"), Some(""));
    assert_eq!(company.get("stripe_first_payment_date"), Some(""));
    assert_eq!(company.get("stripe_mrr"), Some(""));
    assert_eq!(company.get("stripe_active_subscriptions"), Some("0"));

    let by_metadata = CompanyKey::Metadata("ACME-42".into());
    let company = company_properties(CompanyNameHint::default(), &by_metadata, &[], &[], &config);
    assert_eq!(company.get(COMPANY_KEY_PROPERTY), Some("ACME-42"));
    assert_eq!(company.get("domain"), None);
    assert_eq!(company.get("name"), None);

    let no_subscriptions = MappingConfig {
        subscriptions: false,
        ..MappingConfig::default()
    };
    let company = company_properties(
        CompanyNameHint::default(),
        &key,
        &[],
        &[],
        &no_subscriptions,
    );
    assert_eq!(company.get("stripe_mrr"), None);
}

#[test]
fn bootstrap_creates_the_company_properties_with_a_unique_key() {
    let specs = MappingConfig::default().company_custom_properties();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for expected in [
        "stripe_company_key",
        "stripe_payment_count",
        "stripe_lifetime_value",
        "stripe_lifetime_value_currency",
        "stripe_first_payment_date",
        "stripe_last_payment_date",
        "stripe_mrr",
        "stripe_arr",
        "stripe_mrr_currency",
        "stripe_active_subscriptions",
    ] {
        assert!(names.contains(&expected), "{expected}");
    }
    assert!(!names.contains(&"domain") && !names.contains(&"name"));
    for spec in &specs {
        assert_eq!(spec.group_name, COMPANY_GROUP);
        assert_eq!(
            spec.has_unique_value,
            spec.name == COMPANY_KEY_PROPERTY,
            "{}",
            spec.name
        );
    }
    let none = MappingConfig {
        company_key: CompanyKeySource::Disabled,
        ..MappingConfig::default()
    };
    assert!(none.company_custom_properties().is_empty());
    let no_subscriptions = MappingConfig {
        subscriptions: false,
        ..MappingConfig::default()
    };
    let names: Vec<String> = no_subscriptions
        .company_custom_properties()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(!names.iter().any(|n| n == "stripe_mrr"));
}

#[test]
fn more_domain_cases_sub_domains_case_idn_and_plus_addressing_together() {
    // The domain is after the last `@`, whatever the local part holds.
    assert_eq!(domain("\"ann@home\"@acme.com").as_deref(), Some("acme.com"));
    assert_eq!(
        domain("Ann+Stripe+Q3@EU.Billing.ACME.com.").as_deref(),
        Some("eu.billing.acme.com")
    );
    assert_eq!(
        domain("anna+rechnung@Mail.BÜCHER.de").as_deref(),
        Some("mail.bücher.de")
    );
    assert_eq!(
        domain("anna+x@mail.XN--BCHER-KVA.de").as_deref(),
        Some("mail.xn--bcher-kva.de")
    );
    // Free mail is recognised whatever the case and the plus-addressing.
    assert_eq!(domain("ann+x@GMAIL.COM"), None);
    assert_eq!(domain("ann@Yandex.RU"), None);
}
