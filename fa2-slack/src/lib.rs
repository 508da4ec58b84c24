//! fa2-slack: the Slack front-end of fa2, as a library used by the self-hosted server
//! (`fa2-slack serve`, HTTP or Socket Mode) and by the Lambda adapter.
//!
//! Flow: an alarm posted in a channel by Amazon Q Developer in chat applications (or another
//! configured app) gets the analysis form in its thread ([`alarm`], [`form`]); `/fa2` opens
//! the form as a modal, `/fa2 <text>` analyzes the last 30 minutes at once ([`app`]). An
//! accepted request is acknowledged at once and becomes an [`job::AnalysisJob`] for an
//! [`dispatch::AnalysisDispatcher`]; the [`job::JobRunner`] keeps one progress message up to
//! date, then answers with Block Kit ([`answer`]) and the full Markdown report as a file.
//! Every text exists in English and Japanese ([`texts`]).

pub mod alarm;
pub mod answer;
pub mod app;
pub mod dispatch;
pub mod form;
pub mod guard;
pub mod job;
pub mod mrkdwn;
pub mod server;
pub mod socket;
pub mod texts;
pub mod verify;
pub mod web;

pub use app::{AppSettings, FollowUp, Handled, SlackApp};
pub use dispatch::{AnalysisDispatcher, DispatchError, TaskDispatcher};
pub use job::{AnalysisJob, JobOutcome, JobRunner, Trigger};
pub use server::Service;
pub use web::SlackWeb;
