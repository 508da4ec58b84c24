//! Partition pruning for the Athena source: which partitions of a table the analysis windows
//! can touch, and the SQL predicate that restricts a query to them.
//!
//! Athena bills and waits for every byte it scans, and a query without a predicate on the
//! partition columns scans the whole table (for ALB logs or CloudTrail, years of data). The
//! layout comes from the Glue Data Catalog (`glue:GetTable`): the table's `PartitionKeys` and,
//! for partition projection, its `Parameters` (`projection.enabled`, `projection.<key>.type`,
//! `.format`, `.interval.unit`). Two layouts are understood:
//!
//! - **A projected date key** (`projection.<key>.type = date`), as in the AWS documentation's
//!   partition-projection DDL for ALB logs (`day`, format `yyyy/MM/dd`) and CloudTrail
//!   (`timestamp`, format `yyyy/MM/dd`). The predicate is `"<key>" IN (...)` with every value
//!   of the key's granularity (`interval.unit`, days by default) between the first and the last
//!   instant read. The format is a Java `DateTimeFormatter` pattern; the letters `y M d H m s`
//!   and quoted literals are supported, anything else leaves the table unpruned (and says so).
//! - **Calendar keys** (`year`, `month`, `day`, optionally `hour`, as Hive partitions registered
//!   with `ALTER TABLE ADD PARTITION`, or projected as `integer`): one conjunction per UTC day,
//!   OR-ed together: `("year" = '2024' AND "month" = '08' AND "day" = '16') OR (...)`. String
//!   keys take zero-padded values (the `yyyy/MM/dd` of the S3 prefixes that ALB and CloudTrail
//!   write), integer keys take numbers.
//!
//! Keys of other kinds (a projected `enum` region, an `injected` account) are left open: every
//! value of them is read, which is what the table holds for this account anyway. A table whose
//! partition keys are none of the above is read unpruned, and the source status says which key
//! could not be used and how to supply a predicate (`alb_partition_predicate`, with the
//! `{day_from}`/`{day_to}` placeholders that [`PartitionPlan::render_override`] fills).
//!
//! # Late delivery
//!
//! A log file lands in the partition of the time it was delivered, which can be later than the
//! entries in it (ALB writes a file every 5 minutes, CloudTrail delivers in about 5 minutes on
//! average, not guaranteed). An entry is never filed *before* its own time, so the range starts
//! at the first instant read, and ends [`LATE_DELIVERY`] after the last one: only a window that
//! ends that close to midnight UTC reads the next day too.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, Timelike, Utc};
use std::collections::BTreeMap;

/// How long after an entry its file may still be delivered into a later partition.
pub const LATE_DELIVERY: ChronoDuration = ChronoDuration::minutes(30);
/// Beyond this many values an `IN` list gives way to a range (when the format sorts as text).
const MAX_IN_VALUES: usize = 200;

/// One partition key of a table, as `glue:GetTable` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKey {
    pub name: String,
    /// The Hive type (`string`, `int`, ...), lower case.
    pub data_type: String,
}

/// A table's partitioning as read from the Glue Data Catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableLayout {
    pub keys: Vec<PartitionKey>,
    /// The table's `Parameters` (partition projection settings among them).
    pub parameters: BTreeMap<String, String>,
}

impl TableLayout {
    fn projection(&self, key: &str, what: &str) -> Option<&str> {
        let enabled = self
            .parameters
            .get("projection.enabled")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if !enabled {
            return None;
        }
        self.parameters
            .get(&format!("projection.{key}.{what}"))
            .map(|s| s.trim())
    }
}

/// The restriction of one table's queries to the partitions that the windows touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// SQL predicate on the partition columns, `None` when the table cannot be pruned.
    pub predicate: Option<String>,
    /// The partition values (or value tuples) the predicate admits, for the status.
    pub partitions: usize,
    /// What could not be used, for the status (an unknown key, an unsupported format).
    pub note: Option<String>,
    /// First and last UTC day read, as `yyyy/MM/dd` (the override placeholders).
    pub day_from: String,
    pub day_to: String,
}

impl PartitionPlan {
    /// The user's predicate with `{day_from}` and `{day_to}` filled in.
    pub fn render_override(&self, template: &str) -> String {
        template
            .replace("{day_from}", &self.day_from)
            .replace("{day_to}", &self.day_to)
    }
}

/// The UTC days that `[from, to)` touches, `to` extended by [`LATE_DELIVERY`].
pub fn days_touched(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let first = from.date_naive();
    let last_instant = to + LATE_DELIVERY - ChronoDuration::milliseconds(1);
    let last = last_instant.date_naive().max(first);
    first.iter_days().take_while(|d| *d <= last).collect()
}

