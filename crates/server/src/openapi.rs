//! What the OpenAPI document says beyond the route annotations, applied once to the generated document so
//! that it tells the truth about every route:
//!
//! - the security schemes (`admin_key`, `service_key`: `X-Api-Key` or `Authorization: Bearer`);
//! - the id rule (1 to 256 bytes, no control characters) on every `{id}` path parameter;
//! - the bodies the handlers parse by hand (`Event`, `EventsBody`, `NewExperiment`, `Experiment`);
//! - the statuses every route can answer besides its own: 414 (URI too long) and 503 (timeout) anywhere,
//!   400 where there are parameters or a body, 413/415/422 where there is a body, 401/403 where a key is
//!   needed, all with the JSON error body.

use serde_json::{Value, json};

/// `pattern` of an id: no control characters (Unicode category Cc, what `char::is_control` refuses).
pub const ID_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";

/// The largest `k` a default configuration accepts (`limits.max_k`).
pub const DOC_MAX_K: u64 = 1000;

fn id_schema(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": tastebud_store::MAX_ID_BYTES,
        "pattern": ID_PATTERN,
        "description": description,
    })
}

fn optional_tag(description: &str) -> Value {
    json!({"type": "string", "maxLength": tastebud_store::MAX_ID_BYTES, "description": description})
}

/// One event as `POST /v1/events` takes it (see `tastebud_store::Event::validate`).
fn event_schema() -> Value {
    // `tastebud_store`'s `MAX_ATTRS` (not re-exported by the crate).
    const MAX_ATTRS: usize = 16;
    use tastebud_store::{MAX_DWELL_MS, MAX_IMPRESSION_ITEMS};
    let common = json!({
        "user": {"$ref": "#/components/schemas/Id"},
        "item": {"$ref": "#/components/schemas/Id"},
        "items": {"type": "array", "maxItems": MAX_IMPRESSION_ITEMS,
                  "items": {"$ref": "#/components/schemas/Id"},
                  "description": "For an impression: the items shown, in order."},
        "timestamp": {"type": "integer", "format": "int64", "minimum": tastebud_store::MIN_TIMESTAMP,
                      "description": "Unix seconds, from 2000-01-01 to one day past the server's clock."},
        "value": {"type": "number", "description": "The rating value, or any number the client attaches (required for a rating)."},
        "dwell_ms": {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_DWELL_MS,
                     "description": "For a view: how long the user stayed, milliseconds."},
        "request_id": optional_tag("The recommendation response this event belongs to."),
        "event_id": {"allOf": [{"$ref": "#/components/schemas/Id"}],
                     "description": "Idempotency key: an event whose id is already stored is not stored again."},
        "experiment": optional_tag("The experiment the user was in."),
        "arm": optional_tag("The experiment arm the user was in."),
        "propensity": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                       "description": "Probability of the shown slate or item under the serving policy."},
        "position": {"type": "integer", "minimum": 0, "maximum": u32::MAX,
                     "description": "Rank of the clicked item in the slate."},
        "attrs": {"type": "object", "maxProperties": MAX_ATTRS,
                  "propertyNames": {"minLength": 1, "maxLength": 64},
                  "additionalProperties": {"type": "string", "maxLength": tastebud_store::MAX_ID_BYTES},
                  "description": "User attributes at the time (keys 1-64 bytes), for experiment segments."},
    });
    // serde reads `null` as absent for every `Option` field.
    let mut common = common;
    for field in [
        "item",
        "value",
        "dwell_ms",
        "request_id",
        "event_id",
        "experiment",
        "arm",
        "propensity",
        "position",
    ] {
        let schema = common[field].take();
        common[field] = json!({"anyOf": [schema, {"type": "null"}]});
    }
    // Money only on a purchase or add-to-cart (`currency` only with `amount`).
    let money = json!({
        "amount": {"type": "number", "minimum": 0, "maximum": tastebud_store::MAX_AMOUNT,
                   "description": "The money involved, in `currency` (revenue for a purchase, cart value for an add-to-cart)."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                     "description": "ISO 4217 code of `amount` (default: the deployment's, `[revenue] currency`). Another currency is converted by `[revenue] rates` or refused (422)."},
    });
    let variant = |types: &[&str], required: &[&str], extra: Value| {
        let mut props = common.clone();
        props["type"] = json!({"type": "string", "enum": types});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                props[k] = v;
            }
        }
        json!({"type": "object", "additionalProperties": false, "properties": props,
               "required": required})
    };
    let mut money_variant = variant(
        &["add_to_cart", "purchase"],
        &["user", "type", "timestamp", "item"],
        json!({"item": {"$ref": "#/components/schemas/Id"}}),
    );
    for (k, schema) in money.as_object().into_iter().flatten() {
        money_variant["properties"][k] = json!({"anyOf": [schema, {"type": "null"}]});
    }
    money_variant["dependentRequired"] = json!({"currency": ["amount"]});
    json!({
        "description": "One event. An impression lists the items shown (`items`); a rating needs `value`; \
                        every other type names its `item`; a purchase or add-to-cart may carry `amount` and `currency`.",
        "oneOf": [
            variant(&["impression"], &["user", "type", "timestamp", "items"],
                    json!({"items": {"type": "array", "minItems": 1, "maxItems": MAX_IMPRESSION_ITEMS,
                                     "items": {"$ref": "#/components/schemas/Id"}}})),
            variant(&["rating"], &["user", "type", "timestamp", "item", "value"],
                    json!({"item": {"$ref": "#/components/schemas/Id"},
                           "value": {"type": "number", "description": "The rating."}})),
            variant(&["click", "view", "like", "dislike"],
                    &["user", "type", "timestamp", "item"],
                    json!({"item": {"$ref": "#/components/schemas/Id"}})),
            money_variant,
        ]
    })
}

