//! The authorization matrix of issue 6: every route the server serves × every kind of caller ×
//! a target inside and outside the caller's scope → the expected answer, all from one table
//! ([`table`]). [`the_table_has_a_row_for_every_route_the_server_serves`] compares the table
//! with the routes of the server's own OpenAPI document and with the routes `router()` adds,
//! so a route added without a row fails the tests.
//!
//! The world, set up once per test and through the HTTP API wherever it can be: 河南省 with
//! 南阳市 > 南召县 (townships 102 and 103, a village in each) and 郑州市 > 中原区 (the other
//! county, with a street office and a community); 李巡查 (inspector) and 钱采样 (sampler) in
//! township 102, 赵巡查 (inspector) in township 103, 孙巡查 (inspector) in 中原区, 王审核
//! supervising 南召县, 周审核 supervising 中原区, 吴检测 (lab staff of 南召县, calling as a LIMS
//! with an enrolled device's token) and 管理员甲. Every field user has an assignment and a
//! record with a photo, pushed from their phone, and a soil sample in their village handed in
//! to the lab under a blind code ([`User::blind_code`]).
//!
//! "In scope" and "out of scope" are the caller's ([`subject`]): for a field user their own
//! things against 赵巡查's (another township); for the supervisor, the lab and the admin
//! 李巡查's (township 102, inside 南召县) against 孙巡查's (the other county).
//!
//! A new route: its handler goes into the OpenAPI `paths(...)` of server/src/api/mod.rs, and a
//! row into [`table`] (with a new [`Target`] when its request aims at something new).
//! `JINGTU_MATRIX=all cargo test -p jingtu-server --test matrix -- --nocapture` prints every
//! cell, not only the mismatches.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use jingtu_doc::{ActorId, DeviceKey, Editor, PhotoEntry, RecordDoc, RecordMeta};
use jingtu_model::{CustodyStep, FieldPath, Role, Template, TemplateSet};
use jingtu_protocol::{
    AssignmentTarget, PROTOCOL_VERSION, PhotoStatusRequest, Push, PushOutcome, SyncRequest,
    SyncResponse, paths,
};
use jingtu_server::api::router;
use jingtu_server::config::Config;
use jingtu_server::people::org::OrgUnit;
use jingtu_server::people::{hash_password, new_enrollment_code, now_ms, random_hex, secret_hash};
use jingtu_server::storage::scope::{NewAssignment, ScopeStore};
use jingtu_server::storage::sqlite::SqliteStore;
use jingtu_server::storage::{AuthStore, NewUser, OrgStore};
use jingtu_server::{app_state, new_token, open_embedded};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const PASSWORD: &str = "南召县-2024-秋";

// =============================================================================================
// Who calls, and about whom.

/// The credentials a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    /// No credentials at all.
    Nobody,
    /// A device token of 李巡查's that an admin revoked.
    Revoked,
    /// 李巡查's enrolled phone.
    Inspector,
    /// 钱采样's enrolled phone.
    Sampler,
    /// 王审核's enrolled device (supervisor of 南召县).
    Supervisor,
    /// 王审核's web session, with `X-CSRF-Token`.
    SupervisorWeb,
    /// 王审核's web session, without `X-CSRF-Token`.
    SupervisorWebNoCsrf,
    /// 管理员甲's device token.
    Admin,
    /// 管理员甲's web session, with `X-CSRF-Token`.
    AdminWeb,
    /// 管理员甲's web session, without `X-CSRF-Token`.
    AdminWebNoCsrf,
    /// 吴检测's device (lab staff of 南召县), enrolled by code: how a LIMS calls.
    Lab,
}

impl Caller {
    const ALL: [Caller; 11] = [
        Caller::Nobody,
        Caller::Revoked,
        Caller::Inspector,
        Caller::Sampler,
        Caller::Supervisor,
        Caller::SupervisorWeb,
        Caller::SupervisorWebNoCsrf,
        Caller::Admin,
        Caller::AdminWeb,
        Caller::AdminWebNoCsrf,
        Caller::Lab,
    ];

    fn label(self) -> &'static str {
        match self {
            Caller::Nobody => "no credentials",
            Caller::Revoked => "revoked token",
            Caller::Inspector => "inspector",
            Caller::Sampler => "sampler",
            Caller::Supervisor => "supervisor",
            Caller::SupervisorWeb => "supervisor web",
            Caller::SupervisorWebNoCsrf => "supervisor web, no CSRF",
            Caller::Admin => "admin",
            Caller::AdminWeb => "admin web",
            Caller::AdminWebNoCsrf => "admin web, no CSRF",
            Caller::Lab => "lab",
        }
    }

    /// The user whose credentials the caller sends.
    fn user(self) -> Option<User> {
        match self {
            Caller::Nobody => None,
            Caller::Revoked | Caller::Inspector => Some(User::Li),
            Caller::Sampler => Some(User::Qian),
            Caller::Supervisor | Caller::SupervisorWeb | Caller::SupervisorWebNoCsrf => {
                Some(User::Wang)
            }
            Caller::Admin | Caller::AdminWeb | Caller::AdminWebNoCsrf => Some(User::Admin),
            Caller::Lab => Some(User::Wu),
        }
    }

    /// A web session, and whether it sends its CSRF token.
    fn web(self) -> Option<bool> {
        match self {
            Caller::SupervisorWeb | Caller::AdminWeb => Some(true),
            Caller::SupervisorWebNoCsrf | Caller::AdminWebNoCsrf => Some(false),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum User {
    Li,
    Qian,
    Zhao,
    Sun,
    Wang,
    Zhou,
    Admin,
    Wu,
}

impl User {
    const ALL: [User; 8] = [
        User::Li,
        User::Qian,
        User::Zhao,
        User::Sun,
        User::Wang,
        User::Zhou,
        User::Admin,
        User::Wu,
    ];
    /// The users with assignments, records and photos of their own.
    const FIELD: [User; 4] = [User::Li, User::Qian, User::Zhao, User::Sun];

    fn name(self) -> &'static str {
        match self {
            User::Li => "李巡查",
            User::Qian => "钱采样",
            User::Zhao => "赵巡查",
            User::Sun => "孙巡查",
            User::Wang => "王审核",
            User::Zhou => "周审核",
            User::Admin => "管理员甲",
            User::Wu => "吴检测",
        }
    }

    fn role(self) -> Role {
        match self {
            User::Li | User::Zhao | User::Sun => Role::Inspector,
            User::Qian => Role::Sampler,
            User::Wang | User::Zhou => Role::Supervisor,
            User::Admin => Role::Admin,
            User::Wu => Role::Lab,
        }
    }

    /// The user's org unit (none for the admin).
    fn org_unit(self) -> Option<&'static str> {
        match self {
            User::Li | User::Qian => Some(TOWNSHIP_102),
            User::Zhao => Some(TOWNSHIP_103),
            User::Sun => Some(FAR_STREET),
            User::Wang | User::Wu => Some(COUNTY),
            User::Zhou => Some(FAR_COUNTY),
            User::Admin => None,
        }
    }

    /// The blind code the lab knows the soil sample in the user's village by.
    fn blind_code(self) -> String {
        format!("MX-{self:?}").to_uppercase()
    }

    /// The village a field user works in.
    fn village(self) -> &'static str {
        match self {
            User::Li | User::Qian => VILLAGE_102,
            User::Zhao => VILLAGE_103,
            _ => FAR_VILLAGE,
        }
    }
}

const COUNTY: &str = "411321000000";
const TOWNSHIP_102: &str = "411321102000";
const VILLAGE_102: &str = "411321102201";
const TOWNSHIP_103: &str = "411321103000";
const VILLAGE_103: &str = "411321103201";
const FAR_COUNTY: &str = "410102000000";
const FAR_STREET: &str = "410102001000";
const FAR_VILLAGE: &str = "410102001001";

