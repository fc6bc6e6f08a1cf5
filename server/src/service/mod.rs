//! The ops, one module per family of the contract.

pub mod error;
pub mod session;

pub use error::OpError;
