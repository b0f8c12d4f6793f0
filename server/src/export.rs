//! Exports of one record kind for spreadsheets and maps: CSV (UTF-8 with a BOM, so Excel opens
//! Chinese right), XLSX (`rust_xlsxwriter` in constant-memory mode) and GeoJSON (a point per
//! record with its properties). The records are the review queue's (the same filters, within
//! the caller's reach), read a page at a time and written as they come, so memory stays
//! bounded whatever the count.
//!
//! Columns, in the template's form order (the kind's newest template): the record's id,
//! status, template, org unit, village, author and submission time; then every field under its
//! Chinese label (nested fields as `组·字段`), a coded field as two columns, its code and its
//! label; each checklist item's result (labelled) and issue; the computed verdicts; the
//! photos' links. GeoJSON puts each record at its position (`position`, `location` or
//! `actual_position`).

use std::io::Write;

use jingtu_doc::{ActorId, RecordDoc, RecordMeta};
use jingtu_model::{CodeTables, FieldDef, FieldKind, Template};
use rayon::prelude::*;
use serde_json::Value;
use thiserror::Error;

use crate::Context;
use crate::actor::Actor;
use crate::console::text::{self, Lang};
use crate::review::ReviewError;
use crate::storage::QueueFilter;

/// The formats records are exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    GeoJson,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" | "excel" => Some(Format::Xlsx),
            "geojson" | "json" => Some(Format::GeoJson),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::GeoJson => "application/geo+json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::GeoJson => "geojson",
        }
    }
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error("kind: name the kind of records to export (village_inspection, ...)")]
    NoKind,
    #[error("kind: no template of kind {0}")]
    UnknownKind(String),
    #[error("writing the export: {0}")]
    Write(String),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Write(e.to_string())
    }
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        ExportError::Write(e.to_string())
    }
}

impl From<rust_xlsxwriter::XlsxError> for ExportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        ExportError::Write(e.to_string())
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        }
    }
}

/// What a column shows.
#[derive(Debug, Clone)]
enum Source {
    Id,
    Status,
    Template,
    OrgUnit,
    Village,
    Author,
    SubmittedAt,
    /// A field's value as people read it (a code's label, a list joined).
    Field {
        path: Vec<String>,
        codes: Option<String>,
        photos: bool,
    },
    /// A coded field's code.
    Code {
        path: Vec<String>,
    },
    /// A computed field: a rule's verdict, or an expression's number.
    Computed {
        id: String,
    },
    Photos,
}

#[derive(Debug, Clone)]
struct Column {
    header: String,
    source: Source,
}

/// The export's columns for a kind's template.
pub struct Columns {
    columns: Vec<Column>,
    codes: CodeTables,
}

fn meta_columns() -> Vec<Column> {
    let c = |h: &str, source| Column {
        header: h.to_string(),
        source,
    };
    vec![
        c("记录编号", Source::Id),
        c("状态", Source::Status),
        c("模板", Source::Template),
        c("区划代码", Source::OrgUnit),
        c("村", Source::Village),
        c("填报人", Source::Author),
        c("提交时间", Source::SubmittedAt),
    ]
}

impl Columns {
    pub fn for_template(template: &Template) -> Columns {
        let codes = template.code_tables().clone();
        let mut columns = meta_columns();
        walk(&template.root, &[], "", &codes, &mut columns);
        for c in &template.computed {
            columns.push(Column {
                header: format!("{}（计算）", c.label.zh),
                source: Source::Computed { id: c.id.clone() },
            });
        }
        columns.push(Column {
            header: "照片".into(),
            source: Source::Photos,
        });
        Columns { columns, codes }
    }

