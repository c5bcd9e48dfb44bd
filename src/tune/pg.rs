//! A shared study in PostgreSQL ([`PgStore`]): the study, its tasks (state, claiming worker,
//! heartbeat, error), records, each trial's latest checkpoint and last model, in five
//! `digits_*` tables that the first worker creates.
//!
//! Claims take the first runnable task with `FOR UPDATE SKIP LOCKED`, so concurrent workers
//! never wait on each other's claims; [`SharedStore::finish`] locks the study row, so the
//! records the decision reads are all the recorded ones and two results of one round cannot
//! both miss the promotion. Every row is checked against explicit limits before it sizes an
//! allocation: blob lengths are asked (`octet_length`) before the blob is fetched.
//!
//! Credentials come from the URL, else `PGPASSWORD`, else `~/.pgpass` (the file libpq reads);
//! they are never shown: [`PgStore::location`] prints the URL without its password and every
//! error passes through [`redact`]. TLS (rustls, the Mozilla roots) is used as the URL's
//! `sslmode` asks.

use super::results::TrialRecord;
use super::search::Task;
use super::shared::{Claim, Claimed, Decide, ModelFiles, SharedStore, StudyMeta, TaskRow, TaskState, WorkerId};
use super::study::Settings;
use crate::{Error, Result};
use postgres::{Client, Config, Transaction};
use std::time::Duration;

/// Longest settings or record text read from a row.
const MAX_TEXT: i64 = 16 << 20;
/// Longest error text stored with a failed task.
const MAX_ERROR: usize = 4000;

/// A study in a PostgreSQL database.
pub struct PgStore {
    config: Config,
    client: Client,
    name: String,
    /// The study's id once created or loaded.
    id: Option<i64>,
    ctx: Ctx,
}

/// How messages name the study, and the password they must never show.
#[derive(Clone)]
struct Ctx {
    /// The URL without password, and the study.
    shown: String,
    password: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS digits_studies (
    id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, settings text NOT NULL, meta text NOT NULL,
    created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS digits_tasks (
    study bigint NOT NULL REFERENCES digits_studies(id) ON DELETE CASCADE, trial bigint NOT NULL,
    stage bigint NOT NULL, bracket bigint, round bigint, epochs bigint NOT NULL, state text NOT NULL,
    token bigint NOT NULL DEFAULT 0, host text, pid bigint, heartbeat timestamptz, error text,
    PRIMARY KEY (study, trial, stage));
CREATE TABLE IF NOT EXISTS digits_records (
    seq bigserial PRIMARY KEY, study bigint NOT NULL REFERENCES digits_studies(id) ON DELETE CASCADE,
    trial bigint NOT NULL, stage bigint NOT NULL, record text NOT NULL, UNIQUE (study, trial, stage));
CREATE TABLE IF NOT EXISTS digits_checkpoints (
    study bigint NOT NULL REFERENCES digits_studies(id) ON DELETE CASCADE, trial bigint NOT NULL,
    epochs bigint NOT NULL, bytes bytea NOT NULL, PRIMARY KEY (study, trial));
CREATE TABLE IF NOT EXISTS digits_models (
    study bigint NOT NULL REFERENCES digits_studies(id) ON DELETE CASCADE, trial bigint NOT NULL,
    epochs bigint NOT NULL, model_json bytea NOT NULL, weights bytea NOT NULL,
    history_json bytea NOT NULL, history_csv bytea NOT NULL, PRIMARY KEY (study, trial));
";

/// `text` with every occurrence of `password` replaced by `***`.
pub fn redact(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_string(),
    }
}

/// A task's key within its trial: its Hyperband round, 0 for random search.
fn stage(t: &Task) -> i64 {
    t.round.unwrap_or(0) as i64
}

fn opt_i64(v: Option<usize>) -> Option<i64> {
    v.map(|x| x as i64)
}

impl PgStore {
    /// Connects to the database of `url` for study `name` (credentials: the URL, `PGPASSWORD`,
    /// `~/.pgpass`) and makes sure the tables exist.
    pub fn connect(url: &str, name: &str) -> Result<PgStore> {
        super::shared::check_name(name)?;
        let mut config: Config = url.parse().map_err(|e| {
            Error::Invalid(format!("--storage: not a PostgreSQL URL ({})", redact(&format!("{e}"), None)))
        })?;
        fill_credentials(&mut config);
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned());
        let ctx = Ctx { shown: format!("{} (study {name})", shown_url(&config)), password };
        let client = open(&config, &ctx)?;
        let mut store = PgStore { config, client, name: name.into(), id: None, ctx };
        store.ensure_schema()?;
        Ok(store)
    }

