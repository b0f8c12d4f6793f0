//! The commands on a soil sample's chain of custody: show (verified), add a step, and the
//! two steps made most in the field, hand-over and receipt, as flags.

use anyhow::{Context, Result, bail};
use jingtu_core::{
    CustodyChain, CustodyStep, DeviceCore, HandOver, HandOverBatch, QcReport, QcStatus, Receipt,
};
use serde::Serialize;

use crate::{CustodyCommand, out, when};

pub(crate) fn custody(core: &DeviceCore, json: bool, cmd: CustodyCommand) -> Result<()> {
    match cmd {
        CustodyCommand::Show { id } => {
            let id = core.resolve_id(&id)?;
            let chain = core.custody(&id)?;
            out(json, serde_json::to_value(&chain)?, || human(&chain));
            Ok(())
        }
        CustodyCommand::Code { id } => {
            let id = core.resolve_id(&id)?;
            let code = core.assign_sample_code(&id)?;
            out(
                json,
                serde_json::json!({"id": id, "sample_code": code}),
                || code.clone(),
            );
            Ok(())
        }
        CustodyCommand::Find { code } => match core.find_sample(&code)? {
            Some(s) => {
                out(json, serde_json::to_value(&s)?, || {
                    format!("{} {}", s.id, s.name)
                });
                Ok(())
            }
            None => bail!("no sample with code {} on this device", code.trim()),
        },
        CustodyCommand::Label {
            id,
            svg,
            png,
            module_px,
        } => {
            let id = core.resolve_id(&id)?;
            if svg.is_none() && png.is_none() {
                bail!("say where to write the label: --svg FILE and/or --png FILE");
            }
            let mut written = Vec::new();
            if let Some(p) = &svg {
                std::fs::write(p, core.sample_label_svg(&id)?)
                    .with_context(|| format!("writing {}", p.display()))?;
                written.push(p.display().to_string());
            }
            if let Some(p) = &png {
                std::fs::write(p, core.sample_label_png(&id, module_px)?)
                    .with_context(|| format!("writing {}", p.display()))?;
                written.push(p.display().to_string());
            }
            out(
                json,
                serde_json::json!({"id": id, "written": written}),
                || format!("label written to {}", written.join(", ")),
            );
            Ok(())
        }
        CustodyCommand::Guide {
            id,
            lat,
            lon,
            accuracy,
        } => {
            let id = core.resolve_id(&id)?;
            let g = core.planned_point_guide(&id, lat, lon, accuracy)?;
            out(json, serde_json::to_value(&g)?, || {
                format!(
                    "{:.1} m {} ({:.0}°) to the planned point; {}",
                    g.distance_m,
                    g.direction.zh,
                    g.bearing_deg,
                    if g.exceeded {
                        format!("over the {} m allowed: give an offset reason", g.allowed_m)
                    } else {
                        format!("within the {} m allowed", g.allowed_m)
                    }
                )
            });
            Ok(())
        }
        CustodyCommand::Key => {
            let key = core.custody_public_key()?;
            out(json, serde_json::json!({"public_key": key}), || key.clone());
            Ok(())
        }
        CustodyCommand::Qc { batch } => {
            let b = batch_of(core, json, &batch)?;
            out(json, serde_json::to_value(&b)?, || qc_text(&b));
            Ok(())
        }
        CustodyCommand::Sheet { batch, csv, xlsx } => {
            sheet(core, json, &batch, csv.as_deref(), xlsx.as_deref())
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
            "{:>2}. {}  {}  {}  {}  {}\n",
            n + 1,
            when(e.at_ms),
            e.step.label().zh,
            e.by,
            e.hash.chars().take(12).collect::<String>(),
            if e.signed { "signed" } else { "NOT SIGNED" }
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

/// One sample's line on a hand-over sheet.
#[derive(Debug, Serialize)]
struct SheetRow {
    sample: String,
    id: String,
    point: String,
    handed_at: String,
    from: String,
    to: String,
    expected: Option<u32>,
    received_at: String,
    received: Option<u32>,
    seal: String,
    flags: String,
}

/// The hand-over batch `batch` from the samples on this device, with a progress bar on a
/// terminal.
fn batch_of(core: &DeviceCore, json: bool, batch: &str) -> Result<HandOverBatch> {
    crate::with_bar(json, "reading samples", |p| core.hand_over_batch(batch, p))
}

/// The hand-over sheet of `batch` from the samples on this device.
fn sheet(
    core: &DeviceCore,
    json: bool,
    batch: &str,
    csv: Option<&std::path::Path>,
    xlsx: Option<&std::path::Path>,
) -> Result<()> {
    let found = batch_of(core, json, batch)?;
    let mut rows = Vec::new();
    for s in &found.samples {
        let hand_over = s.handed_over.as_ref().and_then(|e| match &e.step {
            CustodyStep::HandedOver(h) => Some((e, h)),
            _ => None,
        });
        let receipt = s.received.as_ref().and_then(|e| match &e.step {
            CustodyStep::Received(r) => Some((e, r)),
            _ => None,
        });
        let intact = match (hand_over, receipt) {
            (_, Some((_, r))) => Some(r.seal_intact),
            (Some((_, h)), None) => Some(h.seal_intact),
            _ => None,
        };
        let party = |org: &str, person: &str| format!("{org} {person}").trim().to_string();
        rows.push(SheetRow {
            sample: s.sample_code.clone(),
            id: s.id.clone(),
            point: s.planned_point.clone().unwrap_or_default(),
            handed_at: hand_over.map(|h| when(h.0.at_ms)).unwrap_or_default(),
            from: hand_over
                .map(|h| party(&h.1.from_org, &h.1.from_person))
                .unwrap_or_default(),
            to: hand_over
                .map(|h| party(&h.1.to_org, &h.1.to_person))
                .unwrap_or_default(),
            expected: hand_over.map(|h| h.1.samples_expected),
            received_at: receipt.map(|r| when(r.0.at_ms)).unwrap_or_default(),
            received: receipt.map(|r| r.1.samples_received),
            seal: match intact {
                Some(true) => "完好",
                Some(false) => "破损",
                None => "",
            }
            .into(),
            flags: s
                .findings
                .iter()
                .map(|f| f.message.zh.clone())
                .collect::<Vec<_>>()
                .join("；"),
        });
    }
    if let Some(path) = csv {
        write_csv(path, &rows)?;
    }
    if let Some(path) = xlsx {
        write_xlsx(path, batch, &rows, &found.qc)?;
    }
    out(json, serde_json::to_value(&rows)?, || {
        let mut s = format!("交接单 {batch}: {} sample(s)\n", rows.len());
        for r in &rows {
            s.push_str(&format!(
                "{}  {}  {} -> {}  交接 {}  实收 {}  封条{}  {}\n",
                if r.sample.is_empty() {
                    &r.id
                } else {
                    &r.sample
                },
                r.handed_at,
                r.from,
                r.to,
                r.expected
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.received
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.seal,
                r.flags
            ));
        }
        for p in [csv, xlsx].into_iter().flatten() {
            s.push_str(&format!("written to {}\n", p.display()));
        }
        s.trim_end().to_string()
    });
    Ok(())
}

/// The headings of the QC worksheet.
const QC_HEADINGS: [&str; 6] = ["质控项目", "基数", "数量", "应有", "比例", "结论"];

fn qc_status_zh(s: QcStatus) -> &'static str {
    match s {
        QcStatus::Met => "达标",
        QcStatus::Short => "不足",
        QcStatus::Above => "偏多",
    }
}

/// A batch's QC report, as a terminal shows it.
fn qc_text(b: &HandOverBatch) -> String {
    let mut s = format!(
        "批次 {}: {} sample(s), {} routine — {}\n",
        b.batch,
        b.qc.samples,
        b.qc.routine,
        if b.qc.met {
            "QC met (达标)"
        } else {
            "QC NOT met (未达标)"
        }
    );
    for c in &b.qc.checks {
        s.push_str(&format!(
            "  {} ({}): {} of {} = {:.1} %, need {} — {}\n",
            c.label.zh,
            c.label.en,
            c.count,
            c.base,
            c.ratio * 100.0,
            c.required,
            qc_status_zh(c.status)
        ));
    }
    s.trim_end().to_string()
}

/// The headings of the sheet's columns.
const SHEET_HEADINGS: [&str; 11] = [
    "样品",
    "记录编号",
    "点位",
    "交接时间",
    "交出",
    "接收",
    "交接数量",
    "接收时间",
    "实收数量",
    "封条",
    "异常",
];

/// The sheet as an Excel workbook: a title row naming the batch, bold headings, counts as
/// numbers, columns wide enough to read, the heading row frozen.
fn write_xlsx(path: &std::path::Path, batch: &str, rows: &[SheetRow], qc: &QcReport) -> Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("交接单")?;
    let bold = Format::new().set_bold();
    ws.write_string_with_format(0, 0, format!("土壤样品交接单 批次 {batch}"), &bold)?;
    for (c, h) in SHEET_HEADINGS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 2;
        let texts = [
            (0, r.sample.as_str()),
            (1, r.id.as_str()),
            (2, r.point.as_str()),
            (3, r.handed_at.as_str()),
            (4, r.from.as_str()),
            (5, r.to.as_str()),
            (7, r.received_at.as_str()),
            (9, r.seal.as_str()),
            (10, r.flags.as_str()),
        ];
        for (c, text) in texts {
            ws.write_string(row, c, text)?;
        }
        for (c, n) in [(6, r.expected), (8, r.received)] {
            if let Some(n) = n {
                ws.write_number(row, c, f64::from(n))?;
            }
        }
    }
    for (c, width) in [16, 38, 16, 18, 20, 20, 10, 18, 10, 8, 40]
        .into_iter()
        .enumerate()
    {
        ws.set_column_width(c as u16, width)?;
    }
    ws.set_freeze_panes(2, 0)?;
    let ws = book.add_worksheet();
    ws.set_name("质控")?;
    ws.write_string_with_format(0, 0, format!("批次 {batch} 质量控制"), &bold)?;
    for (c, h) in QC_HEADINGS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &bold)?;
    }
    for (i, c) in qc.checks.iter().enumerate() {
        let row = i as u32 + 2;
        ws.write_string(row, 0, &c.label.zh)?;
        for (col, n) in [(1, c.base), (2, c.count), (3, c.required)] {
            ws.write_number(row, col, f64::from(n))?;
        }
        ws.write_number(row, 4, c.ratio)?;
        ws.write_string(row, 5, qc_status_zh(c.status))?;
    }
    ws.write_string_with_format(
        qc.checks.len() as u32 + 2,
        0,
        if qc.met {
            "本批次质控达标"
        } else {
            "本批次质控未达标"
        },
        &bold,
    )?;
    ws.set_column_width(0, 16)?;
    book.save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The sheet as CSV with Chinese headings, UTF-8 with a byte-order mark so that spreadsheet
/// programs on Windows read the characters right.
fn write_csv(path: &std::path::Path, rows: &[SheetRow]) -> Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, "\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(SHEET_HEADINGS)?;
    let n = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in rows {
        w.write_record([
            r.sample.as_str(),
            &r.id,
            &r.point,
            &r.handed_at,
            &r.from,
            &r.to,
            &n(r.expected),
            &r.received_at,
            &n(r.received),
            &r.seal,
            &r.flags,
        ])?;
    }
    w.flush()?;
    Ok(())
}
