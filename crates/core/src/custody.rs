//! A soil sample's chain of custody on a device: the sampler logs packing and the hand-over,
//! the receiver confirms, the preparation room records each step, the lab hand-in goes under a
//! blind code. Each step is a custody event appended to the sample's record (also after it
//! was submitted or approved: the chain goes on), linked by hash to the one before it, and
//! synced like any edit; every device verifies the chain it holds ([`DeviceCore::custody`]).

use jingtu_doc::{CustodyChain, SampleCustodyEvent};
use jingtu_model::CustodyStep;

use crate::cache::Touched;
use crate::core::DeviceCore;
use crate::error::CoreError;

/// The record kind whose samples have a chain of custody.
pub const SAMPLE_KIND: &str = "soil_sample";

impl DeviceCore {
    /// Appends a step to a soil sample's chain, after the chain's head, in one change. A step
    /// with errors of its own is refused (a hand-over without its batch); its warnings (a
    /// broken seal) are kept with it and shown in the chain.
    pub fn add_custody_event(
        &self,
        id: &str,
        step: &CustodyStep,
    ) -> Result<SampleCustodyEvent, CoreError> {
        self.edit(id, |c, by| {
            if c.meta.kind != SAMPLE_KIND {
                return Err(CoreError::InvalidState(format!(
                    "custody is kept for soil samples, and this record is a {}",
                    c.meta.kind
                )));
            }
            let event = c.doc.add_custody_event(step, by)?;
            Ok((event, Touched::Custody))
        })
    }

    /// Appends the same step to several samples (a batch handed over or received together);
    /// the events in the samples' order. Every sample is checked first: one that is not a
    /// soil sample, or not here, leaves all of them unchanged.
    pub fn add_custody_events(
        &self,
        ids: &[String],
        step: &CustodyStep,
    ) -> Result<Vec<SampleCustodyEvent>, CoreError> {
        for id in ids {
            let kind = self.view(id)?.kind;
            if kind != SAMPLE_KIND {
                return Err(CoreError::InvalidState(format!(
                    "{id} is a {kind}: custody is kept for soil samples"
                )));
            }
        }
        ids.iter()
            .map(|id| self.add_custody_event(id, step))
            .collect()
    }

    /// A sample's chain in its one order, with what verification found (an altered, removed
    /// or reordered event; a sample handed over twice; counts that disagree; broken seals).
    pub fn custody(&self, id: &str) -> Result<CustodyChain, CoreError> {
        let mut cache = crate::core::lock(&self.cache);
        let entry = self.load(&mut cache, id)?;
        Ok(entry.doc.custody())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRecordPlace;
    use jingtu_model::HandOver;

    fn hand_over(expected: u32) -> CustodyStep {
        CustodyStep::HandedOver(HandOver {
            batch: "JJ-031".into(),
            from_org: String::new(),
            from_person: "王建军".into(),
            to_org: "县制备室".into(),
            to_person: "李秀兰".into(),
            samples_expected: expected,
            packaging_intact: true,
            seal_intact: true,
            label_legible: true,
            seal_no: None,
            weight_kg: None,
            cold_chain: false,
            temperature_c: None,
            anomalies: String::new(),
        })
    }

    #[test]
    fn a_submitted_sample_takes_its_chain_and_it_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let a = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let b = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let both = [a.clone(), b.clone()];
        let collected = CustodyStep::Collected {
            note: String::new(),
        };
        core.add_custody_events(&both, &collected).unwrap();
        let sent = core.add_custody_events(&both, &hand_over(2)).unwrap();
        assert_eq!(sent.len(), 2);
        drop(core);
        let core = DeviceCore::open(dir.path()).unwrap();
        let chain = core.custody(&a).unwrap();
        assert!(
            chain.intact && chain.findings.is_empty(),
            "{:?}",
            chain.findings
        );
        assert_eq!(chain.events.len(), 2);
        assert_eq!(chain.events[1].id, sent[0].id);
    }

    #[test]
    fn only_soil_samples_keep_custody_and_bad_steps_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let core = DeviceCore::open(dir.path()).unwrap();
        let village = core
            .create_record("village_inspection", &NewRecordPlace::default())
            .unwrap()
            .id;
        let sample = core
            .create_record("soil_sample", &NewRecordPlace::default())
            .unwrap()
            .id;
        let collected = CustodyStep::Collected {
            note: String::new(),
        };
        assert!(matches!(
            core.add_custody_event(&village, &collected),
            Err(CoreError::InvalidState(_))
        ));
        assert!(
            core.add_custody_events(&[sample.clone(), village], &collected)
                .is_err()
        );
        assert!(core.custody(&sample).unwrap().events.is_empty());
        assert!(core.add_custody_event(&sample, &hand_over(0)).is_err());
    }
}