    fn err(&self, what: &str, e: impl std::error::Error) -> Error {
        self.ctx.err(what, e)
    }

    fn bad(&self, message: String) -> Error {
        self.ctx.bad(message)
    }

    fn ensure_schema(&mut self) -> Result<()> {
        let ctx = &self.ctx;
        let e = |x: postgres::Error| ctx.err("creating the tables", x);
        // Concurrent CREATE TABLE IF NOT EXISTS can collide: one worker at a time.
        let mut tx = self.client.transaction().map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock(7140233)", &[]).map_err(e)?;
        tx.batch_execute(SCHEMA).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// The study's id, looked up once.
    fn id(&mut self) -> Result<i64> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let row = self
            .client
            .query_opt("SELECT id FROM digits_studies WHERE name = $1", &[&self.name])
            .map_err(|e| self.err("reading the study", e))?;
        let id: i64 = row
            .ok_or_else(|| {
                self.bad(
                    "no such study in this database; create it with `digits tune --space … --storage … --study …` (or `digits ensemble train … --storage … --study …`)"
                        .into(),
                )
            })?
            .get(0);
        self.id = Some(id);
        Ok(id)
    }

    /// The first failed task's error, else whether any task is queued or running.
    fn what_now(&mut self, id: i64) -> Result<Claimed> {
        let rows = self
            .client
            .query(
                "SELECT state, count(*), min(trial), left(min(error), 4000) FROM digits_tasks WHERE study = $1
                 AND state IN ('queued', 'running', 'failed') GROUP BY state",
                &[&id],
            )
            .map_err(|e| self.err("reading the tasks", e))?;
        if let Some(f) = rows.iter().find(|r| r.get::<_, String>(0) == "failed") {
            let (trial, error): (i64, Option<String>) = (f.get(2), f.get(3));
            return Ok(Claimed::Failed(format!("trial {trial}: {}", error.unwrap_or_default())));
        }
        Ok(if rows.is_empty() { Claimed::Finished } else { Claimed::Wait })
    }

    /// A blob column's total length for the study's trial, then the row when within `limit`.
    fn capped(
        &mut self,
        what: &str,
        sql_len: &str,
        sql: &str,
        trial: usize,
        limit: usize,
    ) -> Result<Option<postgres::Row>> {
        let id = self.id()?;
        let args: [&(dyn postgres::types::ToSql + Sync); 2] = [&id, &(trial as i64)];
        let len = self.client.query_opt(sql_len, &args).map_err(|e| self.err(what, e))?;
        let Some(len) = len else { return Ok(None) };
        let len: i64 = len.get(0);
        if len < 0 || len as u64 > limit as u64 {
            return Err(
                self.bad(format!("trial {trial}: {what}: {len} bytes, more than the {limit} its model can take"))
            );
        }
        self.client.query_opt(sql, &args).map_err(|e| self.err(what, e))
    }
}

impl Ctx {
    /// `what` failed with `e` (and the causes it wraps: the server's own message).
    fn err(&self, what: &str, e: impl std::error::Error) -> Error {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        Error::Study {
            study: self.shown.clone(),
            message: redact(&format!("{what}: {text}"), self.password.as_deref()),
        }
    }

