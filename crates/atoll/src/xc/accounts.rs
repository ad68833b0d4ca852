//! Viewer accounts in the store (`viewer_account`, migration 7), their validation, and the CSV
//! form operators import and export (one account per cabin).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::wire;
use crate::store::StoreError;

/// A viewer account as stored (the password only as its Argon2id hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub password_hash: String,
    pub enabled: bool,
    /// `YYYY-MM-DD`, the last day it may watch; None = never expires.
    pub expires: Option<String>,
    pub max_connections: u32,
    /// Channel groups it may watch; empty = every group.
    pub groups: Vec<String>,
    /// VOD category names it may watch; empty = every category.
    pub vod_categories: Vec<String>,
    pub note: String,
    pub created_utc_ms: i64,
    pub last_seen_utc_ms: Option<i64>,
}

impl Account {
    /// The API's view (never the password), with its active connections.
    pub fn to_json(&self, active_connections: usize) -> Value {
        json!({
            "username": self.username,
            "enabled": self.enabled,
            "expires": self.expires,
            "max_connections": self.max_connections,
            "packages": {"groups": self.groups, "vod_categories": self.vod_categories},
            "note": self.note,
            "created": media::UtcMs(self.created_utc_ms).to_rfc3339(),
            "last_seen": self.last_seen_utc_ms.map(|t| media::UtcMs(t).to_rfc3339()),
            "active_connections": active_connections,
        })
    }

    /// May it watch a channel of this group?
    pub fn may_watch_group(&self, group: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| g == group)
    }

    /// May it watch a title of this category ('' = uncategorised)?
    pub fn may_watch_category(&self, category: &str) -> bool {
        self.vod_categories.is_empty() || self.vod_categories.iter().any(|c| c == category)
    }
}

/// Most accounts the store takes (setting `viewer_max_accounts`).
pub const DEFAULT_MAX_ACCOUNTS: usize = 100_000;

fn row(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    Ok(Account {
        username: r.get(0)?,
        password_hash: r.get(1)?,
        enabled: r.get::<_, i64>(2)? != 0,
        expires: r.get(3)?,
        max_connections: r.get(4)?,
        groups: list(r.get(5)?),
        vod_categories: list(r.get(6)?),
        note: r.get(7)?,
        created_utc_ms: r.get(8)?,
        last_seen_utc_ms: r.get(9)?,
    })
}

const COLUMNS: &str = "username, password_hash, enabled, expires, max_connections, groups_json, \
                       vod_categories_json, note, created_utc_ms, last_seen_utc_ms";

pub fn list(c: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM viewer_account ORDER BY username"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get(c: &Connection, username: &str) -> Result<Option<Account>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM viewer_account WHERE username = ?1"),
        [username],
        row,
    )
    .optional()?)
}

/// Inserts or replaces (by username) in one transaction; nothing is written if any fails.
pub fn put_all(
    c: &mut Connection,
    accounts: &[Account],
    now_utc_ms: i64,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    for a in accounts {
        tx.execute(
            "INSERT INTO viewer_account (username, password_hash, enabled, expires, max_connections,
                 groups_json, vod_categories_json, note, created_utc_ms, updated_utc_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (username) DO UPDATE SET password_hash = ?2, enabled = ?3, expires = ?4,
                 max_connections = ?5, groups_json = ?6, vod_categories_json = ?7, note = ?8,
                 updated_utc_ms = ?10",
            params![
                a.username,
                a.password_hash,
                a.enabled as i64,
                a.expires,
                a.max_connections,
                serde_json::to_string(&a.groups).unwrap_or_else(|_| "[]".into()),
                serde_json::to_string(&a.vod_categories).unwrap_or_else(|_| "[]".into()),
                a.note,
                a.created_utc_ms,
                now_utc_ms
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn count(c: &Connection) -> Result<usize, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM viewer_account", [], |r| {
        r.get::<_, i64>(0)
    })? as usize)
}

