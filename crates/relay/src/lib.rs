//! The relay protocol for receivers behind a firewall: the receiving server opens an outbound
//! control connection to the relay ([`link`]), which opens a public UDP port for it and
//! forwards datagrams both ways between that port and the server (the engine's `relay`
//! module runs it), framed on its data port ([`frame`]) and agreed over the control
//! connection ([`control`]). The relay holds no transfer key: it forwards datagrams sealed end
//! to end by the sender and the receiver.

pub mod control;
pub mod frame;
pub mod link;

/// The key types of this crate's interface.
pub use jetstream_wire::crypto::{Identity, PublicKey};
