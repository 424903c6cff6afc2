//! The shop's tables and every query the endpoints run. Plain synchronous functions on a
//! connection: the pool decides which connection and which thread.
//!
//! Prices are integer cents, and totals are summed by SQLite, so no float ever touches money.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::auth;
use crate::sim::SplitMix64;

/// Demo users are `u1` … `u{USERS}`, all with this password.
pub const USERS: u32 = 1_000;
pub const PASSWORD: &str = "secret";
/// Size of the seeded catalog.
pub const PRODUCTS: u32 = 200;
/// The catalog's categories (`GET /api/search?category=`).
pub const CATEGORIES: [&str; 6] = ["audio", "home", "kitchen", "office", "outdoor", "travel"];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL                   -- salt$hash, see auth.rs
);
CREATE TABLE IF NOT EXISTS sessions (
    token      TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0)
);
CREATE TABLE IF NOT EXISTS cart_items (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    qty        INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (user_id, product_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    total_cents INTEGER NOT NULL,
    units       INTEGER NOT NULL,
    payment_ref TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id    INTEGER NOT NULL REFERENCES orders(id),
    product_id  INTEGER NOT NULL REFERENCES products(id),
    qty         INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id)
) WITHOUT ROWID;
";

/// Creates the tables and, in an empty database, `users` users and `products` products (the
/// catalog from `seed`): one transaction and one prepared
/// statement per table, so a million rows take seconds (`shop/tests/data.rs` measures it).
/// A database that already has rows keeps them, whatever the sizes asked.
pub fn init_sized(conn: &mut Connection, seed: u64, users: u32, products: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let existing: i64 = tx.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    if existing == 0 {
        let mut insert = tx.prepare("INSERT INTO users (name, password) VALUES (?1, ?2)")?;
        // Beyond the first USERS, one salted hash is shared: hashing a million passwords
        // would only slow the seeding down.
        let shared = auth::hash(&auth::new_salt(), PASSWORD);
        for i in 1..=users {
            let password = if i <= USERS { auth::hash(&auth::new_salt(), PASSWORD) } else { shared.clone() };
            insert.execute(params![format!("u{i}"), password])?;
        }
    }
    let existing: i64 = tx.query_row("SELECT count(*) FROM products", [], |r| r.get(0))?;
    if existing == 0 {
        seed_catalog(&tx, seed, products)?;
    }
    tx.commit()
}

