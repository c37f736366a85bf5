use serde::Serialize;

/// The 16-colour default palette (r/place 2017). Colour `n` is `palette[n-1]`.
pub const DEFAULT_PALETTE: [&str; 16] = [
    "#ffffff", "#e4e4e4", "#888888", "#222222", "#ffa7d1", "#e50000", "#e59500", "#a06a42",
    "#e5d900", "#94e044", "#02be01", "#00d3dd", "#0083c7", "#0000ea", "#cf6ee4", "#820080",
];

/// A well-formed board id: 1 to 64 characters of `[A-Za-z0-9_-]`.
///
/// Well-formed ids that name no board are `not_found`; anything else is
/// `invalid_input`, so a client can tell a typo from garbage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct BoardId(String);

impl BoardId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!(
                "board id must be 1 to {} characters",
                Self::MAX_LEN
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("board id may only contain letters, digits, '_' and '-'".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BoardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A board's fixed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardConfig {
    pub id: BoardId,
    pub width: u32,
    pub height: u32,
    pub palette: Vec<String>,
    pub cooldown_ms: u64,
    pub ttl_ms: u64,
    /// Side of a viewport tile, in pixels (a power of two): the board is
    /// cut into `ceil(width / tile_size) × ceil(height / tile_size)` tiles,
    /// the edge ones cut short by the board's edge.
    pub tile_size: u32,
}

/// One square tile of a board: column `tx`, row `ty` (in tiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TileId {
    pub tx: u32,
    pub ty: u32,
}

/// The pixels of one tile: `x0..x0 + width`, `y0..y0 + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRect {
    pub x0: u32,
    pub y0: u32,
    pub width: u32,
    pub height: u32,
}

impl BoardConfig {
    /// Smallest and largest tile sides accepted (`BOARD_TILE_SIZE`).
    pub const MIN_TILE_SIZE: u32 = 8;
    pub const MAX_TILE_SIZE: u32 = 4096;

    /// Whether `size` is an accepted tile side: a power of two in
    /// `MIN_TILE_SIZE..=MAX_TILE_SIZE` (a client then finds a pixel's tile
    /// with a shift).
    pub fn valid_tile_size(size: u32) -> bool {
        size.is_power_of_two() && (Self::MIN_TILE_SIZE..=Self::MAX_TILE_SIZE).contains(&size)
    }

    /// Tiles per row.
    pub fn tiles_x(&self) -> u32 {
        self.width.div_ceil(self.tile_size)
    }

    /// Tiles per column.
    pub fn tiles_y(&self) -> u32 {
        self.height.div_ceil(self.tile_size)
    }

    /// The tile that holds a coordinate.
    pub fn tile_of(&self, c: Coord) -> TileId {
        TileId {
            tx: c.x / self.tile_size,
            ty: c.y / self.tile_size,
        }
    }

    /// Parses a tile address, which must lie on this board.
    pub fn tile(&self, tx: u64, ty: u64) -> Result<TileId, String> {
        if tx >= u64::from(self.tiles_x()) || ty >= u64::from(self.tiles_y()) {
            return Err(format!(
                "tile ({tx}, {ty}) is outside the board's {}x{} tiles of {} pixels",
                self.tiles_x(),
                self.tiles_y(),
                self.tile_size
            ));
        }
        Ok(TileId {
            tx: tx as u32,
            ty: ty as u32,
        })
    }

    /// The pixels a tile covers (edge tiles are cut short by the board).
    pub fn tile_rect(&self, t: TileId) -> TileRect {
        let x0 = t.tx * self.tile_size;
        let y0 = t.ty * self.tile_size;
        TileRect {
            x0,
            y0,
            width: self.tile_size.min(self.width - x0),
            height: self.tile_size.min(self.height - y0),
        }
    }

    /// The tile's linear number, row by row (`ty * tiles_x + tx`).
    pub fn tile_index(&self, t: TileId) -> u32 {
        t.ty * self.tiles_x() + t.tx
    }

    /// Parses a coordinate pair, which must lie on this board.
    pub fn coord(&self, x: u64, y: u64) -> Result<Coord, String> {
        if x >= u64::from(self.width) || y >= u64::from(self.height) {
            return Err(format!(
                "({x}, {y}) is outside the {}x{} board",
                self.width, self.height
            ));
        }
        Ok(Coord {
            x: x as u32,
            y: y as u32,
        })
    }

    /// Parses a placeable colour: `1..=palette.len()`. Colour 0 (empty) is
    /// only ever produced by decay.
    pub fn color(&self, c: u64) -> Result<Color, String> {
        if c == 0 || c > self.palette.len() as u64 {
            return Err(format!(
                "color must be between 1 and {}",
                self.palette.len()
            ));
        }
        Ok(Color(c as u8))
    }