const ORG_UNITS: [(&str, &str); 11] = [
    ("410000000000", "河南省"),
    ("411300000000", "南阳市"),
    (COUNTY, "南召县"),
    (TOWNSHIP_102, "皇路店镇"),
    (VILLAGE_102, "皇路店村"),
    (TOWNSHIP_103, "南河店镇"),
    (VILLAGE_103, "南河店村"),
    ("410100000000", "郑州市"),
    (FAR_COUNTY, "中原区"),
    (FAR_STREET, "林山寨街道"),
    (FAR_VILLAGE, "林山寨社区"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    In,
    Out,
}

/// Whose things a request aims at: inside or outside the caller's scope.
fn subject(caller: Caller, scope: Scope) -> User {
    match (caller, scope) {
        (Caller::Inspector, Scope::In) => User::Li,
        (Caller::Sampler, Scope::In) => User::Qian,
        // Another township's inspector: field users reach only their own things.
        (Caller::Inspector | Caller::Sampler, Scope::Out) => User::Zhao,
        // The supervisor's (and the lab's) county against the other county (the admin
        // reaches both).
        (_, Scope::In) => User::Li,
        (_, Scope::Out) => User::Sun,
    }
}

// =============================================================================================
// The table.

/// What a request aims at, and so how it is built (see `World::build`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Nothing: the same request for everyone.
    Nothing,
    /// `?kind=village_inspection&format=csv`: an export (within the caller's reach).
    ExportCsv,
    /// `POST /v1/login` as the caller's own user with the right password (the caller without
    /// credentials: as an unknown user).
    LoginAsCaller,
    /// `POST /v1/enroll` with a fresh code of the caller's user (李巡查's for the caller without
    /// credentials) from a new device.
    FreshCode,
    /// Sent with a session of its own (logout ends the session it is sent with).
    OwnSession,
    /// An enrollment code for the subject.
    CodeFor,
    /// The QR image of a code: in scope one the caller's user issued (for a field user, one
    /// issued for them), out of scope one the other county's supervisor issued.
    QrOfCode,
    /// `?user=` the subject: 200, and are the subject's devices listed?
    DevicesOf,
    /// A new device token of the subject's, made for the request.
    RevokeFreshDeviceOf,
    /// `?assignee=` the subject: 200, and are the subject's assignments listed?
    AssignmentsOf,
    /// An assignment for the subject, in their org unit and village.
    AssignTo,
    /// A new assignment of the subject's, made for the request.
    RemoveFreshAssignmentOf,
    /// A new assignment of 李巡查's (township 102), made for the request, handed to the
    /// subject (to 钱采样, of the same township, when the subject is 李巡查 himself). Out of
    /// scope it goes to someone the caller does not reach; an assignment out of reach is
    /// refused by the same check as in `RemoveFreshAssignmentOf`.
    ReassignFreshAssignmentTo,
    /// Two pushes: an edit of the subject's record, and a new record in the subject's
    /// village; and is the subject's record in the feed?
    SyncRecordOf,
    /// The code tables' text by hash (every user receives them; which templates each role
    /// receives is checked in server/src/catalog.rs and tests/tests/catalog.rs).
    CodeTablesText,
    /// The state of the photo of the subject's record.
    PhotoStatusOf,
    /// The photo of the subject's record.
    PhotoOf,
    /// The first part of a new photo.
    FreshPhotoPart,
    /// The subject's record, read as a supervisor does.
    RecordOf,
    /// A return with a comment, a comment, or a conflict's resolution on the subject's record.
    /// The record is a draft with no conflict: past the checks of who may, the request meets
    /// the record's state (409 `invalid_state`), and nothing is written.
    ReviewOf,
    CommentOn,
    ResolveOn,
    /// The lab's list: 200, and is the blind code of the subject's soil sample listed?
    LabSamplesOf,
    /// The subject's soil sample, by its blind code.
    LabSampleOf,
    /// Results (pH) entered for the subject's soil sample, by its blind code: written.
    LabResultsFor,
}

impl Target {
    /// Does the request differ in and out of scope? (Otherwise it runs once.)
    fn scoped(self) -> bool {
        matches!(
            self,
            Target::CodeFor
                | Target::QrOfCode
                | Target::DevicesOf
                | Target::RevokeFreshDeviceOf
                | Target::AssignmentsOf
                | Target::AssignTo
                | Target::RemoveFreshAssignmentOf
                | Target::ReassignFreshAssignmentTo
                | Target::SyncRecordOf
                | Target::PhotoStatusOf
                | Target::PhotoOf
                | Target::RecordOf
                | Target::ReviewOf
                | Target::CommentOn
                | Target::ResolveOn
                | Target::LabSamplesOf
                | Target::LabSampleOf
                | Target::LabResultsFor
        )
    }
}

/// The expected answer of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// This success status.
    Ok(u16),
    /// This error status with this error code.
    Err(u16, &'static str),
    /// 200, and the subject's items are in the list.
    Lists,
    /// 200, and none of the subject's items is in the list.
    Hides,
    /// 200 (sync): every push accepted, and the subject's record in the feed.
    Accepted,
    /// 200 (sync): every push refused with this code, and the subject's record not in the feed.
    Refused(&'static str),
    /// 200 (sync): the pushes refused with these codes in turn (the edit, the new record), and
    /// the subject's record not in the feed.
    RefusedAs(&'static [&'static str]),
}

const OK: Expect = Expect::Ok(200);
const CREATED: Expect = Expect::Ok(201);
const NO_CONTENT: Expect = Expect::Ok(204);
const LISTS: Expect = Expect::Lists;
const HIDES: Expect = Expect::Hides;
const ACCEPTED: Expect = Expect::Accepted;
const REFUSED_OUT_OF_SCOPE: Expect = Expect::Refused("out_of_scope");
/// Lab staff's edit of a record within their org units breaks the write rules (they write
/// lab results only); the record they create is out of their scope (they create none).
const LAB_EDIT_REFUSED: Expect = Expect::RefusedAs(&["forbidden", "out_of_scope"]);
/// Device routes (sync, photos) take a device token and nothing else.
const NO_TOKEN: Expect = Expect::Err(401, "missing_token");
const NO_CREDENTIALS: Expect = Expect::Err(401, "missing_credentials");
const BAD_TOKEN: Expect = Expect::Err(401, "bad_token");
const NOT_A_SESSION: Expect = Expect::Err(400, "not_a_session");
const FORBIDDEN: Expect = Expect::Err(403, "forbidden");
const OUT_OF_SCOPE: Expect = Expect::Err(403, "out_of_scope");
const CSRF: Expect = Expect::Err(403, "csrf");
/// A field user's right password: answered as a wrong one (they work on devices).
const FIELD_ROLE: Expect = Expect::Err(401, "bad_login");
const BAD_LOGIN: Expect = Expect::Err(401, "bad_login");
const NOT_FOUND: Expect = Expect::Err(404, "not_found");
const INVALID_STATE: Expect = Expect::Err(409, "invalid_state");
const METRICS_LOCAL: Expect = Expect::Err(403, "metrics_local_only");

/// The same answer in and out of scope.
const fn both(e: Expect) -> [Expect; 2] {
    [e, e]
}

/// In scope, out of scope.
const fn in_out(inside: Expect, outside: Expect) -> [Expect; 2] {
    [inside, outside]
}

/// One route and the answers its callers get. Pairs are [in scope, out of scope]; a route whose
/// target is not scoped runs in scope only (its pairs say `both`).
struct Row {
    method: Method,
    path: &'static str,
    target: Target,
    nobody: Expect,
    revoked: Expect,
    inspector: [Expect; 2],
    sampler: [Expect; 2],
    supervisor: [Expect; 2],
    supervisor_web: [Expect; 2],
    supervisor_web_no_csrf: [Expect; 2],
    admin: [Expect; 2],
    admin_web: [Expect; 2],
    admin_web_no_csrf: [Expect; 2],
    /// 吴检测's enrolled device (lab staff of 南召县): a LIMS.
    lab: [Expect; 2],
}

impl Row {
    fn expect(&self, caller: Caller, scope: Scope) -> Expect {
        let pair = match caller {
            Caller::Nobody => return self.nobody,
            Caller::Revoked => return self.revoked,
            Caller::Inspector => self.inspector,
            Caller::Sampler => self.sampler,
            Caller::Supervisor => self.supervisor,
            Caller::SupervisorWeb => self.supervisor_web,
            Caller::SupervisorWebNoCsrf => self.supervisor_web_no_csrf,
            Caller::Admin => self.admin,
            Caller::AdminWeb => self.admin_web,
            Caller::AdminWebNoCsrf => self.admin_web_no_csrf,
            Caller::Lab => self.lab,
        };
        match scope {
            Scope::In => pair[0],
            Scope::Out => pair[1],
        }
    }

    fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A route that answers everyone alike (credentials, good or bad, are not looked at).
/// A review write: field users may not; a supervisor within their county reaches the record's
/// state check, outside it is refused; CSRF guards the web session.
/// A read only supervisors and admins make, the same for records in and out of scope (each
/// gets what lies within their reach): the queue, exports, ledgers.
fn reviewers_read(path: &'static str, target: Target) -> Row {
    Row {
        method: Method::GET,
        path,
        target,
        nobody: NO_CREDENTIALS,
        revoked: BAD_TOKEN,
        inspector: both(FORBIDDEN),
        sampler: both(FORBIDDEN),
        supervisor: both(OK),
        supervisor_web: both(OK),
        supervisor_web_no_csrf: both(OK),
        admin: both(OK),
        admin_web: both(OK),
        admin_web_no_csrf: both(OK),
        lab: both(FORBIDDEN),
    }
}

fn review_row(path: &'static str, target: Target) -> Row {
    Row {
        method: Method::POST,
        path,
        target,
        nobody: NO_CREDENTIALS,
        revoked: BAD_TOKEN,
        inspector: both(FORBIDDEN),
        sampler: both(FORBIDDEN),
        supervisor: in_out(INVALID_STATE, OUT_OF_SCOPE),
        supervisor_web: in_out(INVALID_STATE, OUT_OF_SCOPE),
        supervisor_web_no_csrf: both(CSRF),
        admin: both(INVALID_STATE),
        admin_web: both(INVALID_STATE),
        admin_web_no_csrf: both(CSRF),
        lab: both(FORBIDDEN),
    }
}

fn public(method: Method, path: &'static str, target: Target, answer: Expect) -> Row {
    Row {
        method,
        path,
        target,
        nobody: answer,
        revoked: answer,
        inspector: both(answer),
        sampler: both(answer),
        supervisor: both(answer),
        supervisor_web: both(answer),
        supervisor_web_no_csrf: both(answer),
        admin: both(answer),
        admin_web: both(answer),
        admin_web_no_csrf: both(answer),
        lab: both(answer),
    }
}

/// Every route the server serves, with the answer of every caller.
fn table() -> Vec<Row> {
    vec![
        // ---- Public: no credentials needed, and credentials sent anyway change nothing.
        public(Method::GET, paths::HEALTHZ, Target::Nothing, OK),
        public(Method::GET, paths::READYZ, Target::Nothing, OK),
        // Metrics carry counts only (requests per route, records, devices), no names, but
        // those are nobody else's business: by default read from this machine only (or with
        // the metrics token), whatever credentials come (the callers here come from
        // 10.0.0.0/8).
        public(Method::GET, paths::METRICS, Target::Nothing, METRICS_LOCAL),
        public(Method::GET, paths::OPENAPI, Target::Nothing, OK),
        // A fresh code enrolls a new device whoever sends it: the code is the credential.
        public(Method::POST, paths::ENROLL, Target::FreshCode, OK),
        // Everyone may try; only supervisors and admins get a session.
        Row {
            method: Method::POST,
            path: paths::LOGIN,
            target: Target::LoginAsCaller,
            nobody: BAD_LOGIN,
            revoked: FIELD_ROLE,
            inspector: both(FIELD_ROLE),
            sampler: both(FIELD_ROLE),
            supervisor: both(OK),
            supervisor_web: both(OK),
            supervisor_web_no_csrf: both(OK),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(OK),
            lab: both(OK),
        },
        // ---- People and devices: a device token or a web session (CSRF on changes).
        Row {
            method: Method::POST,
            path: paths::LOGOUT,
            target: Target::OwnSession,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(NOT_A_SESSION),
            sampler: both(NOT_A_SESSION),
            supervisor: both(NOT_A_SESSION),
            supervisor_web: both(NO_CONTENT),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(NOT_A_SESSION),
            admin_web: both(NO_CONTENT),
            admin_web_no_csrf: both(CSRF),
            lab: both(NOT_A_SESSION),
        },
        Row {
            method: Method::POST,
            path: paths::ENROLLMENT_CODES,
            target: Target::CodeFor,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(CREATED, OUT_OF_SCOPE),
            supervisor_web: in_out(CREATED, OUT_OF_SCOPE),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(CREATED),
            admin_web: both(CREATED),
            admin_web_no_csrf: both(CSRF),
            lab: both(FORBIDDEN),
        },
        // Only the user who issued a code sees its QR image (an admin too sees only their own;
        // a field user never issued one). Reading needs no CSRF token.
        Row {
            method: Method::GET,
            path: paths::ENROLLMENT_CODE_QR,
            target: Target::QrOfCode,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(NOT_FOUND),
            sampler: both(NOT_FOUND),
            supervisor: in_out(OK, NOT_FOUND),
            supervisor_web: in_out(OK, NOT_FOUND),
            supervisor_web_no_csrf: in_out(OK, NOT_FOUND),
            admin: in_out(OK, NOT_FOUND),
            admin_web: in_out(OK, NOT_FOUND),
            admin_web_no_csrf: in_out(OK, NOT_FOUND),
            lab: both(NOT_FOUND),
        },
        Row {
            method: Method::GET,
            path: paths::DEVICES,
            target: Target::DevicesOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: in_out(LISTS, HIDES),
            sampler: in_out(LISTS, HIDES),
            supervisor: in_out(LISTS, HIDES),
            supervisor_web: in_out(LISTS, HIDES),
            supervisor_web_no_csrf: in_out(LISTS, HIDES),
            admin: both(LISTS),
            admin_web: both(LISTS),
            admin_web_no_csrf: both(LISTS),
            lab: both(HIDES),
        },
        // Field users revoke nothing, not even their own devices (a lost phone is reported).
        Row {
            method: Method::POST,
            path: paths::DEVICE_REVOKE,
            target: Target::RevokeFreshDeviceOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(OK, OUT_OF_SCOPE),
            supervisor_web: in_out(OK, OUT_OF_SCOPE),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(CSRF),
            lab: both(FORBIDDEN),
        },
        Row {
            method: Method::GET,
            path: paths::AUDIT,
            target: Target::Nothing,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: both(FORBIDDEN),
            supervisor_web: both(FORBIDDEN),
            supervisor_web_no_csrf: both(FORBIDDEN),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(OK),
            lab: both(FORBIDDEN),
        },
        // ---- Assignments: a device token or a web session.
        // A field user asking for someone else's assignments gets their own list instead.
        Row {
            method: Method::GET,
            path: paths::ASSIGNMENTS,
            target: Target::AssignmentsOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: in_out(LISTS, HIDES),
            sampler: in_out(LISTS, HIDES),
            supervisor: in_out(LISTS, HIDES),
            supervisor_web: in_out(LISTS, HIDES),
            supervisor_web_no_csrf: in_out(LISTS, HIDES),
            admin: both(LISTS),
            admin_web: both(LISTS),
            admin_web_no_csrf: both(LISTS),
            lab: both(HIDES),
        },
        Row {
            method: Method::POST,
            path: paths::ASSIGNMENTS,
            target: Target::AssignTo,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(CREATED, OUT_OF_SCOPE),
            supervisor_web: in_out(CREATED, OUT_OF_SCOPE),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(CREATED),
            admin_web: both(CREATED),
            admin_web_no_csrf: both(CSRF),
            lab: both(FORBIDDEN),
        },
        Row {
            method: Method::POST,
            path: paths::ASSIGNMENT_REMOVE,
            target: Target::RemoveFreshAssignmentOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(OK, OUT_OF_SCOPE),
            supervisor_web: in_out(OK, OUT_OF_SCOPE),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(CSRF),
            lab: both(FORBIDDEN),
        },
        Row {
            method: Method::POST,
            path: paths::ASSIGNMENT_REASSIGN,
            target: Target::ReassignFreshAssignmentTo,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(OK, OUT_OF_SCOPE),
            supervisor_web: in_out(OK, OUT_OF_SCOPE),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(CSRF),
            lab: both(FORBIDDEN),
        },
        // ---- Device routes: a device token only; a web session is no credential here.
        // The HTTP answer is 200 whatever becomes of the pushes: the outcome is per push.
        Row {
            method: Method::POST,
            path: paths::SYNC,
            target: Target::SyncRecordOf,
            nobody: NO_TOKEN,
            revoked: BAD_TOKEN,
            inspector: in_out(ACCEPTED, REFUSED_OUT_OF_SCOPE),
            sampler: in_out(ACCEPTED, REFUSED_OUT_OF_SCOPE),
            supervisor: in_out(ACCEPTED, REFUSED_OUT_OF_SCOPE),
            supervisor_web: both(NO_TOKEN),
            supervisor_web_no_csrf: both(NO_TOKEN),
            admin: both(ACCEPTED),
            admin_web: both(NO_TOKEN),
            admin_web_no_csrf: both(NO_TOKEN),
            lab: in_out(LAB_EDIT_REFUSED, REFUSED_OUT_OF_SCOPE),
        },
        // Photos follow their records: a caller may read or upload a photo only when a record
        // it may see holds it. The status endpoint answers 200 either way and names such a
        // photo `refused` in its answer (checked in tests/tests/scope.rs).
        // Templates and code tables: device tokens only, like sync.
        Row {
            method: Method::POST,
            path: paths::CATALOG,
            target: Target::CodeTablesText,
            nobody: NO_TOKEN,
            revoked: BAD_TOKEN,
            inspector: both(OK),
            sampler: both(OK),
            supervisor: both(OK),
            supervisor_web: both(NO_TOKEN),
            supervisor_web_no_csrf: both(NO_TOKEN),
            admin: both(OK),
            admin_web: both(NO_TOKEN),
            admin_web_no_csrf: both(NO_TOKEN),
            lab: both(OK),
        },
        Row {
            method: Method::POST,
            path: paths::PHOTO_STATUS,
            target: Target::PhotoStatusOf,
            nobody: NO_TOKEN,
            revoked: BAD_TOKEN,
            inspector: both(OK),
            sampler: both(OK),
            supervisor: both(OK),
            supervisor_web: both(NO_TOKEN),
            supervisor_web_no_csrf: both(NO_TOKEN),
            admin: both(OK),
            admin_web: both(NO_TOKEN),
            admin_web_no_csrf: both(NO_TOKEN),
            lab: both(OK),
        },
        // ---- Review: supervisors and admins, by device token or web session.
        reviewers_read(paths::REVIEW_QUEUE, Target::Nothing),
        Row {
            method: Method::GET,
            path: paths::RECORD,
            target: Target::RecordOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: in_out(OK, OUT_OF_SCOPE),
            supervisor_web: in_out(OK, OUT_OF_SCOPE),
            supervisor_web_no_csrf: in_out(OK, OUT_OF_SCOPE),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(OK),
            lab: both(FORBIDDEN),
        },
        review_row(paths::RECORD_REVIEW, Target::ReviewOf),
        review_row(paths::RECORD_COMMENTS, Target::CommentOn),
        review_row(paths::RECORD_RESOLVE, Target::ResolveOn),
        // ---- Exports: supervisors and admins (each gets the records within reach).
        reviewers_read(paths::EXPORT, Target::ExportCsv),
        // ---- County ledgers: supervisors and admins (each sees the records within reach).
        reviewers_read(paths::LEDGER_WATER_BODIES, Target::Nothing),
        reviewers_read(paths::LEDGER_SEWAGE_FACILITIES, Target::Nothing),
        // ---- Lab results (a LIMS): lab staff and admins, by device token or web session.
        // Lab staff reach the samples handed in within their org units, by blind code only;
        // a code outside them is not found (not refused: the lab learns nothing of it).
        Row {
            method: Method::GET,
            path: paths::LAB_SAMPLES,
            target: Target::LabSamplesOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: both(FORBIDDEN),
            supervisor_web: both(FORBIDDEN),
            supervisor_web_no_csrf: both(FORBIDDEN),
            admin: both(LISTS),
            admin_web: both(LISTS),
            admin_web_no_csrf: both(LISTS),
            lab: in_out(LISTS, HIDES),
        },
        Row {
            method: Method::GET,
            path: paths::LAB_SAMPLE,
            target: Target::LabSampleOf,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: both(FORBIDDEN),
            supervisor_web: both(FORBIDDEN),
            supervisor_web_no_csrf: both(FORBIDDEN),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(OK),
            lab: in_out(OK, NOT_FOUND),
        },
        Row {
            method: Method::POST,
            path: paths::LAB_SAMPLE_RESULTS,
            target: Target::LabResultsFor,
            nobody: NO_CREDENTIALS,
            revoked: BAD_TOKEN,
            inspector: both(FORBIDDEN),
            sampler: both(FORBIDDEN),
            supervisor: both(FORBIDDEN),
            supervisor_web: both(FORBIDDEN),
            supervisor_web_no_csrf: both(CSRF),
            admin: both(OK),
            admin_web: both(OK),
            admin_web_no_csrf: both(CSRF),
            lab: in_out(OK, NOT_FOUND),
        },
        Row {
            method: Method::GET,
            path: "/v1/photos/{hash}",
            target: Target::PhotoOf,
            nobody: NO_TOKEN,
            revoked: BAD_TOKEN,
            inspector: in_out(OK, OUT_OF_SCOPE),
            sampler: in_out(OK, OUT_OF_SCOPE),
            supervisor: in_out(OK, OUT_OF_SCOPE),
            supervisor_web: both(NO_TOKEN),
            supervisor_web_no_csrf: both(NO_TOKEN),
            admin: both(OK),
            admin_web: both(NO_TOKEN),
            admin_web_no_csrf: both(NO_TOKEN),
            lab: both(OUT_OF_SCOPE),
        },
        Row {
            method: Method::PATCH,
            path: "/v1/photos/{hash}",
            target: Target::FreshPhotoPart,
            nobody: NO_TOKEN,
            revoked: BAD_TOKEN,
            inspector: both(OUT_OF_SCOPE),
            sampler: both(OUT_OF_SCOPE),
            supervisor: both(OUT_OF_SCOPE),
            supervisor_web: both(NO_TOKEN),
            supervisor_web_no_csrf: both(NO_TOKEN),
            admin: both(OK),
            admin_web: both(NO_TOKEN),
            admin_web_no_csrf: both(NO_TOKEN),
            lab: both(OUT_OF_SCOPE),
        },
    ]
}

// =============================================================================================
// The tests.

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let world = World::new().await;
    let mut cells = Vec::new();
    for row in table() {
        let scopes: &[Scope] = if row.target.scoped() {
            &[Scope::In, Scope::Out]
        } else {
            &[Scope::In]
        };
        for caller in Caller::ALL {
            for &scope in scopes {
                let expected = row.expect(caller, scope);
                let (got, detail) = world.run(&row, caller, scope).await;
                cells.push(Cell {
                    route: row.route(),
                    caller: caller.label(),
                    scope: match (row.target.scoped(), scope) {
                        (false, _) => "-",
                        (true, Scope::In) => "in",
                        (true, Scope::Out) => "out",
                    },
                    subject: if row.target.scoped() {
                        subject(caller, scope).name()
                    } else {
                        ""
                    },
                    matches: got.is(expected),
                    expected: describe(expected),
                    got: got.to_string(),
                    detail,
                });
            }
        }
    }
    eprintln!(
        "authorization matrix: {} routes × {} callers, {} cells",
        table().len(),
        Caller::ALL.len(),
        cells.len()
    );
    // JINGTU_MATRIX=all prints every cell, not only the mismatches.
    if std::env::var("JINGTU_MATRIX").is_ok_and(|v| v == "all") {
        eprintln!("{}", render(&cells));
    }
    let mismatches: Vec<&Cell> = cells.iter().filter(|c| !c.matches).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} cells differ from the table:\n{}",
        mismatches.len(),
        cells.len(),
        render(&mismatches)
    );
}

