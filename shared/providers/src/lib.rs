//! Adapters for the [`pixgw_domain::ports::PixProvider`] port.

pub mod qr;
pub mod sandbox;