pub fn delete(c: &Connection, username: &str) -> Result<(), StoreError> {
    match c.execute("DELETE FROM viewer_account WHERE username = ?1", [username])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Notes when accounts were last seen (batched by the caller, at most once a minute each).
pub fn seen(c: &mut Connection, seen: &[(String, i64)]) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    for (u, at) in seen {
        tx.execute(
            "UPDATE viewer_account SET last_seen_utc_ms = ?2 WHERE username = ?1",
            params![u, at],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The changes one API body or CSV line asks for (None = leave as it is).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    pub password: Option<String>,
    pub enabled: Option<bool>,
    /// Some(None) = never expires.
    pub expires: Option<Option<String>>,
    pub max_connections: Option<u32>,
    pub groups: Option<Vec<String>>,
    pub vod_categories: Option<Vec<String>>,
    pub note: Option<String>,
}

/// A bad field: its name and what is wrong.
pub type FieldError = (&'static str, String);

fn list_field(v: &Value, name: &'static str) -> Result<Vec<String>, FieldError> {
    let Value::Array(items) = v else {
        return Err((name, "must be a list of names".into()));
    };
    if items.len() > 1000 {
        return Err((name, "at most 1000 names".into()));
    }
    let mut out = Vec::new();
    for i in items {
        match i.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 200 => {
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_string())
                }
            }
            _ => return Err((name, "must hold names of 1 to 200 characters".into())),
        }
    }
    Ok(out)
}

/// Reads the fields of an API body (`POST`/`PUT /api/viewers…`).
pub fn change_from_json(body: &serde_json::Map<String, Value>) -> Result<Change, FieldError> {
    let mut ch = Change::default();
    for (k, v) in body {
        match k.as_str() {
            "username" => {}
            "password" => match v.as_str() {
                Some(p) => {
                    wire::valid_password(p).map_err(|e| ("password", e.to_string()))?;
                    ch.password = Some(p.to_string());
                }
                None => return Err(("password", "must be a string".into())),
            },
            "enabled" => {
                ch.enabled = Some(
                    v.as_bool()
                        .ok_or(("enabled", "must be true or false".into()))?,
                )
            }
            "expires" => {
                ch.expires = Some(match v {
                    Value::Null => None,
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(valid_expiry(s)?),
                    _ => return Err(("expires", "must be a date YYYY-MM-DD or null".into())),
                })
            }
            "max_connections" => {
                ch.max_connections = Some(
                    v.as_u64()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or(("max_connections", "must be a whole number 1..100".into()))?
                        as u32,
                )
            }
            "packages" => {
                let Value::Object(p) = v else {
                    return Err((
                        "packages",
                        "must be {\"groups\": […], \"vod_categories\": […]}".into(),
                    ));
                };
                for (pk, pv) in p {
                    match pk.as_str() {
                        "groups" => ch.groups = Some(list_field(pv, "packages.groups")?),
                        "vod_categories" => {
                            ch.vod_categories = Some(list_field(pv, "packages.vod_categories")?)
                        }
                        _ => return Err(("packages", format!("unknown field '{pk}'"))),
                    }
                }
            }
            "note" => {
                let n = v.as_str().ok_or(("note", "must be a string".into()))?;
                if n.chars().count() > 500 {
                    return Err(("note", "at most 500 characters".into()));
                }
                ch.note = Some(n.to_string());
            }
            // read-only fields the API returns are accepted back unchanged
            "created" | "last_seen" | "active_connections" => {}
            _ => return Err(("body", format!("unknown field '{k}'"))),
        }
    }
    Ok(ch)
}

fn valid_expiry(s: &str) -> Result<String, FieldError> {
    wire::parse_date(s)
        .map(|_| s.to_string())
        .ok_or(("expires", format!("'{s}' is not a date YYYY-MM-DD")))
}

/// Applies a change to an account (the password already hashed by the caller).
pub fn apply(a: &mut Account, ch: &Change, password_hash: Option<String>) {
    if let Some(h) = password_hash {
        a.password_hash = h;
    }
    if let Some(e) = ch.enabled {
        a.enabled = e;
    }
    if let Some(e) = &ch.expires {
        a.expires = e.clone();
    }
    if let Some(m) = ch.max_connections {
        a.max_connections = m;
    }
    if let Some(g) = &ch.groups {
        a.groups = g.clone();
    }
    if let Some(v) = &ch.vod_categories {
        a.vod_categories = v.clone();
    }
    if let Some(n) = &ch.note {
        a.note = n.clone();
    }
}

