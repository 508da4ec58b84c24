//! fa2-lambda: fa2 deployed as one AWS Lambda function (`bootstrap`, `provided.al2023`),
//! replacing FA2's Node.js Lambdas. The role follows the event ([`event`]): the Slack
//! endpoint (API Gateway REST or HTTP API, a Function URL or an ALB, [`endpoint`]), the
//! analysis worker (an asynchronous self-invocation, [`dispatch`]), CloudWatch alarm state
//! changes (from EventBridge, a Lambda alarm action or SNS, [`alarm`]), and the Amazon Q
//! Developer in chat applications custom action, answered through SNS as a custom
//! notification ([`notify`]). Configuration comes from `FA2_*` environment variables; Slack
//! secrets from there or Secrets Manager ([`secrets`]). A failed invocation names one of a few
//! documented error types ([`handler::ErrorType`]).

pub mod alarm;
pub mod dispatch;
pub mod endpoint;
pub mod event;
pub mod handler;
pub mod notify;
pub mod secrets;

pub use handler::Handler;
