//! Adapters for the [`pixgw_domain::provider::PixProvider`] port: the built-in sandbox and the
//! real PSPs (ConnectPSP, PagFast) over [`http`].

pub mod connectpsp;
pub mod env;
pub mod hold;
pub mod http;
pub mod mask;
pub mod med;
pub mod pagfast;
pub mod qr;
pub mod sandbox;
pub mod secret;
