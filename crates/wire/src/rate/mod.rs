//! How fast to send: the rate controller trait, its algorithms, the delivery-rate sampler and
//! the pacer.

pub mod delivery;
pub mod model;
pub mod pacer;
