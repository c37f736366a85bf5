//! Engine.IO server settings.

use std::{borrow::Cow, time::Duration};

use engineioxide_core::TransportType;

/// Settings of an Engine.IO server.
#[derive(Debug, Clone)]
pub struct EngineIoConfig {
    /// The path the server answers on; other paths go to the inner service.
    pub req_path: Cow<'static, str>,
    /// Time between the server's pings (and from the handshake to the first).
    pub ping_interval: Duration,
    /// Time a client has to answer a ping before its session is closed.
    pub ping_timeout: Duration,
    /// Time a client has to complete an upgrade after opening its WebSocket.
    pub upgrade_timeout: Duration,
    /// Packets (or atomic groups of packets) queued for a session before
    /// emits to it fail. The queue allocates as it fills, so the bound costs
    /// an idle session nothing.
    pub max_buffer_size: usize,
    /// Largest long-polling POST body, in bytes; advertised as `maxPayload`.
    pub max_payload: u64,
    /// Largest read made at once from a WebSocket, in bytes. No buffer of
    /// this size is kept: a connection holds read memory only while a frame
    /// is incomplete.
    pub ws_read_buffer_size: usize,
    /// Largest WebSocket message (all fragments), in bytes.
    pub ws_max_message_size: usize,
    /// Largest WebSocket frame, in bytes.
    pub ws_max_frame_size: usize,
    /// The allowed transports, as a bit set of [`TransportType`] values.
    pub transports: u8,
}

impl Default for EngineIoConfig {
    fn default() -> Self {
        Self {
            req_path: "/engine.io".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_buffer_size: 128,
            max_payload: 100_000,
            ws_read_buffer_size: 4096,
            ws_max_message_size: 64 << 20,
            ws_max_frame_size: 16 << 20,
            transports: TransportType::Polling as u8 | TransportType::Websocket as u8,
        }
    }
}

impl EngineIoConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> EngineIoConfigBuilder {
        EngineIoConfigBuilder::new()
    }

    /// Whether a transport is allowed.
    pub fn allowed_transport(&self, transport: TransportType) -> bool {
        self.transports & transport as u8 == transport as u8
    }
}

/// Builder of an [`EngineIoConfig`].
#[derive(Debug, Clone)]
pub struct EngineIoConfigBuilder {
    config: EngineIoConfig,
}

impl EngineIoConfigBuilder {
    /// Starts from the defaults.
    pub fn new() -> Self {
        Self {
            config: EngineIoConfig::default(),
        }
    }

    /// See [`EngineIoConfig::req_path`].
    pub fn req_path(mut self, req_path: impl Into<Cow<'static, str>>) -> Self {
        self.config.req_path = req_path.into();
        self
    }

    /// See [`EngineIoConfig::ping_interval`].
    pub fn ping_interval(mut self, ping_interval: Duration) -> Self {
        self.config.ping_interval = ping_interval;
        self
    }

    /// See [`EngineIoConfig::ping_timeout`].
    pub fn ping_timeout(mut self, ping_timeout: Duration) -> Self {
        self.config.ping_timeout = ping_timeout;
        self
    }

    /// See [`EngineIoConfig::upgrade_timeout`].
    pub fn upgrade_timeout(mut self, upgrade_timeout: Duration) -> Self {
        self.config.upgrade_timeout = upgrade_timeout;
        self
    }

    /// See [`EngineIoConfig::max_buffer_size`].
    pub fn max_buffer_size(mut self, max_buffer_size: usize) -> Self {
        self.config.max_buffer_size = max_buffer_size;
        self
    }

    /// See [`EngineIoConfig::max_payload`].
    pub fn max_payload(mut self, max_payload: u64) -> Self {
        self.config.max_payload = max_payload;
        self
    }

    /// See [`EngineIoConfig::ws_read_buffer_size`].
    pub fn ws_read_buffer_size(mut self, ws_read_buffer_size: usize) -> Self {
        self.config.ws_read_buffer_size = ws_read_buffer_size;
        self
    }

    /// See [`EngineIoConfig::ws_max_message_size`].
    pub fn ws_max_message_size(mut self, ws_max_message_size: usize) -> Self {
        self.config.ws_max_message_size = ws_max_message_size;
        self
    }

    /// See [`EngineIoConfig::ws_max_frame_size`].
    pub fn ws_max_frame_size(mut self, ws_max_frame_size: usize) -> Self {
        self.config.ws_max_frame_size = ws_max_frame_size;
        self
    }

    /// The allowed transports. An empty list keeps the default (both).
    pub fn transports<const N: usize>(mut self, transports: [TransportType; N]) -> Self {
        if N > 0 {
            self.config.transports = transports.iter().fold(0, |acc, t| acc | *t as u8);
        }
        self
    }

    /// The settings.
    pub fn build(self) -> EngineIoConfig {
        self.config
    }
}

impl Default for EngineIoConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_restricts_the_allowed_set() {
        let config = EngineIoConfig::builder()
            .transports([TransportType::Websocket])
            .build();
        assert!(config.allowed_transport(TransportType::Websocket));
        assert!(!config.allowed_transport(TransportType::Polling));
        let both = EngineIoConfig::default();
        assert!(both.allowed_transport(TransportType::Polling));
        assert!(both.allowed_transport(TransportType::Websocket));
    }
}
