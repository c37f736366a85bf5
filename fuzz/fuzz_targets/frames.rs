//! Binary update frames as a watcher's page or a client library receives
//! them: any bytes decode to a frame or a `FrameError`, never a panic, and
//! what decodes is on its board and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::domain::frame::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode(data) {
        for u in &frame.updates {
            assert!(u.x < frame.width && u.y < frame.height);
        }
        // The header's base time and ttl are chosen by the encoder, so a
        // foreign frame may re-encode differently; it must decode the same.
        let again = encode(frame.width, frame.height, &frame.updates).unwrap();
        assert_eq!(decode(&again).unwrap(), frame);
    }
});
