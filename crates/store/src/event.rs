//! Feedback events as the API receives them, and their validation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a feedback event.
///
/// Serialised in snake_case (`"impression"`, `"click"`, `"view"`, `"rating"`, `"like"`,
/// `"dislike"`, `"add_to_cart"`, `"purchase"`); [`FromStr`] and [`fmt::Display`] use the same
/// names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A slate of items was shown to the user (`items` holds them, in order).
    Impression,
    /// The user clicked an item.
    Click,
    /// The user viewed an item's page (`dwell_ms` may say for how long).
    View,
    /// An explicit rating (`value` holds it).
    Rating,
    /// An explicit like.
    Like,
    /// An explicit dislike.
    Dislike,
    /// The item was added to a cart.
    AddToCart,
    /// The item was bought (`amount` and `currency` may say for how much).
    Purchase,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 8] = [
        EventType::Impression,
        EventType::Click,
        EventType::View,
        EventType::Rating,
        EventType::Like,
        EventType::Dislike,
        EventType::AddToCart,
        EventType::Purchase,
    ];

    /// The wire name (`"add_to_cart"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Impression => "impression",
            EventType::Click => "click",
            EventType::View => "view",
            EventType::Rating => "rating",
            EventType::Like => "like",
            EventType::Dislike => "dislike",
            EventType::AddToCart => "add_to_cart",
            EventType::Purchase => "purchase",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`EventType`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type `{0}` (expected one of: impression, click, view, rating, like, dislike, add_to_cart, purchase)"
)]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_string()))
    }
}

/// One feedback event as the API receives it.
///
/// JSON field names are the Rust names except `kind`, which is `"type"`. Optional fields default
/// to `None` (or empty) and are left out when serialising; unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The user's id.
    pub user: String,
    /// The item's id; required for every type except [`EventType::Impression`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// For an impression: the items shown, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// The event type (JSON `"type"`).
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened, in unix seconds (client clock).
    pub timestamp: i64,
    /// The rating value (or any other number the client attaches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// For a purchase or add-to-cart: the money involved, finite and `>= 0`, in `currency` (the revenue
    /// that experiment reports, `/metrics` and the dashboard add up; add-to-cart amounts are reported as
    /// cart value, not revenue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// The ISO 4217 code of `amount` (three capital letters, `"EUR"`); without it the deployment's
    /// currency is meant. Only with `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// For a view: how long the user stayed, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<u64>,
    /// The recommendation response this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Client idempotency key: an event whose id is already stored is not stored again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The experiment the user was in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The experiment arm the user was in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// The probability the shown slate or item had under the serving policy (for bandits and
    /// off-policy evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// The rank of the clicked item in the slate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// User attributes at the time (`{"country": "NL"}`), echoed from the request's `attrs` so experiment
    /// reports can break results down by any attribute. At most 16 pairs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attrs: std::collections::BTreeMap<String, String>,
}

/// The most attributes one event may carry.
pub const MAX_ATTRS: usize = 16;

/// The longest id (user, item, event id, ...) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// The most items one impression may list.
pub const MAX_IMPRESSION_ITEMS: usize = 1000;
/// The largest money amount accepted on one event (a typo guard: 10^12 in any currency).
pub const MAX_AMOUNT: f64 = 1e12;
/// The earliest timestamp accepted: 2000-01-01T00:00:00Z.
pub const MIN_TIMESTAMP: i64 = 946_684_800;
/// How far in the future (seconds past the server's clock) a timestamp may be, for clock skew.
pub const MAX_CLOCK_SKEW_S: i64 = 86_400;
/// The longest dwell time accepted: one day, in milliseconds.
pub const MAX_DWELL_MS: u64 = 86_400_000;

fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{field}: is {} bytes, the limit is {MAX_ID_BYTES}",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(format!("{field}: must not contain control characters"));
    }
    Ok(())
}

/// Whether `code` has the shape of an ISO 4217 currency code: three ASCII capital letters (`"EUR"`).
///
/// ```
/// use tastebud_store::is_currency_code;
/// assert!(is_currency_code("EUR"));
/// assert!(!is_currency_code("eur") && !is_currency_code("EURO"));
/// ```
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

fn check_optional(field: &str, id: Option<&str>) -> Result<(), String> {
    match id {
        Some(id) if id.len() > MAX_ID_BYTES => Err(format!(
            "{field}: is {} bytes, the limit is {MAX_ID_BYTES}",
            id.len()
        )),
        _ => Ok(()),
    }
}