/// The table against what the server serves: the routes of its OpenAPI document, and the
/// routes `router()` adds (read from its source, for a route added to the router alone). Also:
/// the credentials the document declares per route agree with the table, and every other
/// method on a table path is 405, so no method is served off the table.
#[tokio::test]
async fn the_table_has_a_row_for_every_route_the_server_serves() {
    let rows = table();
    let in_table: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(in_table.len(), rows.len(), "a route has two rows");

    let app = App::new();
    let doc = app
        .send(Call::new(Method::GET, paths::OPENAPI, Cred::None))
        .await
        .ok("the OpenAPI document")
        .json();
    let mut in_openapi = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if let Ok(m) = method.to_ascii_uppercase().parse::<Method>()
                && is_http_method(&m)
            {
                in_openapi.insert((m.to_string(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = in_openapi.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&in_openapi).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the OpenAPI document and the table differ.\n  served without a row (add one to \
         table()): {missing:?}\n  rows the server does not describe (add the handler to \
         `paths(...)` in server/src/api/mod.rs, or drop the row): {stale:?}"
    );

    // What the document says a route takes agrees with the table: public rows declare no
    // security, the others declare some; a session (`session_cookie`) exactly where the table
    // has session callers get past authentication; and only schemes the document defines.
    let schemes = &doc["components"]["securitySchemes"];
    let mut disagreements = Vec::new();
    for row in &rows {
        let op = &doc["paths"][row.path][row.method.as_str().to_ascii_lowercase()];
        let declared: BTreeSet<String> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().cloned())
            .collect();
        for name in &declared {
            if !schemes[name].is_object() {
                disagreements.push(format!(
                    "{}: security scheme `{name}` is not defined",
                    row.route()
                ));
            }
        }
        // Public: the caller without credentials gets past authentication.
        let public = row.nobody != NO_TOKEN && row.nobody != NO_CREDENTIALS;
        if public != declared.is_empty() {
            disagreements.push(format!(
                "{}: the table has it {}, the document declares {declared:?}",
                row.route(),
                if public { "public" } else { "authenticated" }
            ));
        }
        let takes_sessions = !public && row.supervisor_web[0] != NO_TOKEN;
        if !public && takes_sessions != declared.contains("session_cookie") {
            disagreements.push(format!(
                "{}: the table {} web sessions, the document declares {declared:?}",
                row.route(),
                if takes_sessions { "takes" } else { "refuses" }
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the OpenAPI document and the table disagree on credentials:\n  {}",
        disagreements.join("\n  ")
    );

    // The routes the router is made of (`api::routes()`), with the door each stands behind.
    let served = jingtu_server::api::routes();
    let in_router: BTreeSet<(String, String)> = served
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(in_router.len(), served.len(), "a route is served twice");
    let missing: Vec<_> = in_router.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&in_router).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the router and the table differ.\n  routed without a row (add one to table() and the \
         handler to the OpenAPI `paths(...)`): {missing:?}\n  rows the router does not route: \
         {stale:?}"
    );
    // Each route's door agrees with the table's answer to a caller without credentials.
    for r in &served {
        let row = rows
            .iter()
            .find(|row| row.method == r.method && row.path == r.path)
            .expect("a row");
        let open = !matches!(row.nobody, NO_TOKEN | NO_CREDENTIALS);
        assert_eq!(
            open,
            r.door == jingtu_server::api::Door::Open,
            "{} {}: the door is {:?}, the table answers a caller without credentials {:?}",
            r.method,
            r.path,
            r.door,
            row.nobody
        );
    }

    // No other method is served on these paths (HEAD is GET's, as axum serves it). Asked with
    // an admin's token: the authentication layers answer before the method is looked at.
    app.db.create_user(User::Admin.name()).unwrap();
    let admin = Cred::Bearer(app.storage_token(User::Admin));
    let paths: BTreeSet<&str> = rows.iter().map(|r| r.path).collect();
    let mut extra = Vec::new();
    for path in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{hash}", &"0".repeat(64))
            .replace("{code}", "MX-NONE");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if in_table.contains(&(method.to_string(), path.to_string())) {
                continue;
            }
            let a = app
                .send(Call::new(method.clone(), &concrete, admin.clone()))
                .await;
            if a.status != StatusCode::METHOD_NOT_ALLOWED {
                extra.push(format!("{method} {path}: {}", a.status));
            }
        }
    }
    assert!(
        extra.is_empty(),
        "methods served off the table (expected 405): {extra:?}"
    );
}

