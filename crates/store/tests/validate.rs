//! `Event::validate`, one case per rule, and the event's JSON shape.

mod common;

use common::click;
use proptest::prelude::*;
use tastebud_store::{Event, EventType};

const NOW: i64 = 1_700_000_000;

fn err(e: &Event) -> String {
    e.validate(NOW).expect_err("should be rejected")
}

fn impression(items: Vec<String>) -> Event {
    Event {
        kind: EventType::Impression,
        item: None,
        items,
        ..click("u", "i", None)
    }
}

#[test]
fn a_valid_event_of_every_type_passes() {
    for kind in EventType::ALL {
        let mut e = Event {
            kind,
            ..click("u", "i", None)
        };
        if kind == EventType::Impression {
            e.items = vec!["a".to_string(), "b".to_string()];
            e.item = None;
        }
        if kind == EventType::Rating {
            e.value = Some(4.5);
        }
        assert_eq!(e.validate(NOW), Ok(()), "{kind}");
    }
    let full = Event {
        value: Some(19.99),
        dwell_ms: Some(86_400_000),
        request_id: Some("r".repeat(256)),
        event_id: Some("e".repeat(256)),
        experiment: Some("exp".to_string()),
        arm: Some("b".to_string()),
        propensity: Some(1.0),
        position: Some(3),
        timestamp: NOW + 86_400,
        ..click(&"u".repeat(256), &"i".repeat(256), None)
    };
    assert_eq!(full.validate(NOW), Ok(()));
}

#[test]
fn user_rules() {
    assert!(err(&click("", "i", None)).starts_with("user"));
    assert!(err(&click(&"u".repeat(257), "i", None)).starts_with("user"));
    assert!(err(&click("a\nb", "i", None)).starts_with("user"));
    assert!(err(&click("a\u{7f}", "i", None)).contains("control"));
    // Multi-byte: 86 × 3 bytes = 258 bytes > 256.
    assert!(err(&click(&"€".repeat(86), "i", None)).starts_with("user"));
    assert_eq!(click(&"€".repeat(85), "i", None).validate(NOW), Ok(()));
}

#[test]
fn item_rules() {
    let no_item = Event {
        item: None,
        ..click("u", "i", None)
    };
    assert!(err(&no_item).starts_with("item: required"));
    assert!(err(&click("u", "", None)).starts_with("item"));
    assert!(err(&click("u", &"i".repeat(257), None)).starts_with("item"));
    for kind in EventType::ALL
        .into_iter()
        .filter(|k| *k != EventType::Impression)
    {
        let e = Event {
            kind,
            item: None,
            value: Some(1.0),
            ..click("u", "i", None)
        };
        assert!(err(&e).starts_with("item"), "{kind}");
    }
}

#[test]
fn impression_rules() {
    assert!(err(&impression(vec![])).starts_with("items"));
    assert_eq!(
        impression(vec!["a".to_string(); 1000]).validate(NOW),
        Ok(())
    );
    assert!(err(&impression(vec!["a".to_string(); 1001])).starts_with("items"));
    assert!(err(&impression(vec!["a".to_string(), String::new()])).starts_with("items[1]"));
    assert!(err(&impression(vec!["x".repeat(257)])).starts_with("items[0]"));
    // `item` is not required, but if given it must be valid.
    let with_item = Event {
        item: Some("a".to_string()),
        ..impression(vec!["a".to_string()])
    };
    assert_eq!(with_item.validate(NOW), Ok(()));
    let bad_item = Event {
        item: Some(String::new()),
        ..impression(vec!["a".to_string()])
    };
    assert!(err(&bad_item).starts_with("item"));
}

#[test]
fn timestamp_rules() {
    let at = |timestamp| Event {
        timestamp,
        ..click("u", "i", None)
    };
    assert_eq!(at(946_684_800).validate(NOW), Ok(()));
    assert!(err(&at(946_684_799)).starts_with("timestamp"));
    assert!(
        err(&at(1_700_000_000_000)).contains("in the future"),
        "milliseconds"
    );
    assert!(err(&at(NOW + 86_401)).contains("in the future"));
    assert!(err(&at(i64::MIN)).starts_with("timestamp"));
    assert!(at(i64::MAX).validate(i64::MAX).is_ok(), "no overflow");
}

