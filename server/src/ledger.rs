//! The county ledgers on the server, for supervisors and admins: the black-odorous water
//! bodies with their lifecycle (名册台账) and the sewage facilities' task 19 schedule, from the
//! submitted and approved records within the caller's reach. The same functions the devices
//! run (`jingtu_model::ledger`) over the same evaluations.
//!
//! Each call reads every submitted and approved record of its kind within reach (a county's
//! bodies and facilities are hundreds); a province-wide ledger would want these kept as an
//! index updated at commit instead.

use jingtu_doc::{ActorId, RecordDoc, Status};
pub use jingtu_model::ledger::parse_day;
use jingtu_model::ledger::{self, FacilitySchedule, LedgerRecord, WaterBody};
use serde_json::Value;

use crate::Context;
use crate::actor::Actor;
use crate::review::ReviewError;
use crate::storage::QueueFilter;

/// The kind of a black-odorous water body check.
pub const WATER_BODY_KIND: &str = "water_body_check";
/// The kind of a sewage facility inspection.
pub const SEWAGE_FACILITY_KIND: &str = "sewage_facility_inspection";

/// Every submitted or approved record of `kind` within the actor's reach, as (id, data,
/// computed values).
fn records(
    ctx: &Context,
    actor: &Actor,
    kind: &str,
) -> Result<Vec<(String, Value, Value)>, ReviewError> {
    if !actor.role.reviews() {
        return Err(ReviewError::NotAReviewer(format!(
            "{} ({})",
            actor.user, actor.role
        )));
    }
    let templates = ctx
        .templates
        .current(&*ctx.catalog)
        .map_err(|e| ReviewError::Internal(e.to_string()))?;
    let reach = actor.reach(&*ctx.scope)?;
    let mut out = Vec::new();
    for status in [Status::Submitted, Status::Approved] {
        let mut filter = QueueFilter {
            kind: Some(kind.to_string()),
            status: Some(status),
            limit: 200,
            without_counts: true,
            ..Default::default()
        };
        loop {
            let page = ctx.records.queue(reach.read(), &filter)?;
            for row in &page.rows {
                let Some(stored) = ctx.records.load_record(&row.id)? else {
                    continue;
                };
                let doc =
                    RecordDoc::load_stored(&stored.bytes, ActorId::random()).map_err(|e| {
                        ReviewError::Internal(format!("record {} does not load: {e}", row.id))
                    })?;
                let meta = doc.meta()?;
                // A record of a template this server does not hold is left out.
                let Ok(template) = templates.get(&meta.kind, meta.template_version) else {
                    continue;
                };
                let data = doc.data();
                let computed = template.computed_values(&data, &meta.expr_json());
                out.push((row.id.clone(), data, Value::Object(computed)));
            }
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}

fn as_ledger((id, data, computed): &(String, Value, Value)) -> LedgerRecord<'_> {
    LedgerRecord { id, data, computed }
}

/// The water bodies within the actor's reach.
pub fn water_bodies(ctx: &Context, actor: &Actor) -> Result<Vec<WaterBody>, ReviewError> {
    let rows = records(ctx, actor, WATER_BODY_KIND)?;
    Ok(ledger::water_bodies(rows.iter().map(as_ledger)))
}

/// The sewage facilities within the actor's reach, for `year` as of `today`.
pub fn sewage_facilities(
    ctx: &Context,
    actor: &Actor,
    year: i32,
    today: (i32, u32, u32),
) -> Result<Vec<FacilitySchedule>, ReviewError> {
    if !(1900..=9999).contains(&year) {
        return Err(ReviewError::Invalid {
            field: "year".into(),
            reason: format!("{year} is not a year"),
        });
    }
    let rows = records(ctx, actor, SEWAGE_FACILITY_KIND)?;
    Ok(ledger::sewage_facilities(
        rows.iter().map(as_ledger),
        year,
        today,
    ))
}

/// Today in China Standard Time.
pub fn today() -> (i32, u32, u32) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ledger::china_day(ms)
}
