//! `data.object` is typed straight from the bytes; whatever it looks like, the result is the
//! same as typing the parsed `serde_json::Value` with `EventObject::from_value`.

use serde_json::{json, Value};
use stripe_events::{parse_event, Event, EventObject};

fn event_with_object(object: &str) -> String {
    format!(
        r#"{{"id":"evt_1","object":"event","type":"x.y","created":1,"data":{{"object":{object}}}}}"#
    )
}

/// Parses `object` inside an event both ways and checks they agree; returns the result.
fn typed_both_ways(object: &str) -> EventObject {
    let payload = event_with_object(object);
    let fast = parse_event(payload.as_bytes()).unwrap().data.object;
    let value: Value = serde_json::from_str(object).unwrap();
    assert_eq!(fast, EventObject::from_value(value), "{object}");
    let via_serde: Event = serde_json::from_str(&payload).unwrap();
    assert_eq!(via_serde.data.object, fast, "{object}");
    fast
}

const CHARGE_FIELDS: &str =
    r#""amount":100,"currency":"usd","status":"succeeded","created":5,"metadata":{"k":"v"}"#;

#[test]
fn the_tag_types_the_object_wherever_it_is() {
    for object in [
        format!(r#"{{"id":"ch_1","object":"charge",{CHARGE_FIELDS}}}"#),
        format!(r#"{{"object":"charge","id":"ch_1",{CHARGE_FIELDS}}}"#),
        format!(r#"{{{CHARGE_FIELDS},"id":"ch_1","object":"charge"}}"#),
        format!(
            r#"{{"x":[{{"object":"customer"}}],"id":"ch_1",{CHARGE_FIELDS},"object":"charge"}}"#
        ),
        // Escapes in keys and in the tag are read like any other string.
        format!(r#"{{"\u0069d":"ch_1","obj\u0065ct":"ch\u0061rge",{CHARGE_FIELDS}}}"#),
    ] {
        let EventObject::Charge(charge) = typed_both_ways(&object) else {
            panic!("expected a charge: {object}")
        };
        assert_eq!((charge.id.as_str(), charge.amount), ("ch_1", 100));
        assert_eq!(charge.metadata["k"], "v");
        assert_eq!(charge.created, 5);
    }
}

#[test]
fn untyped_and_malformed_objects_keep_their_whole_value() {
    for object in [
        r#"{"id":"in_1","object":"invoice","amount_paid":2000,"lines":{"data":[1,2]}}"#.to_owned(),
        r#"{"id":"x_1","amount":1}"#.to_owned(),
        r#"{"object":7,"id":"x_1"}"#.to_owned(),
        r#"{}"#.to_owned(),
        // A known tag without its type's shape.
        r#"{"id":"ch_1","object":"charge","amount":"lots","currency":"usd"}"#.to_owned(),
        format!(r#"{{"id":"ch_1","object":"charge",{CHARGE_FIELDS},"customer":[1]}}"#),
        r#"[1,{"object":"charge"}]"#.to_owned(),
        "null".to_owned(),
        "\"ch_1\"".to_owned(),
        "-1.5".to_owned(),
        "true".to_owned(),
    ] {
        let parsed = typed_both_ways(&object);
        let EventObject::Unknown(value) = parsed else {
            panic!("expected Unknown: {object}")
        };
        assert_eq!(value, serde_json::from_str::<Value>(&object).unwrap());
    }
}

#[test]
fn expanded_fields_are_typed_and_ids_stay_ids() {
    let object = json!({
        "id": "pi_1", "object": "payment_intent", "amount": 100, "currency": "usd",
        "status": "succeeded", "created": 1, "customer": "cus_1",
        "latest_charge": {"id": "ch_1", "object": "charge", "amount": 100, "currency": "usd",
            "status": "succeeded", "created": 1,
            "customer": {"object": "customer", "id": "cus_1", "email": "a@b.c"}}
    });
    let EventObject::PaymentIntent(pi) = typed_both_ways(&object.to_string()) else {
        panic!("expected a payment intent")
    };
    assert_eq!(pi.customer.as_ref().unwrap().id(), "cus_1");
    let charge = pi.latest_charge.as_ref().unwrap().as_object().unwrap();
    let customer = charge.customer.as_ref().unwrap().as_object().unwrap();
    assert_eq!(customer.email.as_deref(), Some("a@b.c"));
}
