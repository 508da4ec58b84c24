//! The Slack Web API calls fa2 makes, through slack-morphism's client: post, update and
//! ephemeral messages, `views.open`, `users.info` (for the user's time zone) and the current
//! file upload flow (`files.getUploadURLExternal`, upload, `files.completeUploadExternal`).
//!
//! The base URL is configurable for tests; plain `http://` is accepted only for loopback hosts,
//! so a misconfiguration can never send the bot token in clear text over a network.

use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// A failed Web API call.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "Slack API URL `{0}` is not https (plain http is allowed for loopback test servers only)"
    )]
    InsecureUrl(String),
    #[error("cannot set up TLS for the Slack API: {0}")]
    Tls(String),
    #[error("Slack {method} failed: {message}")]
    Call {
        method: &'static str,
        message: String,
    },
    #[error("Slack {method} timed out")]
    Timeout { method: &'static str },
}

type Client = SlackClient<SlackClientHyperHttpsConnector>;

/// One bot token's view of the Web API.
#[derive(Clone)]
pub struct SlackWeb {
    client: Arc<Client>,
    token: SlackApiToken,
    timeout: Duration,
}

impl std::fmt::Debug for SlackWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWeb").finish_non_exhaustive()
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") || rest.starts_with("[::1]")
}

/// Installs the process-wide rustls provider (ring) once; several TLS stacks share the process.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl SlackWeb {
    /// A client for `api_url` (like `https://slack.com/api`) with `bot_token`.
    pub fn new(api_url: &str, bot_token: &str) -> Result<SlackWeb, WebError> {
        install_crypto_provider();
        let api_url = api_url.trim_end_matches('/');
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| WebError::Tls(e.to_string()))?;
        let https = if api_url.starts_with("https://") {
            builder.https_only().enable_http1().enable_http2().build()
        } else if api_url.starts_with("http://") && is_loopback(api_url) {
            builder.https_or_http().enable_http1().build()
        } else {
            return Err(WebError::InsecureUrl(api_url.to_string()));
        };
        let connector = SlackClientHyperConnector::from(https).with_slack_api_url(api_url);
        Ok(SlackWeb {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue(bot_token.to_string())),
            timeout: Duration::from_secs(10),
        })
    }

    /// The slack-morphism client (Socket Mode shares it).
    pub fn client(&self) -> Arc<SlackClient<SlackClientHyperHttpsConnector>> {
        self.client.clone()
    }

    async fn call<T, F>(&self, method: &'static str, fut: F) -> Result<T, WebError>
    where
        F: std::future::Future<Output = ClientResult<T>>,
    {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(WebError::Call {
                method,
                message: e.to_string(),
            }),
            Err(_) => Err(WebError::Timeout { method }),
        }
    }

    fn content(text: &str, blocks: Vec<SlackBlock>) -> SlackMessageContent {
        let mut c = SlackMessageContent::new().with_text(text.to_string());
        if !blocks.is_empty() {
            c = c.with_blocks(blocks);
        }
        c
    }

    /// Posts a message (in a thread when `thread_ts` is set); returns its ts.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        blocks: Vec<SlackBlock>,
    ) -> Result<String, WebError> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostMessageRequest::new(
            SlackChannelId(channel.to_string()),
            Self::content(text, blocks),
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs(ts.to_string()));
        }
        let resp = self
            .call("chat.postMessage", session.chat_post_message(&req))
            .await?;
        Ok(resp.ts.0)
    }

    /// Replaces the message `ts`.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Vec<SlackBlock>,
    ) -> Result<(), WebError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.to_string()),
            Self::content(text, blocks),
            SlackTs(ts.to_string()),
        );
        self.call("chat.update", session.chat_update(&req)).await?;
        Ok(())
    }

    /// A message only `user` sees.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), WebError> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_string()),
            SlackUserId(user.to_string()),
            Self::content(text, Vec::new()),
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs(ts.to_string()));
        }
        self.call("chat.postEphemeral", session.chat_post_ephemeral(&req))
            .await?;
        Ok(())
    }

    /// Opens a modal for the interaction `trigger_id` (valid for 3 s after the click).
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<(), WebError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_string()), view);
        self.call("views.open", session.views_open(&req)).await?;
        Ok(())
    }

    /// The IANA time zone of `user`, if Slack knows it.
    pub async fn user_timezone(&self, user: &str) -> Result<Option<String>, WebError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.to_string()));
        let resp = self.call("users.info", session.users_info(&req)).await?;
        Ok(resp.user.tz.filter(|t| !t.is_empty()))
    }

    /// Uploads `content` as a file shared in the thread.
    pub async fn upload(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        filename: &str,
        title: &str,
        content: Vec<u8>,
    ) -> Result<(), WebError> {
        let session = self.client.open_session(&self.token);
        let url = self
            .call(
                "files.getUploadURLExternal",
                session.get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                    filename.to_string(),
                    content.len(),
                )),
            )
            .await?;
        self.call(
            "files upload",
            session.files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
                url.upload_url,
                content,
                "text/markdown".to_string(),
            )),
        )
        .await?;
        let mut complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![
            SlackApiFilesComplete::new(url.file_id).with_title(title.to_string()),
        ])
        .with_channel_id(SlackChannelId(channel.to_string()));
        if let Some(ts) = thread_ts {
            complete = complete.with_thread_ts(SlackTs(ts.to_string()));
        }
        self.call(
            "files.completeUploadExternal",
            session.files_complete_upload_external(&complete),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(SlackWeb::new("http://127.0.0.1:9/api", "xoxb").is_ok());
        assert!(SlackWeb::new("http://localhost:9/api", "xoxb").is_ok());
        assert!(matches!(
            SlackWeb::new("http://slack.example.com/api", "xoxb"),
            Err(WebError::InsecureUrl(_))
        ));
    }
}