/// A new account with the defaults (enabled, one connection, every package).
pub fn new_account(username: &str, now_utc_ms: i64) -> Account {
    Account {
        username: username.to_string(),
        password_hash: String::new(),
        enabled: true,
        expires: None,
        max_connections: 1,
        groups: vec![],
        vod_categories: vec![],
        note: String::new(),
        created_utc_ms: now_utc_ms,
        last_seen_utc_ms: None,
    }
}

/// The CSV header of import and export.
pub const CSV_HEADER: &str =
    "username,password,enabled,expires,max_connections,groups,vod_categories,note";

/// One CSV line: a username and its change. `password` empty = keep (or generate for a new
/// account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvLine {
    pub line: usize,
    pub username: String,
    pub change: Change,
}

/// A CSV record: its first line number and its fields.
type Record = (usize, Vec<String>);

/// Splits CSV text into records (RFC 4180: quoted fields with `""`, CRLF or LF).
fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut rec: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut line = 1;
    let mut rec_line = 1;
    let mut chars = text.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c)
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => rec.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                rec.push(std::mem::take(&mut field));
                if !(rec.len() == 1 && rec[0].trim().is_empty()) {
                    out.push((rec_line, std::mem::take(&mut rec)));
                }
                rec.clear();
                line += 1;
                rec_line = line;
            }
            _ => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err((rec_line, "a quoted field is not closed".into()));
    }
    if !at_start && (!field.is_empty() || !rec.is_empty()) {
        rec.push(field);
        out.push((rec_line, rec));
    }
    Ok(out)
}

