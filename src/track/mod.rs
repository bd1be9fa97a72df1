//! track stage (work in progress).