    fn bad(&self, message: String) -> Error {
        Error::Study { study: self.shown.clone(), message }
    }

    /// Reads every record of the study (in `tx`), each capped and parsed.
    fn read_records(&self, tx: &mut Transaction, id: i64) -> Result<Vec<TrialRecord>> {
        let rows = tx
            .query(
                "SELECT trial, octet_length(record)::bigint, CASE WHEN octet_length(record)::bigint <= $2 THEN record END
                 FROM digits_records WHERE study = $1 ORDER BY seq",
                &[&id, &MAX_TEXT],
            )
            .map_err(|e| self.err("reading the records", e))?;
        rows.iter()
            .map(|row| {
                let (trial, len, text): (i64, i64, Option<String>) = (row.get(0), row.get(1), row.get(2));
                let text =
                    text.ok_or_else(|| self.bad(format!("trial {trial}: record: {len} bytes, more than {MAX_TEXT}")))?;
                serde_json::from_str(&text).map_err(|e| self.bad(format!("trial {trial}: record: {e}")))
            })
            .collect()
    }

    /// Whether `claim` still holds its task (locking the task row in `tx`).
    fn holds(&self, tx: &mut Transaction, id: i64, claim: &Claim) -> Result<bool> {
        let t = &claim.task;
        let row = tx
            .query_opt(
                "SELECT 1 FROM digits_tasks WHERE study = $1 AND trial = $2 AND stage = $3 AND token = $4
                 AND state = 'running' FOR UPDATE",
                &[&id, &(t.trial as i64), &stage(t), &claim.token],
            )
            .map_err(|e| self.err("checking the claim", e))?;
        Ok(row.is_some())
    }

    /// Queues those of `tasks` not there yet (never touching the rows of running tasks, which
    /// their workers lock).
    fn queue(&self, tx: &mut Transaction, id: i64, tasks: &[Task]) -> Result<()> {
        let rows = tx
            .query("SELECT trial, stage FROM digits_tasks WHERE study = $1", &[&id])
            .map_err(|e| self.err("reading the tasks", e))?;
        let have: std::collections::HashSet<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for t in tasks.iter().filter(|t| !have.contains(&(t.trial as i64, stage(t)))) {
            tx.execute(
                "INSERT INTO digits_tasks (study, trial, stage, bracket, round, epochs, state)
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued') ON CONFLICT DO NOTHING",
                &[&id, &(t.trial as i64), &stage(t), &opt_i64(t.bracket), &opt_i64(t.round), &(t.epochs as i64)],
            )
            .map_err(|e| self.err("queueing tasks", e))?;
        }
        Ok(())
    }
}

/// Opens a connection (a 10 s connect timeout unless the URL sets one; TLS as `sslmode` asks).
fn open(config: &Config, ctx: &Ctx) -> Result<Client> {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    config.connect(tls).map_err(|e| ctx.err("connecting", e))
}

/// The URL as messages show it: user, hosts, ports and database, never the password.
fn shown_url(c: &Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = c.get_ports().iter().map(u16::to_string).collect();
    format!(
        "postgres://{}@{}{}/{}",
        c.get_user().unwrap_or(""),
        hosts.join(","),
        if ports.is_empty() { String::new() } else { format!(":{}", ports.join(",")) },
        c.get_dbname().unwrap_or("")
    )
}

