//! Fuzz target `track`: see `connscope_fuzz::track` for the input format and
//! the invariants it asserts. Under `cargo fuzz` this is a libFuzzer target;
//! on stable it replays files and directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| connscope_fuzz::track(data));

#[cfg(not(fuzzing))]
fn main() {
    std::process::exit(connscope_fuzz::replay_main(connscope_fuzz::track));
}
