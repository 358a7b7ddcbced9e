//! Console chat (skeleton).
