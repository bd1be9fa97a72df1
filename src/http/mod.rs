//! http stage (work in progress).