/// Fills the user (`PGUSER`, `USER`) and password (`PGPASSWORD`, `~/.pgpass`) the URL lacks.
fn fill_credentials(c: &mut Config) {
    if c.get_user().is_none() {
        let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
        c.user(&user);
    }
    if c.get_password().is_some() {
        return;
    }
    if let Ok(p) = std::env::var("PGPASSWORD") {
        c.password(p);
        return;
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")));
    let text = file.and_then(|f| crate::input::read_capped(&f, 1 << 20).ok()).unwrap_or_default();
    if let Some(p) = pgpass_lookup(&String::from_utf8_lossy(&text), c) {
        c.password(p);
    }
}

/// The password of the first `host:port:database:user:password` line of a `.pgpass` file that
/// matches `c` (`*` matches anything; `\:` and `\\` are a colon and a backslash).
pub fn pgpass_lookup(text: &str, c: &Config) -> Option<String> {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = c.get_user().unwrap_or("").to_string();
    let db = c.get_dbname().map_or_else(|| user.clone(), str::to_string);
    let want = [host, port, db, user];
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = split_pgpass(line);
        let matches = fields.len() == 5 && fields[..4].iter().zip(&want).all(|(f, w)| f == "*" || f == w);
        matches.then(|| fields[4].clone())
    })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => cur.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

impl SharedStore for PgStore {
    fn create(&mut self, settings: &Settings, meta: &StudyMeta, decide: Decide) -> Result<()> {
        let text = serde_json::to_string(settings).expect("settings serialise");
        let meta_text = serde_json::to_string(meta).expect("meta serialises");
        let ctx = &self.ctx;
        let e = |what: &str, x: postgres::Error| ctx.err(what, x);
        let mut tx = self.client.transaction().map_err(|x| e("creating the study", x))?;
        tx.execute("SELECT pg_advisory_xact_lock(7140234)", &[]).map_err(|x| e("creating the study", x))?;
        let old = tx
            .query_opt("SELECT settings, meta FROM digits_studies WHERE name = $1", &[&self.name])
            .map_err(|x| e("reading the study", x))?;
        if let Some(old) = old {
            let (s, m): (String, String) = (old.get(0), old.get(1));
            return super::shared::same_study(settings, meta, &s, &m).map_err(|m| ctx.bad(m));
        }
        let row = tx
            .query_one(
                "INSERT INTO digits_studies (name, settings, meta) VALUES ($1, $2, $3) RETURNING id",
                &[&self.name, &text, &meta_text],
            )
            .map_err(|x| e("creating the study", x))?;
        let id: i64 = row.get(0);
        ctx.queue(&mut tx, id, &decide(&[])?)?;
        tx.commit().map_err(|x| e("creating the study", x))?;
        self.id = Some(id);
        Ok(())
    }

    fn load(&mut self) -> Result<(Settings, StudyMeta)> {
        let id = self.id()?;
        let row = self
            .client
            .query_one(
                "SELECT n, CASE WHEN n <= $2 THEN settings END, CASE WHEN n <= $2 THEN meta END
                 FROM (SELECT (octet_length(settings) + octet_length(meta))::bigint AS n, settings, meta
                       FROM digits_studies WHERE id = $1) s",
                &[&id, &MAX_TEXT],
            )
            .map_err(|e| self.err("reading the study", e))?;
        let (len, s, m): (i64, Option<String>, Option<String>) = (row.get(0), row.get(1), row.get(2));
        let (Some(s), Some(m)) = (s, m) else {
            return Err(self.bad(format!("settings: {len} bytes, more than {MAX_TEXT}")));
        };
        super::shared::parse_study(&s, &m).map_err(|e| self.bad(e))
    }

