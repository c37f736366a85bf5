use serde::{Deserialize, Serialize};

use super::BoardId;

/// One change to a board, as clients receive it. A placement carries
/// `placed_at`, `expires_at` and `by`; a decay has colour 0 and none of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Update {
    pub seq: u64,
    pub x: u32,
    pub y: u32,
    pub color: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub placed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub by: Option<String>,
}

impl Update {
    /// The update a placement of `color` at (`x`, `y`) by `by` becomes once
    /// the store has given it `seq`.
    pub fn placement(
        seq: u64,
        x: u32,
        y: u32,
        color: u8,
        placed_at: i64,
        expires_at: i64,
        by: &str,
    ) -> Self {
        Self {
            seq,
            x,
            y,
            color,
            placed_at: Some(placed_at),
            expires_at: Some(expires_at),
            by: Some(by.to_owned()),
        }
    }

    /// The removal of the pixel at (`x`, `y`) by decay.
    pub fn decay(seq: u64, x: u32, y: u32) -> Self {
        Self {
            seq,
            x,
            y,
            color: 0,
            placed_at: None,
            expires_at: None,
            by: None,
        }
    }
}

/// A non-empty pixel in a snapshot. On the wire it is the compact array
/// `[x, y, color, placed_at_ms, expires_at_ms]` the contract gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelEntry {
    pub x: u32,
    pub y: u32,
    pub color: u8,
    pub placed_at: i64,
    pub expires_at: i64,
}

impl Serialize for PixelEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.x, self.y, self.color, self.placed_at, self.expires_at).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PixelEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (x, y, color, placed_at, expires_at) = Deserialize::deserialize(d)?;
        Ok(Self {
            x,
            y,
            color,
            placed_at,
            expires_at,
        })
    }
}

/// The `pixels` event payload.
#[derive(Debug, Clone, Serialize)]
pub struct PixelsEvent<'a> {
    pub board: &'a BoardId,
    pub updates: &'a [Update],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decay_serialises_without_placement_fields() {
        let v = serde_json::to_value(Update::decay(7, 1, 2)).unwrap();
        assert_eq!(v, serde_json::json!({"seq": 7, "x": 1, "y": 2, "color": 0}));
    }

    #[test]
    fn a_placement_serialises_every_field() {
        let u = Update {
            seq: 1,
            x: 3,
            y: 4,
            color: 5,
            placed_at: Some(10),
            expires_at: Some(20),
            by: Some("ann".into()),
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"seq": 1, "x": 3, "y": 4, "color": 5, "placed_at": 10, "expires_at": 20, "by": "ann"})
        );
        assert_eq!(serde_json::from_value::<Update>(v).unwrap(), u);
    }

    #[test]
    fn a_pixel_entry_is_a_compact_array_on_the_wire() {
        let p = PixelEntry {
            x: 1,
            y: 2,
            color: 3,
            placed_at: 4,
            expires_at: 5,
        };
        let v = serde_json::to_value(p).unwrap();
        assert_eq!(v, serde_json::json!([1, 2, 3, 4, 5]));
        assert_eq!(serde_json::from_value::<PixelEntry>(v).unwrap(), p);
    }
}