    /// The linear index of a coordinate, used as the storage key of a pixel.
    pub fn index(&self, c: Coord) -> u32 {
        c.y * self.width + c.x
    }

    /// The coordinate of a linear index (inverse of [`Self::index`]).
    pub fn coord_of(&self, index: u32) -> Coord {
        Coord {
            x: index % self.width,
            y: index / self.width,
        }
    }

    pub fn meta(&self, seq: u64) -> BoardMeta {
        BoardMeta {
            id: self.id.clone(),
            width: self.width,
            height: self.height,
            palette: self.palette.clone(),
            cooldown_ms: self.cooldown_ms,
            ttl_ms: self.ttl_ms,
            tile_size: self.tile_size,
            seq,
        }
    }
}

/// A coordinate known to lie on its board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coord {
    pub x: u32,
    pub y: u32,
}

/// A placeable palette colour (1-based), known to exist on its board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(u8);

impl Color {
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Board meta as the contract shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BoardMeta {
    pub id: BoardId,
    pub width: u32,
    pub height: u32,
    pub palette: Vec<String>,
    pub cooldown_ms: u64,
    pub ttl_ms: u64,
    /// Side of a viewport tile, in pixels (see [`BoardConfig::tile_size`]).
    pub tile_size: u32,
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_board_and_edge_tiles_are_cut_short() {
        let b = crate::testing::board("main")
            .with_size(40, 17)
            .with_tile_size(16)
            .build();
        assert_eq!((b.tiles_x(), b.tiles_y()), (3, 2));
        let t = b.tile_of(Coord { x: 39, y: 16 });
        assert_eq!(t, TileId { tx: 2, ty: 1 });
        assert_eq!(
            b.tile_rect(t),
            TileRect {
                x0: 32,
                y0: 16,
                width: 8,
                height: 1
            }
        );
        assert_eq!(b.tile_index(t), 5);
        assert_eq!(b.tile_of(Coord { x: 15, y: 15 }), TileId { tx: 0, ty: 0 });
        assert_eq!(b.tile_of(Coord { x: 16, y: 0 }), TileId { tx: 1, ty: 0 });
        assert!(b.tile(2, 1).is_ok());
        assert!(b.tile(3, 0).unwrap_err().contains("outside"));
        assert!(b.tile(0, 2).is_err());
        // Every pixel lies in exactly the tile whose rectangle holds it.
        let mut covered = 0;
        for ty in 0..b.tiles_y() {
            for tx in 0..b.tiles_x() {
                let r = b.tile_rect(TileId { tx, ty });
                covered += r.width * r.height;
                for y in r.y0..r.y0 + r.height {
                    for x in r.x0..r.x0 + r.width {
                        assert_eq!(b.tile_of(Coord { x, y }), TileId { tx, ty });
                    }
                }
            }
        }
        assert_eq!(covered, 40 * 17);
    }

    #[test]
    fn tile_sizes_are_powers_of_two_in_range() {
        for ok in [8, 16, 256, 4096] {
            assert!(BoardConfig::valid_tile_size(ok), "{ok}");
        }
        for bad in [0, 1, 4, 12, 100, 8192] {
            assert!(!BoardConfig::valid_tile_size(bad), "{bad}");
        }
    }

    fn board() -> BoardConfig {
        crate::testing::board("main")
            .with_size(10, 5)
            .with_cooldown_ms(5000)
            .with_ttl_ms(600_000)
            .build()
    }

    #[test]
    fn board_ids_are_short_and_plain() {
        assert!(BoardId::parse("main").is_ok());
        assert!(BoardId::parse("a-b_C9").is_ok());
        assert!(BoardId::parse("").is_err());
        assert!(BoardId::parse("has space").is_err());
        assert!(BoardId::parse("../etc").is_err());
        assert!(BoardId::parse(&"x".repeat(65)).is_err());
        assert!(BoardId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn coordinates_must_lie_on_the_board() {
        let b = board();
        assert_eq!(b.coord(0, 0), Ok(Coord { x: 0, y: 0 }));
        assert_eq!(b.coord(9, 4), Ok(Coord { x: 9, y: 4 }));
        assert!(b.coord(10, 0).is_err());
        assert!(b.coord(0, 5).is_err());
        assert!(b.coord(u64::MAX, 0).is_err());
    }

    #[test]
    fn colours_are_one_based_palette_indices() {
        let b = board();
        assert!(b.color(0).is_err(), "colour 0 is decay only");
        assert_eq!(b.color(1).unwrap().get(), 1);
        assert_eq!(b.color(16).unwrap().get(), 16);
        assert!(b.color(17).is_err());
        assert!(b.color(256).is_err());
    }

    #[test]
    fn index_and_coord_are_inverse() {
        let b = board();
        for y in 0..5 {
            for x in 0..10 {
                let c = Coord { x, y };
                assert_eq!(b.coord_of(b.index(c)), c);
            }
        }
    }
}
