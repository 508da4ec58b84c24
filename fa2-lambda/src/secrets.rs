//! Slack secrets: from the environment (`FA2_SLACK__SIGNING_SECRET`, `FA2_SLACK__BOT_TOKEN`)
//! or from AWS Secrets Manager by name (`FA2_SLACK__SIGNING_SECRET_NAME`,
//! `FA2_SLACK__BOT_TOKEN_NAME`), fetched once per execution environment and cached, so only
//! the first request of a cold start pays for the fetch.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use fa2_core::config::SlackConfig;
use serde_json::Value;

/// A secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "neither slack.{key} nor slack.{key}_name is set: set FA2_SLACK__{env} or FA2_SLACK__{env}_NAME (a Secrets Manager secret name)"
    )]
    Unset {
        key: &'static str,
        env: &'static str,
    },
    #[error("cannot read secret `{name}` from Secrets Manager: {message}")]
    Fetch {
        name: String,
        message: String,
        /// The secret's name or the function's permissions are wrong (not found, access
        /// denied, cannot decrypt): asking again cannot help.
        configuration: bool,
    },
    #[error("secret `{name}` has no SecretString")]
    Empty { name: String },
}

/// The Slack secrets the function needs.
#[derive(Clone)]
pub struct SlackSecrets {
    pub signing_secret: String,
    pub bot_token: String,
}

impl std::fmt::Debug for SlackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackSecrets(redacted)")
    }
}

/// The value of a secret string: the string itself, or, for a JSON object, the field named
/// `key` (or its only field), so both plain and key/value secrets work.
pub fn secret_value(secret_string: &str, key: &str) -> String {
    match serde_json::from_str::<Value>(secret_string) {
        Ok(Value::Object(map)) => map
            .get(key)
            .or_else(|| (map.len() == 1).then(|| map.values().next()).flatten())
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| secret_string.to_string()),
        _ => secret_string.trim().to_string(),
    }
}

async fn fetch(client: &Client, name: &str, key: &str) -> Result<String, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| SecretError::Fetch {
            name: name.to_string(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            configuration: matches!(
                e.code(),
                Some(
                    "ResourceNotFoundException"
                        | "AccessDeniedException"
                        | "DecryptionFailure"
                        | "InvalidParameterException"
                        | "InvalidRequestException"
                )
            ),
        })?;
    let s = out.secret_string().ok_or_else(|| SecretError::Empty {
        name: name.to_string(),
    })?;
    Ok(secret_value(s, key))
}

async fn one(
    client: &Client,
    value: &str,
    name: &str,
    key: &'static str,
    env: &'static str,
) -> Result<String, SecretError> {
    if !value.trim().is_empty() {
        return Ok(value.to_string());
    }
    if name.trim().is_empty() {
        return Err(SecretError::Unset { key, env });
    }
    fetch(client, name, key).await
}

/// Resolves both secrets (concurrently when both come from Secrets Manager).
pub async fn load(
    sdk: &aws_config::SdkConfig,
    slack: &SlackConfig,
) -> Result<SlackSecrets, SecretError> {
    let client = Client::new(sdk);
    let (signing_secret, bot_token) = tokio::try_join!(
        one(
            &client,
            &slack.signing_secret,
            &slack.signing_secret_name,
            "signing_secret",
            "SIGNING_SECRET"
        ),
        one(
            &client,
            &slack.bot_token,
            &slack.bot_token_name,
            "bot_token",
            "BOT_TOKEN"
        ),
    )?;
    Ok(SlackSecrets {
        signing_secret,
        bot_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_secrets() {
        assert_eq!(secret_value("xoxb-1\n", "bot_token"), "xoxb-1");
        assert_eq!(
            secret_value(r#"{"bot_token":"xoxb-2","x":"y"}"#, "bot_token"),
            "xoxb-2"
        );
        assert_eq!(secret_value(r#"{"token":"xoxb-3"}"#, "bot_token"), "xoxb-3");
        let secrets = SlackSecrets {
            signing_secret: "s3cret".into(),
            bot_token: "xoxb-secret".into(),
        };
        assert_eq!(format!("{secrets:?}"), "SlackSecrets(redacted)");
    }
}
