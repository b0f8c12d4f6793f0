//! The county ledgers as this device sees them: the black-odorous water bodies with their
//! lifecycle, and the sewage facilities' schedule for a year, from the submitted and approved
//! records the device holds (`jingtu_model::ledger`, the same code the server runs).

use jingtu_doc::Status;
use jingtu_model::ledger::{self, FacilitySchedule, LedgerRecord, WaterBody};
use jingtu_store::ListFilter;
use serde_json::Value;

use crate::{CoreError, DeviceCore};

/// The kind of a black-odorous water body check.
pub const WATER_BODY_KIND: &str = "water_body_check";
/// The kind of a sewage facility inspection.
pub const SEWAGE_FACILITY_KIND: &str = "sewage_facility_inspection";

impl DeviceCore {
    /// Every submitted or approved record of `kind`, as (id, data, computed values);
    /// `progress(done, total)` after each one read, `false` to stop.
    fn ledger_records(
        &self,
        kind: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<Vec<(String, Value, Value)>, CoreError> {
        let summaries: Vec<_> = self
            .list(&ListFilter {
                kind: Some(kind.into()),
                ..Default::default()
            })?
            .into_iter()
            .filter(|s| matches!(s.status, Status::Submitted | Status::Approved))
            .collect();
        let total = summaries.len() as u64;
        let mut out = Vec::with_capacity(summaries.len());
        for (i, s) in summaries.iter().enumerate() {
            let row = self.with_record(&s.id, |c| {
                let computed = c.template.computed_values(&c.data, &c.meta.expr_json());
                Ok((s.id.clone(), c.data.clone(), Value::Object(computed)))
            })?;
            out.push(row);
            if !progress(i as u64 + 1, total) {
                return Err(CoreError::Cancelled);
            }
        }
        Ok(out)
    }

    /// The ledger of black-odorous water bodies from the checks on this device: each body's
    /// state, latest classification, relapses (返黑返臭) and refused transitions.
    pub fn water_body_ledger(
        &self,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<Vec<WaterBody>, CoreError> {
        let rows = self.ledger_records(WATER_BODY_KIND, progress)?;
        Ok(ledger::water_bodies(rows.iter().map(as_ledger)))
    }

    /// Each sewage facility's year against the task 19 schedule (quarterly inspection,
    /// half-yearly monitoring) as of `today` (`(year, month, day)`), from the inspections on
    /// this device.
    pub fn sewage_facility_schedule(
        &self,
        year: i32,
        today: (i32, u32, u32),
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<Vec<FacilitySchedule>, CoreError> {
        if !(1900..=9999).contains(&year) {
            return Err(CoreError::InvalidValue {
                path: "year".into(),
                reason: format!("{year} is not a year"),
            });
        }
        let rows = self.ledger_records(SEWAGE_FACILITY_KIND, progress)?;
        Ok(ledger::sewage_facilities(
            rows.iter().map(as_ledger),
            year,
            today,
        ))
    }
}

fn as_ledger((id, data, computed): &(String, Value, Value)) -> LedgerRecord<'_> {
    LedgerRecord { id, data, computed }
}
