//! The database tier: SQLite behind `POST /query`, one server span per query (`service.name`
//! `db`, `db.system` `sqlite`, `db.statement`), so the database's time is its own in the
//! trace. Its own process, so its spans carry its own resource and its own `service.name`.
//! Queries are named (`products`, `search`, `stock`, `order`): the API never sends SQL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::faults::{self, Faults};
use crate::{TierError, propagate};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub query: String,
    #[serde(default)]
    pub arg: Value,
}

/// The statement a named query runs.
pub fn statement(name: &str) -> Option<&'static str> {
    Some(match name {
        "products" => "SELECT id, name, price_cents FROM products ORDER BY id LIMIT 20",
        "search" => "SELECT id, name, price_cents FROM products WHERE name LIKE ?1 ORDER BY id LIMIT 20",
        "stock" => "SELECT stock FROM products WHERE id = ?1",
        "order" => "INSERT INTO orders (product_id, qty) VALUES (?1, 1) RETURNING id",
        _ => return None,
    })
}

struct Db {
    conn: Mutex<Connection>,
    faults: Arc<Faults>,
}

/// An in-memory database with `products` rows.
pub fn open(products: u32) -> Result<Connection, TierError> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, qty INTEGER NOT NULL);",
    )?;
    let mut insert = conn.prepare("INSERT INTO products (id, name, price_cents, stock) VALUES (?1, ?2, ?3, 1000)")?;
    for i in 1..=products {
        insert.execute(rusqlite::params![i, format!("product {i}"), 100 + (i * 37) % 5000])?;
    }
    drop(insert);
    Ok(conn)
}

pub fn router(conn: Connection, faults: Arc<Faults>) -> Router {
    let db = Arc::new(Db { conn: Mutex::new(conn), faults: faults.clone() });
    Router::new()
        .route("/query", post(query))
        .with_state(db)
        .merge(Router::new().route("/admin/faults", get(faults::get).put(faults::put)).with_state(faults))
        .route("/health", get(|| async { "ok" }))
}

async fn query(State(db): State<Arc<Db>>, headers: HeaderMap, Json(q): Json<Query>) -> Result<Json<Value>, TierError> {
    let parent = propagate::extract(&headers);
    let trace = propagate::trace_id(&parent);
    let cid = propagate::correlation_id(&headers, trace);
    let sql = statement(&q.query).ok_or_else(|| TierError::BadRequest(format!("no query named {:?}", q.query)))?;
    // The slow database (every query) and the slow path (a share of requests).
    let delay = Duration::from_millis(db.faults.values().db_delay_ms + db.faults.db_slow_path_ms(trace));
    let instrumented = !db.faults.db_uninstrumented(trace);
    let work = {
        let (db, cid, q) = (db.clone(), cid.clone(), q.clone());
        async move {
            // The slow database: the added latency is inside the query's span.
            tokio::time::sleep(delay).await;
            let rows = tokio::task::spawn_blocking(move || run(&db, sql, &q.arg))
                .await
                .map_err(|e| TierError::Start(format!("query task: {e}")))??;
            tracing::info!(correlation_id = %cid, query = sql, rows = rows.len(), instrumented, "query");
            Ok(Json(json!({ "rows": rows })))
        }
    };
    if !instrumented {
        // The fault: this request's queries leave no span (the correlation id is still logged).
        return work.await;
    }
    let span = tracing::info_span!(
        "query",
        otel.name = %format!("sqlite {}", q.query),
        otel.kind = "server",
        db.system = "sqlite",
        db.statement = sql,
        correlation_id = %cid,
    );
    // Fails only for a span no subscriber records; the query runs all the same.
    let _ = span.set_parent(parent);
    work.instrument(span).await
}

fn run(db: &Db, sql: &str, arg: &Value) -> Result<Vec<Value>, TierError> {
    let conn = db.conn.lock().map_err(|_| TierError::Poisoned)?;
    let mut stmt = conn.prepare_cached(sql)?;
    let param: Option<rusqlite::types::Value> = match arg {
        Value::Null => None,
        Value::Number(n) => n.as_i64().map(rusqlite::types::Value::Integer),
        Value::String(s) => Some(rusqlite::types::Value::Text(format!("%{s}%"))),
        _ => None,
    };
    let columns = stmt.column_count();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let params: Vec<rusqlite::types::Value> = param.into_iter().collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut obj = serde_json::Map::new();
        for (i, name) in names.iter().enumerate().take(columns) {
            let v: rusqlite::types::Value = row.get(i)?;
            obj.insert(
                name.clone(),
                match v {
                    rusqlite::types::Value::Integer(n) => json!(n),
                    rusqlite::types::Value::Text(t) => json!(t),
                    rusqlite::types::Value::Real(r) => json!(r),
                    _ => Value::Null,
                },
            );
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_query_runs_on_the_seeded_database() {
        let db = Db { conn: Mutex::new(open(50).unwrap()), faults: Arc::default() };
        assert_eq!(run(&db, statement("products").unwrap(), &Value::Null).unwrap().len(), 20);
        // "product 4" and "product 40" to "product 49".
        assert_eq!(run(&db, statement("search").unwrap(), &json!("product 4")).unwrap().len(), 11);
        assert_eq!(run(&db, statement("stock").unwrap(), &json!(3)).unwrap(), vec![json!({"stock": 1000})]);
        assert_eq!(run(&db, statement("order").unwrap(), &json!(3)).unwrap(), vec![json!({"id": 1})]);
        assert!(statement("DROP TABLE products").is_none());
    }
}
