//! The sync service (docs/sync-protocol.md): one request pushes a device's new changes and
//! pulls, after the device's cursor, what others did within the device user's reach; it also
//! carries the user's scope changes and the catalog of templates and code tables. The HTTP
//! handler only decodes the frame, calls [`sync`] and encodes the answer.

mod push;
mod scope;

use std::time::Instant;

use jingtu_protocol::{PROTOCOL_VERSION, SyncRequest, SyncResponse};
use thiserror::Error;

use crate::Context;
use crate::actor::Actor;
use crate::storage::StorageError;

/// Why a sync request was refused whole (a push refused alone is a result of the answer).
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("this server speaks protocol {server}, the request {request}")]
    ProtocolVersion { server: u32, request: u32 },
    #[error("device must be the device's actor id in hex")]
    BadDevice,
    #[error("at most {0} records per request")]
    TooManyPushes(usize),
    #[error("this token belongs to another device: enroll this device with its own code")]
    DeviceMismatch,
    #[error("at most {0} catalog items per request")]
    TooManyItems(usize),
    #[error("the request took too long and nothing of it was stored: send it again")]
    Timeout,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Internal(String),
}

/// Stores changes the server made on a person's behalf (a review, a comment or a conflict's
/// resolution from the web console) under `device`, a fresh actor id of that one write:
/// checked for scope and by the write rules like any device's push, stored by the same
/// conditional commit, audited the same way.
pub fn store_changes(
    ctx: &Context,
    actor: &Actor,
    device: &str,
    record: &str,
    changes: Vec<u8>,
    deadline: Instant,
) -> Result<jingtu_protocol::PushResult, SyncError> {
    let reach = actor.reach(&*ctx.scope)?;
    let pushes = [jingtu_protocol::Push {
        record: record.to_string(),
        changes,
    }];
    let templates = templates(ctx, &ctx.catalog.catalog()?)?;
    push::push_all(ctx, &reach, device, &pushes, &templates, deadline)?
        .pop()
        .ok_or_else(|| SyncError::Internal("the write was left without a result".into()))
}

/// The published templates (what the review queue's index of each pushed record is read with).
fn templates(
    ctx: &Context,
    rows: &[crate::storage::catalog::CatalogRow],
) -> Result<std::sync::Arc<jingtu_model::TemplateSet>, SyncError> {
    ctx.templates
        .for_rows(&*ctx.catalog, rows)
        .map_err(|e| SyncError::Internal(e.to_string()))
}

/// Refuses a request of another protocol version.
pub fn check_version(protocol: u32) -> Result<(), SyncError> {
    if protocol != PROTOCOL_VERSION {
        return Err(SyncError::ProtocolVersion {
            server: PROTOCOL_VERSION,
            request: protocol,
        });
    }
    Ok(())
}

/// Applies, checks and stores the pushes of `req` made by `actor`'s device, and answers with
/// their results, a page of the feed after the device's cursor, the scope change and the
/// catalog when the device's is out of date. Nothing is stored after `deadline`.
pub fn sync(
    ctx: &Context,
    actor: &Actor,
    req: &SyncRequest,
    deadline: Instant,
) -> Result<SyncResponse, SyncError> {
    check_version(req.protocol)?;
    if req.device.is_empty()
        || req.device.len() > 64
        || !req.device.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(SyncError::BadDevice);
    }
    if req.pushes.len() > ctx.limits.max_pushes {
        return Err(SyncError::TooManyPushes(ctx.limits.max_pushes));
    }
    if let Some(bound) = &actor.device_id
        && !bound.eq_ignore_ascii_case(&req.device)
    {
        return Err(SyncError::DeviceMismatch);
    }
    let reach = actor.reach(&*ctx.scope)?;
    // The catalog is read once: the templates index the pushed records, the listing goes out.
    let catalog_rows = ctx.catalog.catalog()?;
    let templates = templates(ctx, &catalog_rows)?;
    let results = push::push_all(ctx, &reach, &req.device, &req.pushes, &templates, deadline)?;
    let max = req
        .max_response_bytes
        .unwrap_or(ctx.limits.max_feed_bytes)
        .clamp(1, ctx.limits.max_feed_bytes);
    let scope_update = scope::update(ctx, &reach, req, max)?;
    let listing = crate::catalog::listing_for(&catalog_rows, actor.role, &reach.assigned_kinds());
    let catalog = (req.catalog.as_deref() != Some(listing.digest.as_str())).then_some(listing);
    let page = ctx
        .records
        .feed_after(req.cursor, &req.device, reach.read(), max)?;
    metrics::counter!("jingtu_feed_chunks_sent_total").increment(page.chunks.len() as u64);
    Ok(SyncResponse {
        protocol: PROTOCOL_VERSION,
        results,
        chunks: page.chunks,
        cursor: page.cursor.max(req.cursor),
        more: page.more,
        server_time_ms: crate::people::now_ms(),
        scope: scope_update,
        catalog,
    })
}