/// Plans the pruning of a table read over `[from, to)`.
pub fn plan(layout: &TableLayout, from: DateTime<Utc>, to: DateTime<Utc>) -> PartitionPlan {
    let days = days_touched(from, to);
    let fmt = |d: &NaiveDate| d.format("%Y/%m/%d").to_string();
    let mut out = PartitionPlan {
        predicate: None,
        partitions: 0,
        note: None,
        day_from: days.first().map(fmt).unwrap_or_default(),
        day_to: days.last().map(fmt).unwrap_or_default(),
    };
    if layout.keys.is_empty() {
        return out;
    }
    // A projected date key decides on its own.
    for key in &layout.keys {
        if layout
            .projection(&key.name, "type")
            .is_some_and(|t| t.eq_ignore_ascii_case("date"))
        {
            match projected_date(layout, key, from, to) {
                Ok((predicate, n)) => {
                    out.predicate = Some(predicate);
                    out.partitions = n;
                }
                Err(why) => out.note = Some(why),
            }
            return out;
        }
    }
    match calendar(layout, &days) {
        Some((predicate, n)) => {
            out.predicate = Some(predicate);
            out.partitions = n;
        }
        None => {
            let names: Vec<&str> = layout.keys.iter().map(|k| k.name.as_str()).collect();
            out.note = Some(format!(
                "partition keys {} are neither a projected date nor year/month/day: the query reads every partition; set a partition predicate in the config (with {{day_from}} and {{day_to}}) to restrict it",
                names.join(", ")
            ));
        }
    }
    out
}

/// A double-quoted identifier (partition keys such as `timestamp` are reserved words).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The granularity of a projected date key (`projection.<key>.interval.unit`).
fn unit_step(unit: Option<&str>) -> Result<ChronoDuration, String> {
    match unit.map(str::to_ascii_uppercase).as_deref() {
        None | Some("") | Some("DAYS") => Ok(ChronoDuration::days(1)),
        Some("HOURS") => Ok(ChronoDuration::hours(1)),
        Some("MINUTES") => Ok(ChronoDuration::minutes(1)),
        Some(other) => Err(format!(
            "projection interval unit {other} is not supported for pruning"
        )),
    }
}

fn floor_to(t: DateTime<Utc>, step: ChronoDuration) -> DateTime<Utc> {
    let t = t
        .with_nanosecond(0)
        .unwrap_or(t)
        .with_second(0)
        .unwrap_or(t);
    if step >= ChronoDuration::days(1) {
        t.with_minute(0).and_then(|t| t.with_hour(0)).unwrap_or(t)
    } else if step >= ChronoDuration::hours(1) {
        t.with_minute(0).unwrap_or(t)
    } else {
        t
    }
}