    fn claim(&mut self, worker: &WorkerId) -> Result<Claimed> {
        let id = self.id()?;
        let lease = self.load()?.1.lease_seconds;
        let ctx = &self.ctx;
        let e = |x: postgres::Error| ctx.err("claiming a trial", x);
        let mut tx = self.client.transaction().map_err(e)?;
        // MATERIALIZED: the one row is chosen once (a subquery the planner rescans could lock
        // and hand out several).
        let rows = tx
            .query(
                "WITH c AS MATERIALIZED (SELECT trial, stage FROM digits_tasks WHERE study = $1 AND (state = 'queued'
                       OR (state = 'running' AND heartbeat < now() - make_interval(secs => $4)))
                       ORDER BY trial, stage LIMIT 1 FOR UPDATE SKIP LOCKED)
                 UPDATE digits_tasks t SET state = 'running', token = t.token + 1, host = $2, pid = $3,
                     heartbeat = now(), error = NULL
                 FROM c WHERE t.study = $1 AND t.trial = c.trial AND t.stage = c.stage
                 RETURNING t.trial, t.bracket, t.round, t.epochs, t.token",
                &[&id, &worker.host, &(worker.pid as i64), &lease],
            )
            .map_err(e)?;
        if rows.len() > 1 {
            return Err(ctx.bad(format!("a claim took {} tasks; nothing was claimed", rows.len())));
        }
        tx.commit().map_err(e)?;
        let Some(row) = rows.first() else { return self.what_now(id) };
        let (trial, bracket, round, epochs): (i64, Option<i64>, Option<i64>, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let task = task_of(trial, bracket, round, epochs).map_err(|m| self.bad(m))?;
        Ok(Claimed::Task(Claim { task, token: row.get(4) }))
    }

    fn heartbeat(&mut self, claim: &Claim) -> Result<bool> {
        let id = self.id()?;
        let t = &claim.task;
        let n = self
            .client
            .execute(
                "UPDATE digits_tasks SET heartbeat = now() WHERE study = $1 AND trial = $2 AND stage = $3
                 AND token = $4 AND state = 'running'",
                &[&id, &(t.trial as i64), &stage(t), &claim.token],
            )
            .map_err(|e| self.err("heart-beating", e))?;
        Ok(n == 1)
    }

    fn checkpoint(&mut self, trial: usize, limit: usize) -> Result<Option<Vec<u8>>> {
        let row = self.capped(
            "checkpoint",
            "SELECT octet_length(bytes)::bigint FROM digits_checkpoints WHERE study = $1 AND trial = $2",
            "SELECT bytes FROM digits_checkpoints WHERE study = $1 AND trial = $2",
            trial,
            limit,
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn save_checkpoint(&mut self, claim: &Claim, epochs: usize, bytes: &[u8]) -> Result<bool> {
        let id = self.id()?;
        let ctx = &self.ctx;
        let e = |x: postgres::Error| ctx.err("saving a checkpoint", x);
        let mut tx = self.client.transaction().map_err(e)?;
        let t = &claim.task;
        let held = tx
            .execute(
                "UPDATE digits_tasks SET heartbeat = now() WHERE study = $1 AND trial = $2 AND stage = $3
                 AND token = $4 AND state = 'running'",
                &[&id, &(t.trial as i64), &stage(t), &claim.token],
            )
            .map_err(e)?;
        if held != 1 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO digits_checkpoints (study, trial, epochs, bytes) VALUES ($1, $2, $3, $4)
             ON CONFLICT (study, trial) DO UPDATE SET epochs = excluded.epochs, bytes = excluded.bytes",
            &[&id, &(t.trial as i64), &(epochs as i64), &bytes],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(true)
    }

    fn finish(
        &mut self,
        claim: &Claim,
        record: &TrialRecord,
        model: Option<&ModelFiles>,
        decide: Decide,
    ) -> Result<bool> {
        let id = self.id()?;
        finish_in(&self.ctx, &mut self.client, id, claim, record, model, decide)
    }

    fn fail(&mut self, claim: &Claim, error: &str) -> Result<()> {
        let id = self.id()?;
        let t = &claim.task;
        let error: String = redact(error, self.ctx.password.as_deref()).chars().take(MAX_ERROR).collect();
        self.client
            .execute(
                "UPDATE digits_tasks SET state = 'failed', error = $5 WHERE study = $1 AND trial = $2
                 AND stage = $3 AND token = $4",
                &[&id, &(t.trial as i64), &stage(t), &claim.token, &error],
            )
            .map_err(|e| self.err("recording the failure", e))?;
        Ok(())
    }

    fn records(&mut self) -> Result<Vec<TrialRecord>> {
        let id = self.id()?;
        let ctx = &self.ctx;
        let mut tx = self.client.transaction().map_err(|e| ctx.err("reading the records", e))?;
        ctx.read_records(&mut tx, id)
    }

    fn tasks(&mut self) -> Result<Vec<TaskRow>> {
        let id = self.id()?;
        let rows = self
            .client
            .query(
                "SELECT t.trial, t.bracket, t.round, t.epochs, t.state, left(t.host, 256), t.pid,
                     extract(epoch FROM now() - t.heartbeat)::float8, left(t.error, 4000), c.epochs
                 FROM digits_tasks t LEFT JOIN digits_checkpoints c ON c.study = t.study AND c.trial = t.trial
                 WHERE t.study = $1 ORDER BY t.trial, t.stage LIMIT 1000000",
                &[&id],
            )
            .map_err(|e| self.err("reading the tasks", e))?;
        rows.iter().map(|r| task_row(r).map_err(|m| self.bad(m))).collect()
    }

    fn model(&mut self, trial: usize, limit: usize) -> Result<Option<ModelFiles>> {
        let row = self.capped(
            "model",
            "SELECT (octet_length(model_json) + octet_length(weights) + octet_length(history_json)
                 + octet_length(history_csv))::bigint FROM digits_models WHERE study = $1 AND trial = $2",
            "SELECT model_json, weights, history_json, history_csv FROM digits_models WHERE study = $1 AND trial = $2",
            trial,
            limit,
        )?;
        Ok(row.map(|r| ModelFiles {
            model_json: r.get(0),
            weights: r.get(1),
            history_json: r.get(2),
            history_csv: r.get(3),
        }))
    }

    fn reopen(&self) -> Result<Box<dyn SharedStore>> {
        let client = open(&self.config, &self.ctx)?;
        Ok(Box::new(PgStore {
            config: self.config.clone(),
            client,
            name: self.name.clone(),
            id: self.id,
            ctx: self.ctx.clone(),
        }))
    }

    fn location(&self) -> String {
        self.ctx.shown.clone()
    }
}

