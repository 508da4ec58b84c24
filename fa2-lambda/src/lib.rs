//! fa2-lambda: the AWS Lambda form of fa2 (Slack endpoint, async worker, alarm events,
//! Amazon Q Developer custom action).
//!
//! Not built yet: this crate is a placeholder in the workspace so that the layout of
//! DESIGN.md holds. It exports nothing and has no binary, so nothing can be deployed that
//! would pretend to work. Use the `fa2` CLI (`fa2-cli`) meanwhile.
