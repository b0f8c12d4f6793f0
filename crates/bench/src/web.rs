//! Suite `web`: what the supervisors' review pages cost the server. A real `jingtu-server`
//! process on loopback is filled with village inspections (10,000, then 100,000; `--records`
//! sets the larger), pushed over the sync protocol in batches with the admin's token, as
//! devices would have sent them: about 30 fields each, half of them submitted, a fifth
//! approved, a tenth returned, the rest drafts, spread over the county's townships. A county
//! supervisor, enrolled like a tablet, then asks for review-queue pages of 50 and record
//! details.
//!
//! Server time of each request is read from the server's own `jingtu_http_request_seconds`
//! (`GET /metrics` before and after it), so loopback and client costs are left out; the median
//! of `--edits` requests (default 40) is reported. The queue page is the one a supervisor opens
//! first: submitted records of the whole county, newest first, with the counts per status.
//! Beside it (in the table and the JSON lines): the second page (`next`), a text search and a
//! township filter; the record page is `GET /v1/records/{id}` of random records (labelled
//! values, issues, computed results, history, conflicts, review thread).

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use jingtu_client::{Client, ClientOptions};
use jingtu_doc::{ActorId, Editor, EventKind, RecordDoc, RecordMeta};
use jingtu_model::FieldPath;
use jingtu_protocol::{Push, PushOutcome};
use rayon::prelude::*;
use serde_json::Value;

use crate::sync::{COUNTY, Server, TOWNSHIPS, inspection_fields, township_code, village};
use crate::{Cli, Report, percentile, progress};

/// Records pushed in one request.
const BATCH: usize = 1000;
const QUEUE_ROUTE: &str = "/v1/review/queue";
const RECORD_ROUTE: &str = "/v1/records/{id}";

pub fn web_suite(cli: &Cli) -> Result<()> {
    let report = Report {
        json: cli.json,
        suite: "web",
    };
    let large = cli.records.unwrap_or(100_000).max(10_000);
    let runs = cli.edits.unwrap_or(40).max(5);
    let server = Server::start()?;
    server.import_county()?;
    let supervisor = Supervisor::enroll(&server)?;
    let filler = Filler::new(&server)?;

    filler.fill(0, 10_000)?;
    let small = measure(&server, &supervisor, runs, 10_000)?;
    filler.fill(10_000, large)?;
    let big = measure(&server, &supervisor, runs, large)?;

    report.metric("queue_page_10k_ms", small.first, "ms");
    report.metric("queue_page_100k_ms", big.first, "ms");
    report.metric(
        "queue_page_100k_vs_10k_ratio",
        big.first / small.first,
        "ratio",
    );
    report.metric("queue_next_page_100k_ms", big.next, "ms");
    report.metric("queue_search_100k_ms", big.search, "ms");
    report.metric("queue_township_100k_ms", big.township, "ms");
    report.metric("record_page_ms", big.record, "ms");
    report.metric("records_in_scope", large as f64, "count");
    Ok(())
}

/// A county supervisor's tablet: a device token, used as the console's session would be.
struct Supervisor {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Supervisor {
    fn enroll(server: &Server) -> Result<Supervisor> {
        let user = "县审核员";
        server.admin(&[
            "user",
            "create",
            user,
            "--role",
            "supervisor",
            "--org",
            COUNTY,
        ])?;
        let code = server.admin(&["enroll-code", user])?.trim().to_string();
        let device = ActorId::random().to_string();
        let token = Client::enroll(&server.url, &code, &device, None, Some("jingtu-bench"))?.token;
        // Making a client installs the TLS provider reqwest needs, even for plain HTTP.
        Client::new(&server.url, &token, ClientOptions::default())?;
        Ok(Supervisor {
            http: reqwest::blocking::Client::builder().build()?,
            url: server.url.clone(),
            token,
        })
    }

    fn get(&self, path: &str) -> Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("GET {path}"))?;
        let status = r.status();
        let body = r.text()?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }
}

/// Server milliseconds of one `GET path` (the route's summed seconds before and after it).
fn timed(server: &Server, who: &Supervisor, route: &str, path: &str) -> Result<(f64, Value)> {
    let (before, n0) = server.handled(route)?;
    let answer = who.get(path)?;
    let (after, n1) = server.handled(route)?;
    ensure!(n1 - n0 == 1.0, "{route}: {n0} then {n1} requests counted");
    Ok(((after - before) * 1e3, answer))
}

fn median_of(runs: usize, mut one: impl FnMut(usize) -> Result<f64>) -> Result<f64> {
    let mut times = (0..runs).map(&mut one).collect::<Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 0.5))
}

struct Measured {
    first: f64,
    next: f64,
    search: f64,
    township: f64,
    record: f64,
}

