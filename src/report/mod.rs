pub mod line;
mod mptcp;
