//! engine (skeleton).
