//! Every text fa2 shows in Slack, in English and Japanese. One function per message, so a
//! missing translation is a compile error rather than an English fallback.

use fa2_core::request::Language;

/// The texts of one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Texts {
    pub lang: Language,
}

impl Texts {
    pub fn new(lang: Language) -> Self {
        Texts { lang }
    }

    fn pick(&self, en: &str, ja: &str) -> String {
        match self.lang {
            Language::En => en.to_string(),
            Language::Ja => ja.to_string(),
        }
    }

    pub fn form_intro_alarm(&self, alarm: &str) -> String {
        match self.lang {
            Language::En => format!(
                ":rotating_light: Alarm *{alarm}*: check the window below and start a root-cause analysis."
            ),
            Language::Ja => format!(
                ":rotating_light: アラーム *{alarm}*: 下の期間を確認して根本原因の分析を開始してください。"
            ),
        }
    }

    pub fn form_intro_generic(&self) -> String {
        self.pick(
            ":mag: Start a root-cause analysis of this alarm: check the window below.",
            ":mag: このアラームの根本原因を分析します。下の期間を確認してください。",
        )
    }

    pub fn form_timezone_hint(&self, tz: &str) -> String {
        match self.lang {
            Language::En => format!("Times are in {tz}."),
            Language::Ja => format!("時刻は {tz} です。"),
        }
    }

    pub fn label_description(&self) -> String {
        self.pick("What happened", "発生した事象")
    }
    pub fn placeholder_description(&self) -> String {
        self.pick(
            "e.g. checkout returns 502 since 10:20",
            "例: 10:20 から決済 API が 502 を返す",
        )
    }
    pub fn label_start_date(&self) -> String {
        self.pick("Start date", "開始日")
    }
    pub fn label_start_time(&self) -> String {
        self.pick("Start time", "開始時刻")
    }
    pub fn label_end_date(&self) -> String {
        self.pick("End date", "終了日")
    }
    pub fn label_end_time(&self) -> String {
        self.pick("End time", "終了時刻")
    }
    pub fn label_language(&self) -> String {
        self.pick("Report language", "レポートの言語")
    }
    pub fn button_start(&self) -> String {
        self.pick("Start analysis", "分析を開始")
    }
    pub fn modal_title(&self) -> String {
        self.pick("fa2 analysis", "fa2 障害分析")
    }
    pub fn modal_submit(&self) -> String {
        self.pick("Analyze", "分析する")
    }
    pub fn modal_close(&self) -> String {
        self.pick("Cancel", "キャンセル")
    }

    pub fn error_missing(&self) -> String {
        self.pick("Required.", "入力してください。")
    }
    pub fn error_order(&self) -> String {
        self.pick(
            "The start must be before the end.",
            "開始は終了より前にしてください。",
        )
    }
    /// Names the setting, so the person can ask an operator to raise it.
    pub fn error_too_long(&self, max: &str) -> String {
        match self.lang {
            Language::En => format!("The window is longer than max_window ({max})."),
            Language::Ja => format!("期間が上限 max_window（{max}）を超えています。"),
        }
    }
    pub fn error_nonexistent_time(&self, tz: &str) -> String {
        match self.lang {
            Language::En => {
                format!("This time does not exist in {tz} (daylight saving change).")
            }
            Language::Ja => format!("この時刻は {tz} に存在しません（夏時間の切り替え）。"),
        }
    }
    pub fn error_future(&self) -> String {
        self.pick(
            "The start is in the future.",
            "開始が未来の時刻になっています。",
        )
    }
    pub fn error_future_end(&self) -> String {
        self.pick(
            "The end is in the future: there is no telemetry yet.",
            "終了が未来の時刻になっています（まだテレメトリがありません）。",
        )
    }
    pub fn error_out_of_range(&self) -> String {
        self.pick("This date is out of range.", "この日付は範囲外です。")
    }
    pub fn form_errors(&self, errors: &str) -> String {
        match self.lang {
            Language::En => format!(":warning: The form has errors: {errors}"),
            Language::Ja => format!(":warning: フォームに誤りがあります: {errors}"),
        }
    }

