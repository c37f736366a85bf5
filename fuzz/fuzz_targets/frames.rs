//! Binary update frames as a watcher's page or a client library receives
//! them: any bytes decode to a frame or a `FrameError`, never a panic, and
//! what decodes is on its board and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::domain::frame::{decode, decode_tile, encode, encode_tile};

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
    // Tile frames (version 2): every update inside the tile, seqs rising
    // past `after`, and the same frame after a re-encode.
    if let Ok(frame) = decode_tile(data) {
        let size = u64::from(frame.tile_size);
        let mut prev = frame.after;
        for u in &frame.updates {
            assert!(u.x < frame.width && u.y < frame.height);
            assert_eq!(u64::from(u.x) / size, u64::from(frame.tile.tx));
            assert_eq!(u64::from(u.y) / size, u64::from(frame.tile.ty));
            assert!(u.seq > prev);
            prev = u.seq;
        }
        let refs: Vec<_> = frame.updates.iter().collect();
        let again = encode_tile(
            frame.width,
            frame.height,
            frame.tile_size,
            frame.tile,
            frame.after,
            &refs,
        )
        .unwrap();
        assert_eq!(decode_tile(&again).unwrap(), frame);
    }
});
