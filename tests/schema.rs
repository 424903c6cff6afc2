//! The checked-in JSON Schema of the RunSummary is, byte for byte, what `k6gate schema` prints.
//! Regenerate it with `scripts/regen.sh`.

#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/run-summary.schema.json");
    let on_disk = std::fs::read_to_string(path).expect("schema file");
    // What `k6gate schema` prints: the pretty JSON and one newline.
    let generated = serde_json::to_string_pretty(&k6gate::RunSummary::json_schema()).expect("schema JSON") + "\n";
    assert!(
        on_disk == generated,
        "schema/run-summary.schema.json is stale: run `scripts/regen.sh` and commit the result"
    );
}

#[test]
fn schema_names_the_version_field() {
    let schema = k6gate::RunSummary::json_schema();
    let required = schema["required"].as_array().expect("required");
    assert!(required.iter().any(|r| r == "schema_version"));
    assert!(required.iter().any(|r| r == "completeness"));
}