#[test]
fn value_rules() {
    let rating = |value| Event {
        kind: EventType::Rating,
        value,
        ..click("u", "i", None)
    };
    assert_eq!(rating(Some(0.0)).validate(NOW), Ok(()));
    assert!(err(&rating(None)).starts_with("value: required"));
    assert!(err(&rating(Some(f64::NAN))).starts_with("value"));
    assert!(err(&rating(Some(f64::INFINITY))).starts_with("value"));
    let purchase = Event {
        kind: EventType::Purchase,
        value: Some(f64::NEG_INFINITY),
        ..click("u", "i", None)
    };
    assert!(err(&purchase).starts_with("value"));
}

#[test]
fn amount_and_currency_rules() {
    let buy = |kind, amount, currency: Option<&str>| Event {
        kind,
        amount,
        currency: currency.map(str::to_owned),
        ..click("u", "i", None)
    };
    assert_eq!(
        buy(EventType::Purchase, Some(0.0), None).validate(NOW),
        Ok(())
    );
    assert_eq!(
        buy(EventType::Purchase, Some(19.99), Some("EUR")).validate(NOW),
        Ok(())
    );
    assert_eq!(
        buy(EventType::AddToCart, Some(5.0), Some("USD")).validate(NOW),
        Ok(())
    );
    for bad in [-0.01, f64::NAN, f64::INFINITY, 2e12] {
        let e = buy(EventType::Purchase, Some(bad), None);
        assert!(
            err(&e).starts_with("amount: must be a finite number"),
            "{bad}: {}",
            err(&e)
        );
    }
    assert!(err(&buy(EventType::Click, Some(1.0), None)).starts_with("amount: only a purchase"));
    assert!(
        err(&buy(EventType::Purchase, None, Some("EUR"))).starts_with("currency: given without")
    );
    for code in ["eur", "EURO", "E1R", ""] {
        let e = buy(EventType::Purchase, Some(1.0), Some(code));
        assert!(err(&e).starts_with("currency: "), "{code}");
    }
    // Events stored before amounts existed still read (the new fields default to none), and an event
    // without them serialises exactly as before.
    let old: Event = serde_json::from_str(
        r#"{"user":"u","item":"i","type":"purchase","timestamp":1700000000,"value":3.5}"#,
    )
    .unwrap();
    assert_eq!((old.amount, old.currency.as_deref()), (None, None));
    assert!(!serde_json::to_string(&old).unwrap().contains("amount"));
    let new = buy(EventType::Purchase, Some(12.5), Some("EUR"));
    let back: Event = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
    assert_eq!(back, new);
}

#[test]
fn dwell_and_propensity_rules() {
    let dwell = Event {
        dwell_ms: Some(86_400_001),
        ..click("u", "i", None)
    };
    assert!(err(&dwell).starts_with("dwell_ms"));
    let p = |p| Event {
        propensity: Some(p),
        ..click("u", "i", None)
    };
    assert_eq!(p(1e-9).validate(NOW), Ok(()));
    for bad in [0.0, -0.1, 1.000_001, f64::NAN, f64::INFINITY] {
        assert!(err(&p(bad)).starts_with("propensity"), "{bad}");
    }
}

#[test]
fn optional_id_lengths() {
    let long = Some("x".repeat(257));
    let cases = [
        (
            "event_id",
            Event {
                event_id: long.clone(),
                ..click("u", "i", None)
            },
        ),
        (
            "request_id",
            Event {
                request_id: long.clone(),
                ..click("u", "i", None)
            },
        ),
        (
            "experiment",
            Event {
                experiment: long.clone(),
                ..click("u", "i", None)
            },
        ),
        (
            "arm",
            Event {
                arm: long.clone(),
                ..click("u", "i", None)
            },
        ),
    ];
    for (field, e) in cases {
        assert!(err(&e).starts_with(field), "{field}");
    }
}