/// Parses an import. Every error found is returned (line, message); no line is taken unless all are good.
pub fn parse_csv(text: &str) -> Result<Vec<CsvLine>, Vec<(usize, String)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let recs = records(text).map_err(|e| vec![e])?;
    let Some(((_, header), rest)) = recs.split_first() else {
        return Err(vec![(
            1,
            format!("empty: the first line must be the header {CSV_HEADER}"),
        )]);
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let known: Vec<&str> = CSV_HEADER.split(',').collect();
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(vec![(
            1,
            format!("unknown column '{bad}' (columns: {CSV_HEADER})"),
        )]);
    }
    if !names.iter().any(|n| n == "username") {
        return Err(vec![(1, "the header has no 'username' column".into())]);
    }
    let mut errors = Vec::new();
    let mut out: Vec<CsvLine> = Vec::new();
    for (line, rec) in rest {
        if rec.len() > names.len() {
            errors.push((
                *line,
                format!("{} fields, the header has {}", rec.len(), names.len()),
            ));
            continue;
        }
        let get = |n: &str| {
            names
                .iter()
                .position(|x| x == n)
                .and_then(|i| rec.get(i))
                .map(|s| s.trim().to_string())
        };
        let username = get("username").unwrap_or_default();
        if let Err(e) = wire::valid_username(&username) {
            errors.push((*line, format!("username '{username}' {e}")));
            continue;
        }
        if out.iter().any(|o| o.username == username) {
            errors.push((
                *line,
                format!("username '{username}' is on an earlier line too"),
            ));
            continue;
        }
        let mut obj = serde_json::Map::new();
        if let Some(p) = get("password").filter(|p| !p.is_empty()) {
            obj.insert("password".into(), json!(p));
        }
        if let Some(e) = get("enabled").filter(|e| !e.is_empty()) {
            match e.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => obj.insert("enabled".into(), json!(true)),
                "0" | "false" | "no" => obj.insert("enabled".into(), json!(false)),
                _ => {
                    errors.push((*line, format!("enabled '{e}' must be true or false")));
                    continue;
                }
            };
        }
        if let Some(e) = get("expires") {
            obj.insert(
                "expires".into(),
                if e.is_empty() { Value::Null } else { json!(e) },
            );
        }
        if let Some(m) = get("max_connections").filter(|m| !m.is_empty()) {
            match m.parse::<u64>() {
                Ok(n) => obj.insert("max_connections".into(), json!(n)),
                Err(_) => {
                    errors.push((
                        *line,
                        format!("max_connections '{m}' must be a whole number 1..100"),
                    ));
                    continue;
                }
            };
        }
        let split = |s: String| -> Value {
            json!(s
                .split('|')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>())
        };
        let mut packages = serde_json::Map::new();
        if let Some(g) = get("groups") {
            packages.insert("groups".into(), split(g));
        }
        if let Some(v) = get("vod_categories") {
            packages.insert("vod_categories".into(), split(v));
        }
        if !packages.is_empty() {
            obj.insert("packages".into(), Value::Object(packages));
        }
        if let Some(n) = get("note") {
            obj.insert("note".into(), json!(n));
        }
        match change_from_json(&obj) {
            Ok(change) => out.push(CsvLine {
                line: *line,
                username,
                change,
            }),
            Err((field, msg)) => errors.push((*line, format!("{field} {msg}"))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(['=', '+', '-', '@']) {
        // quoted; a leading formula character is neutralised for spreadsheets
        let s = if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The accounts as CSV (the password column empty: only hashes are kept).
pub fn to_csv(accounts: &[Account]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for a in accounts {
        let fields = [
            csv_field(&a.username),
            String::new(),
            a.enabled.to_string(),
            a.expires.clone().unwrap_or_default(),
            a.max_connections.to_string(),
            csv_field(&a.groups.join("|")),
            csv_field(&a.vod_categories.join("|")),
            csv_field(&a.note),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_quoting() {
        let mut a = new_account("cabin-1", 0);
        a.groups = vec!["News".into(), "Sport, live".into()];
        a.note = "deck \"A\"".into();
        a.expires = Some("2027-01-31".into());
        let text = to_csv(&[a.clone()]);
        let lines = parse_csv(&text).unwrap();
        assert_eq!(lines.len(), 1);
        let mut b = new_account("cabin-1", 0);
        apply(&mut b, &lines[0].change, None);
        assert_eq!(b.groups, a.groups);
        assert_eq!(b.note, a.note);
        assert_eq!(b.expires, a.expires);
        assert_eq!(lines[0].change.password, None, "export carries no password");
    }

    #[test]
    fn csv_errors_name_the_line_and_nothing_is_taken() {
        let text =
            "username,password,max_connections\nok1,pw,2\nbad:name,pw,1\nok2,pw,500\nok1,pw,1\n";
        let errs = parse_csv(text).unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![3, 4, 5], "{errs:?}");
        assert!(errs[1].1.contains("max_connections"));
        assert!(parse_csv("").is_err());
        assert!(parse_csv("name,pw\nx,y\n").unwrap_err()[0]
            .1
            .contains("unknown column"));
        assert!(parse_csv("username\n\"open\n").is_err());
    }

    #[test]
    fn csv_accepts_crlf_bom_partial_columns_and_blank_lines() {
        let text = "\u{feff}username,groups\r\ncabin1,News|Films\r\n\r\ncabin2,\r\n";
        let l = parse_csv(text).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].change.groups,
            Some(vec!["News".into(), "Films".into()])
        );
        assert_eq!(l[1].change.groups, Some(vec![]));
        assert_eq!(l[1].change.password, None);
    }

    #[test]
    fn json_changes_name_the_bad_field() {
        let bad = |v: Value| change_from_json(v.as_object().unwrap()).unwrap_err().0;
        assert_eq!(bad(json!({"max_connections": 0})), "max_connections");
        assert_eq!(bad(json!({"expires": "2027-02-30"})), "expires");
        assert_eq!(
            bad(json!({"packages": {"groups": "News"}})),
            "packages.groups"
        );
        assert_eq!(bad(json!({"password": "a/b"})), "password");
        assert_eq!(bad(json!({"colour": 1})), "body");
        let ok = change_from_json(
            json!({"expires": null, "packages": {"groups": ["A", "A"]}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(ok.expires, Some(None));
        assert_eq!(ok.groups, Some(vec!["A".into()]));
    }
}
