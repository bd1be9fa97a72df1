//! report stage (work in progress).

// No caller yet on this branch: the TCP-options renderer will call
// `mptcp::print` once it lands, then this allow can go.
#[allow(dead_code)]
pub(crate) mod mptcp;