/// Issue "Trust", item 7: an empty `event_id` was a global key (another user's later event with `""` was
/// dropped as a duplicate), and control characters passed although user and item ids refuse them.
#[test]
fn event_id_follows_the_id_rule() {
    let with = |id: &str| Event {
        event_id: Some(id.to_string()),
        ..click("u", "i", None)
    };
    assert_eq!(err(&with("")), "event_id: must not be empty");
    assert!(err(&with("a\u{0}b")).contains("control characters"));
    assert!(err(&with("\u{7f}")).starts_with("event_id"));
    assert_eq!(with("e-1 €").validate(NOW), Ok(()));
    assert_eq!(with(&"e".repeat(256)).validate(NOW), Ok(()));
}

#[test]
fn event_type_names() {
    let names = [
        "impression",
        "click",
        "view",
        "rating",
        "like",
        "dislike",
        "add_to_cart",
        "purchase",
    ];
    for (kind, name) in EventType::ALL.into_iter().zip(names) {
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<EventType>(), Ok(kind));
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
    }
    assert!("AddToCart".parse::<EventType>().is_err());
    assert!(
        "".parse::<EventType>()
            .unwrap_err()
            .to_string()
            .contains("unknown event type")
    );
}

#[test]
fn event_json_shape() {
    let e: Event = serde_json::from_str(
        r#"{"user":"u","type":"impression","items":["a","b"],"timestamp":1700000000,"request_id":"r1","propensity":0.25}"#,
    )
    .unwrap();
    assert_eq!(e.kind, EventType::Impression);
    assert_eq!(e.items, vec!["a", "b"]);
    assert_eq!(e.item, None);
    assert_eq!(e.propensity, Some(0.25));
    // Optional fields that are absent stay absent.
    assert_eq!(
        serde_json::to_string(&click("u", "i", None)).unwrap(),
        r#"{"user":"u","item":"i","type":"click","timestamp":1700000000}"#
    );
    let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back, e);
    // Unknown fields are rejected; so are missing required ones.
    assert!(
        serde_json::from_str::<Event>(
            r#"{"user":"u","item":"i","type":"click","timestamp":1,"colour":"red"}"#
        )
        .is_err()
    );
    assert!(serde_json::from_str::<Event>(r#"{"user":"u","item":"i","timestamp":1}"#).is_err());
    assert!(
        serde_json::from_str::<Event>(r#"{"user":"u","item":"i","type":"clicked","timestamp":1}"#)
            .is_err()
    );
}

proptest! {
    // No regression file: this integration test has no lib.rs for proptest to place one by.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn validate_never_panics(
        user in ".{0,300}",
        item in proptest::option::of(".{0,300}"),
        items in proptest::collection::vec(".{0,8}", 0..3),
        kind in 0usize..8,
        timestamp in any::<i64>(),
        now in any::<i64>(),
        value in proptest::option::of(any::<f64>()),
        dwell_ms in proptest::option::of(any::<u64>()),
        propensity in proptest::option::of(any::<f64>()),
        amount in proptest::option::of(any::<f64>()),
        currency in proptest::option::of(".{0,4}"),
        event_id in proptest::option::of(".{0,300}"),
    ) {
        let e = Event {
            user, item, items, kind: EventType::ALL[kind], timestamp, value, amount, currency, dwell_ms,
            request_id: None, event_id, experiment: None, arm: None, propensity, position: None,
            attrs: Default::default(),
        };
        if let Err(msg) = e.validate(now) {
            // The message names a field first.
            let field = msg.split(':').next().unwrap();
            prop_assert!(
                ["user", "item", "items", "timestamp", "value", "dwell_ms", "propensity", "event_id"]
                    .iter()
                    .any(|f| field == *f || field.starts_with("items[")),
                "{msg}"
            );
        }
    }
}
