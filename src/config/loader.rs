//! Merging the configuration sources (defaults, file, environment, flags) into the schema,
//! each value checked against the type of its default.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::{Config, ENV_PREFIX};

/// Merges the sources into the schema, remembering which source set each key.
pub(super) struct Loader {
    defaults: Table,
    pub(super) merged: Table,
    /// "table.key" → source that last set it.
    pub(super) origins: BTreeMap<String, String>,
    pub(super) problems: Vec<String>,
}

impl Loader {
    pub(super) fn new() -> Self {
        let defaults = Table::try_from(Config::default()).unwrap_or_default();
        Loader { merged: defaults.clone(), defaults, origins: BTreeMap::new(), problems: Vec::new() }
    }

    pub(super) fn merge_file(&mut self, name: &str, text: &str) {
        let source = format!("file {name}");
        let file = match text.parse::<Table>() {
            Ok(file) => file,
            Err(e) => return self.problems.push(format!("{source}: {}", syntax_error(text, &e))),
        };
        for (table, values) in file {
            if !self.defaults.contains_key(&table) {
                self.default_of(&source, &table, "");
                continue;
            }
            let Value::Table(values) = values else {
                let found = values.type_str();
                self.problems.push(format!("{source}: {table}: expected a table [{table}], found {found}"));
                continue;
            };
            for (key, value) in values {
                if let Some(default) = self.default_of(&source, &table, &key) {
                    self.apply(&source, &table, &key, &default, value);
                }
            }
        }
    }

    pub(super) fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.strip_prefix(ENV_PREFIX).is_some_and(|rest| rest.contains("__")))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let path = name.strip_prefix(ENV_PREFIX).unwrap_or_default().to_ascii_lowercase();
            if let Some((table, key)) = path.split_once("__") {
                self.set_text(&format!("environment {name}"), table, key, &value);
            }
        }
    }

    /// Sets a value given as text, parsed according to the type of the default.
    pub(super) fn set_text(&mut self, source: &str, table: &str, key: &str, text: &str) {
        let Some(default) = self.default_of(source, table, key) else { return };
        let want = want(&default);
        match parse_text(&default, text) {
            Some(value) => self.apply(source, table, key, &default, value),
            None => self.problems.push(format!("{source}: [{table}] {key}: expected {want}, found {text:?}")),
        }
    }

    /// The default at `[table] key`, or records that the table or the key is unknown.
    fn default_of(&mut self, source: &str, table: &str, key: &str) -> Option<Value> {
        let Some(known) = self.defaults.get(table).and_then(Value::as_table) else {
            let hint = suggestion(table, self.defaults.keys());
            self.problems.push(format!("{source}: unknown table [{table}]{hint}"));
            return None;
        };
        if let Some(default) = known.get(key) {
            return Some(default.clone());
        }
        let hint = suggestion(key, known.keys());
        self.problems.push(format!("{source}: [{table}] {key}: unknown key{hint}"));
        None
    }

    /// Stores `value` if it has the default's type and fits the field.
    fn apply(&mut self, source: &str, table: &str, key: &str, default: &Value, value: Value) {
        // `center_lat = 48` in a file is a coordinate all the same.
        #[allow(clippy::cast_precision_loss)]
        let value = match (default, value) {
            (Value::Float(_), Value::Integer(n)) => Value::Float(n as f64),
            (_, value) => value,
        };
        if std::mem::discriminant(default) != std::mem::discriminant(&value) {
            let found = match &value {
                Value::Table(_) | Value::Array(_) => value.type_str().to_owned(),
                scalar => format!("{} {scalar}", scalar.type_str()),
            };
            return self.problems.push(format!("{source}: [{table}] {key}: expected {}, found {found}", want(default)));
        }
        // The schema knows "integer" and "array", not u32 or Vec<String>: try the value alone
        // on the defaults so that a range or element error is reported at its key.
        let mut trial = self.defaults.clone();
        if let Some(Value::Table(t)) = trial.get_mut(table) {
            t.insert(key.to_owned(), value.clone());
        }
        if let Err(e) = Value::Table(trial).try_into::<Config>() {
            let why = match &value {
                Value::Integer(n) if *n < 0 => format!("{n} is negative, expected zero or more"),
                Value::Integer(n) => format!("{n} is too large"),
                Value::Array(_) => format!("expected {}", want(default)),
                _ => e.message().to_owned(),
            };
            return self.problems.push(format!("{source}: [{table}] {key}: {why}"));
        }
        if let Some(Value::Table(t)) = self.merged.get_mut(table) {
            t.insert(key.to_owned(), value);
        }
        self.origins.insert(format!("{table}.{key}"), source.to_owned());
    }
}

/// Parses text from the environment or a flag as the type of `default`.
fn parse_text(default: &Value, text: &str) -> Option<Value> {
    match default {
        Value::String(_) => Some(Value::String(text.to_owned())),
        Value::Integer(_) => text.trim().parse::<i64>().ok().map(Value::Integer),
        Value::Float(_) => text.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float),
        Value::Boolean(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(Value::Boolean(true)),
            "false" | "0" | "no" => Some(Value::Boolean(false)),
            _ => None,
        },
        Value::Array(_) => Some(Value::Array(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        )),
        _ => None,
    }
}

/// What a value of the same type as `default` looks like, for messages.
fn want(default: &Value) -> &'static str {
    match default {
        Value::String(_) => "text (in double quotes in the file)",
        Value::Integer(_) => "a whole number",
        Value::Float(_) => "a number such as 48.85",
        Value::Boolean(_) => "true or false (yes/no or 1/0 in the environment and flags)",
        Value::Array(_) => "a list of texts, such as [\"a\", \"b\"] (a, b in the environment and flags)",
        other => other.type_str(),
    }
}

fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// " (did you mean `x`?)" for the closest known name, if close enough.
pub(super) fn suggestion<'a>(name: &str, known: impl IntoIterator<Item = &'a String>) -> String {
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
