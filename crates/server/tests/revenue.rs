//! Revenue through the API: purchase events with amounts (converted from another currency, or refused),
//! the experiment report's revenue section, the `/metrics` revenue counters and the dashboard summary.

mod common;

use common::{Server, event, items, metric_samples};
use serde_json::json;
use tastebud_experiment::assign::{ArmDef, ExperimentDef};
use tastebud_server::Config;

fn arm(name: &str) -> ArmDef {
    serde_json::from_value(json!({"name": name, "weight": 1.0})).unwrap()
}

#[test]
fn purchases_with_amounts_show_in_the_report_metrics_and_dashboard() {
    let mut c = Config::default();
    c.revenue.currency = "EUR".into();
    c.revenue.rates.insert("USD".into(), 0.5);
    let start = tastebud_server::now_unix() - 86_400;
    let mut def = ExperimentDef::new("shop", vec![arm("control"), arm("treatment")], start);
    def.salt = "shop-v1".into();
    c.experiments = vec![def];
    let s = Server::start(c, None);

    // 60 users see a slate in their arm; two in three buy its first item, treatment users for more.
    // Half pay in USD (converted at 0.5), the rest in EUR (the deployment's, given or not). Every user
    // also bought before the experiment started (the CUPED covariate; not the experiment's revenue).
    let mut expected = std::collections::HashMap::<String, f64>::new();
    let mut pre_total = 0.0;
    for u in 0..60 {
        let user = format!("u{u}");
        let (st, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=5&explain=false"
        ));
        assert_eq!(st, 200, "{v}");
        let a = v["arm"].as_str().unwrap().to_string();
        let first = items(&v)[0].clone();
        let mut imp = event(&user, "", "impression");
        imp.as_object_mut().unwrap().remove("item");
        imp["items"] = json!(items(&v));
        let mut batch = vec![imp];
        let eur = 10.0 + f64::from(u % 7) * if a == "treatment" { 4.0 } else { 2.0 };
        if u % 3 != 0 {
            let mut buy = event(&user, &first, "purchase");
            if u % 2 == 0 {
                buy["amount"] = json!(eur * 2.0);
                buy["currency"] = json!("USD");
            } else {
                buy["amount"] = json!(eur);
                if u % 4 == 1 {
                    buy["currency"] = json!("EUR");
                }
            }
            batch.push(buy);
            *expected.entry(a.clone()).or_default() += eur;
        }
        for e in &mut batch {
            e["experiment"] = json!("shop");
            e["arm"] = json!(a);
        }
        let mut before = event(&user, &first, "purchase");
        before["timestamp"] = json!(start - 3_600);
        before["amount"] = json!(5.0 + f64::from(u % 7));
        pre_total += 5.0 + f64::from(u % 7);
        batch.push(before);
        let (st, r) = s.post_json("/v1/events", &json!(batch));
        assert_eq!(st, 200, "{r}");
    }

    // A currency without a rate is refused, naming it, and nothing of the batch is stored.
    let mut gbp = event("u1", "x", "purchase");
    gbp["amount"] = json!(3.0);
    gbp["currency"] = json!("GBP");
    let (st, r) = s.post_json("/v1/events", &json!([event("u1", "x", "click"), gbp]));
    assert_eq!(st, 422, "{r}");
    let msg = r["message"].as_str().unwrap_or_default().to_string() + &r.to_string();
    assert!(
        msg.contains("events[1]") && msg.contains("GBP") && msg.contains("EUR"),
        "{r}"
    );
    // A negative amount, an amount on a click and a malformed code are refused too.
    for (kind, amount, currency) in [
        ("purchase", json!(-1.0), json!("EUR")),
        ("click", json!(1.0), json!("EUR")),
        ("purchase", json!(1.0), json!("euro")),
    ] {
        let mut e = event("u1", "x", kind);
        e["amount"] = amount;
        e["currency"] = currency;
        let (st, r) = s.post_json("/v1/events", &e);
        assert_eq!(st, 422, "{kind}: {r}");
    }

    // Stored converted, in the deployment's currency.
    let (st, ev) = s.get("/v1/users/u2/events");
    assert_eq!(st, 200, "{ev}");
    let bought: Vec<&serde_json::Value> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "purchase" && e["experiment"] == "shop")
        .collect();
    assert_eq!(bought.len(), 1, "{ev}");
    assert_eq!(bought[0]["currency"], "EUR");

    // The report's revenue section.
    let (st, r) = s.get("/v1/experiments/shop/report");
    assert_eq!(st, 200, "{r}");
    let rev = &r["revenue"];
    assert!(rev.is_object(), "no revenue section: {r}");
    let mut total = 0.0;
    for a in rev["arms"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        let got = a["revenue"].as_f64().unwrap();
        assert!(
            (got - expected[name]).abs() < 1e-9,
            "{name}: {got} vs {}",
            expected[name]
        );
        total += got;
        let users = a["users"].as_f64().unwrap();
        let per_user = &a["per_user"];
        assert!(
            (per_user["value"].as_f64().unwrap() - got / users).abs() < 1e-9,
            "{a}"
        );
        assert!(per_user["ci"]["low"].as_f64().unwrap() < per_user["value"].as_f64().unwrap());
        let per_impression = a["per_impression"]["value"].as_f64().unwrap();
        assert!((per_impression - got / (5.0 * users)).abs() < 1e-9, "{a}");
    }
    let t = &rev["arms"][1];
    assert!(
        t["test"]["p_value"].is_number() && t["lift"]["lift"].is_number(),
        "{rev}"
    );
    assert!(rev["cuped"]["variance_reduction"].is_number(), "{rev}");
    assert!(rev["required_users_per_arm"].is_number(), "{rev}");
    assert!(
        rev["method"].as_str().unwrap().starts_with("Welch"),
        "{rev}"
    );
    let table = ureq::get(&s.url("/v1/experiments/shop/report?format=table&winsor_quantile=1"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        table.contains("revenue test: Welch t-test per user, CUPED"),
        "{table}"
    );
    let html = ureq::get(&s.url("/v1/experiments/shop/report?format=html"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        html.contains("id=\"revenue\"") && html.contains("lift per user"),
        "no revenue section in the HTML report"
    );
    for a in rev["arms"].as_array().unwrap() {
        let cell = format!("<td>{:.2}</td>", a["revenue"].as_f64().unwrap());
        assert!(html.contains(&cell), "{cell} missing from the HTML report");
    }
    let (st, _) = s.get("/v1/experiments/shop/report?winsor_quantile=0");
    assert!(st == 400 || st == 422, "{st}");

    // /metrics counts every purchase with an amount (the pre-period ones too: they arrived now).
    let m = ureq::get(&s.url("/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let samples = metric_samples(&m);
    let all = total + pre_total;
    assert!(
        (samples["tastebud_revenue_total"] - all).abs() < 1e-6,
        "{m}"
    );
    let purchases = (0..60).filter(|u| u % 3 != 0).count() + 60;
    assert_eq!(
        samples["tastebud_purchases_with_amount_total"],
        purchases as f64
    );
    assert!(samples["tastebud_revenue_per_hour"] > 0.0);
    assert!(samples["tastebud_revenue_per_1000_recommendations"] > 0.0);

    // The dashboard summary shows the revenue rate and revenue per 1,000 recommendations.
    let (st, d) = s.get("/v1/dashboard/summary");
    assert_eq!(st, 200, "{d}");
    let k = &d["kpis"];
    assert_eq!(k["currency"], "EUR");
    assert!((k["revenue"].as_f64().unwrap() - all).abs() < 1e-6, "{k}");
    let recs = k["recommendations"].as_f64().unwrap();
    assert!(recs >= 60.0, "{k}");
    assert!(
        (k["revenue_per_1000_recommendations"].as_f64().unwrap() - 1000.0 * all / recs).abs()
            < 1e-6,
        "{k}"
    );
    let window_h = k["window_secs"].as_f64().unwrap() / 3600.0;
    assert!((k["revenue_per_hour"].as_f64().unwrap() - all / window_h).abs() < 1e-6);
    let page = ureq::get(&s.url("/dashboard"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(page.contains("Revenue / 1,000 recs") && page.contains("EUR"));
}

#[test]
fn a_bad_revenue_section_is_a_config_error() {
    let c: Result<Config, _> =
        toml::from_str("[revenue]\ncurrency = \"EUR\"\nrates = { USD = -1.0 }\n");
    let err = c.unwrap().validate().unwrap_err();
    assert!(err.contains("revenue.rates.USD"), "{err}");
    let c: Config = toml::from_str("[revenue]\ncurrency = \"eur\"\n").unwrap();
    assert!(c.validate().unwrap_err().contains("revenue.currency"));
}
