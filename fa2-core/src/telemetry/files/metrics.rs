//! CloudWatch metrics: `aws cloudwatch get-metric-data` output.

use super::json_stream::for_each_element;
use super::{FileCtx, FileError};
use crate::record::{MetricSeries, Record};
use serde::Deserialize;
use serde_json::Value;
use std::io::BufRead;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataResult {
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    timestamps: Vec<Value>,
    #[serde(default)]
    values: Vec<Value>,
    #[serde(default)]
    status_code: Option<String>,
}

pub(crate) fn read_metric_data(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "MetricDataResults", |r: MetricDataResult| {
        if r.timestamps.len() != r.values.len() {
            ctx.note(format!(
                "series `{}` has {} timestamps but {} values; the unpaired ones were ignored",
                r.id,
                r.timestamps.len(),
                r.values.len()
            ));
        }
        if let Some(code) = r.status_code.as_deref().filter(|c| *c != "Complete") {
            ctx.note(format!(
                "series `{}` status is {code} (data may be partial)",
                r.id
            ));
        }
        let mut points: Vec<_> = r
            .timestamps
            .iter()
            .zip(&r.values)
            .filter_map(|(t, v)| {
                let ts = match t {
                    Value::String(s) => crate::time::parse_timestamp(s),
                    Value::Number(n) => n.as_f64().and_then(crate::time::epoch_auto),
                    _ => None,
                }?;
                Some((ts, v.as_f64()?))
            })
            .collect();
        points.sort_by_key(|p| p.0);
        ctx.emit(Record::Metric(MetricSeries {
            id: r.id,
            label: r.label,
            points,
        }))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::read_bytes;
    use crate::record::{Record, RecordType};

    #[test]
    fn metric_data_points_sorted_and_counted() {
        let json = r#"{"MetricDataResults": [{"Id": "m1", "Label": "ThrottledRequests", "Timestamps": ["2024-08-16T11:48:00+00:00", "2024-08-16T11:47:00+00:00"], "Values": [5.0, 2.0], "StatusCode": "Complete"},
            {"Id": "m2", "Label": "Errors", "Timestamps": [1723807080, 1723807140, 1723807200], "Values": [1, 2], "StatusCode": "PartialData"}], "Messages": []}"#;
        let (sink, summary) = read_bytes("get-metric-data.json", json.as_bytes());
        let Record::Metric(m) = &sink.records[0].1 else {
            panic!()
        };
        assert_eq!(m.points[0].1, 2.0);
        assert_eq!(summary.statuses[0].counts[&RecordType::MetricPoints], 4);
        let warn = summary.statuses[0].error.clone().unwrap();
        assert!(warn.contains("3 timestamps but 2 values"));
        assert!(warn.contains("PartialData"));
    }
}
