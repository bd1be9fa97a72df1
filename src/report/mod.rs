pub mod line;
