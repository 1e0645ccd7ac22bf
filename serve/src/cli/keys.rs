//! `riskloop keys create | list | revoke | rotate`.

use clap::{Args, Subcommand};

use crate::api_key::Role;
use std::io::Write;

use secrecy::ExposeSecret;

use super::shared::open_store;
use crate::api_key::GeneratedKey;
use crate::settings::Settings;
use crate::store::{ApiKey, NewApiKey, NewAuditEntry};

#[derive(Debug, Args)]
pub struct CreateKey {
    /// A name saying who or what uses the key.
    #[arg(long)]
    pub name: String,
    /// What the key may do.
    #[arg(long, value_enum)]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create(CreateKey),
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id or prefix; it stops working at once.
    Revoke {
        /// The key's numeric id or its `rk_…` prefix, as `keys list` shows them.
        key: String,
    },
    /// Replace a key with a new one for the same client (same name and role); the old key keeps
    /// working for the grace period, then expires by itself.
    Rotate {
        /// The key's numeric id or its `rk_…` prefix, as `keys list` shows them.
        key: String,
        /// How long the old key keeps working, in hours (0: it stops at once).
        #[arg(long, default_value_t = 24.0)]
        grace_hours: f64,
    },
}

const ACTOR: &str = "cli";

pub async fn create(
    settings: &Settings,
    args: &CreateKey,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let name = args.name.trim();
    anyhow::ensure!(!name.is_empty(), "--name must not be empty");
    let store = open_store(settings).await?;
    let (key, secret) = issue(&store, name, args.role, ACTOR).await?;
    writeln!(
        out,
        "Created API key {} ({}, role {}).",
        key.id, key.name, key.role
    )?;
    writeln!(
        out,
        "Store it now: it is shown this once and cannot be recovered."
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", secret.expose_secret())?;
    store.close().await;
    Ok(())
}

/// Creates a key, records it in the audit log, and returns it with its secret (shown once).
pub async fn issue(
    store: &crate::store::Store,
    name: &str,
    role: crate::api_key::Role,
    actor: &str,
) -> anyhow::Result<(ApiKey, secrecy::SecretString)> {
    let generated = GeneratedKey::generate()?;
    let key = store
        .insert_api_key(&NewApiKey {
            name,
            role,
            prefix: &generated.prefix,
            key_hash: &generated.hash,
        })
        .await?;
    store
        .audit(&NewAuditEntry {
            actor,
            action: "key.create",
            target: &key.prefix,
            detail: serde_json::json!({ "id": key.id, "name": key.name, "role": key.role }),
        })
        .await?;
    Ok((key, generated.secret))
}

pub async fn list(settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let keys = store.list_api_keys().await?;
    store.close().await;
    write_table(&keys, out)
}

pub async fn revoke(
    settings: &Settings,
    id_or_prefix: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let key = store.find_api_key(id_or_prefix).await?;
    if store.revoke_api_key(key.id).await? {
        store
            .audit(&NewAuditEntry {
                actor: ACTOR,
                action: "key.revoke",
                target: &key.prefix,
                detail: serde_json::json!({ "id": key.id, "name": key.name }),
            })
            .await?;
        writeln!(
            out,
            "Revoked API key {} ({}, {}).",
            key.id, key.name, key.prefix
        )?;
    } else {
        writeln!(
            out,
            "API key {} ({}) was already revoked.",
            key.id, key.name
        )?;
    }
    store.close().await;
    Ok(())
}

pub async fn rotate(
    settings: &Settings,
    id_or_prefix: &str,
    grace_hours: f64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        grace_hours.is_finite() && (0.0..=24.0 * 365.0).contains(&grace_hours),
        "--grace-hours must be between 0 and 8760"
    );
    let store = open_store(settings).await?;
    let old = store.find_api_key(id_or_prefix).await?;
    let generated = GeneratedKey::generate()?;
    let grace = chrono::Duration::milliseconds((grace_hours * 3_600_000.0).round() as i64);
    let new = store
        .rotate_api_key(
            old.id,
            &NewApiKey {
                name: &old.name,
                role: old.role,
                prefix: &generated.prefix,
                key_hash: &generated.hash,
            },
            grace,
        )
        .await?;
    let expires = chrono::Utc::now() + grace;
    store
        .audit(&NewAuditEntry {
            actor: ACTOR,
            action: "key.rotate",
            target: &old.prefix,
            detail: serde_json::json!({
                "id": old.id, "replaced_by": new.id, "new_prefix": new.prefix,
                "old_expires_at": expires.to_rfc3339(),
            }),
        })
        .await?;
    writeln!(
        out,
        "Rotated API key {} ({}, role {}): the new key is {}; the old one works until {} UTC.",
        old.id,
        old.name,
        old.role,
        new.id,
        expires.format("%Y-%m-%d %H:%M:%S")
    )?;
    writeln!(
        out,
        "Store it now: it is shown this once and cannot be recovered."
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", generated.secret.expose_secret())?;
    store.close().await;
    Ok(())
}

fn write_table(keys: &[ApiKey], out: &mut impl Write) -> anyhow::Result<()> {
    if keys.is_empty() {
        writeln!(
            out,
            "No API keys. Create one with: riskloop keys create --name NAME --role ROLE"
        )?;
        return Ok(());
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|k| {
            let now = chrono::Utc::now();
            let status = match (k.revoked_at, k.expires_at) {
                (Some(_), _) => "revoked".to_owned(),
                (None, Some(at)) if at <= now => "expired".to_owned(),
                (None, Some(at)) => format!("expires {}", at.format("%Y-%m-%d %H:%M")),
                (None, None) => "active".to_owned(),
            };
            [
                k.id.to_string(),
                k.name.clone(),
                k.role.to_string(),
                k.prefix.clone(),
                time(Some(k.created_at)),
                time(k.last_used_at),
                status,
            ]
        })
        .collect();
    let header = [
        "ID",
        "NAME",
        "ROLE",
        "PREFIX",
        "CREATED (UTC)",
        "LAST USED",
        "STATUS",
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}