impl Event {
    /// Checks an event; `now` is the server's unix time in seconds.
    ///
    /// Returns `Err(message)`, the message naming the field and the problem. The rules:
    /// - `user`: non-empty, at most [`MAX_ID_BYTES`] bytes, no control characters;
    /// - `item`: required for every type except impression, and then checked like `user`;
    /// - `items`: an impression needs 1..=[`MAX_IMPRESSION_ITEMS`] of them; any that are given
    ///   (for any type) are checked like `user`;
    /// - `timestamp`: at least [`MIN_TIMESTAMP`] (2000-01-01) and at most `now` +
    ///   [`MAX_CLOCK_SKEW_S`];
    /// - `value`: finite; required for a rating;
    /// - `amount`: only on a purchase or add-to-cart; finite, `>= 0` and at most [`MAX_AMOUNT`];
    /// - `currency`: only with `amount`; three ASCII capital letters (ISO 4217, `"EUR"`);
    /// - `dwell_ms`: at most [`MAX_DWELL_MS`];
    /// - `propensity`: in (0, 1];
    /// - `event_id`: 1 to [`MAX_ID_BYTES`] bytes without control characters, like `user` and `item`;
    /// - `request_id`, `experiment`, `arm`: at most [`MAX_ID_BYTES`] bytes.
    pub fn validate(&self, now: i64) -> Result<(), String> {
        check_id("user", &self.user)?;
        if self.kind == EventType::Impression {
            if self.items.is_empty() {
                return Err("items: an impression needs at least one item".to_string());
            }
        } else {
            match &self.item {
                None => return Err(format!("item: required for a {} event", self.kind)),
                Some(item) => check_id("item", item)?,
            }
        }
        if self.kind == EventType::Impression
            && let Some(item) = &self.item
        {
            check_id("item", item)?;
        }
        if self.items.len() > MAX_IMPRESSION_ITEMS {
            return Err(format!(
                "items: {} items, the limit is {MAX_IMPRESSION_ITEMS}",
                self.items.len()
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            check_id(&format!("items[{i}]"), item)?;
        }
        if self.timestamp < MIN_TIMESTAMP {
            return Err(format!(
                "timestamp: {} is before 2000-01-01 ({MIN_TIMESTAMP}); it must be unix seconds",
                self.timestamp
            ));
        }
        if self.timestamp > now.saturating_add(MAX_CLOCK_SKEW_S) {
            return Err(format!(
                "timestamp: {} is in the future (server time {now})",
                self.timestamp
            ));
        }
        match self.value {
            Some(v) if !v.is_finite() => return Err(format!("value: must be finite, got {v}")),
            None if self.kind == EventType::Rating => {
                return Err("value: required for a rating event".to_string());
            }
            _ => {}
        }
        if let Some(a) = self.amount {
            if !matches!(self.kind, EventType::Purchase | EventType::AddToCart) {
                return Err(format!(
                    "amount: only a purchase or add_to_cart event carries an amount, not a {} event",
                    self.kind
                ));
            }
            if !(a.is_finite() && (0.0..=MAX_AMOUNT).contains(&a)) {
                return Err(format!(
                    "amount: must be a finite number from 0 to {MAX_AMOUNT:e}, got {a}"
                ));
            }
        }
        if let Some(c) = &self.currency {
            if self.amount.is_none() {
                return Err("currency: given without an amount".to_string());
            }
            if !is_currency_code(c) {
                return Err(format!(
                    "currency: `{c}` is not an ISO 4217 code (three capital letters, like EUR)"
                ));
            }
        }
        if let Some(d) = self.dwell_ms
            && d > MAX_DWELL_MS
        {
            return Err(format!(
                "dwell_ms: {d} is more than one day ({MAX_DWELL_MS})"
            ));
        }
        if let Some(p) = self.propensity
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("propensity: must be in (0, 1], got {p}"));
        }
        // An idempotency key is a key: empty, or with control characters, it would be a shared key
        // that silently drops other users' events as duplicates.
        if let Some(id) = &self.event_id {
            check_id("event_id", id)?;
        }
        check_optional("request_id", self.request_id.as_deref())?;
        check_optional("experiment", self.experiment.as_deref())?;
        check_optional("arm", self.arm.as_deref())?;
        if self.attrs.len() > MAX_ATTRS {
            return Err(format!(
                "attrs: {} attributes, at most {MAX_ATTRS}",
                self.attrs.len()
            ));
        }
        for (k, v) in &self.attrs {
            if k.is_empty() || k.len() > 64 || v.len() > MAX_ID_BYTES {
                return Err(format!(
                    "attrs: `{k}`: keys are 1-64 bytes, values at most {MAX_ID_BYTES}"
                ));
            }
        }
        Ok(())
    }
}
