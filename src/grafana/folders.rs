//! A Grafana folder's permissions: read (`GET /api/folders/:uid/permissions`) and replaced
//! whole (`POST /api/folders/:uid/permissions` with `{"items": [...]}`), as Grafana's Folder
//! Permissions HTTP API documents them (`docs/sources/developers/http_api/folder_permissions.md`).
//! The only code that knows those requests. Levels: 1 View, 2 Edit, 4 Admin; an item names a
//! `role` (`Viewer` or `Editor`), a `teamId` or a `userId`. A POST replaces every permission
//! of the folder, so what it sends must be the whole list.
//!
//! The guard (`guard::readonly`) uses it to make folders view-only during a load test and to
//! put their permissions back; it never prints, and the token leaves it only as the
//! `Authorization` header.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::annotate::GrafanaConfig;
use crate::net::{ClientOptions, Redirects, describe, percent_encode};

/// The most of a Grafana error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

pub const VIEW: u8 = 1;
pub const EDIT: u8 = 2;
pub const ADMIN: u8 = 4;

/// One permission of a folder, in the shape the POST takes: exactly one of `role`, `team_id`
/// and `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, rename = "teamId", skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(default, rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub permission: u8,
}

impl Item {
    /// The item with Edit lowered to View. Admin stays: folder admins (and Grafana's own
    /// admins, whom folder permissions never restrict) keep the way to undo it in an emergency.
    pub fn view_only(&self) -> Item {
        let permission = if self.permission == EDIT { VIEW } else { self.permission };
        Item { permission, ..self.clone() }
    }
}

/// Why a folder's permissions could not be read or written. Every message names Grafana's
/// URL and the folder, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderError {
    #[error("Grafana unreachable at {url} for folder {folder} ({reason})")]
    Unreachable { url: String, folder: String, reason: String },
    #[error("Grafana at {url} answered HTTP {status} to {action} folder {folder}'s permissions: {message}")]
    Status { url: String, folder: String, action: &'static str, status: u16, message: String },
    #[error("Grafana at {url} sent folder {folder}'s permissions in a shape k6gate does not read: {message}")]
    Shape { url: String, folder: String, message: String },
}

/// `GET /api/folders/:uid/permissions` as documented: an array of objects with `role` (empty
/// when unset), `teamId` and `userId` (0 when unset) and `permission`.
#[derive(Debug, Deserialize)]
struct Listed {
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "teamId")]
    team_id: Option<i64>,
    #[serde(default, rename = "userId")]
    user_id: Option<i64>,
    permission: u8,
    /// Newer Grafanas list the permissions a folder inherits; they are not its own to set.
    #[serde(default)]
    inherited: bool,
}

fn endpoint(config: &GrafanaConfig, folder: &str) -> String {
    format!("{}/api/folders/{}/permissions", config.url.trim_end_matches('/'), percent_encode(folder))
}

fn client(config: &GrafanaConfig, folder: &str) -> Result<reqwest::Client, FolderError> {
    let options =
        ClientOptions { connect_timeout: config.timeout, timeout: Some(config.timeout), redirects: Redirects::None };
    crate::net::client(&options).map_err(|e| FolderError::Unreachable {
        url: config.display_url(),
        folder: folder.into(),
        reason: describe(&e),
    })
}

fn short(text: &str, token: &str) -> String {
    let text: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if token.is_empty() { text } else { text.replace(token, "***") }
}

/// The folder's own permissions (inherited ones left out).
pub fn get(config: &GrafanaConfig, folder: &str) -> Result<Vec<Item>, FolderError> {
    let url = config.display_url();
    let client = client(config, folder)?;
    let (status, text) = exchange(&url, folder, || {
        client
            .get(endpoint(config, folder))
            .header("Authorization", format!("Bearer {}", config.token.expose()))
            .header("Accept", "application/json")
    })?;
    if status != 200 {
        let message = short(&text, config.token.expose());
        return Err(FolderError::Status { url, folder: folder.into(), action: "read", status, message });
    }
    let listed: Vec<Listed> = serde_json::from_str(&text).map_err(|e| FolderError::Shape {
        url: url.clone(),
        folder: folder.into(),
        message: e.to_string(),
    })?;
    let mut items = Vec::new();
    for (i, l) in listed.into_iter().enumerate() {
        if l.inherited {
            continue;
        }
        let role = l.role.filter(|r| !r.is_empty());
        let team_id = l.team_id.filter(|&t| t != 0);
        let user_id = l.user_id.filter(|&u| u != 0);
        let named = usize::from(role.is_some()) + usize::from(team_id.is_some()) + usize::from(user_id.is_some());
        if named != 1 || ![VIEW, EDIT, ADMIN].contains(&l.permission) {
            return Err(FolderError::Shape {
                url,
                folder: folder.into(),
                message: format!(
                    "[{i}]: an item names exactly one of role, teamId and userId with permission 1, 2 or 4 \
                     (found {named} names, permission {})",
                    l.permission
                ),
            });
        }
        items.push(Item { role, team_id, user_id, permission: l.permission });
    }
    Ok(items)
}

/// One call to the permissions endpoint: the request is built and sent inside the runtime
/// (reqwest's timers need its reactor); its status and body, or `Unreachable` with the reason.
fn exchange(
    url: &str,
    folder: &str,
    build: impl FnOnce() -> reqwest::RequestBuilder + Send,
) -> Result<(u16, String), FolderError> {
    let unreachable = |reason: String| FolderError::Unreachable { url: url.into(), folder: folder.into(), reason };
    crate::net::block_on(async {
        let response = build().send().await.map_err(|e| describe(&e.without_url()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| describe(&e.without_url()))?;
        Ok::<_, String>((status, text))
    })
    .map_err(|e| unreachable(describe(&e)))?
    .map_err(unreachable)
}

/// Replaces the folder's permissions with `items`, all of them.
pub fn set(config: &GrafanaConfig, folder: &str, items: &[Item]) -> Result<(), FolderError> {
    let url = config.display_url();
    let client = client(config, folder)?;
    let body: Value = serde_json::json!({ "items": items });
    let (status, text) = exchange(&url, folder, || {
        client
            .post(endpoint(config, folder))
            .header("Authorization", format!("Bearer {}", config.token.expose()))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body.to_string())
    })?;
    if status != 200 {
        let message = short(&text, config.token.expose());
        return Err(FolderError::Status { url, folder: folder.into(), action: "update", status, message });
    }
    Ok(())
}
