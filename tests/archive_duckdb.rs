//! Full tier: the archive as an analyst reads it. DuckDB (the Python wheel,
//! `scripts/install-duckdb.sh`) runs the README's query over a local-path archive and gives
//! the P95 `k6gate history` gives, for every phase and group of a run. The same archive
//! written to S3 (moto, `scripts/install-moto.sh`) holds the same objects byte for byte, is
//! written once there too, DuckDB gives the same P95s reading it on S3, and `history import
//! --from s3://...` brings the runs back whole. DuckDB reads S3 here through s3fs registered as
//! its filesystem (fsspec): its own httpfs extension is not in the wheel and is downloaded on
//! first use, which needs a network.

use std::collections::BTreeMap;
use std::process::Command;

use crate::archive::{files, local, scenario};
use crate::durable_store::Moto;
use crate::support::cli::K6gate;
use crate::support::root;

/// The SQL block after `<!-- archive-query -->` in the README, on the archive at `dir`.
fn readme_query(dir: &std::path::Path) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, after) = readme.split_once("<!-- archive-query -->").expect("the README's archive query");
    let (_, sql) = after.split_once("```sql\n").unwrap();
    let (sql, _) = sql.split_once("```").unwrap();
    assert!(sql.contains("'archive/rows/**/*.jsonl.gz'"), "{sql}");
    sql.replace("'archive/rows/", &format!("'{}/rows/", dir.display()))
}

/// Runs `sql` in DuckDB and returns its rows as JSON.
fn duckdb(sql: &str) -> Vec<Vec<serde_json::Value>> {
    duckdb_on(sql, None)
}

