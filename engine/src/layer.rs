//! A tower layer serving Engine.IO in front of an inner service.

use std::sync::Arc;

use tower_layer::Layer;

use crate::config::EngineIoConfig;
use crate::handler::EngineIoHandler;
use crate::service::EngineIoService;

/// Wraps a service with an [`EngineIoService`].
#[derive(Debug, Clone)]
pub struct EngineIoLayer<H: EngineIoHandler> {
    config: EngineIoConfig,
    handler: Arc<H>,
}

impl<H: EngineIoHandler> EngineIoLayer<H> {
    /// A layer with the default settings.
    pub fn new(handler: Arc<H>) -> Self {
        Self::from_config(handler, EngineIoConfig::default())
    }

    /// A layer with these settings.
    pub fn from_config(handler: Arc<H>, config: EngineIoConfig) -> Self {
        Self { config, handler }
    }
}

impl<S: Clone, H: EngineIoHandler + Clone> Layer<S> for EngineIoLayer<H> {
    type Service = EngineIoService<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineIoService::with_config_inner(inner, self.handler.clone(), self.config.clone())
    }
}
