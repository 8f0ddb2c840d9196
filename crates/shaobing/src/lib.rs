//! The daemon's wiring: sources -> analysis -> issues -> sinks, one task per stage and camera,
//! all under one cancellation token.

pub mod cli;
pub mod daemon;
pub mod demo;
pub mod detect_cli;
pub mod eval_cli;
pub mod evidence_cli;
pub mod issues_cli;
pub mod preflight;
pub mod progress;
pub mod service;
pub mod table;