/// Runs `sql` in DuckDB with `s3://` served by the S3 API at `s3_endpoint` (s3fs), when given.
fn duckdb_on(sql: &str, s3_endpoint: Option<&str>) -> Vec<Vec<serde_json::Value>> {
    let script = r#"
import duckdb, json, os, sys
con = duckdb.connect()
if os.environ.get("S3_ENDPOINT"):
    import s3fs
    con.register_filesystem(s3fs.S3FileSystem(key="test", secret="secret", endpoint_url=os.environ["S3_ENDPOINT"],
                                              client_kwargs={"region_name": "us-east-1"}))
rows = con.sql(sys.stdin.read()).fetchall()
print(json.dumps([[v if v is None or isinstance(v, (int, float, str)) else str(v) for v in r] for r in rows]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .env("S3_ENDPOINT", s3_endpoint.unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "duckdb (scripts/install-duckdb.sh): {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tag=value` pairs sorted by tag, joined by `,` (the archive's group column).
fn group_label(key: &serde_json::Value) -> String {
    let map: BTreeMap<String, String> = key
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// (phase, group) -> P95 of a run, as `k6gate history --format json` shows its summary.
fn history_p95(run: &serde_json::Value) -> BTreeMap<(String, String), Option<f64>> {
    let summary = &run["summary"];
    let mut phases: Vec<(String, &serde_json::Value)> =
        summary["phases"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap().to_string(), p)).collect();
    if summary["steady_state"].is_object() {
        phases.push(("steady-state".into(), &summary["steady_state"]["summary"]));
    }
    phases.push(("whole-run".into(), &summary["whole_run"]));
    let mut out = BTreeMap::new();
    for (name, phase) in phases {
        out.insert((name.clone(), String::new()), phase["total"]["latency_ms"]["p95"].as_f64());
        for g in phase["groups"].as_array().unwrap() {
            out.insert((name.clone(), group_label(&g["key"])), g["latency_ms"]["p95"].as_f64());
        }
    }
    out
}

#[test]
#[ignore = "full tier: needs DuckDB (scripts/install-duckdb.sh) and moto (scripts/install-moto.sh)"]
fn duckdb_reads_the_p95_k6gate_history_shows_from_the_archive_on_a_path_and_s3() {
    let dir = tempfile::tempdir().unwrap();
    let (state, path_archive) = (dir.path().join("state"), dir.path().join("archive"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let ids = scenario(&local(&state), &state, now);
    let cli = || K6gate::new().current_dir(root()).env("K6GATE_STATE_DIR", &state).env_remove("K6GATE_HISTORY_URL");
    let archived = cli()
        .env("K6GATE_ARCHIVE_URL", format!("file://{}", path_archive.display()))
        .args(["archive", "--format", "json"])
        .status(0)
        .stdout_json();
    assert_eq!(archived["objects"], 5, "{archived:#}");

    // What `k6gate history` says of checkout's archived run.
    let runs = cli().args(["history", "--test", "checkout", "--env", "staging", "--format", "json"]).status(0);
    let runs = runs.stdout_json();
    let run = runs.as_array().unwrap().iter().find(|r| r["id"] == ids["c-400"].as_str()).unwrap();
    let want = history_p95(run);
    assert!(want.len() > 5 && want.values().all(Option::is_some), "{want:?}");

    // DuckDB over the archive, with partition columns from the paths.
    let sql = format!(
        "SELECT phase, \"group\", p95_ms FROM read_json_auto('{}/rows/**/*.jsonl.gz', hive_partitioning = true) \
         WHERE test = 'checkout' AND env = 'staging' AND run_id = '{}' ORDER BY ALL",
        path_archive.display(),
        ids["c-400"]
    );
    let got: BTreeMap<(String, String), Option<f64>> = duckdb(&sql)
        .into_iter()
        .map(|r| ((r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()), r[2].as_f64()))
        .collect();
    assert_eq!(got, want, "DuckDB's P95 per phase and group is k6gate history's, to the last bit");

    // The README's query: steady-state P95 by deployment, one row per archived decided run.
    let rows = duckdb(&readme_query(&path_archive));
    let steady = want[&("steady-state".to_string(), String::new())];
    let c400 = rows.iter().find(|r| r.contains(&serde_json::json!(ids["c-400"]))).expect("the run in the README query");
    assert!(c400.contains(&serde_json::json!(steady.unwrap())), "{c400:?} lacks {steady:?}");
    assert_eq!(rows.len(), 1, "checkout's one archived run (the recent ones are not archived): {rows:?}");

    // The same archive on S3: the same objects, written once, and imported back whole.
    let moto = Moto::start(false);
    moto.bucket("k6gate-archive");
    let s3 = "s3://k6gate-archive/long-term";
    let to_s3 = |state: &std::path::Path| {
        moto.cli("test").env("K6GATE_STATE_DIR", state).env_remove("K6GATE_HISTORY_URL").env("K6GATE_ARCHIVE_URL", s3)
    };
    let first = to_s3(&state).args(["archive", "--format", "json"]).status(0).stdout_json();
    assert_eq!(
        (first["objects"].clone(), first["bytes"].clone()),
        (archived["objects"].clone(), archived["bytes"].clone())
    );
    let second = to_s3(&state).args(["archive", "--format", "json"]).status(0).stdout_json();
    assert_eq!((second["objects"].as_u64(), second["already_archived"].as_u64()), (Some(0), Some(3)));
    let objects = k6gate::history::open_objects(&k6gate::history::RemoteConfig {
        url: s3.into(),
        options: moto.options("test"),
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    let on_s3: BTreeMap<String, Vec<u8>> = k6gate::net::block_on(async move {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let metas: Vec<_> = objects.objects.list(Some(&objects.prefix)).try_collect().await.unwrap();
        let mut out = BTreeMap::new();
        for m in metas {
            let body = objects.objects.get(&m.location).await.unwrap().bytes().await.unwrap();
            let key = m.location.as_ref().strip_prefix("long-term/").unwrap().to_string();
            out.insert(key, body.to_vec());
        }
        out
    })
    .unwrap();
    assert_eq!(on_s3, files(&path_archive), "S3 and the local path hold the same objects, byte for byte");
    let on_s3 = sql.replace(&path_archive.display().to_string(), s3);
    let got_s3: BTreeMap<(String, String), Option<f64>> = duckdb_on(&on_s3, Some(&moto.endpoint()))
        .into_iter()
        .map(|r| ((r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()), r[2].as_f64()))
        .collect();
    assert_eq!(got_s3, want, "DuckDB reading the archive on S3 gives k6gate history's P95s too");
    assert_eq!(duckdb_on(&readme_query(std::path::Path::new(s3)), Some(&moto.endpoint())), rows);

    let fresh = dir.path().join("fresh");
    to_s3(&fresh).args(["history", "import", "--from", s3]).status(0).stdout_contains("imported 3 run(s)");
    let back = to_s3(&fresh).args(["history", "--test", "checkout", "--env", "staging", "--format", "json"]).status(0);
    let back = back.stdout_json();
    assert_eq!(back.as_array().unwrap().len(), 1);
    assert_eq!(&back[0], run, "the run comes back from S3 whole");
}
