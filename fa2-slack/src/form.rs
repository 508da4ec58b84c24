//! The analysis form: description, start and end (date and time pickers), report language.
//! It is posted in an alarm's thread (times in the configured zone, stated on the form) or
//! opened as a modal by `/fa2` (times in the user's own zone from `users.info`). Reading a
//! submission converts local times to UTC in that zone and validates the window; errors come
//! back per field, for the modal's inline errors.

use crate::mrkdwn::{clip, escape};
use crate::texts::Texts;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use fa2_core::request::Language;
use fa2_core::window::{Bound, WindowError, WindowPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slack_morphism::prelude::*;
use std::collections::BTreeMap;

/// Modal callback id.
pub const MODAL_CALLBACK: &str = "fa2_form";
/// The thread form's start button.
pub const ACTION_START: &str = "fa2_start";
pub const BLOCK_DESCRIPTION: &str = "fa2_desc";
pub const BLOCK_START_DATE: &str = "fa2_start_date";
pub const BLOCK_START_TIME: &str = "fa2_start_time";
pub const BLOCK_END_DATE: &str = "fa2_end_date";
pub const BLOCK_END_TIME: &str = "fa2_end_time";
pub const BLOCK_LANGUAGE: &str = "fa2_lang";
/// The action id of every input element (the block id says which field it is).
const VALUE: &str = "value";
/// Longest description kept.
pub const MAX_DESCRIPTION: usize = 2000;

/// What the form shows before anyone edits it.
#[derive(Debug, Clone, PartialEq)]
pub struct FormDefaults {
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub language: Language,
    pub tz: Tz,
}

/// Where a modal's answer goes, carried in its `private_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormContext {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    pub tz: String,
}

/// A valid submission.
#[derive(Debug, Clone, PartialEq)]
pub struct FormInput {
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub language: Language,
}

fn block_id(s: &str) -> SlackBlockId {
    SlackBlockId(s.to_string())
}

fn action_id(s: &str) -> SlackActionId {
    SlackActionId(s.to_string())
}

fn plain(s: String) -> SlackBlockPlainTextOnly {
    SlackBlockPlainTextOnly::from(clip(&s, 150))
}

fn language_option(lang: Language) -> SlackBlockChoiceItem<SlackBlockPlainTextOnly> {
    let label = match lang {
        Language::En => "English",
        Language::Ja => "日本語",
    };
    SlackBlockChoiceItem::new(
        SlackBlockPlainTextOnly::from(label),
        lang.code().to_string(),
    )
}

/// The input blocks of the form.
pub fn input_blocks(texts: &Texts, d: &FormDefaults) -> Vec<SlackBlock> {
    let local_start = d.start.with_timezone(&d.tz);
    let local_end = d.end.with_timezone(&d.tz);
    let tz = d.tz.name().to_string();
    let date = |label: String, id: &str, value: DateTime<Tz>| -> SlackBlock {
        SlackInputBlock::new(
            plain(label),
            SlackInputBlockElement::DatePicker(
                SlackBlockDatePickerElement::new()
                    .with_action_id(action_id(VALUE))
                    .with_initial_date(value.format("%Y-%m-%d").to_string()),
            ),
        )
        .with_block_id(block_id(id))
        .into()
    };
    let time = |label: String, id: &str, value: DateTime<Tz>| -> SlackBlock {
        SlackInputBlock::new(
            plain(label),
            SlackInputBlockElement::TimePicker(
                SlackBlockTimePickerElement::new()
                    .with_action_id(action_id(VALUE))
                    .with_initial_time(value.format("%H:%M").to_string())
                    .with_timezone(tz.clone()),
            ),
        )
        .with_block_id(block_id(id))
        .with_hint(plain(texts.form_timezone_hint(&tz)))
        .into()
    };
    let mut description = SlackBlockPlainTextInputElement::new()
        .with_action_id(action_id(VALUE))
        .with_multiline(true)
        .with_max_length(MAX_DESCRIPTION as u64)
        .with_placeholder(plain(texts.placeholder_description()));
    if !d.description.is_empty() {
        description = description.with_initial_value(clip(&d.description, MAX_DESCRIPTION));
    }
    vec![
        SlackInputBlock::new(
            plain(texts.label_description()),
            SlackInputBlockElement::PlainTextInput(description),
        )
        .with_block_id(block_id(BLOCK_DESCRIPTION))
        .with_optional(true)
        .into(),
        date(texts.label_start_date(), BLOCK_START_DATE, local_start),
        time(texts.label_start_time(), BLOCK_START_TIME, local_start),
        date(texts.label_end_date(), BLOCK_END_DATE, local_end),
        time(texts.label_end_time(), BLOCK_END_TIME, local_end),
        SlackInputBlock::new(
            plain(texts.label_language()),
            SlackInputBlockElement::StaticSelect(
                SlackBlockStaticSelectElement::new()
                    .with_action_id(action_id(VALUE))
                    .with_options(vec![
                        language_option(Language::En),
                        language_option(Language::Ja),
                    ])
                    .with_initial_option(language_option(d.language)),
            ),
        )
        .with_block_id(block_id(BLOCK_LANGUAGE))
        .into(),
    ]
}