    pub fn started_quick(&self, minutes: u64) -> String {
        match self.lang {
            Language::En => {
                format!("Analyzing the last {minutes} minutes; the answer will be in the thread.")
            }
            Language::Ja => format!("直近 {minutes} 分を分析します。結果はスレッドに投稿します。"),
        }
    }
    pub fn started(&self) -> String {
        self.pick(
            "Analysis started; the answer will be in the thread.",
            "分析を開始しました。結果はスレッドに投稿します。",
        )
    }
    pub fn root_message(&self, user: Option<&str>, description: &str) -> String {
        let who = user.map(|u| format!("<@{u}> ")).unwrap_or_default();
        match self.lang {
            Language::En => format!(":mag: {who}asked fa2 to analyze: {description}"),
            Language::Ja => format!(":mag: {who}が fa2 に分析を依頼しました: {description}"),
        }
    }
    pub fn alarm_root_message(&self, alarm: &str) -> String {
        match self.lang {
            Language::En => {
                format!(":rotating_light: Alarm *{alarm}* went to ALARM: fa2 is analyzing it.")
            }
            Language::Ja => format!(
                ":rotating_light: アラーム *{alarm}* が ALARM になりました。fa2 が分析しています。"
            ),
        }
    }

    pub fn progress_title(&self, window: &str, id: &str) -> String {
        match self.lang {
            Language::En => {
                format!(":hourglass_flowing_sand: Analyzing {window} (analysis `{id}`)")
            }
            Language::Ja => format!(":hourglass_flowing_sand: {window} を分析中（分析 `{id}`）"),
        }
    }
    pub fn progress_source_running(&self, name: &str) -> String {
        match self.lang {
            Language::En => format!("• {name}: reading…"),
            Language::Ja => format!("• {name}: 読み込み中…"),
        }
    }
    pub fn progress_source_ok(&self, name: &str, records: u64) -> String {
        match self.lang {
            Language::En => format!("• {name}: {records} records"),
            Language::Ja => format!("• {name}: {records} 件"),
        }
    }
    pub fn progress_source_failed(&self, name: &str, error: &str) -> String {
        match self.lang {
            Language::En => format!("• {name}: failed ({error})"),
            Language::Ja => format!("• {name}: 失敗（{error}）"),
        }
    }
    pub fn progress_distilled(&self, evidence: usize) -> String {
        match self.lang {
            Language::En => format!("• {evidence} evidence items distilled"),
            Language::Ja => format!("• 証拠を {evidence} 件に集約"),
        }
    }
    pub fn progress_llm(&self, model: &str) -> String {
        match self.lang {
            Language::En => format!("• asking {model}…"),
            Language::Ja => format!("• {model} に問い合わせ中…"),
        }
    }
    pub fn progress_done(&self, window: &str, id: &str, secs: f64) -> String {
        match self.lang {
            Language::En => {
                format!(":white_check_mark: Analyzed {window} in {secs:.1} s (analysis `{id}`)")
            }
            Language::Ja => {
                format!(
                    ":white_check_mark: {window} の分析が完了しました（{secs:.1} 秒、分析 `{id}`）"
                )
            }
        }
    }
    pub fn progress_failed(&self, window: &str, id: &str) -> String {
        match self.lang {
            Language::En => format!(":x: The analysis of {window} failed (analysis `{id}`)"),
            Language::Ja => format!(":x: {window} の分析に失敗しました（分析 `{id}`）"),
        }
    }