fn is_http_method(m: &Method) -> bool {
    [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
        Method::PATCH,
        Method::TRACE,
    ]
    .contains(m)
}

// =============================================================================================
// Outcomes and the report.

/// What a cell's answer was.
#[derive(Debug)]
enum Outcome {
    /// The status, and for an error its code.
    Status(u16, Option<String>),
    /// 200 of a list: are the subject's items in it?
    Listed(bool),
    /// 200 of a sync: each push's outcome and refusal code, and whether the subject's record
    /// is in the feed.
    Pushed {
        results: Vec<(PushOutcome, Option<String>)>,
        sees: bool,
    },
}

impl Outcome {
    fn is(&self, expected: Expect) -> bool {
        match (expected, self) {
            (Expect::Ok(s), Outcome::Status(got, None)) => s == *got,
            (Expect::Err(s, code), Outcome::Status(got, Some(c))) => s == *got && code == c,
            (Expect::Lists, Outcome::Listed(listed)) => *listed,
            (Expect::Hides, Outcome::Listed(listed)) => !*listed,
            (Expect::Accepted, Outcome::Pushed { results, sees }) => {
                *sees
                    && !results.is_empty()
                    && results.iter().all(|(o, _)| *o == PushOutcome::Accepted)
            }
            (Expect::RefusedAs(codes), Outcome::Pushed { results, sees }) => {
                !*sees
                    && results.len() == codes.len()
                    && results.iter().zip(codes).all(|((o, c), code)| {
                        *o == PushOutcome::Refused && c.as_deref() == Some(*code)
                    })
            }
            (Expect::Refused(code), Outcome::Pushed { results, sees }) => {
                !*sees
                    && !results.is_empty()
                    && results
                        .iter()
                        .all(|(o, c)| *o == PushOutcome::Refused && c.as_deref() == Some(code))
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(s, None) => write!(f, "{s}"),
            Outcome::Status(s, Some(code)) => write!(f, "{s} {code}"),
            Outcome::Listed(true) => f.write_str("200, listed"),
            Outcome::Listed(false) => f.write_str("200, not listed"),
            Outcome::Pushed { results, sees } => {
                let pushes: Vec<String> = results
                    .iter()
                    .map(|(o, c)| match (o, c) {
                        (PushOutcome::Accepted, _) => "accepted".to_string(),
                        (PushOutcome::Refused, c) => {
                            format!("refused {}", c.as_deref().unwrap_or("?"))
                        }
                    })
                    .collect();
                write!(
                    f,
                    "200, pushes [{}], record {}",
                    pushes.join(", "),
                    if *sees { "in feed" } else { "not in feed" }
                )
            }
        }
    }
}

fn describe(e: Expect) -> String {
    match e {
        Expect::Ok(s) => s.to_string(),
        Expect::Err(s, code) => format!("{s} {code}"),
        Expect::Lists => "200, listed".into(),
        Expect::Hides => "200, not listed".into(),
        Expect::Accepted => "200, pushes accepted, record in feed".into(),
        Expect::Refused(code) => format!("200, pushes refused {code}, record not in feed"),
        Expect::RefusedAs(codes) => format!(
            "200, pushes [refused {}], record not in feed",
            codes.join(", refused ")
        ),
    }
}

/// One cell as run.
struct Cell {
    route: String,
    caller: &'static str,
    scope: &'static str,
    subject: &'static str,
    matches: bool,
    expected: String,
    got: String,
    detail: String,
}

/// Cells as one table, columns padded (the subject, in Chinese, comes last but one).
fn render<C: std::borrow::Borrow<Cell>>(rows: &[C]) -> String {
    let rows: Vec<&Cell> = rows.iter().map(|c| c.borrow()).collect();
    let width = |f: &dyn Fn(&Cell) -> usize, title: &str| {
        rows.iter()
            .map(|c| f(c))
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let w_route = width(&|m| m.route.len(), "route");
    let w_caller = width(&|m| m.caller.len(), "caller");
    let w_expected = width(&|m| m.expected.len(), "expected");
    let w_got = width(&|m| m.got.len(), "got");
    let mut out = format!(
        "   {:w_route$} | {:w_caller$} | scope | {:w_expected$} | {:w_got$} | subject | detail\n",
        "route", "caller", "expected", "got"
    );
    out.push_str(&format!(
        "{}\n",
        "-".repeat(w_route + w_caller + w_expected + w_got + 39)
    ));
    for m in rows {
        out.push_str(&format!(
            "{} {:w_route$} | {:w_caller$} | {:5} | {:w_expected$} | {:w_got$} | {} | {}\n",
            if m.matches { "  " } else { "!!" },
            m.route,
            m.caller,
            m.scope,
            m.expected,
            m.got,
            m.subject,
            m.detail
        ));
    }
    out
}

// =============================================================================================
// The router, in process.

struct App {
    _dir: tempfile::TempDir,
    router: axum::Router,
    db: Arc<SqliteStore>,
    /// Each request comes from its own address, so the per-address rate limits of login and
    /// enrollment (tested in people.rs) stay out of the way.
    next_addr: AtomicU32,
}

#[derive(Clone, Debug)]
enum Cred {
    None,
    Bearer(String),
    /// A session cookie, and the CSRF header if sent.
    Session {
        cookie: String,
        csrf: Option<String>,
    },
}

/// A web session: the cookie's value and its CSRF token.
#[derive(Clone, Debug)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn cred(&self, with_csrf: bool) -> Cred {
        Cred::Session {
            cookie: self.cookie.clone(),
            csrf: with_csrf.then(|| self.csrf.clone()),
        }
    }
}