/// [`SharedStore::finish`] on `client`: the study row locked, the claim checked, the record and
/// model stored, the tasks the records now allow queued, in one transaction.
fn finish_in(
    ctx: &Ctx,
    client: &mut Client,
    id: i64,
    claim: &Claim,
    record: &TrialRecord,
    model: Option<&ModelFiles>,
    decide: Decide,
) -> Result<bool> {
    let e = |x: postgres::Error| ctx.err("recording a result", x);
    let mut tx = client.transaction().map_err(e)?;
    // Finishers one at a time (NO KEY: a checkpoint's foreign key still shares the row).
    tx.execute("SELECT 1 FROM digits_studies WHERE id = $1 FOR NO KEY UPDATE", &[&id]).map_err(e)?;
    if !ctx.holds(&mut tx, id, claim)? {
        return Ok(false);
    }
    let t = &claim.task;
    let (trial, st) = (t.trial as i64, stage(t));
    let text = serde_json::to_string(record).expect("a record serialises");
    tx.execute(
        "INSERT INTO digits_records (study, trial, stage, record) VALUES ($1, $2, $3, $4)",
        &[&id, &trial, &st, &text],
    )
    .map_err(e)?;
    tx.execute(
        "UPDATE digits_tasks SET state = 'done' WHERE study = $1 AND trial = $2 AND stage = $3",
        &[&id, &trial, &st],
    )
    .map_err(e)?;
    if let Some(m) = model {
        tx.execute(
            "INSERT INTO digits_models (study, trial, epochs, model_json, weights, history_json, history_csv)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (study, trial) DO UPDATE SET epochs = excluded.epochs,
                 model_json = excluded.model_json, weights = excluded.weights, history_json = excluded.history_json,
                 history_csv = excluded.history_csv",
            &[&id, &trial, &(t.epochs as i64), &m.model_json, &m.weights, &m.history_json, &m.history_csv],
        )
        .map_err(e)?;
    }
    let records = ctx.read_records(&mut tx, id)?;
    ctx.queue(&mut tx, id, &decide(&records)?)?;
    // A finished study's checkpoints are spent (a promoted trial still needs its own).
    tx.execute(
        "DELETE FROM digits_checkpoints WHERE study = $1 AND NOT EXISTS
             (SELECT 1 FROM digits_tasks WHERE study = $1 AND state IN ('queued', 'running'))",
        &[&id],
    )
    .map_err(e)?;
    tx.commit().map_err(e)?;
    Ok(true)
}

