//! `GET /api/search?category=C&page=P`: a catalog page and how many products the category
//! has, behind a cache that starts cold, as production's does after a deploy.
//!
//! The count is `SELECT count(*) ... WHERE category = ?` without an index on `category`: a
//! full scan, so its cost grows with the catalog (`--products`: 10 000 vs 1 000 000 rows is
//! the data-size switch), which is what production's unindexed listing queries do. A page is
//! cached by (category, page) for good; `POST /admin/deploy` empties the cache, as a deploy
//! does, and `--cache-warm` fills it before the shop listens.
//!
//! The cache is a first-in-first-out map of at most `--cache-capacity` entries, hand-written
//! (a `HashMap` and a `VecDeque`): the eviction order does not matter for the demo, and no
//! cache crate is worth a dependency here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError, App};
use crate::facts::{self, CacheStats, DataSize, PoolStats, ThirdParty};
use crate::store::{CATEGORIES, Product};

/// Products per page, and the pages a category offers: the cache's key space is
/// `CATEGORIES × PAGES` (300 entries).
pub const PAGE_SIZE: u32 = 20;
pub const PAGES: u32 = 50;

type Key = (String, u32);

/// One page of a category.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub category: String,
    pub page: u32,
    /// Products in the category (the full scan).
    pub total: i64,
    pub products: Vec<Product>,
}

#[derive(Debug, Default)]
struct Fifo {
    map: HashMap<Key, Arc<Page>>,
    order: VecDeque<Key>,
}

/// The cache and the facts `/metrics` shows beside it.
#[derive(Debug)]
pub struct Catalog {
    cache: Mutex<Fifo>,
    capacity: usize,
    pub stats: CacheStats,
    pub third_party: ThirdParty,
    pub size: DataSize,
}

impl Catalog {
    pub fn new(capacity: usize, size: DataSize) -> Catalog {
        Catalog {
            cache: Mutex::new(Fifo::default()),
            capacity,
            stats: CacheStats::default(),
            third_party: ThirdParty::default(),
            size,
        }
    }

    fn get(&self, key: &Key) -> Option<Arc<Page>> {
        let hit = self.cache.lock().unwrap_or_else(PoisonError::into_inner).map.get(key).cloned();
        let counter = if hit.is_some() { &self.stats.hits } else { &self.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    fn put(&self, key: Key, page: Arc<Page>) {
        if self.capacity == 0 {
            return;
        }
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if c.map.insert(key.clone(), page).is_none() {
            c.order.push_back(key);
        }
        while c.map.len() > self.capacity {
            let Some(old) = c.order.pop_front() else { break };
            c.map.remove(&old);
        }
    }

    /// A deploy: the cache starts cold again.
    pub fn deploy(&self) {
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        c.map.clear();
        c.order.clear();
        self.stats.deploys.fetch_add(1, Ordering::Relaxed);
    }

    /// Fills the cache with every page, as a warm-up would (`--cache-warm`).
    pub fn warm(&self, conn: &Connection) -> rusqlite::Result<()> {
        for category in CATEGORIES {
            for page in 0..PAGES {
                let p = read_page(conn, category, page)?;
                self.put((category.to_string(), page), Arc::new(p));
            }
        }
        Ok(())
    }

    fn entries(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    /// Appends `facts`' series to the `/metrics` text.
    pub fn render_facts(&self, out: &mut String, pool: &PoolStats) {
        facts::render(out, &self.size, pool, &self.stats, self.entries(), &self.third_party);
    }
}

fn read_page(conn: &Connection, category: &str, page: u32) -> rusqlite::Result<Page> {
    // No index on category: a scan of the whole table, on purpose (see the module comment).
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM products WHERE category = ?1")?
        .query_row([category], |r| r.get(0))?;
    let products = conn
        .prepare_cached(
            "SELECT id, name, category, price_cents FROM products WHERE category = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
        )?
        .query_map(rusqlite::params![category, PAGE_SIZE, page * PAGE_SIZE], |r| {
            Ok(Product { id: r.get(0)?, name: r.get(1)?, category: r.get(2)?, price_cents: r.get(3)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page { category: category.to_string(), page, total, products })
}

#[derive(Deserialize)]
pub struct SearchQuery {
    category: String,
    page: Option<u32>,
}

pub async fn search(
    State(app): State<Arc<App>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = api::query(q)?;
    let page = q.page.unwrap_or(0);
    if page >= PAGES {
        return Err(ApiError::bad(format!("page must be below {PAGES}, not {page}")));
    }
    if !CATEGORIES.contains(&q.category.as_str()) {
        return Err(ApiError::bad(format!("unknown category {:?} (known: {})", q.category, CATEGORIES.join(", "))));
    }
    let key = (q.category, page);
    if let Some(hit) = app.catalog.get(&key) {
        return Ok(Json((*hit).clone()));
    }
    let category = key.0.clone();
    let fresh = app.db(move |c| Ok(read_page(c, &category, page)?)).await?;
    app.catalog.put(key, Arc::new(fresh.clone()));
    Ok(Json(fresh))
}

#[derive(Serialize)]
pub struct Deployed {
    cache_entries: usize,
}

/// `POST /admin/deploy`: what a deploy does to the cache.
pub async fn deploy(State(app): State<Arc<App>>) -> Json<Deployed> {
    app.catalog.deploy();
    Json(Deployed { cache_entries: app.catalog.entries() })
}