struct Call {
    method: Method,
    path: String,
    cred: Cred,
    body: Option<(Vec<u8>, &'static str)>,
    headers: Vec<(&'static str, String)>,
}

impl Call {
    fn new(method: Method, path: &str, cred: Cred) -> Call {
        Call {
            method,
            path: path.to_string(),
            cred,
            body: None,
            headers: Vec::new(),
        }
    }

    fn json(mut self, body: Value) -> Call {
        self.body = Some((body.to_string().into_bytes(), "application/json"));
        self
    }

    fn framed(mut self, body: Vec<u8>) -> Call {
        self.body = Some((body, jingtu_protocol::CONTENT_TYPE));
        self
    }

    /// A part of a photo upload: `bytes` at `offset` of a photo of `total` bytes.
    fn photo_part(mut self, offset: u64, total: usize, bytes: Vec<u8>) -> Call {
        self.headers = vec![
            (jingtu_protocol::HEADER_UPLOAD_OFFSET, offset.to_string()),
            (jingtu_protocol::HEADER_UPLOAD_LENGTH, total.to_string()),
        ];
        self.body = Some((bytes, "application/octet-stream"));
        self
    }
}

mod common;
use common::Answer;

impl Answer {
    /// The message of an error answer, or the start of the body.
    fn error_message(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(120)
                    .collect()
            })
    }

