//! Admin commands about the work: assignments, the catalog of templates and code tables, org
//! units.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::{format_time, system};
use crate::Context;
use crate::actor::Actor;
use crate::people::org::{self, OrgUnit};
use crate::storage::{AuditAction, AuditEntry, OrgImportError};

pub(super) fn assign(ctx: &Context, request: crate::assignments::AssignmentRequest) -> Result<()> {
    let a = crate::assignments::create(&*ctx.auth, &*ctx.scope, &Actor::system(), &request)?;
    println!("{}", a.id);
    eprintln!(
        "assigned {} {} {} to {} (due {})",
        a.kind,
        a.target_kind.label_zh(),
        a.target,
        a.assignee,
        a.due_date.as_deref().unwrap_or("-")
    );
    Ok(())
}

pub(super) fn assignments(ctx: &Context, user: Option<&str>, all: bool, json: bool) -> Result<()> {
    let list = ctx.scope.list_assignments(user, all)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for a in &list {
        println!(
            "{}  {:<10} {} {} {}  {}  {}  due {}",
            a.id,
            a.assignee,
            a.kind,
            a.target_kind.label_zh(),
            a.target,
            a.target_name,
            a.org_unit,
            a.due_date.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

pub(super) fn reassign(ctx: &Context, id: &str, user: &str) -> Result<()> {
    let a = crate::assignments::reassign(&*ctx.auth, &*ctx.scope, &Actor::system(), id, user)?;
    println!("assignment {} now with {}", a.id, a.assignee);
    Ok(())
}

pub(super) fn unassign(ctx: &Context, id: &str) -> Result<()> {
    let a = crate::assignments::remove(&*ctx.scope, &Actor::system(), id)?;
    println!("assignment {} of {} taken back", a.id, a.assignee);
    Ok(())
}

pub(super) fn catalog_publish(ctx: &Context, file: &Path, code_tables: bool) -> Result<()> {
    let db = &*ctx.catalog;
    use crate::catalog::{Published, publish_code_tables, publish_template};
    use crate::storage::catalog::CatalogSource;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let by = AuditEntry::SYSTEM;
    let published = if code_tables {
        publish_code_tables(db, &text, by, CatalogSource::Admin)
    } else {
        publish_template(db, &text, by, CatalogSource::Admin)
    }
    .with_context(|| format!("{} was not published", file.display()))?;
    let row = published.row();
    match &published {
        Published::Unchanged(_) => {
            println!("{} is published already (sha256 {})", row.id, row.sha256);
        }
        Published::New(_) => {
            ctx.auth.audit(
                &system(AuditAction::CatalogPublished)
                    .target(row.id.clone())
                    .detail(json!({ "sha256": row.sha256, "file": file.display().to_string() })),
            )?;
            println!(
                "published {} (sha256 {}); devices receive it at their next sync",
                row.id, row.sha256
            );
        }
    }
    Ok(())
}

pub(super) fn template_list(ctx: &Context, json: bool) -> Result<()> {
    let rows: Vec<_> = ctx
        .catalog
        .catalog()?
        .into_iter()
        .filter(|r| r.id != jingtu_protocol::CODE_TABLES_ID)
        .collect();
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "kind": r.kind,
                    "version": r.version,
                    "roles": r.roles.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                    "sha256": r.sha256,
                    "source": r.source.as_str(),
                    "published_by": r.published_by,
                    "published_at": format_time(r.published_at_ms),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for r in &rows {
            let roles: Vec<&str> = r.roles.iter().map(|x| x.as_str()).collect();
            println!(
                "{:<36} {:<20} {:<8} {}",
                r.id,
                if roles.is_empty() {
                    "inspector,sampler".to_string()
                } else {
                    roles.join(",")
                },
                r.source.as_str(),
                format_time(r.published_at_ms)
            );
        }
    }
    Ok(())
}

pub(super) fn code_tables_show(ctx: &Context) -> Result<()> {
    let rows = ctx.catalog.catalog()?;
    let row = rows
        .iter()
        .find(|r| r.id == jingtu_protocol::CODE_TABLES_ID)
        .context("no code tables are published")?;
    let (_, text) = ctx
        .catalog
        .catalog_texts(std::slice::from_ref(&row.sha256))?
        .pop()
        .context("the code tables' text is missing")?;
    println!("{text}");
    Ok(())
}

pub(super) fn org_import(ctx: &Context, file: &Path) -> Result<()> {
    let db = &*ctx.auth;
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let rows = org::read_csv(std::io::BufReader::new(f))
        .with_context(|| format!("in {}", file.display()))?;
    let units: Vec<OrgUnit> = rows.iter().map(|(_, u)| u.clone()).collect();
    let counts = match db.import_org_units(&units) {
        Ok(c) => c,
        Err(OrgImportError::MissingParent {
            index,
            code,
            parent,
        }) => bail!(
            "in {}: line {}: the parent {parent} of {code} is neither stored nor in the file \
             (nothing was imported)",
            file.display(),
            rows[index].0
        ),
        Err(OrgImportError::Storage(e)) => return Err(e.into()),
    };
    db.audit(&system(AuditAction::OrgImport).detail(json!({
        "file": file.display().to_string(),
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
    })))?;
    println!(
        "{} org units: {} new, {} updated, {} unchanged",
        units.len(),
        counts.inserted,
        counts.updated,
        counts.unchanged
    );
    Ok(())
}

pub(super) fn org_list(ctx: &Context, under: Option<&str>, json: bool) -> Result<()> {
    let db = &*ctx.auth;
    if let Some(code) = under {
        org::level_of(code)?;
    }
    for u in db.org_units(under)? {
        if json {
            println!("{}", serde_json::to_string(&u)?);
        } else {
            let depth = org::OrgLevel::ALL
                .iter()
                .position(|l| *l == u.level)
                .unwrap_or(0);
            println!(
                "{}{}  {}  {}",
                "  ".repeat(depth),
                u.code,
                u.level.label_zh(),
                u.name
            );
        }
    }
    Ok(())
}

pub(super) fn points_import(
    ctx: &Context,
    file: &Path,
    assign_to: Option<&str>,
    due: Option<String>,
) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (UTF-8 CSV or GeoJSON)", file.display()))?;
    let (points, new, replaced) =
        crate::points::import(ctx, &text).with_context(|| format!("in {}", file.display()))?;
    ctx.auth
        .audit(&system(AuditAction::PointsImport).detail(json!({
            "file": file.display().to_string(),
            "new": new,
            "replaced": replaced,
        })))?;
    println!(
        "{} planned points: {new} new, {replaced} replaced",
        points.len()
    );
    if let Some(user) = assign_to {
        let requests: Vec<crate::assignments::AssignmentRequest> = points
            .iter()
            .map(|p| crate::assignments::AssignmentRequest {
                assignee: user.to_string(),
                target_kind: jingtu_protocol::AssignmentTarget::SamplingPoint,
                target: p.code.clone(),
                target_name: String::new(),
                kind: "soil_sample".into(),
                org_unit: p.org_unit.clone(),
                due_date: due.clone(),
                note: None,
            })
            .collect();
        let bar = indicatif::ProgressBar::new(points.len() as u64);
        crate::assignments::create_many(
            &*ctx.auth,
            &*ctx.scope,
            &Actor::system(),
            &requests,
            &mut |done, _| bar.set_position(done as u64),
        )
        .with_context(|| format!("assigning the points to {user} (none was assigned)"))?;
        bar.finish_and_clear();
        println!("{} points assigned to {user}", points.len());
    }
    Ok(())
}

pub(super) fn points_list(ctx: &Context, under: Option<&str>, json: bool) -> Result<()> {
    let prefix = match under {
        Some(code) => Some(org::prefix_of(code)?.to_string()),
        None => None,
    };
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .scope
            .planned_points(prefix.as_deref(), after.as_deref(), 1000)?;
        for p in &page {
            if json {
                println!("{}", serde_json::to_string(p)?);
            } else {
                println!(
                    "{}  {:.6},{:.6}  {}  {}  {}  {}",
                    p.code,
                    p.lat,
                    p.lon,
                    p.land_use.as_deref().unwrap_or("-"),
                    p.task.as_deref().unwrap_or("-"),
                    p.org_unit,
                    p.name
                );
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.code.clone()),
            _ => break,
        }
    }
    Ok(())
}

