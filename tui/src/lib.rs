//! `lm`: the terminal UI and the scriptable CLI of the lm License Manager. Both speak only to
//! `lmd` over its Unix socket; neither talks HTTP nor touches the cache.
//!
//! - [`app`]: the TUI's state and update function (no I/O), with the key map and forms;
//! - [`view`]: pure rendering of that state;
//! - [`runtime`]: the terminal, the daemon connection and the event loop;
//! - [`client`]: the socket client shared by the TUI and the CLI;
//! - [`cli`]: the scriptable commands, [`listing`]: their long answers window by window;
//!   [`demo`]: `lm demo`;
//! - [`format`]: how values read to people.

pub mod app;
pub mod cli;
pub mod client;
pub mod demo;
pub mod format;
pub mod listing;
pub mod runtime;
pub mod view;