fn measure(server: &Server, who: &Supervisor, runs: usize, held: usize) -> Result<Measured> {
    eprintln!("web: {held} records in scope, {runs} requests of each kind");
    let first_path = "/v1/review/queue?status=submitted&limit=50";
    let (_, first_page) = timed(server, who, QUEUE_ROUTE, first_path)?;
    let rows = first_page["items"].as_array().map_or(0, Vec::len);
    let counted: u64 = first_page["counts"]
        .as_object()
        .map(|c| c.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    ensure!(
        rows == 50 && counted == held as u64,
        "the queue shows {rows} rows and counts {counted} records, not 50 of {held}"
    );
    let next = first_page["next"]
        .as_str()
        .context("the first page has no next")?
        .to_string();
    let ids: Vec<String> = first_page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    let first = median_of(runs, |_| Ok(timed(server, who, QUEUE_ROUTE, first_path)?.0))?;
    let next = median_of(runs, |_| {
        let path = format!("/v1/review/queue?status=submitted&limit=50&after={next}");
        Ok(timed(server, who, QUEUE_ROUTE, &path)?.0)
    })?;
    let search = median_of(runs, |i| {
        // Part of a village's name: matches one village in 16 of each name's numbers.
        let name = village(i * 131);
        let part: String = name.chars().take(name.chars().count() - 1).collect();
        let path = format!(
            "/v1/review/queue?limit=50&q={}",
            jingtu_protocol::percent_encode(&part)
        );
        Ok(timed(server, who, QUEUE_ROUTE, &path)?.0)
    })?;
    let township = median_of(runs, |i| {
        let path = format!(
            "/v1/review/queue?status=submitted&limit=50&org_unit={}",
            township_code(i % TOWNSHIPS.len())
        );
        Ok(timed(server, who, QUEUE_ROUTE, &path)?.0)
    })?;
    let record = median_of(runs, |i| {
        let id = &ids[(i * 7) % ids.len()];
        let (ms, detail) = timed(server, who, RECORD_ROUTE, &format!("/v1/records/{id}"))?;
        ensure!(detail["id"] == *id, "the detail of {id}: {detail}");
        Ok(ms)
    })?;
    Ok(Measured {
        first,
        next,
        search,
        township,
        record,
    })
}

/// Makes test inspections as documents and pushes them with the admin's token.
pub(crate) struct Filler {
    client: Client,
    pub(crate) template: std::sync::Arc<jingtu_model::Template>,
}

impl Filler {
    pub(crate) fn new(server: &Server) -> Result<Filler> {
        Ok(Filler {
            client: Client::new(&server.url, &server.admin_token, ClientOptions::default())?,
            template: jingtu_model::TemplateSet::builtin()?.latest("village_inspection")?,
        })
    }

    /// Records `from..to`, made on all cores and pushed a batch at a time.
    pub(crate) fn fill(&self, from: usize, to: usize) -> Result<()> {
        let started = Instant::now();
        let device = ActorId::random().to_string();
        let mut done = 0;
        for start in (from..to).step_by(BATCH) {
            let end = (start + BATCH).min(to);
            let pushes = (start..end)
                .into_par_iter()
                .map(|i| self.record(i))
                .collect::<Result<Vec<Push>>>()?;
            let request = crate::sync::push_only_request(device.clone(), pushes);
            let answer = self.client.sync(&request, &|| false)?;
            let refused = answer
                .results
                .iter()
                .filter(|r| r.outcome != PushOutcome::Accepted)
                .count();
            ensure!(refused == 0, "{refused} test records were refused");
            done += end - start;
            progress("web: filling the server", done, to - from);
        }
        eprintln!(
            "web: {} records stored in {:.1} s",
            to - from,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// The `i`th inspection, by an inspector of its township: filled, and (by `i`) submitted,
    /// then approved or returned.
    pub(crate) fn record(&self, i: usize) -> Result<Push> {
        let township = i % TOWNSHIPS.len();
        let author = format!("巡查员{:03}", township + 1);
        let at = 1_719_800_000_000 + i as i64 * 60_000;
        let meta = RecordMeta {
            id: uuid::Uuid::now_v7().to_string(),
            kind: "village_inspection".into(),
            template_version: self.template.version,
            org_unit: Some(format!(
                "{}{:03}",
                &township_code(township)[..9],
                200 + i % 300
            )),
            village: Some(village(i)),
            planned_point: None,
            assignment: None,
            author: author.clone(),
            device: "jingtu-bench".into(),
            created_at_ms: at,
        };
        let by = Editor {
            author,
            time_ms: at,
        };
        let mut doc = RecordDoc::create(ActorId::random(), &self.template, &meta, &by)?;
        for (path, value) in inspection_fields(i) {
            let path = FieldPath::parse(&path)?;
            self.template.check_value(&path, &value)?;
            doc.set(&self.template, &path, &value, &by)?;
        }
        let events: &[EventKind] = match i % 10 {
            0..=4 => &[EventKind::Submitted],
            5 | 6 => &[EventKind::Submitted, EventKind::Approved],
            7 => &[EventKind::Submitted, EventKind::Returned],
            _ => &[],
        };
        for kind in events {
            doc.add_event(*kind, None, &by)?;
        }
        Ok(Push {
            record: meta.id,
            changes: doc.save_uncompressed(),
        })
    }
}
