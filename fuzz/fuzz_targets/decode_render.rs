//! Fuzz target `decode_render`: see `connscope_fuzz::decode_render` for the input format and
//! the invariants it asserts. Under `cargo fuzz` this is a libFuzzer target;
//! on stable it replays files and directories given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| connscope_fuzz::decode_render(data));

#[cfg(not(fuzzing))]
fn main() {
    std::process::exit(connscope_fuzz::replay_main(connscope_fuzz::decode_render));
}
