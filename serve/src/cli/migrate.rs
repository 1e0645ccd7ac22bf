//! `riskloop migrate`: create or update the schema; harmless to repeat.

use std::io::Write;

use crate::settings::Settings;
use crate::store::Store;

pub async fn run(settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url(), &settings.database).await?;
    let applied = super::shared::migrate_schema(&store).await?;
    let tables = store.tables().await?;
    writeln!(
        out,
        "{}: {applied} migration(s) applied, schema up to date ({} tables: {})",
        store.target(),
        tables.len(),
        tables.join(", ")
    )?;
    store.close().await;
    Ok(())
}