/// What `admin export` was asked for.
pub struct ExportArgs {
    pub kind: String,
    pub format: String,
    pub status: Option<String>,
    pub org_unit: Option<String>,
    pub village: Option<String>,
    pub out: Option<std::path::PathBuf>,
    pub base_url: Option<String>,
}

/// Exports records to a file or the standard output, with a progress line on a terminal.
pub fn export(ctx: &Context, a: ExportArgs) -> Result<()> {
    let format = crate::export::Format::parse(&a.format)
        .with_context(|| format!("--format {}: one of csv, xlsx, geojson", a.format))?;
    let status = match a.status.as_deref() {
        Some(s) => Some(jingtu_doc::Status::parse(s).with_context(|| {
            format!("--status {s}: one of draft, submitted, returned, approved")
        })?),
        None => None,
    };
    if let Some(o) = &a.org_unit {
        org::prefix_of(o).map_err(|e| anyhow::anyhow!("--org-unit {o}: {e}"))?;
    }
    let filter = crate::storage::QueueFilter {
        kind: Some(a.kind.clone()),
        status,
        org_unit: a.org_unit.clone(),
        village: a.village.clone(),
        ..Default::default()
    };
    let base = a
        .base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("exporting {}", a.kind));
    let mut progress = |n: u64| {
        if n.is_multiple_of(100) {
            bar.set_position(n);
        }
    };
    let written = match &a.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            crate::export::export(
                ctx,
                &Actor::system(),
                &filter,
                format,
                &base,
                std::io::BufWriter::new(file),
                &mut progress,
            )?
        }
        None => crate::export::export(
            ctx,
            &Actor::system(),
            &filter,
            format,
            &base,
            std::io::BufWriter::new(std::io::stdout()),
            &mut progress,
        )?,
    };
    bar.finish_and_clear();
    match &a.out {
        Some(path) => eprintln!(
            "{written} records of {} written to {}",
            a.kind,
            path.display()
        ),
        None => eprintln!("{written} records of {} written", a.kind),
    }
    Ok(())
}