    pub fn answer_header(&self) -> String {
        self.pick("Root-cause analysis", "根本原因の分析")
    }
    pub fn summary(&self) -> String {
        self.pick("Summary", "概要")
    }
    pub fn impact(&self) -> String {
        self.pick("Impact", "影響")
    }
    pub fn hypotheses(&self) -> String {
        self.pick("Most likely causes", "考えられる原因")
    }
    pub fn confidence(&self, level: &str) -> String {
        match (self.lang, level) {
            (Language::Ja, "high") => "確度: 高".into(),
            (Language::Ja, "medium") => "確度: 中".into(),
            (Language::Ja, _) => "確度: 低".into(),
            (Language::En, l) => format!("confidence: {l}"),
        }
    }
    pub fn evidence(&self) -> String {
        self.pick("Evidence", "証拠")
    }
    pub fn evidence_counts(&self, count: u64, baseline: u64) -> String {
        match self.lang {
            Language::En => format!("{count} in the window, {baseline} in the baseline"),
            Language::Ja => format!("期間内 {count} 件、ベースライン {baseline} 件"),
        }
    }
    pub fn reproduce(&self) -> String {
        self.pick("Reproduce", "再現クエリ")
    }
    pub fn actions(&self) -> String {
        self.pick("Next steps", "対応")
    }
    pub fn unavailable(&self, list: &str) -> String {
        match self.lang {
            Language::En => {
                format!(":warning: Not available, so this answer is without it: {list}")
            }
            Language::Ja => format!(
                ":warning: 次のデータは取得できなかったため、この回答に含まれていません: {list}"
            ),
        }
    }
    pub fn llm_fallback(&self, error: &str) -> String {
        match self.lang {
            Language::En => format!(
                ":warning: The model failed ({error}); this answer is from fa2's offline analyzer."
            ),
            Language::Ja => format!(
                ":warning: モデルの呼び出しに失敗しました（{error}）。この回答は fa2 のオフライン分析によるものです。"
            ),
        }
    }
    pub fn no_evidence(&self) -> String {
        self.pick(
            "No anomaly stood out in the window.",
            "この期間に目立った異常は見つかりませんでした。",
        )
    }
    pub fn report_file_title(&self) -> String {
        self.pick("Full report (Markdown)", "レポート全文（Markdown）")
    }
    pub fn upload_failed(&self, error: &str) -> String {
        match self.lang {
            Language::En => format!(":warning: The full report could not be uploaded: {error}"),
            Language::Ja => {
                format!(":warning: レポート全文をアップロードできませんでした: {error}")
            }
        }
    }
    pub fn failure(&self, error: &str, worked: &str) -> String {
        match self.lang {
            Language::En => format!(
                ":x: The analysis failed: {error}\nWhat still worked: {worked}\nTry again with a narrower window, or ask an operator to run `fa2 check`."
            ),
            Language::Ja => format!(
                ":x: 分析に失敗しました: {error}\n取得できたもの: {worked}\n期間を狭めて再実行するか、運用者に `fa2 check` の実行を依頼してください。"
            ),
        }
    }
    pub fn nothing(&self) -> String {
        self.pick("nothing", "なし")
    }
    pub fn button_rerun(&self) -> String {
        self.pick("Re-run with 2× window", "期間を2倍にして再実行")
    }
    pub fn button_helpful(&self) -> String {
        self.pick("Helpful", "役に立った")
    }
    pub fn button_not_helpful(&self) -> String {
        self.pick("Not helpful", "役に立たなかった")
    }
    pub fn feedback_thanks(&self) -> String {
        self.pick(
            "Thanks for the feedback.",
            "フィードバックありがとうございます。",
        )
    }

    pub fn refused_channel(&self) -> String {
        self.pick(
            "Sorry, fa2 is not enabled in this channel. Ask an operator to add it to slack.allowed_channels.",
            "申し訳ありません。このチャンネルでは fa2 を利用できません。運用者に slack.allowed_channels への追加を依頼してください。",
        )
    }
    pub fn refused_user(&self) -> String {
        self.pick(
            "Sorry, you are not on fa2's list of allowed users. Ask an operator to add you to slack.allowed_users.",
            "申し訳ありません。fa2 の利用が許可されていません。運用者に slack.allowed_users への追加を依頼してください。",
        )
    }
    pub fn rate_limited(&self, minutes: u64) -> String {
        match self.lang {
            Language::En => format!(
                "This channel has reached its limit of analyses for the hour. Please try again in about {minutes} min."
            ),
            Language::Ja => format!(
                "このチャンネルの1時間あたりの分析回数の上限に達しました。約 {minutes} 分後に再度お試しください。"
            ),
        }
    }
    pub fn busy(&self) -> String {
        self.pick(
            "fa2 is already running as many analyses as it may. Please try again in a few minutes.",
            "fa2 は現在、同時に実行できる上限まで分析中です。数分後に再度お試しください。",
        )
    }
    pub fn dispatch_failed(&self, error: &str) -> String {
        match self.lang {
            Language::En => format!(":x: The analysis could not be started: {error}"),
            Language::Ja => format!(":x: 分析を開始できませんでした: {error}"),
        }
    }
}
