//! apply_batch (Polars) and apply_one (JSON) must agree bit for bit, and online errors name the field.

use riskloop_ingest::IngestError;
use riskloop_ingest::application::Application;
use riskloop_ingest::etl;
use riskloop_ingest::pipeline::FeaturePipeline;
use serde_json::json;

use crate::{assert_parity, data, german_spec};

fn german_pipeline() -> (tempfile::TempDir, FeaturePipeline) {
    let out = tempfile::tempdir().unwrap();
    etl::ingest(
        &german_spec(),
        &[data("german_credit.csv")],
        out.path(),
        &mut |_| {},
    )
    .unwrap();
    let pipeline = FeaturePipeline::load(&out.path().join("pipeline.json")).unwrap();
    (out, pipeline)
}

#[test]
fn batch_and_online_agree_bit_for_bit_on_every_german_credit_row() {
    let (_out, pipeline) = german_pipeline();
    let rows = assert_parity(&pipeline, &[data("german_credit.csv")], &german_spec());
    assert_eq!(rows, 1000);
}

fn application() -> serde_json::Map<String, serde_json::Value> {
    json!({
        "status_of_existing_checking_account": "... < 0 DM",
        "duration_in_month": 24,
        "credit_history": "existing credits paid back duly till now",
        "purpose": "car (new)",
        "credit_amount": "4,500",
        "savings_account_and_bonds": "... < 100 DM",
        "present_employment_since": "1 <= ... < 4 years",
        "installment_rate_in_percentage_of_disposable_income": 3,
        "other_debtors_or_guarantors": "none",
        "present_residence_since": 2,
        "property": "real estate",
        "other_installment_plans": "none",
        "housing": "own",
        "number_of_existing_credits_at_this_bank": 1,
        "job": "skilled employee / official",
        "number_of_people_being_liable_to_provide_maintenance_for": 1,
        "telephone": "none"
    })
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn online_values_that_cannot_be_used_are_errors_naming_the_field() {
    let (_out, pipeline) = german_pipeline();
    assert_eq!(
        pipeline
            .apply_one(&Application::from(&application()))
            .unwrap()
            .len(),
        pipeline.width()
    );
    let cases = [
        ("duration_in_month", json!("two years"), "not a number"),
        ("duration_in_month", json!(true), "must be a number"),
        ("credit_amount", json!([1]), "must be a number"),
        ("purpose", json!(3.5), "must be a string"),
        ("purpose", json!({"a": 1}), "must be a string"),
    ];
    for (field, value, rule) in cases {
        let mut app = application();
        app.insert(field.into(), value.clone());
        match pipeline.apply_one(&Application::from(&app)) {
            Err(IngestError::Field { field: f, rule: r }) => {
                assert_eq!(f, field);
                assert!(r.contains(rule), "{field}={value}: {r}");
            }
            other => panic!("{field}={value}: expected a field error, got {other:?}"),
        }
    }
}

#[test]
fn missing_and_unseen_values_are_imputed_and_flagged_online() {
    let (_out, pipeline) = german_pipeline();
    let mut app = application();
    app.remove("duration_in_month");
    app.insert("purpose".into(), json!("space travel"));
    let encoded = pipeline.apply_one(&Application::from(&app)).unwrap();
    let slot = |name: &str| pipeline.slots.iter().position(|s| s.name == name).unwrap();
    // Never missing in training: imputed with the training median, and no indicator slot
    // (its weight could only be noise).
    assert!(
        pipeline
            .slots
            .iter()
            .all(|s| s.name != "duration_in_month__missing")
    );
    let duration = pipeline
        .features
        .iter()
        .find(|f| f.name == "duration_in_month")
        .unwrap();
    let riskloop_ingest::pipeline::Transform::Numeric {
        impute,
        mean,
        scale,
        ..
    } = duration.transform
    else {
        panic!("duration is numeric")
    };
    assert_eq!(
        encoded[slot("duration_in_month")],
        ((impute - mean) / scale) as f32
    );
    assert_eq!(encoded[slot("purpose")], 1.0, "unseen level → __other__");
    app.insert("purpose".into(), json!(null));
    assert_eq!(
        pipeline.apply_one(&Application::from(&app)).unwrap()[slot("purpose")],
        0.0,
        "missing → __missing__"
    );
}