fn experiment_fields() -> Value {
    json!({
        "id": {"$ref": "#/components/schemas/Id"},
        "salt": {"type": "string", "minLength": 1,
                 "description": "Hashing salt (default: the id). Listed to admins only."},
        "layer": {"type": "string", "minLength": 1, "description": "Experiments in one layer share its traffic (default `default`)."},
        "layer_share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                        "description": "Share of the layer's traffic (default 1)."},
        "arms": {"type": "array", "minItems": 2, "items": {
            "type": "object", "required": ["name", "weight"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "Unique within the experiment."},
                "weight": {"type": "number", "exclusiveMinimum": 0, "description": "Relative traffic weight."},
                "model": {"type": "string", "description": "Model file that serves the arm (default: the served model)."}
            }}},
        "target": {"type": "object", "properties": {
            "segment": {"type": "string", "enum": ["new", "returning"]},
            "attributes": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "status": {"type": "string", "enum": ["running", "stopped"]},
        "start_unix": {"type": "integer", "format": "int64", "description": "Start (default: now)."},
        "end_unix": {"type": ["integer", "null"], "format": "int64"},
        "allocation": {"oneOf": [
            {"type": "object", "required": ["kind"],
             "properties": {"kind": {"type": "string", "enum": ["fixed", "thompson", "ucb1"]}}},
            {"type": "object", "required": ["kind", "epsilon"],
             "properties": {"kind": {"type": "string", "enum": ["epsilon_greedy"]},
                            "epsilon": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}}]}
    })
}

/// The schemas added to `components.schemas`.
fn schemas() -> Value {
    json!({
        "Id": id_schema("An id: 1 to 256 bytes of UTF-8 without control characters."),
        "Event": event_schema(),
        "EventsBody": {
            "description": "One event, or an array of 1 to `limits.max_batch_events` (default 10000) events.",
            "oneOf": [
                {"$ref": "#/components/schemas/Event"},
                {"type": "array", "minItems": 1, "maxItems": 10_000,
                 "items": {"$ref": "#/components/schemas/Event"}}
            ]
        },
        "NewExperiment": {
            "description": "An experiment definition (one object).",
            "type": "object", "required": ["id", "arms"],
            "properties": experiment_fields(),
        },
        "Experiment": {
            "description": "An experiment definition as stored; `salt` only for the admin key.",
            "type": "object",
            "required": ["id", "layer", "layer_share", "arms", "target", "status", "start_unix", "allocation"],
            "properties": experiment_fields(),
        },
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Completes the generated document (see the module documentation).
pub fn complete(doc: &mut Value) {
    let components = &mut doc["components"];
    components["securitySchemes"] = json!({
        "admin_key": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                      "description": "The admin key (`admin.api_key`, TASTEBUD_ADMIN_KEY); also `Authorization: Bearer KEY`."},
        "service_key": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                        "description": "The service key (`auth.service_key`, TASTEBUD_SERVICE_KEY) for user data; the admin key is accepted too. Also `Authorization: Bearer KEY`."},
    });
    if let (Some(dst), Value::Object(src)) = (components["schemas"].as_object_mut(), schemas()) {
        dst.extend(src);
    }
    // The bodies the handlers parse by hand, and what they answer.
    let schema_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let body = |name: &str| json!({"required": true, "content": {"application/json": {"schema": schema_ref(name)}}});
    let paths = &mut doc["paths"];
    paths["/v1/events"]["post"]["requestBody"] = body("EventsBody");
    paths["/v1/experiments"]["post"]["requestBody"] = body("NewExperiment");
    paths["/v1/experiments"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] =
        schema_ref("Experiment");
    paths["/v1/experiments/{id}/stop"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"] = schema_ref("Experiment");
    paths["/v1/experiments"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"type": "array", "items": schema_ref("Experiment")});
    paths["/v1/experiments/{id}/report"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"] = schema_ref("ExperimentReportDoc");
    // `format=table` is text, `format=html` a page.
    let report = &mut paths["/v1/experiments/{id}/report"]["get"]["responses"]["200"]["content"];
    report["text/plain"] = json!({"schema": {"type": "string"}});
    report["text/html"] = json!({"schema": {"type": "string"}});
    paths["/v1/shadow/report"]["get"]["responses"]["200"]["content"]["text/plain"] =
        json!({"schema": {"type": "string"}});
    let Some(paths) = paths.as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for (_method, op) in ops.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            if let Some(Value::Array(params)) = op.get_mut("parameters") {
                for p in params.iter_mut() {
                    if p["in"] == "path" && p["name"] == "id" {
                        p["schema"] = json!({"$ref": "#/components/schemas/Id"});
                    }
                }
            }
            let has_params = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty());
            let has_body = op.contains_key("requestBody");
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let optional_key = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                });
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let mut add = |status: &str, description: &str| {
                if responses.get(status).is_none() {
                    responses[status] = error_response(description);
                }
            };
            if has_params || has_body {
                add("400", "Bad input: a parameter or the body is malformed");
            }
            if has_body {
                add("413", "The body is larger than `limits.max_body_bytes`");
                add("415", "The body is not `application/json`");
                add("422", "The body is JSON but not a valid request");
            }
            if secured {
                let when = if optional_key {
                    " (when the `[auth]` switch for this route is on)"
                } else {
                    ""
                };
                add("401", &format!("No key, or a wrong key{when}"));
                add(
                    "403",
                    "This key's role may not use the route, or the role is not configured",
                );
            }
            add("414", "The URI is longer than 8 KiB");
            add("503", "The request timed out (`limits.request_timeout_ms`)");
            if secured {
                responses["401"]["headers"] = json!({"WWW-Authenticate": {
                    "description": "`Bearer realm=\"tastebud\"`", "schema": {"type": "string"}}});
            }
        }
    }
}