/// The form posted in an alarm's thread: an intro, the inputs and a start button.
pub fn thread_form(texts: &Texts, d: &FormDefaults, alarm_name: Option<&str>) -> Vec<SlackBlock> {
    let intro = match alarm_name {
        Some(n) => texts.form_intro_alarm(&escape(n)),
        None => texts.form_intro_generic(),
    };
    let mut blocks: Vec<SlackBlock> = vec![
        SlackSectionBlock::new()
            .with_text(SlackBlockText::MarkDown(intro.into()))
            .into(),
    ];
    blocks.extend(input_blocks(texts, d));
    blocks.push(
        SlackActionsBlock::new(vec![SlackActionBlockElement::Button(
            SlackBlockButtonElement::new(plain(texts.button_start()))
                .with_action_id(action_id(ACTION_START))
                .with_value(d.tz.name().to_string())
                .with_style(SlackBlockButtonStyle::Primary),
        )])
        .into(),
    );
    blocks
}

/// The `/fa2` modal.
pub fn modal(texts: &Texts, d: &FormDefaults, ctx: &FormContext) -> SlackView {
    let metadata = serde_json::to_string(ctx).unwrap_or_default();
    SlackView::Modal(
        SlackModalView::new(
            SlackBlockPlainTextOnly::from(clip(&texts.modal_title(), 24)),
            input_blocks(texts, d),
        )
        .with_submit(SlackBlockPlainTextOnly::from(clip(
            &texts.modal_submit(),
            24,
        )))
        .with_close(SlackBlockPlainTextOnly::from(clip(
            &texts.modal_close(),
            24,
        )))
        .with_callback_id(SlackCallbackId(MODAL_CALLBACK.to_string()))
        .with_private_metadata(metadata),
    )
}

fn field<'a>(values: &'a Value, block: &str) -> Option<&'a Value> {
    values.get(block).and_then(|b| {
        b.get(VALUE)
            .or_else(|| b.as_object().and_then(|m| m.values().next()))
    })
}

