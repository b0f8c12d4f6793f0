//! Helpers shared by the end-to-end tests that drive the command line.

#![allow(dead_code)]

pub mod cli;
pub mod web;
