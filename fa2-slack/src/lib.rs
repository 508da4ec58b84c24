//! fa2-slack: the Slack front-end of fa2 (alarm message → form → report in the thread).
//!
//! Not built yet: this crate is a placeholder in the workspace so that the layout of
//! DESIGN.md holds. It exports nothing, so nothing can depend on behaviour it does not have.
//! Use the `fa2` CLI (`fa2-cli`) meanwhile.