fn seed_catalog(conn: &Connection, seed: u64, products: u32) -> rusqlite::Result<()> {
    const ADJECTIVES: [&str; 12] = [
        "Compact",
        "Deluxe",
        "Eco",
        "Ergonomic",
        "Heavy",
        "Mini",
        "Pro",
        "Quiet",
        "Rugged",
        "Smart",
        "Travel",
        "Vintage",
    ];
    const NOUNS: [&str; 10] =
        ["Backpack", "Blender", "Desk Lamp", "Headphones", "Kettle", "Keyboard", "Mug", "Router", "Tent", "Watch"];
    fn pick(rng: &mut SplitMix64, list: &[&'static str]) -> &'static str {
        list.get(rng.range(0, list.len() as u64 - 1) as usize).copied().unwrap_or_default()
    }
    let mut rng = SplitMix64::new(seed);
    let mut insert = conn.prepare("INSERT INTO products (id, name, category, price_cents) VALUES (?1, ?2, ?3, ?4)")?;
    for id in 1..=products {
        let name = format!("{} {} #{id}", pick(&mut rng, &ADJECTIVES), pick(&mut rng, &NOUNS));
        let category = pick(&mut rng, &CATEGORIES);
        // Prices end in 99 cents, from $1.99 to $299.99.
        let price_cents = rng.range(1, 299) * 100 + 99;
        insert.execute(params![id, name, category, price_cents])?;
    }
    Ok(())
}

/// The id and stored `salt$hash` of user `name`.
pub fn user_credentials(conn: &Connection, name: &str) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT id, password FROM users WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

pub fn create_session(conn: &Connection, user_id: i64, token: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO sessions (token, user_id, created_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![token, user_id, now_ms()])
        .map(drop)
}

/// The user a session token belongs to.
pub fn session_user(conn: &Connection, token: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT user_id FROM sessions WHERE token = ?1")?.query_row([token], |r| r.get(0)).optional()
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
}

pub fn products(conn: &Connection, limit: u32, offset: u32) -> rusqlite::Result<Vec<Product>> {
    conn.prepare_cached("SELECT id, name, category, price_cents FROM products ORDER BY id LIMIT ?1 OFFSET ?2")?
        .query_map([limit, offset], |r| {
            Ok(Product { id: r.get(0)?, name: r.get(1)?, category: r.get(2)?, price_cents: r.get(3)? })
        })?
        .collect()
}

/// Adds `qty` of a product to the user's cart; `None` if there is no such product.
pub fn add_to_cart(conn: &Connection, user_id: i64, product_id: i64, qty: u32) -> rusqlite::Result<Option<CartTotal>> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM products WHERE id = ?1")?
        .query_row([product_id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    conn.prepare_cached(
        "INSERT INTO cart_items (user_id, product_id, qty) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, product_id) DO UPDATE SET qty = qty + excluded.qty",
    )?
    .execute(params![user_id, product_id, qty])?;
    cart_total(conn, user_id).map(Some)
}

/// What a cart adds up to, computed by SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CartTotal {
    pub total_cents: i64,
    /// Items, counting quantities (what k6's `cart_size` reads).
    pub cart_size: i64,
    /// Distinct products.
    pub lines: i64,
}

pub fn cart_total(conn: &Connection, user_id: i64) -> rusqlite::Result<CartTotal> {
    conn.prepare_cached(
        "SELECT coalesce(sum(c.qty * p.price_cents), 0), coalesce(sum(c.qty), 0), count(*)
         FROM cart_items c JOIN products p ON p.id = c.product_id WHERE c.user_id = ?1",
    )?
    .query_row([user_id], |r| Ok(CartTotal { total_cents: r.get(0)?, cart_size: r.get(1)?, lines: r.get(2)? }))
}

#[derive(Debug, Clone, Serialize)]
pub struct CartLine {
    pub product_id: i64,
    pub name: String,
    pub qty: i64,
    pub price_cents: i64,
    pub line_cents: i64,
}

pub fn cart_lines(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<CartLine>> {
    conn.prepare_cached(
        "SELECT p.id, p.name, c.qty, p.price_cents, c.qty * p.price_cents
         FROM cart_items c JOIN products p ON p.id = c.product_id WHERE c.user_id = ?1 ORDER BY p.id",
    )?
    .query_map([user_id], |r| {
        Ok(CartLine {
            product_id: r.get(0)?,
            name: r.get(1)?,
            qty: r.get(2)?,
            price_cents: r.get(3)?,
            line_cents: r.get(4)?,
        })
    })?
    .collect()
}

/// The result of turning a cart into an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Order(i64),
    /// The cart is no longer what was charged (changed by a concurrent request of the same user).
    CartChanged,
}

/// Writes the order for the cart that was charged (`charged`), and empties the cart, in one
/// transaction. The payment call happened between reading the cart and this: no lock is held
/// across it, so the cart is checked again here.
pub fn place_order(
    conn: &mut Connection,
    user_id: i64,
    charged: CartTotal,
    payment_ref: &str,
) -> rusqlite::Result<Placed> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if cart_total(&tx, user_id)? != charged {
        return Ok(Placed::CartChanged); // dropping `tx` rolls back
    }
    tx.prepare_cached(
        "INSERT INTO orders (user_id, total_cents, units, payment_ref, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![user_id, charged.total_cents, charged.cart_size, payment_ref, now_ms()])?;
    let order_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO order_items (order_id, product_id, qty, price_cents)
         SELECT ?1, c.product_id, c.qty, p.price_cents
         FROM cart_items c JOIN products p ON p.id = c.product_id WHERE c.user_id = ?2",
    )?
    .execute(params![order_id, user_id])?;
    tx.prepare_cached("DELETE FROM cart_items WHERE user_id = ?1")?.execute([user_id])?;
    tx.commit()?;
    Ok(Placed::Order(order_id))
}

/// A cheap round trip, for `/health`.
pub fn ping(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(drop)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
