//! The default model-based rate controller.