/// A task from a row's columns, each checked to be a whole number a task can have.
fn task_of(trial: i64, bracket: Option<i64>, round: Option<i64>, epochs: i64) -> std::result::Result<Task, String> {
    let whole =
        |name: &str, v: i64| usize::try_from(v).map_err(|_| format!("trial {trial}: {name} is {v}, not a count"));
    let opt = |name: &str, v: Option<i64>| v.map(|v| whole(name, v)).transpose();
    Ok(Task {
        trial: whole("trial", trial)?,
        bracket: opt("bracket", bracket)?,
        round: opt("round", round)?,
        epochs: whole("epochs", epochs)?,
    })
}

fn task_row(r: &postgres::Row) -> std::result::Result<TaskRow, String> {
    let task = task_of(r.get(0), r.get(1), r.get(2), r.get(3))?;
    let state: String = r.get(4);
    let state = TaskState::from_name(&state)
        .ok_or_else(|| format!("trial {}: state `{}` is not a task state", task.trial, state.escape_debug()))?;
    let (host, pid): (Option<String>, Option<i64>) = (r.get(5), r.get(6));
    let worker = match (host, pid) {
        (Some(host), Some(pid)) => {
            Some(WorkerId { host, pid: u32::try_from(pid).map_err(|_| format!("trial {}: pid {pid}", task.trial))? })
        }
        _ => None,
    };
    let checkpoint: Option<i64> = r.get(9);
    let checkpoint_epochs = checkpoint
        .map(|c| usize::try_from(c).map_err(|_| format!("trial {}: checkpoint epochs {c}", task.trial)))
        .transpose()?;
    Ok(TaskRow { task, state, worker, heartbeat_age: r.get(7), checkpoint_epochs, error: r.get(8) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        url.parse().expect("a URL")
    }

    #[test]
    fn pgpass_lines_match_by_host_port_database_and_user_with_wildcards_and_escapes() {
        let c = config("postgres://ann@db.example:6543/tune");
        let text = "# comment\nother:6543:tune:ann:no\ndb.example:6543:tune:bob:no\n*:6543:tune:ann:pa\\:ss\\\\1\n*:*:*:*:late";
        assert_eq!(pgpass_lookup(text, &c).as_deref(), Some("pa:ss\\1"));
        assert_eq!(pgpass_lookup("db.example:5432:tune:ann:x", &c), None, "another port");
        // No database in the URL: the user's name is the database, as libpq has it.
        let c = config("postgres://ann@localhost");
        assert_eq!(pgpass_lookup("localhost:5432:ann:ann:y", &c).as_deref(), Some("y"));
    }

    #[test]
    fn shown_urls_and_redacted_messages_never_hold_the_password() {
        let c = config("postgres://ann:s3cr3t-pw@db.example:6543/tune?sslmode=require");
        let shown = shown_url(&c);
        assert_eq!(shown, "postgres://ann@db.example:6543/tune");
        assert_eq!(redact("auth failed for s3cr3t-pw at s3cr3t-pw", Some("s3cr3t-pw")), "auth failed for *** at ***");
        assert_eq!(redact("nothing to hide", Some("")), "nothing to hide");
    }
}