    /// Setup steps must succeed.
    fn ok(self, what: &str) -> Answer {
        assert!(
            self.status.is_success(),
            "{what}: {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

impl App {
    fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            insecure_cookies: true,
            ..Config::default()
        };
        let storage = open_embedded(&config).unwrap();
        let state = app_state(&config, &storage).unwrap();
        App {
            router: router(state),
            db: storage.db.clone(),
            _dir: dir,
            next_addr: AtomicU32::new(1),
        }
    }

    async fn send(&self, call: Call) -> Answer {
        let mut req = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .header(header::HOST, "jingtu.test:8470");
        match &call.cred {
            Cred::None => {}
            Cred::Bearer(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Cred::Session { cookie, csrf } => {
                req = req.header(header::COOKIE, format!("jingtu_session={cookie}"));
                if let Some(c) = csrf {
                    req = req.header(jingtu_protocol::HEADER_CSRF, c.as_str());
                }
            }
        }
        for (k, v) in &call.headers {
            req = req.header(*k, v.as_str());
        }
        let mut req = match call.body {
            Some((bytes, content_type)) => req
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(bytes))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let n = self.next_addr.fetch_add(1, Ordering::Relaxed);
        let [_, b, c, d] = n.to_be_bytes();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, b, c, d], 40000))));
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A device token made through storage (as `jingtu-server admin issue-token` does).
    fn storage_token(&self, user: User) -> String {
        let token = new_token();
        self.db
            .add_token(user.name(), &secret_hash(&token), Some("matrix"))
            .unwrap();
        token
    }

    async fn login(&self, user: User) -> Session {
        let a = self
            .send(
                Call::new(Method::POST, paths::LOGIN, Cred::None)
                    .json(json!({"user": user.name(), "password": PASSWORD})),
            )
            .await
            .ok("login");
        let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
        let value = cookie
            .strip_prefix("jingtu_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string();
        Session {
            cookie: value,
            csrf: a.json()["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    /// Issues an enrollment code for `user`; returns (code id, code).
    async fn issue_code(&self, issuer: &Cred, user: User) -> (i64, String) {
        let a = self
            .send(
                Call::new(Method::POST, paths::ENROLLMENT_CODES, issuer.clone())
                    .json(json!({"user": user.name()})),
            )
            .await
            .ok("issuing an enrollment code")
            .json();
        (
            a["id"].as_i64().unwrap(),
            a["code"].as_str().unwrap().to_string(),
        )
    }

    /// A phone of `user` enrolled with a code the admin issues: (token, token id, device id).
    async fn enrolled(&self, admin: &Cred, user: User) -> (String, i64, String) {
        let (_, code) = self.issue_code(admin, user).await;
        let device = random_hex(16);
        let a = self
            .send(
                Call::new(Method::POST, paths::ENROLL, Cred::None)
                    .json(json!({"code": code, "device_id": device})),
            )
            .await
            .ok("enrolling")
            .json();
        (
            a["token"].as_str().unwrap().to_string(),
            a["device"].as_i64().unwrap(),
            device,
        )
    }

    async fn sync(&self, cred: Cred, device: &str, pushes: Vec<Push>) -> Answer {
        let body = jingtu_protocol::encode(&SyncRequest {
            protocol: PROTOCOL_VERSION,
            device: device.to_string(),
            cursor: 0,
            pushes,
            max_response_bytes: None,
            scope_seq: 0,
            scope_target: None,
            scope_after: None,
            catalog: None,
        })
        .unwrap();
        self.send(Call::new(Method::POST, paths::SYNC, cred).framed(body))
            .await
    }

    /// Pushes one record, which must be accepted; `what` names it in a failure.
    async fn push_accepted(
        &self,
        cred: Cred,
        device: &str,
        record: &str,
        changes: Vec<u8>,
        what: &str,
    ) {
        let answer = self
            .sync(
                cred,
                device,
                vec![Push {
                    record: record.to_string(),
                    changes,
                }],
            )
            .await
            .ok(what);
        let response: SyncResponse = jingtu_protocol::decode(&answer.body, 1 << 26).unwrap();
        assert_eq!(
            response.results[0].outcome,
            PushOutcome::Accepted,
            "{what}: {:?}",
            response.results[0]
        );
    }
}

// =============================================================================================
// The world.

/// What a field user has on the server.
struct Things {
    record: String,
    /// The record as pushed (edits are made on top of it).
    record_bytes: Vec<u8>,
    photo: String,
}

struct World {
    app: App,
    template: Arc<Template>,
    /// Device tokens of the callers that send one.
    tokens: HashMap<Caller, String>,
    /// The device ids the callers' tokens are bound to (what they send as `device`).
    devices: HashMap<Caller, String>,
    /// Web sessions of 王审核 and 管理员甲.
    sessions: HashMap<User, Session>,
    things: HashMap<User, Things>,
    /// Unused enrollment codes by issuer: 王审核's and the admin's for 李巡查, 周审核's for
    /// 孙巡查.
    codes_issued_by: HashMap<User, i64>,
    /// An unused code the admin issued for 钱采样.
    code_for_qian: i64,
}

impl World {
    async fn new() -> World {
        let app = App::new();
        let template = TemplateSet::builtin()
            .unwrap()
            .latest("village_inspection")
            .unwrap();

        let units: Vec<OrgUnit> = ORG_UNITS
            .iter()
            .map(|(code, name)| OrgUnit::new(code, name, None, None).unwrap())
            .collect();
        app.db.import_org_units(&units).unwrap();
        let hash = hash_password(PASSWORD).unwrap();
        for user in User::ALL {
            app.db
                .add_user(&NewUser {
                    name: user.name().into(),
                    role: user.role(),
                    org_units: user.org_unit().into_iter().map(String::from).collect(),
                    password_hash: Some(hash.clone()),
                })
                .unwrap();
        }

        // The admin's first token comes from the command line; phones enroll with codes.
        let admin_token = app.storage_token(User::Admin);
        let admin = Cred::Bearer(admin_token.clone());
        let mut tokens = HashMap::from([(Caller::Admin, admin_token)]);
        let mut devices = HashMap::from([(Caller::Admin, random_hex(16))]);
        for (caller, user) in [
            (Caller::Inspector, User::Li),
            (Caller::Sampler, User::Qian),
            (Caller::Supervisor, User::Wang),
            // Lab staff enroll as field users do: a LIMS holds the token.
            (Caller::Lab, User::Wu),
        ] {
            let (token, _, device) = app.enrolled(&admin, user).await;
            tokens.insert(caller, token);
            devices.insert(caller, device);
        }
        // Another phone of 李巡查's, lost and revoked.
        let (lost, id, _) = app.enrolled(&admin, User::Li).await;
        app.send(Call::new(
            Method::POST,
            &paths::DEVICE_REVOKE.replace("{id}", &id.to_string()),
            admin.clone(),
        ))
        .await
        .ok("revoking the lost phone");
        tokens.insert(Caller::Revoked, lost);

        let sessions = HashMap::from([
            (User::Wang, app.login(User::Wang).await),
            (User::Admin, app.login(User::Admin).await),
        ]);

        let wang = Cred::Bearer(tokens[&Caller::Supervisor].clone());
        let zhou = Cred::Bearer(app.storage_token(User::Zhou));
        let codes_issued_by = HashMap::from([
            (User::Wang, app.issue_code(&wang, User::Li).await.0),
            (User::Admin, app.issue_code(&admin, User::Li).await.0),
            (User::Zhou, app.issue_code(&zhou, User::Sun).await.0),
        ]);
        let code_for_qian = app.issue_code(&admin, User::Qian).await.0;

        let mut world = World {
            app,
            template,
            tokens,
            devices,
            sessions,
            things: HashMap::new(),
            codes_issued_by,
            code_for_qian,
        };
        // Each field user: an assignment from their supervisor, and a record of it with a
        // photo, pushed from another phone of theirs (so that the callers' own devices, whose
        // chunks the feed leaves out, receive it).
        for user in User::FIELD {
            let supervisor = if user == User::Sun { &zhou } else { &wang };
            let assignment = world
                .app
                .send(
                    Call::new(Method::POST, paths::ASSIGNMENTS, supervisor.clone())
                        .json(assignment_for(user)),
                )
                .await
                .ok("an assignment")
                .json()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let phone = Cred::Bearer(world.app.storage_token(user));
            let device = random_hex(16);
            let photo_bytes = format!("the photo of {}'s record", user.name()).into_bytes();
            let photo = hex::encode(Sha256::digest(&photo_bytes));
            let record = uuid::Uuid::now_v7().to_string();
            // The record carries its assignment.
            let mut doc = world.new_record(
                &record,
                user.village(),
                Some(&assignment),
                user.name(),
                &device,
            );
            doc.add_photo(
                &world.template,
                &PhotoEntry {
                    id: random_hex(8),
                    sha256: jingtu_protocol::PhotoHash::parse(&photo).unwrap(),
                    tag: "overview".into(),
                    field: None,
                    list: None,
                    taken_at_ms: now_ms(),
                    time_source: "device".into(),
                    lat: None,
                    lon: None,
                    accuracy_m: None,
                    position_source: None,
                    width: 1,
                    height: 1,
                    size: photo_bytes.len() as u64,
                    note: None,
                    stamped: false,
                    author: user.name().into(),
                    device: device.clone(),
                    added_at_ms: now_ms(),
                    removed: None,
                },
                &editor(user.name()),
            )
            .unwrap();
            let record_bytes = doc.save();
            world
                .app
                .push_accepted(
                    phone.clone(),
                    &device,
                    &record,
                    record_bytes.clone(),
                    &format!("{}'s record", user.name()),
                )
                .await;
            // The photo goes up after its record: the server takes photos only for records
            // the uploader may see.
            let upload = Call::new(
                Method::PATCH,
                &format!("{}/{photo}", paths::PHOTO),
                phone.clone(),
            )
            .photo_part(0, photo_bytes.len(), photo_bytes.clone());
            world.app.send(upload).await.ok("uploading a photo");
            world.things.insert(
                user,
                Things {
                    record,
                    record_bytes,
                    photo,
                },
            );
        }
        // A soil sample in each field user's village, handed in to the lab under a blind code
        // (records of no assignment, pushed from the admin's device).
        let soil = TemplateSet::builtin()
            .unwrap()
            .latest("soil_sample")
            .unwrap();
        let admin = Cred::Bearer(world.tokens[&Caller::Admin].clone());
        let admin_device = world.devices[&Caller::Admin].clone();
        let key = DeviceKey::generate();
        for user in User::FIELD {
            let by = editor(User::Admin.name());
            let meta = RecordMeta {
                id: uuid::Uuid::now_v7().to_string(),
                kind: soil.kind.clone(),
                template_version: soil.version,
                org_unit: Some(user.village().to_string()),
                village: None,
                planned_point: None,
                assignment: None,
                author: User::Admin.name().to_string(),
                device: admin_device.clone(),
                created_at_ms: now_ms(),
            };
            let mut doc = RecordDoc::create(ActorId::random(), &soil, &meta, &by).unwrap();
            for step in [
                CustodyStep::Collected {
                    note: String::new(),
                },
                CustodyStep::LabHandIn {
                    blind_code: user.blind_code(),
                    lab: "南召县检测中心".into(),
                },
            ] {
                doc.add_custody_event(&step, &by, &key).unwrap();
            }
            world
                .app
                .push_accepted(
                    admin.clone(),
                    &admin_device,
                    &meta.id,
                    doc.save(),
                    &format!("the soil sample in {}'s village", user.name()),
                )
                .await;
        }
        world
    }

    fn new_record(
        &self,
        id: &str,
        org_unit: &str,
        assignment: Option<&str>,
        author: &str,
        device: &str,
    ) -> RecordDoc {
        let t = &self.template;
        let meta = RecordMeta {
            id: id.to_string(),
            kind: t.kind.clone(),
            template_version: t.version,
            org_unit: Some(org_unit.to_string()),
            village: None,
            planned_point: None,
            assignment: assignment.map(str::to_string),
            author: author.to_string(),
            device: device.to_string(),
            created_at_ms: now_ms(),
        };
        RecordDoc::create(ActorId::random(), t, &meta, &editor(author)).unwrap()
    }

    /// A new assignment of `user`'s, in their org unit, made through storage; its id.
    fn fresh_assignment(&self, user: User) -> String {
        self.app
            .db
            .create_assignment(&NewAssignment {
                target_kind: AssignmentTarget::Village,
                target: user.village().into(),
                target_name: String::new(),
                kind: "village_inspection".into(),
                org_unit: user.org_unit().unwrap().into(),
                assignee: user.name().into(),
                due_date: None,
                note: None,
                assigned_by: "matrix".into(),
                planned_point: None,
            })
            .unwrap()
            .id
    }

    /// The credentials `caller` sends.
    fn cred(&self, caller: Caller) -> Cred {
        match (caller.web(), caller.user()) {
            (Some(with_csrf), Some(user)) => self.sessions[&user].cred(with_csrf),
            _ => self
                .tokens
                .get(&caller)
                .map_or(Cred::None, |t| Cred::Bearer(t.clone())),
        }
    }

    /// Runs one cell: its outcome, and what the answer said (for the report).
    async fn run(&self, row: &Row, caller: Caller, scope: Scope) -> (Outcome, String) {
        let subject = subject(caller, scope);
        let call = self.build(row, caller, scope, subject).await;
        let answer = self.app.send(call).await;
        let status = answer.status.as_u16();
        if !answer.status.is_success() {
            return (
                Outcome::Status(status, Some(answer.error_code())),
                answer.error_message(),
            );
        }
        let listed = |list: &str, key: &str, want: &str| {
            let body = answer.json();
            let items = body[list].as_array().cloned().unwrap_or_default();
            Outcome::Listed(items.iter().any(|i| i[key] == want))
        };
        let outcome = match row.target {
            Target::DevicesOf => listed("devices", "user", subject.name()),
            Target::AssignmentsOf => listed("assignments", "assignee", subject.name()),
            Target::LabSamplesOf => listed("samples", "blind_code", &subject.blind_code()),
            Target::SyncRecordOf => {
                let response: SyncResponse =
                    jingtu_protocol::decode(&answer.body, 1 << 26).unwrap();
                let record = &self.things[&subject].record;
                let detail = response
                    .results
                    .iter()
                    .filter_map(|r| r.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let more = if response.more {
                    " (more feed waits)"
                } else {
                    ""
                };
                return (
                    Outcome::Pushed {
                        results: response
                            .results
                            .iter()
                            .map(|r| (r.outcome, r.code.clone()))
                            .collect(),
                        sees: response.chunks.iter().any(|c| &c.record == record),
                    },
                    format!("{detail}{more}"),
                );
            }
            _ => Outcome::Status(status, None),
        };
        (outcome, String::new())
    }

    /// The request of a cell.
    async fn build(&self, row: &Row, caller: Caller, scope: Scope, subject: User) -> Call {
        let mut call = Call::new(row.method.clone(), row.path, self.cred(caller));
        let fill = |value: &str| {
            let open = row.path.find('{').expect("a path parameter");
            let close = row.path.find('}').expect("a path parameter");
            format!("{}{value}{}", &row.path[..open], &row.path[close + 1..])
        };
        let things = self.things.get(&subject);
        match row.target {
            Target::Nothing => {}
            Target::ExportCsv => {
                call.path = format!("{}?kind=village_inspection&format=csv", row.path);
            }
            Target::LoginAsCaller => {
                let user = caller.user().map_or("无此人", User::name);
                call = call.json(json!({"user": user, "password": PASSWORD}));
            }
            Target::FreshCode => {
                let user = caller.user().unwrap_or(User::Li);
                let code = new_enrollment_code();
                self.app
                    .db
                    .add_enrollment_code(
                        user.name(),
                        &secret_hash(&code),
                        "system",
                        now_ms() + 3_600_000,
                    )
                    .unwrap();
                call = call.json(json!({"code": code, "device_id": random_hex(16)}));
            }
            Target::OwnSession => {
                if let (Some(with_csrf), Some(user)) = (caller.web(), caller.user()) {
                    call.cred = self.app.login(user).await.cred(with_csrf);
                }
            }
            Target::CodeFor => call = call.json(json!({"user": subject.name()})),
            Target::QrOfCode => {
                let id = match (scope, caller.user()) {
                    (Scope::Out, _) => self.codes_issued_by[&User::Zhou],
                    (Scope::In, Some(User::Qian)) => self.code_for_qian,
                    (Scope::In, Some(u)) if self.codes_issued_by.contains_key(&u) => {
                        self.codes_issued_by[&u]
                    }
                    // 李巡查 (and the caller without a user): the admin's code for him.
                    (Scope::In, _) => self.codes_issued_by[&User::Admin],
                };
                call.path = fill(&id.to_string());
            }
            Target::DevicesOf => {
                call.path = format!("{}?user={}", row.path, percent(subject.name()));
            }
            Target::RevokeFreshDeviceOf => {
                let t = self
                    .app
                    .db
                    .add_token(subject.name(), &secret_hash(&new_token()), Some("spare"))
                    .unwrap();
                call.path = fill(&t.id.to_string());
            }
            Target::AssignmentsOf => {
                call.path = format!("{}?assignee={}", row.path, percent(subject.name()));
            }
            Target::AssignTo => call = call.json(assignment_for(subject)),
            Target::RemoveFreshAssignmentOf => call.path = fill(&self.fresh_assignment(subject)),
            Target::ReassignFreshAssignmentTo => {
                call.path = fill(&self.fresh_assignment(User::Li));
                let to = if subject == User::Li {
                    User::Qian
                } else {
                    subject
                };
                call = call.json(json!({"assignee": to.name()}));
            }
            Target::SyncRecordOf => {
                let things = things.expect("a field user");
                let author = caller.user().map_or("无名", User::name);
                let device = self
                    .devices
                    .get(&caller)
                    .cloned()
                    .unwrap_or_else(|| random_hex(16));
                // An edit of the subject's record ...
                let mut doc = RecordDoc::load(&things.record_bytes, ActorId::random()).unwrap();
                let heads = doc.heads();
                doc.set(
                    &self.template,
                    &FieldPath::parse("checklist.waste_bins.issue").unwrap(),
                    &json!(format!("{} 的修改", caller.label())),
                    &editor(author),
                )
                .unwrap();
                let edit = doc.save_after(&heads);
                // ... and a new record in their village.
                let id = uuid::Uuid::now_v7().to_string();
                let created = self
                    .new_record(&id, subject.village(), None, author, &device)
                    .save();
                let body = jingtu_protocol::encode(&SyncRequest {
                    protocol: PROTOCOL_VERSION,
                    device,
                    cursor: 0,
                    pushes: vec![
                        Push {
                            record: things.record.clone(),
                            changes: edit,
                        },
                        Push {
                            record: id,
                            changes: created,
                        },
                    ],
                    max_response_bytes: None,
                    scope_seq: 0,
                    scope_target: None,
                    scope_after: None,
                    catalog: None,
                })
                .unwrap();
                call = call.framed(body);
            }
            Target::CodeTablesText => {
                let (_, codes) = jingtu_model::TemplateSet::builtin_sources();
                let body = jingtu_protocol::encode(&jingtu_protocol::CatalogRequest {
                    protocol: PROTOCOL_VERSION,
                    want: vec![hex::encode(Sha256::digest(codes.as_bytes()))],
                })
                .unwrap();
                call = call.framed(body);
            }
            Target::PhotoStatusOf => {
                let body = jingtu_protocol::encode(&PhotoStatusRequest {
                    protocol: PROTOCOL_VERSION,
                    hashes: vec![things.expect("a field user").photo.clone()],
                })
                .unwrap();
                call = call.framed(body);
            }
            Target::PhotoOf => call.path = fill(&things.expect("a field user").photo),
            Target::RecordOf => call.path = fill(&things.expect("a field user").record),
            Target::ReviewOf => {
                call.path = fill(&things.expect("a field user").record);
                call = call.json(json!({"decision": "return",
                    "comments": [{"text": "请核实", "path": "village_name"}]}));
            }
            Target::CommentOn => {
                call.path = fill(&things.expect("a field user").record);
                call = call.json(json!({"comments": [{"text": "请核实"}]}));
            }
            Target::ResolveOn => {
                call.path = fill(&things.expect("a field user").record);
                call = call.json(json!({"path": "village_name", "value": "东岗村"}));
            }
            Target::LabSamplesOf => {}
            Target::LabSampleOf => call.path = fill(&subject.blind_code()),
            Target::LabResultsFor => {
                call.path = fill(&subject.blind_code());
                call = call.json(json!({"ph": 6.5}));
            }
            Target::FreshPhotoPart => {
                // One byte of two of a photo no record holds: only an admin's upload is taken
                // (as a partial upload, never checked against the hash).
                let hash = hex::encode(Sha256::digest(random_hex(16).as_bytes()));
                call.path = fill(&hash);
                call = call.photo_part(0, 2, vec![0xff]);
            }
        }
        call
    }
}

/// An assignment request: inspect the user's village, in their org unit.
fn assignment_for(user: User) -> Value {
    json!({
        "assignee": user.name(),
        "target_kind": "village",
        "target": user.village(),
        "target_name": "村庄巡查",
        "kind": "village_inspection",
        "org_unit": user.org_unit().unwrap(),
        "due_date": "2024-10-31",
    })
}

fn editor(author: &str) -> Editor {
    Editor {
        author: author.to_string(),
        time_ms: now_ms(),
    }
}

/// Percent-encodes a query value.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