fn projected_date(
    layout: &TableLayout,
    key: &PartitionKey,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(String, usize), String> {
    let java = layout
        .projection(&key.name, "format")
        .ok_or_else(|| format!("projected date key `{}` has no format", key.name))?;
    let format = JavaDateFormat::parse(java).map_err(|e| {
        format!(
            "projected date key `{}`: {e}; the query reads every partition",
            key.name
        )
    })?;
    let step = unit_step(layout.projection(&key.name, "interval.unit"))?;
    let last = to + LATE_DELIVERY - ChronoDuration::milliseconds(1);
    let mut values = Vec::new();
    let mut t = floor_to(from, step);
    while t <= last {
        let v = format.render(t);
        if values.last() != Some(&v) {
            values.push(v);
        }
        t += step;
        if values.len() > 100_000 {
            break;
        }
    }
    let col = ident(&key.name);
    let n = values.len();
    if n > MAX_IN_VALUES && format.sorts_as_text() {
        let (Some(lo), Some(hi)) = (values.first(), values.last()) else {
            return Err("empty range".into());
        };
        return Ok((
            format!(
                "{col} BETWEEN {} AND {}",
                string_literal(lo),
                string_literal(hi)
            ),
            n,
        ));
    }
    let list: Vec<String> = values.iter().map(|v| string_literal(v)).collect();
    Ok((format!("{col} IN ({})", list.join(", ")), n))
}

/// Calendar keys among the partition keys: `year`, `month`, `day`, `hour`.
fn calendar(layout: &TableLayout, days: &[NaiveDate]) -> Option<(String, usize)> {
    let find = |name: &str| {
        layout
            .keys
            .iter()
            .find(|k| k.name.eq_ignore_ascii_case(name))
    };
    let year = find("year")?;
    let month = find("month");
    let day = find("day");
    // `day` without `month` is not a day of the month (it may hold a whole date).
    if day.is_some() && month.is_none() {
        return None;
    }
    let value = |k: &PartitionKey, v: u32, width: usize| -> String {
        let numeric = matches!(
            k.data_type.as_str(),
            "int" | "integer" | "bigint" | "smallint" | "tinyint"
        ) || layout
            .projection(&k.name, "type")
            .is_some_and(|t| t.eq_ignore_ascii_case("integer"));
        if numeric {
            v.to_string()
        } else {
            string_literal(&format!("{v:0width$}"))
        }
    };
    let mut tuples: Vec<String> = Vec::new();
    for d in days {
        let mut conj = vec![format!(
            "{} = {}",
            ident(&year.name),
            value(year, d.year().unsigned_abs(), 4)
        )];
        if let Some(m) = month {
            conj.push(format!("{} = {}", ident(&m.name), value(m, d.month(), 2)));
        }
        if let Some(dk) = day {
            conj.push(format!("{} = {}", ident(&dk.name), value(dk, d.day(), 2)));
        }
        let t = format!("({})", conj.join(" AND "));
        if !tuples.contains(&t) {
            tuples.push(t);
        }
    }
    let n = tuples.len();
    Some((format!("({})", tuples.join(" OR ")), n))
}

/// A Java `DateTimeFormatter` pattern reduced to what partition formats use.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JavaDateFormat {
    parts: Vec<FormatPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FormatPart {
    Literal(String),
    /// A strftime field and the significance rank of the field (years first).
    Field(&'static str, u8),
}

impl JavaDateFormat {
    fn parse(pattern: &str) -> Result<JavaDateFormat, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut parts = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                let mut lit = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            lit.push('\'');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    lit.push(chars[i]);
                    i += 1;
                }
                i += 1;
                parts.push(FormatPart::Literal(lit));
                continue;
            }
            if c.is_ascii_alphabetic() {
                let mut n = 0;
                while i + n < chars.len() && chars[i + n] == c {
                    n += 1;
                }
                let field = match (c, n) {
                    ('y' | 'u', 4) => ("%Y", 0),
                    ('y' | 'u', 2) => ("%y", 0),
                    ('M', 2) => ("%m", 1),
                    ('d', 2) => ("%d", 2),
                    ('H', 2) => ("%H", 3),
                    ('m', 2) => ("%M", 4),
                    ('s', 2) => ("%S", 5),
                    _ => {
                        return Err(format!(
                            "the date format `{pattern}` uses `{}`, which fa2 cannot render",
                            c.to_string().repeat(n)
                        ));
                    }
                };
                parts.push(FormatPart::Field(field.0, field.1));
                i += n;
                continue;
            }
            parts.push(FormatPart::Literal(c.to_string()));
            i += 1;
        }
        Ok(JavaDateFormat { parts })
    }

    fn render(&self, t: DateTime<Utc>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                FormatPart::Literal(s) => out.push_str(s),
                FormatPart::Field(f, _) => out.push_str(&t.format(f).to_string()),
            }
        }
        out
    }

    /// Text order equals time order when the fields run from years down, fixed width.
    fn sorts_as_text(&self) -> bool {
        let ranks: Vec<u8> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                FormatPart::Field(f, r) if *f != "%y" => Some(*r),
                FormatPart::Field(..) => Some(u8::MAX),
                FormatPart::Literal(_) => None,
            })
            .collect();
        ranks.first() == Some(&0) && ranks.windows(2).all(|w| w[1] == w[0] + 1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 8, d, h, m, 0).unwrap()
    }

    /// The AWS documentation's partition-projection table properties for ALB access logs.
    fn alb_projected() -> TableLayout {
        TableLayout {
            keys: vec![PartitionKey {
                name: "day".into(),
                data_type: "string".into(),
            }],
            parameters: [
                ("projection.enabled", "true"),
                ("projection.day.type", "date"),
                ("projection.day.range", "2022/01/01,NOW"),
                ("projection.day.format", "yyyy/MM/dd"),
                ("projection.day.interval", "1"),
                ("projection.day.interval.unit", "DAYS"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    /// The documentation's CloudTrail table: a reserved-word key, `timestamp`.
    fn cloudtrail_projected() -> TableLayout {
        let mut l = alb_projected();
        l.keys[0].name = "timestamp".into();
        l.parameters = l
            .parameters
            .into_iter()
            .map(|(k, v)| (k.replace(".day.", ".timestamp."), v))
            .collect();
        l
    }

    fn hive(types: &str) -> TableLayout {
        TableLayout {
            keys: ["year", "month", "day"]
                .iter()
                .map(|n| PartitionKey {
                    name: (*n).into(),
                    data_type: types.into(),
                })
                .collect(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn a_window_inside_one_day_reads_one_day() {
        let p = plan(&alb_projected(), at(16, 10, 19), at(16, 11, 49));
        assert_eq!(p.predicate.as_deref(), Some("\"day\" IN ('2024/08/16')"));
        assert_eq!(p.partitions, 1);
        assert_eq!(
            (p.day_from.as_str(), p.day_to.as_str()),
            ("2024/08/16", "2024/08/16")
        );
    }

    #[test]
    fn a_window_ending_just_before_midnight_reads_the_next_day_for_late_files() {
        let p = plan(&cloudtrail_projected(), at(16, 22, 50), at(16, 23, 50));
        assert_eq!(
            p.predicate.as_deref(),
            Some("\"timestamp\" IN ('2024/08/16', '2024/08/17')")
        );
        // Far enough from midnight: no extra day.
        let p = plan(&cloudtrail_projected(), at(16, 22, 0), at(16, 23, 0));
        assert_eq!(p.partitions, 1);
    }

    #[test]
    fn a_baseline_before_midnight_reads_both_days() {
        let p = plan(&alb_projected(), at(15, 23, 30), at(16, 0, 45));
        assert_eq!(
            p.predicate.as_deref(),
            Some("\"day\" IN ('2024/08/15', '2024/08/16')")
        );
    }

    #[test]
    fn hive_calendar_keys_get_one_conjunction_per_day() {
        let p = plan(&hive("string"), at(15, 23, 0), at(16, 1, 0));
        assert_eq!(
            p.predicate.as_deref(),
            Some(
                "((\"year\" = '2024' AND \"month\" = '08' AND \"day\" = '15') OR (\"year\" = '2024' AND \"month\" = '08' AND \"day\" = '16'))"
            )
        );
        let p = plan(&hive("int"), at(16, 1, 0), at(16, 2, 0));
        assert_eq!(
            p.predicate.as_deref(),
            Some("((\"year\" = 2024 AND \"month\" = 8 AND \"day\" = 16))")
        );
    }

    #[test]
    fn hourly_projection_lists_hours() {
        let mut l = alb_projected();
        l.parameters
            .insert("projection.day.format".into(), "yyyy/MM/dd/HH".into());
        l.parameters
            .insert("projection.day.interval.unit".into(), "HOURS".into());
        let p = plan(&l, at(16, 10, 19), at(16, 11, 49));
        // 10:00, 11:00, and 12:00 for late files (11:49 + 30 min).
        assert_eq!(p.partitions, 3);
        assert!(p.predicate.unwrap().contains("'2024/08/16/12'"));
    }

    #[test]
    fn unknown_layouts_are_read_whole_and_say_why() {
        let l = TableLayout {
            keys: vec![PartitionKey {
                name: "region".into(),
                data_type: "string".into(),
            }],
            parameters: BTreeMap::new(),
        };
        let p = plan(&l, at(16, 10, 0), at(16, 11, 0));
        assert_eq!(p.predicate, None);
        assert!(p.note.unwrap().contains("region"));
        let mut l = alb_projected();
        l.parameters
            .insert("projection.day.format".into(), "dd MMM yyyy".into());
        let p = plan(&l, at(16, 10, 0), at(16, 11, 0));
        assert_eq!(p.predicate, None);
        assert!(p.note.unwrap().contains("MMM"));
        // Projection disabled: the date parameters mean nothing, `day` alone is not a calendar.
        let mut l = alb_projected();
        l.parameters
            .insert("projection.enabled".into(), "false".into());
        assert_eq!(plan(&l, at(16, 10, 0), at(16, 11, 0)).predicate, None);
    }

    #[test]
    fn unpartitioned_tables_need_no_predicate_and_no_note() {
        let p = plan(&TableLayout::default(), at(16, 10, 0), at(16, 11, 0));
        assert_eq!((p.predicate, p.note), (None, None));
    }

    #[test]
    fn overrides_take_the_days() {
        let p = plan(&TableLayout::default(), at(15, 23, 0), at(16, 1, 0));
        assert_eq!(
            p.render_override("day BETWEEN '{day_from}' AND '{day_to}'"),
            "day BETWEEN '2024/08/15' AND '2024/08/16'"
        );
    }

    #[test]
    fn java_formats() {
        let f = JavaDateFormat::parse("yyyy-MM-dd'T'HH").unwrap();
        assert_eq!(f.render(at(16, 9, 0)), "2024-08-16T09");
        assert!(f.sorts_as_text());
        assert!(!JavaDateFormat::parse("dd/MM/yyyy").unwrap().sorts_as_text());
        assert!(JavaDateFormat::parse("yyyy/MM/dd EEE").is_err());
    }
}
