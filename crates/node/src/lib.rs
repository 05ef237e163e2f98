//! Node.js binding of the engine.
