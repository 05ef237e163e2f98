//! Datagram layout and frame encoding.