    pub fn headers(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.header.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

fn label_zh(def: &FieldDef, key: &str) -> String {
    def.label
        .as_ref()
        .map_or_else(|| key.to_string(), |l| l.zh.clone())
}

fn prefixed(prefix: &str, label: &str) -> String {
    if prefix.is_empty() {
        label.to_string()
    } else {
        format!("{prefix}·{label}")
    }
}

/// The columns of `def`'s fields, in form order.
fn walk(def: &FieldDef, path: &[String], prefix: &str, codes: &CodeTables, out: &mut Vec<Column>) {
    let mut children: Vec<(&String, &FieldDef)> =
        def.properties.iter().map(|(k, d)| (k, d)).collect();
    children.sort_by_key(|(_, d)| d.order);
    for (key, child) in children {
        let mut p = path.to_vec();
        p.push(key.clone());
        let label = prefixed(prefix, &label_zh(child, key));
        // A checklist: each item's result and issue.
        if let (Some(item), Some(names)) = (child.additional.as_deref(), &child.property_names) {
            let table = child.codes.as_deref().and_then(|t| codes.get(t));
            for name in names {
                let item_label = table
                    .and_then(|t| t.get(name))
                    .map_or_else(|| name.clone(), |c| c.zh.clone());
                for part in ["result", "issue"] {
                    let Some(part_def) = item.property(part) else {
                        continue;
                    };
                    let mut ip = p.clone();
                    ip.push(name.clone());
                    ip.push(part.to_string());
                    out.push(Column {
                        header: format!("{item_label}·{}", label_zh(part_def, part)),
                        source: Source::Field {
                            path: ip,
                            codes: part_def.codes.clone(),
                            photos: false,
                        },
                    });
                }
            }
            continue;
        }
        match child.kind {
            FieldKind::Object if !child.properties.is_empty() => {
                walk(child, &p, &label, codes, out);
            }
            _ => {
                if child.codes.is_some() && child.kind == FieldKind::String {
                    out.push(Column {
                        header: format!("{label}（代码）"),
                        source: Source::Code { path: p.clone() },
                    });
                }
                // The unit goes in the heading; the cell keeps the number.
                let header = match &child.unit {
                    Some(u) => format!("{label}（{u}）"),
                    None => label,
                };
                out.push(Column {
                    header,
                    source: Source::Field {
                        path: p,
                        codes: child.codes.clone(),
                        photos: child.widget.as_deref() == Some("photos"),
                    },
                });
            }
        }
    }
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(data, |v, k| v.get(k))
}

/// A field's value as a cell: numbers stay numbers, codes become their labels, lists are
/// joined with 、, objects in lists as compact JSON.
fn field_cell(
    value: Option<&Value>,
    codes: Option<&str>,
    tables: &CodeTables,
    photos: bool,
) -> Cell {
    let label = |v: &Value| -> Option<String> {
        let t = tables.get(codes?)?;
        Some(t.get(v.as_str()?)?.zh.clone())
    };
    match value {
        None | Some(Value::Null) => Cell::Empty,
        Some(Value::Number(n)) => n.as_f64().map_or(Cell::Empty, Cell::Number),
        Some(Value::Bool(b)) => Cell::Text(if *b { "是" } else { "否" }.into()),
        Some(v @ Value::String(s)) => Cell::Text(label(v).unwrap_or_else(|| s.clone())),
        Some(Value::Array(items)) if photos => Cell::Number(items.len() as f64),
        Some(Value::Array(items)) => Cell::Text(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => label(v).unwrap_or_else(|| s.clone()),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("、"),
        ),
        Some(v @ Value::Object(_)) => Cell::Text(v.to_string()),
    }
}

/// A computed value as a cell: a rule's verdict in words (a code by its code table's label),
/// a number as it is.
fn computed_cell(v: Option<&Value>, tables: &CodeTables) -> Cell {
    let Some(v) = v else { return Cell::Empty };
    let yes_no = |b: &Value| match b {
        Value::Bool(true) => "是".to_string(),
        Value::Bool(false) => "否".to_string(),
        _ => "待定".to_string(),
    };
    let coded = |table: &str, code: &Value| field_cell(Some(code), Some(table), tables, false);
    match v {
        Value::Number(n) => n
            .as_f64()
            .map_or(Cell::Empty, |x| Cell::Number((x * 100.0).round() / 100.0)),
        Value::Object(m) => {
            if let Some(r) = m.get("rectified") {
                Cell::Text(yes_no(r))
            } else if let Some(s) = m.get("status") {
                coded("bow_status", s)
            } else if let Some(c) = m.get("class") {
                coded("soil_class", c)
            } else if let Some(r) = m.get("monitoring_required") {
                Cell::Text(format!("须定期巡查监测：{}", yes_no(r)))
            } else {
                Cell::Empty
            }
        }
        Value::String(s) => Cell::Text(s.clone()),
        _ => Cell::Empty,
    }
}

/// One record, read for the export.
struct Row {
    cells: Vec<Cell>,
    lat: Option<f64>,
    lon: Option<f64>,
}

fn row_of(
    columns: &Columns,
    row: &crate::storage::QueueRow,
    doc: &RecordDoc,
    meta: &RecordMeta,
    template: &Template,
    photo_base: &str,
) -> Result<Row, ReviewError> {
    let data = doc.data();
    let needs_computed = columns
        .columns
        .iter()
        .any(|c| matches!(c.source, Source::Computed { .. }));
    let computed = if needs_computed {
        template.computed_values(&data, &meta.expr_json())
    } else {
        serde_json::Map::new()
    };
    let position = data
        .get("position")
        .or_else(|| data.get("location"))
        .or_else(|| data.get("actual_position"));
    let lat = position.and_then(|p| p.get("lat")).and_then(Value::as_f64);
    let lon = position.and_then(|p| p.get("lon")).and_then(Value::as_f64);
    let cells = columns
        .columns
        .iter()
        .map(|c| match &c.source {
            Source::Id => Cell::Text(row.id.clone()),
            Source::Status => Cell::Text(text::status(Lang::Zh, row.status.as_str())),
            Source::Template => Cell::Text(template.id()),
            Source::OrgUnit => row.org_unit.clone().map_or(Cell::Empty, Cell::Text),
            Source::Village => row.village.clone().map_or(Cell::Empty, Cell::Text),
            Source::Author => Cell::Text(row.author.clone()),
            Source::SubmittedAt => row
                .submitted_at_ms
                .map_or(Cell::Empty, |ms| Cell::Text(text::when(ms))),
            Source::Field {
                path,
                codes,
                photos,
            } => field_cell(
                lookup(&data, path),
                codes.as_deref(),
                &columns.codes,
                *photos,
            ),
            Source::Code { path } => lookup(&data, path)
                .and_then(Value::as_str)
                .map_or(Cell::Empty, |s| Cell::Text(s.to_string())),
            Source::Computed { id } => computed_cell(computed.get(id), &columns.codes),
            Source::Photos => {
                let links: Vec<String> = doc
                    .photos()
                    .into_iter()
                    .filter(|p| p.removed.is_none())
                    .map(|p| format!("{photo_base}/photos/{}", p.sha256))
                    .collect();
                if links.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(links.join(" "))
                }
            }
        })
        .collect();
    Ok(Row { cells, lat, lon })
}

/// Where rows go.
trait Sink {
    fn header(&mut self, headers: &[String]) -> Result<(), ExportError>;
    fn row(&mut self, headers: &[String], row: &Row) -> Result<(), ExportError>;
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

struct CsvSink<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> Sink for CsvSink<W> {
    fn header(&mut self, headers: &[String]) -> Result<(), ExportError> {
        Ok(self.w.write_record(headers)?)
    }
    fn row(&mut self, _: &[String], row: &Row) -> Result<(), ExportError> {
        Ok(self.w.write_record(row.cells.iter().map(Cell::text))?)
    }
    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        Ok(self.w.flush()?)
    }
}

struct GeoJsonSink<W: Write> {
    w: W,
    first: bool,
}

impl<W: Write> Sink for GeoJsonSink<W> {
    fn header(&mut self, _: &[String]) -> Result<(), ExportError> {
        self.w
            .write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
        Ok(())
    }
    fn row(&mut self, headers: &[String], row: &Row) -> Result<(), ExportError> {
        let properties: serde_json::Map<String, Value> = headers
            .iter()
            .zip(&row.cells)
            .map(|(h, c)| (h.clone(), c.json()))
            .collect();
        let geometry = match (row.lon, row.lat) {
            (Some(lon), Some(lat)) => {
                serde_json::json!({"type": "Point", "coordinates": [lon, lat]})
            }
            _ => Value::Null,
        };
        let feature = serde_json::json!({
            "type": "Feature", "geometry": geometry, "properties": properties
        });
        if !self.first {
            self.w.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.w, &feature)
            .map_err(|e| ExportError::Write(e.to_string()))?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.w.write_all(b"\n]}\n")?;
        Ok(self.w.flush()?)
    }
}

struct XlsxSink<W: Write + Send> {
    book: rust_xlsxwriter::Workbook,
    row: u32,
    out: W,
}

impl<W: Write + Send> XlsxSink<W> {
    fn sheet(&mut self) -> Result<&mut rust_xlsxwriter::Worksheet, ExportError> {
        Ok(self.book.worksheet_from_index(0)?)
    }
}

impl<W: Write + Send> Sink for XlsxSink<W> {
    fn header(&mut self, headers: &[String]) -> Result<(), ExportError> {
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let sheet = self.sheet()?;
        for (i, h) in headers.iter().enumerate() {
            let col =
                u16::try_from(i).map_err(|_| ExportError::Write("too many columns".into()))?;
            sheet.write_string_with_format(0, col, h, &bold)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }
    fn row(&mut self, _: &[String], row: &Row) -> Result<(), ExportError> {
        let r = self.row;
        if r >= 1_048_576 {
            return Err(ExportError::Write(
                "more records than an Excel sheet holds (1,048,575): narrow the filter or export CSV".into(),
            ));
        }
        let sheet = self.sheet()?;
        for (i, c) in row.cells.iter().enumerate() {
            let col =
                u16::try_from(i).map_err(|_| ExportError::Write("too many columns".into()))?;
            match c {
                Cell::Empty => {}
                Cell::Text(s) => {
                    sheet.write_string(r, col, s)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(r, col, *n)?;
                }
            }
        }
        self.row += 1;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let XlsxSink { mut book, out, .. } = *self;
        book.save_to_writer(out)?;
        Ok(())
    }
}

/// Exports the records of `filter` (its `kind` required; paging fields ignored) within the
/// actor's reach to `out` in `format`; `progress(records written)` after each record; returns
/// how many were written. Supervisors and admins only.
pub fn export<W: Write + Send + 'static>(
    ctx: &Context,
    actor: &Actor,
    filter: &QueueFilter,
    format: Format,
    photo_base: &str,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, ExportError> {
    if !actor.role.reviews() {
        return Err(ReviewError::NotAReviewer(format!("{} ({})", actor.user, actor.role)).into());
    }
    let kind = filter.kind.clone().ok_or(ExportError::NoKind)?;
    let templates = ctx
        .templates
        .current(&*ctx.catalog)
        .map_err(|e| ReviewError::Internal(e.to_string()))?;
    let latest = templates
        .latest(&kind)
        .map_err(|_| ExportError::UnknownKind(kind.clone()))?;
    let columns = Columns::for_template(&latest);
    let headers = columns.headers();
    let mut sink: Box<dyn Sink> = match format {
        Format::Csv => {
            let mut out = out;
            // The BOM: Excel reads the file as UTF-8.
            out.write_all("\u{feff}".as_bytes())?;
            Box::new(CsvSink {
                w: csv::Writer::from_writer(out),
            })
        }
        Format::GeoJson => Box::new(GeoJsonSink {
            w: out,
            first: true,
        }),
        Format::Xlsx => {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet_with_constant_memory()?;
            sheet.set_name(kind_sheet_name(&latest))?;
            Box::new(XlsxSink { book, row: 0, out })
        }
    };
    sink.header(&headers)?;
    let reach = actor.reach(&*ctx.scope).map_err(ReviewError::from)?;
    let mut page_filter = QueueFilter {
        after: None,
        limit: 500,
        without_counts: true,
        ..filter.clone()
    };
    let mut written = 0u64;
    loop {
        let page = ctx
            .records
            .queue(reach.read(), &page_filter)
            .map_err(ReviewError::from)?;
        // Each page's records are read on all cores, then written in the queue's order.
        let rows: Vec<Result<Option<Row>, ReviewError>> = page
            .rows
            .par_iter()
            .map(|row| {
                let Some(stored) = ctx.records.load_record(&row.id)? else {
                    return Ok(None);
                };
                let doc =
                    RecordDoc::load_stored(&stored.bytes, ActorId::random()).map_err(|e| {
                        ReviewError::Internal(format!("record {} does not load: {e}", row.id))
                    })?;
                let meta = doc.meta()?;
                let template = templates
                    .get(&meta.kind, meta.template_version)
                    .unwrap_or_else(|_| latest.clone());
                row_of(&columns, row, &doc, &meta, &template, photo_base).map(Some)
            })
            .collect();
        for r in rows {
            if let Some(r) = r? {
                sink.row(&headers, &r)?;
                written += 1;
                progress(written);
            }
        }
        match page.next {
            Some(next) => page_filter.after = Some(next),
            None => break,
        }
    }
    sink.finish()?;
    Ok(written)
}

/// The sheet's name: the template's Chinese label (at most 31 characters, no `[]:*?/\`).
fn kind_sheet_name(t: &Template) -> String {
    let name: String = t
        .label
        .zh
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    if name.is_empty() {
        "records".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn village_columns_follow_the_form() {
        let set = jingtu_model::TemplateSet::builtin().unwrap();
        let t = set.latest("village_inspection").unwrap();
        let cols = Columns::for_template(&t);
        let h = cols.headers();
        assert_eq!(&h[..3], ["记录编号", "状态", "模板"]);
        assert!(h.iter().any(|x| x == "行政村名称"), "{h:?}");
        assert!(h.iter().any(|x| x == "检查位置·纬度（°）"), "{h:?}");
        assert!(h.iter().any(|x| x == "评估层级（代码）"), "{h:?}");
        assert!(h.iter().any(|x| x == "评估层级"), "{h:?}");
        // Thirty checklist items, each with its result and issue.
        let items = h.iter().filter(|x| x.ends_with("·检查结果")).count();
        assert_eq!(items, 30, "{h:?}");
        assert!(
            h.iter().any(|x| x.starts_with("整治指标·生活污水治理率")),
            "{h:?}"
        );
        assert!(h.iter().any(|x| x == "整治达标判定（计算）"), "{h:?}");
        assert_eq!(h.last().map(String::as_str), Some("照片"));
    }

    #[test]
    fn cells() {
        let tables = jingtu_model::TemplateSet::builtin()
            .unwrap()
            .code_tables()
            .clone();
        assert_eq!(
            field_cell(
                Some(&serde_json::json!("pass")),
                Some("inspection_result"),
                &tables,
                false
            ),
            Cell::Text("合格".into())
        );
        assert_eq!(
            field_cell(Some(&serde_json::json!(65.5)), None, &tables, false),
            Cell::Number(65.5)
        );
        assert_eq!(
            field_cell(Some(&serde_json::json!(["王", "李"])), None, &tables, false),
            Cell::Text("王、李".into())
        );
        assert_eq!(field_cell(None, None, &tables, false), Cell::Empty);
        assert_eq!(
            computed_cell(Some(&serde_json::json!({"rectified": null})), &tables),
            Cell::Text("待定".into())
        );
        assert_eq!(
            computed_cell(
                Some(&serde_json::json!({"status": "black_odorous"})),
                &tables
            ),
            Cell::Text("黑臭".into())
        );
        assert_eq!(
            computed_cell(Some(&serde_json::json!({"class": "safe_use"})), &tables),
            Cell::Text("安全利用类".into())
        );
    }
}
