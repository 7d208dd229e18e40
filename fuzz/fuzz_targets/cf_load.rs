//! The whole loader on arbitrary bytes: it must return a config or errors,
//! never panic, hang or overflow the stack. Class sources are not read, so
//! the fuzzer cannot make it open files or run programs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = cfparser::LoadOptions {
        read_class_sources: false,
        ..Default::default()
    };
    match cfparser::load_bytes(std::path::Path::new("fuzz.cf"), data.to_vec(), &opts) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                let _ = w.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
