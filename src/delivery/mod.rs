//! delivery (skeleton).
