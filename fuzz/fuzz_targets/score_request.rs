//! A score request's body as the scoring route reads it: the JSON object taken apart member by
//! member, the application checked against the model's schema, parsed, scored and put through
//! the policy. Whatever the bytes, no panic, and every refusal is a 4xx naming a field.

#![no_main]

use std::sync::LazyLock;

use actix_web::ResponseError;
use libfuzzer_sys::fuzz_target;
use riskloop_serve::decision::policy::Policy;
use riskloop_serve::decision::{self, ServedModel};
use riskloop_serve::http::routes::request_body::{self, Object};

/// German credit, a small logistic model trained once per fuzzing process, and the policy the
/// tests use.
static DECIDER: LazyLock<(ServedModel, Policy, tempfile::TempDir)> = LazyLock::new(|| {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let spec = std::fs::read_to_string(data.join("german_credit.toml")).expect("the spec");
    let spec = riskloop_ingest::spec::DatasetSpec::from_toml(&spec).expect("the spec reads");
    let dataset = dir.path().join("dataset");
    riskloop_ingest::etl::ingest(
        &spec,
        &[data.join("german_credit.csv")],
        &dataset,
        &mut |_| {},
    )
    .expect("German credit ingests");
    let request = riskloop_train::run::TrainRequest {
        data: &dataset,
        out: &dir.path().join("models"),
        device: riskloop_train::device::DeviceChoice::Cpu,
        config: riskloop_train::config::TrainConfig {
            model: riskloop_train::config::ModelChoice::Logistic,
            max_epochs: 4,
            ..Default::default()
        },
        parent_version: None,
    };
    let bundle = riskloop_train::run::train(&request, &mut |_| {})
        .expect("a model trains")
        .dir;
    let model = ServedModel::load(&bundle).expect("the bundle loads");
    let policy = Policy::parse(include_str!("../seeds/policy.toml"), "policy.toml")
        .expect("the policy reads");
    (model, policy, dir)
});

fuzz_target!(|body: &[u8]| {
    let (model, policy, _) = &*DECIDER;
    let refused = |e: &dyn ResponseError| {
        assert!(e.status_code().is_client_error(), "{}", e.status_code());
    };
    let object = match Object::parse(body, "body")
        .and_then(|o| o.only(&["application_id", "application"]))
    {
        Ok(object) => object,
        Err(e) => return refused(&e),
    };
    if let Err(e) = object.optional_string("application_id") {
        return refused(&e);
    }
    let Some(raw) = object.get("application") else {
        return;
    };
    if let Err(e) = request_body::application(raw, "application") {
        return refused(&e);
    }
    // The decision core on the same text: a refusal is an answer; only a panic is a bug.
    let _ = decision::decide_stored(
        model,
        policy,
        "01890a5d-ac96-774b-bcce-b302099a8057",
        raw.get(),
    );
});
