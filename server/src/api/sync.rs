use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingtu_doc::{ActorId, DocError, apply_untrusted};
use jingtu_protocol::{
    CONTENT_TYPE, PROTOCOL_VERSION, PushOutcome, PushResult, SyncRequest, SyncResponse, refusal,
};

use super::{ApiError, Caller, Shared, blocking};
use crate::storage::NewChunk;

/// A record's chunks are folded into a snapshot when a load would read more than this many.
const SNAPSHOT_AFTER_CHUNKS: u64 = 32;

pub(crate) fn framed(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response()
}

pub(crate) fn check_version(protocol: u32) -> Result<(), ApiError> {
    if protocol != PROTOCOL_VERSION {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "protocol_version",
            format!("this server speaks protocol {PROTOCOL_VERSION}, the request {protocol}"),
        ));
    }
    Ok(())
}

fn refused(record: &str, code: &str, message: String) -> PushResult {
    metrics::counter!("jingtu_sync_pushes_total", "outcome" => "refused").increment(1);
    PushResult {
        record: record.to_string(),
        outcome: PushOutcome::Refused,
        new_changes: 0,
        seq: None,
        code: Some(code.to_string()),
        message: Some(message),
    }
}

/// Push new changes and pull the feed after the cursor, in one round trip.
#[utoipa::path(
    post,
    path = "/v1/sync",
    request_body(content = SyncRequest, content_type = "application/vnd.jingtu.v1+msgpack",
        description = "a framed SyncRequest (docs/sync-protocol.md)"),
    responses(
        (status = 200, description = "a framed SyncResponse", body = SyncResponse,
            content_type = "application/vnd.jingtu.v1+msgpack"),
        (status = 400, description = "malformed body", body = jingtu_protocol::ErrorBody),
        (status = 401, description = "missing or unknown token", body = jingtu_protocol::ErrorBody),
        (status = 413, description = "body over the limit", body = jingtu_protocol::ErrorBody),
        (status = 426, description = "another protocol version", body = jingtu_protocol::ErrorBody)
    ),
    security(("device_token" = []))
)]
pub async fn sync(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let limit = state.limits.max_message_bytes;
    let st = state.clone();
    let response = blocking(move || {
        let req: SyncRequest = jingtu_protocol::decode(&body, limit)?;
        check_version(req.protocol)?;
        if req.device.is_empty()
            || req.device.len() > 64
            || !req.device.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(ApiError::bad_request(
                "bad_device",
                "device must be the device's actor id in hex",
            ));
        }
        if req.pushes.len() > st.limits.max_pushes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_pushes",
                format!("at most {} records per request", st.limits.max_pushes),
            ));
        }
        let _ = &caller;
        let mut results = Vec::with_capacity(req.pushes.len());
        let mut chunks: Vec<NewChunk> = Vec::new();
        let mut snapshots = Vec::new();
        {
            let _apply = st.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
            for push in &req.pushes {
                if !jingtu_protocol::is_record_id(&push.record) {
                    results.push(refused(
                        &push.record,
                        refusal::BAD_RECORD_ID,
                        "a record id is a lowercase hyphenated UUID".into(),
                    ));
                    continue;
                }
                if push.changes.len() > st.limits.max_push_bytes {
                    results.push(refused(
                        &push.record,
                        refusal::TOO_LARGE,
                        format!(
                            "{} bytes of changes, over the {}-byte limit",
                            push.changes.len(),
                            st.limits.max_push_bytes
                        ),
                    ));
                    continue;
                }
                let existing = st.records.load_record(&push.record)?;
                match apply_untrusted(
                    existing.as_deref(),
                    &push.changes,
                    &push.record,
                    ActorId::random(),
                ) {
                    Ok(mut applied) => {
                        metrics::counter!("jingtu_sync_pushes_total", "outcome" => "accepted")
                            .increment(1);
                        let new_changes = applied.new_changes as u32;
                        if !applied.new_bytes.is_empty() {
                            let meta = applied
                                .doc
                                .meta()
                                .map_err(|e| ApiError::internal(e.to_string()))?;
                            chunks.push(NewChunk {
                                record: push.record.clone(),
                                bytes: std::mem::take(&mut applied.new_bytes),
                                kind: meta.kind,
                                org_unit: meta.org_unit,
                            });
                            snapshots.push((push.record.clone(), applied.doc));
                        }
                        results.push(PushResult {
                            record: push.record.clone(),
                            outcome: PushOutcome::Accepted,
                            new_changes,
                            seq: None,
                            code: None,
                            message: None,
                        });
                    }
                    Err(e) => {
                        let code = match &e {
                            DocError::MissingDeps(_) => refusal::MISSING_DEPS,
                            DocError::TooLarge { .. } => refusal::TOO_LARGE,
                            DocError::Corrupt(_) | DocError::Automerge(_) => refusal::CORRUPT,
                            _ => refusal::NOT_A_RECORD,
                        };
                        results.push(refused(&push.record, code, e.to_string()));
                    }
                }
            }
            // Durable before anything is confirmed.
            let seqs = st.records.commit_chunks(&req.device, &chunks)?;
            for (chunk, seq) in chunks.iter().zip(&seqs) {
                if let Some(r) = results
                    .iter_mut()
                    .rev()
                    .find(|r| r.record == chunk.record && r.outcome == PushOutcome::Accepted)
                {
                    r.seq = Some(*seq);
                }
            }
            for ((record, mut doc), seq) in snapshots.into_iter().zip(seqs) {
                if st.records.chunk_count(&record)? > SNAPSHOT_AFTER_CHUNKS {
                    st.records.save_snapshot(&record, seq, &doc.save())?;
                }
            }
        }
        let max = req
            .max_response_bytes
            .unwrap_or(st.limits.max_feed_bytes)
            .clamp(1, st.limits.max_feed_bytes);
        let page = st.records.feed_after(req.cursor, &req.device, max)?;
        metrics::counter!("jingtu_feed_chunks_sent_total").increment(page.chunks.len() as u64);
        let response = SyncResponse {
            protocol: PROTOCOL_VERSION,
            results,
            chunks: page.chunks,
            cursor: page.cursor.max(req.cursor),
            more: page.more,
            server_time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        };
        jingtu_protocol::encode(&response).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(framed(response))
}
