//! Moving one node's embedded state into a cluster's database (`lamina migrate`): records
//! as they are (published versions and layer versions keep their numbers), rows that are
//! there already left alone, so that a migration interrupted can simply be run again.

use deadpool_postgres::GenericClient;
use lamina_model::FunctionConfig;
use lamina_model::layer::LayerVersion;

use super::{PgError, PgPool};
use crate::StoreError;

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(PgError::Statement(e))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records always serialize")
}

/// Writes a function (its `$LATEST` and published versions) unless one of that name is
/// there; returns whether it was written.
pub async fn import_function(
    pool: &PgPool,
    latest: &FunctionConfig,
    versions: &[FunctionConfig],
) -> Result<bool, StoreError> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await.map_err(pg)?;
    let made = tx
        .execute(
            "INSERT INTO functions (name, revision, code_id, config) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
            &[
                &latest.name,
                &latest.revision_id,
                &latest.code.id,
                &json(latest),
            ],
        )
        .await
        .map_err(pg)?;
    if made == 1 {
        for v in versions {
            let number: i64 = v.version.parse().unwrap_or(0);
            tx.execute(
                "INSERT INTO versions (name, version, code_id, config) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&v.name, &number, &v.code.id, &json(v)],
            )
            .await
            .map_err(pg)?;
        }
    }
    tx.commit().await.map_err(pg)?;
    Ok(made == 1)
}

/// Writes a layer version with its number, and keeps the layer's numbering past it.
pub async fn import_layer(pool: &PgPool, layer: &LayerVersion) -> Result<bool, StoreError> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await.map_err(pg)?;
    let n = layer.version as i64;
    let made = tx
        .execute(
            "INSERT INTO layers (name, version, code_id, config) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&layer.name, &n, &layer.code.id, &json(layer)],
        )
        .await
        .map_err(pg)?;
    tx.execute(
        "INSERT INTO layer_names (name, last_version) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE
         SET last_version = GREATEST(layer_names.last_version, $2)",
        &[&layer.name, &n],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(made == 1)
}

/// Writes a queued event as it is (due time, attempts, first enqueue).
pub async fn import_event(
    pool: &PgPool,
    m: &lamina_queue::Message,
    due_ms: u64,
) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_messages (queue, body, attributes, due_ms, attempts, enqueued_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &m.queue,
                &m.body,
                &m.attributes,
                &(due_ms as i64),
                &(m.attempts as i32),
                &(m.enqueued_ms as i64),
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

/// Writes a failed event as it is.
pub async fn import_failed(
    pool: &PgPool,
    f: &lamina_queue::FailedMessage,
) -> Result<(), StoreError> {
    let m = &f.message;
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_failed
                 (id, queue, body, attributes, attempts, enqueued_ms, failed_ms, reason)
             VALUES (nextval('queue_messages_id_seq'), $1, $2, $3, $4, $5, $6, $7)",
            &[
                &m.queue,
                &m.body,
                &m.attributes,
                &(m.attempts as i32),
                &(m.enqueued_ms as i64),
                &(f.failed_ms as i64),
                &f.reason,
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}
