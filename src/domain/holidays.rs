//! US federal holidays by rule (skeleton).
