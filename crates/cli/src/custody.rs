//! The commands on a soil sample's chain of custody: show (verified), add a step, and the
//! two steps made most in the field, hand-over and receipt, as flags.

use anyhow::{Context, Result, bail};
use jingtu_core::{CustodyChain, CustodyStep, DeviceCore, HandOver, Receipt};

use crate::{CustodyCommand, out, when};

pub(crate) fn custody(core: &DeviceCore, json: bool, cmd: CustodyCommand) -> Result<()> {
    match cmd {
        CustodyCommand::Show { id } => {
            let id = core.resolve_id(&id)?;
            let chain = core.custody(&id)?;
            out(json, serde_json::to_value(&chain)?, || human(&chain));
            Ok(())
        }
        CustodyCommand::Add { ids, step } => {
            let step: CustodyStep = serde_json::from_str(&step).with_context(|| {
                "the step is JSON such as {\"step\": \"fine_ground\", \"mesh\": 100} \
                 (steps: collected, packed, handed_over, received, air_dried, coarse_ground, \
                 split, fine_ground, portioned, retained, lab_hand_in)"
            })?;
            add(core, json, &ids, &step)
        }
        CustodyCommand::Handover {
            ids,
            batch,
            to,
            to_org,
            from,
            from_org,
            seal_broken,
            cold_chain,
            temperature,
            anomalies,
        } => {
            let expected = u32::try_from(ids.len()).context("too many samples")?;
            let step = CustodyStep::HandedOver(HandOver {
                batch,
                from_org: from_org.unwrap_or_default(),
                from_person: from.unwrap_or_else(|| core.user()),
                to_org: to_org.unwrap_or_default(),
                to_person: to,
                samples_expected: expected,
                packaging_intact: true,
                seal_intact: !seal_broken,
                label_legible: true,
                seal_no: None,
                weight_kg: None,
                cold_chain,
                temperature_c: temperature,
                anomalies: anomalies.unwrap_or_default(),
            });
            add(core, json, &ids, &step)
        }
        CustodyCommand::Receive {
            ids,
            batch,
            received,
            seal_broken,
            scanned,
            temperature,
            anomalies,
        } => {
            let count = match received {
                Some(n) => n,
                None => u32::try_from(ids.len()).context("too many samples")?,
            };
            let step = CustodyStep::Received(Receipt {
                batch,
                samples_received: count,
                packaging_intact: true,
                seal_intact: !seal_broken,
                label_legible: true,
                temperature_c: temperature,
                scanned,
                anomalies: anomalies.unwrap_or_default(),
            });
            add(core, json, &ids, &step)
        }
    }
}

fn add(core: &DeviceCore, json: bool, ids: &[String], step: &CustodyStep) -> Result<()> {
    if ids.is_empty() {
        bail!("name at least one sample");
    }
    let ids = ids
        .iter()
        .map(|i| core.resolve_id(i))
        .collect::<Result<Vec<_>, _>>()?;
    let events = core.add_custody_events(&ids, step)?;
    out(json, serde_json::to_value(&events)?, || {
        let mut s = format!(
            "{} recorded for {} sample(s)",
            step.label().zh,
            events.len()
        );
        for e in &events {
            for i in &e.issues {
                s.push_str(&format!("\nwarning: {}", i.message.zh));
            }
        }
        s
    });
    Ok(())
}

fn human(chain: &CustodyChain) -> String {
    let mut s = String::new();
    if chain.events.is_empty() {
        return "no custody events yet".into();
    }
    for (n, e) in chain.events.iter().enumerate() {
        s.push_str(&format!(
            "{:>2}. {}  {}  {}  {}\n",
            n + 1,
            when(e.at_ms),
            e.step.label().zh,
            e.by,
            e.hash.chars().take(12).collect::<String>()
        ));
    }
    s.push_str(if chain.intact {
        "chain verified: intact"
    } else {
        "chain BROKEN"
    });
    for f in &chain.findings {
        s.push_str(&format!(
            "\n{:7} {}: {}",
            format!("{:?}", f.severity).to_lowercase(),
            f.code,
            f.message.zh
        ));
    }
    s
}