fn field_str<'a>(values: &'a Value, block: &str, key: &str) -> Option<&'a str> {
    field(values, block)
        .and_then(|f| f.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Reads and validates a submission's `state.values`, with times in `tz`, against `policy`.
/// Errors are keyed by block id, in the form's language.
pub fn read_form(
    values: &Value,
    tz: Tz,
    policy: &WindowPolicy,
    now: DateTime<Utc>,
    texts: &Texts,
) -> Result<FormInput, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut when = |date_block: &str, time_block: &str| -> Option<DateTime<Utc>> {
        let date = field_str(values, date_block, "selected_date")
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
        let time = field_str(values, time_block, "selected_time")
            .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok());
        let (Some(date), Some(time)) = (date, time) else {
            let missing = if date.is_none() {
                date_block
            } else {
                time_block
            };
            errors.insert(missing.to_string(), texts.error_missing());
            return None;
        };
        match tz.from_local_datetime(&NaiveDateTime::new(date, time)) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            // the repeated hour when clocks go back: the first one
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                errors.insert(
                    time_block.to_string(),
                    texts.error_nonexistent_time(tz.name()),
                );
                None
            }
        }
    };
    let start = when(BLOCK_START_DATE, BLOCK_START_TIME);
    let end = when(BLOCK_END_DATE, BLOCK_END_TIME);
    if let (Some(s), Some(e)) = (start, end)
        && let Err(error) = policy.check(s, e, now)
    {
        let (block, text) = field_error(&error, texts);
        errors.insert(block.to_string(), text);
    }
    let language = field(values, BLOCK_LANGUAGE)
        .and_then(|f| f.pointer("/selected_option/value"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(texts.lang);
    let description = field_str(values, BLOCK_DESCRIPTION, "value")
        .map(|s| clip(s.trim(), MAX_DESCRIPTION))
        .unwrap_or_default();
    match (start, end) {
        (Some(start), Some(end)) if errors.is_empty() => Ok(FormInput {
            description,
            start,
            end,
            language,
        }),
        _ => Err(errors),
    }
}

/// The field a refused window is shown on, and the words, in the form's language.
fn field_error(error: &WindowError, texts: &Texts) -> (&'static str, String) {
    match error {
        WindowError::NotBefore { .. } => (BLOCK_END_TIME, texts.error_order()),
        WindowError::TooLong { max, .. } => (
            BLOCK_END_DATE,
            texts.error_too_long(&fa2_core::time::format_duration(*max)),
        ),
        WindowError::InFuture {
            bound: Bound::End, ..
        } => (BLOCK_END_TIME, texts.error_future_end()),
        WindowError::InFuture { .. } => (BLOCK_START_TIME, texts.error_future()),
        WindowError::OutOfRange(_) => (BLOCK_START_DATE, texts.error_out_of_range()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn values(sd: &str, st: &str, ed: &str, et: &str, lang: &str) -> Value {
        json!({
            BLOCK_DESCRIPTION: {"value": {"type": "plain_text_input", "value": "checkout 502"}},
            BLOCK_START_DATE: {"value": {"type": "datepicker", "selected_date": sd}},
            BLOCK_START_TIME: {"value": {"type": "timepicker", "selected_time": st}},
            BLOCK_END_DATE: {"value": {"type": "datepicker", "selected_date": ed}},
            BLOCK_END_TIME: {"value": {"type": "timepicker", "selected_time": et}},
            BLOCK_LANGUAGE: {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "日本語"}, "value": lang}}},
        })
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn max(secs: u64) -> WindowPolicy {
        WindowPolicy {
            max_window: Duration::from_secs(secs),
            ..WindowPolicy::default()
        }
    }

    #[test]
    fn local_times_convert_in_the_users_zone() {
        let t = Texts::new(Language::En);
        let day = &max(86_400);
        let v = values("2026-11-24", "18:30", "2026-11-24", "19:00", "ja");
        let tokyo = read_form(&v, chrono_tz::Asia::Tokyo, day, now(), &t).unwrap();
        assert_eq!(
            tokyo.start,
            Utc.with_ymd_and_hms(2026, 11, 24, 9, 30, 0).unwrap()
        );
        assert_eq!(
            tokyo.end,
            Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
        );
        assert_eq!(tokyo.language, Language::Ja);
        assert_eq!(tokyo.description, "checkout 502");
        let v = values("2026-11-24", "01:30", "2026-11-24", "02:00", "en");
        let ny = read_form(&v, chrono_tz::America::New_York, day, now(), &t).unwrap();
        assert_eq!(
            ny.start,
            Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap()
        );
    }

    #[test]
    fn validation_errors_are_per_field() {
        let t = Texts::new(Language::Ja);
        let hour = &max(3600);
        let v = values("2026-11-24", "10:00", "2026-11-24", "09:00", "en");
        let e = read_form(&v, chrono_tz::UTC, hour, now(), &t).unwrap_err();
        assert_eq!(e[BLOCK_END_TIME], t.error_order());
        let v = values("2026-11-24", "08:00", "2026-11-24", "10:00", "en");
        let e = read_form(&v, chrono_tz::UTC, hour, now(), &t).unwrap_err();
        assert_eq!(
            e[BLOCK_END_DATE],
            "期間が上限 max_window（1h）を超えています。"
        );
        let en = Texts::new(Language::En);
        let e = read_form(&v, chrono_tz::UTC, hour, now(), &en).unwrap_err();
        assert_eq!(
            e[BLOCK_END_DATE],
            "The window is longer than max_window (1h)."
        );
        // an end past now is refused on the end, a start past now on the start
        let v = values("2026-11-24", "11:30", "2026-11-24", "12:30", "en");
        let e = read_form(&v, chrono_tz::UTC, hour, now(), &t).unwrap_err();
        assert_eq!(e[BLOCK_END_TIME], t.error_future_end());
        let v = values("2026-11-25", "08:00", "2026-11-25", "09:00", "en");
        assert!(
            read_form(&v, chrono_tz::UTC, hour, now(), &t)
                .unwrap_err()
                .contains_key(BLOCK_START_TIME)
        );
        // 02:30 does not exist in New York on 2026-03-08
        let v = values("2026-03-08", "02:30", "2026-03-08", "03:30", "en");
        let e = read_form(&v, chrono_tz::America::New_York, hour, now(), &t).unwrap_err();
        assert!(e[BLOCK_START_TIME].contains("America/New_York"));
        let e = read_form(&json!({}), chrono_tz::UTC, hour, now(), &t).unwrap_err();
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn blocks_carry_defaults_in_the_zone() {
        let t = Texts::new(Language::En);
        let d = FormDefaults {
            description: "x".into(),
            start: Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
            language: Language::Ja,
            tz: chrono_tz::Asia::Tokyo,
        };
        let json = serde_json::to_string(&thread_form(&t, &d, Some("orders<5xx>"))).unwrap();
        assert!(json.contains("\"initial_date\":\"2026-11-25\""), "{json}");
        assert!(json.contains("\"initial_time\":\"08:30\""));
        assert!(json.contains("\"timezone\":\"Asia/Tokyo\""));
        assert!(json.contains("orders&lt;5xx&gt;"));
        let ctx = FormContext {
            channel: "C1".into(),
            thread_ts: None,
            tz: "Asia/Tokyo".into(),
        };
        let m = serde_json::to_value(modal(&t, &d, &ctx)).unwrap();
        assert_eq!(m["type"], "modal");
        assert_eq!(m["callback_id"], MODAL_CALLBACK);
        let back: FormContext =
            serde_json::from_str(m["private_metadata"].as_str().unwrap()).unwrap();
        assert_eq!(back, ctx);
    }
}
