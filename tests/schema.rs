//! The checked-in JSON Schema of the RunSummary matches the types.
//! Regenerate with `cargo run -- schema > schema/run-summary.schema.json`.

#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/run-summary.schema.json");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("schema JSON");
    assert!(
        on_disk == k6gate::RunSummary::json_schema(),
        "schema/run-summary.schema.json is stale: run `cargo run -- schema > schema/run-summary.schema.json`"
    );
}

#[test]
fn schema_names_the_version_field() {
    let schema = k6gate::RunSummary::json_schema();
    let required = schema["required"].as_array().expect("required");
    assert!(required.iter().any(|r| r == "schema_version"));
    assert!(required.iter().any(|r| r == "completeness"));
}
