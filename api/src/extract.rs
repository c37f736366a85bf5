//! The api's own extractors, each rejecting with an [`ApiError`] so that a
//! bad request is answered in the error envelope like any other error.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON object body as `T`. serde would also read a struct from a JSON
/// array (`["a@b.io", "pw"]`); the contract's bodies are objects only.
/// Handlers that record the outcome of a bad body take
/// `Result<JsonObject<T>, ApiError>`.
pub(crate) struct JsonObject<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(v) = Json::<Value>::from_request(req, state).await?;
        if !v.is_object() {
            return Err(ApiError::InvalidInput(
                "the body must be a JSON object".into(),
            ));
        }
        serde_json::from_value(v)
            .map(Self)
            .map_err(|e| ApiError::InvalidInput(e.to_string()))
    }
}

/// A query string as `T`, rejected as `invalid_input` in the error envelope.
/// Handlers that must answer a missing board (404) before a bad query take
/// `Result<QueryParams<T>, ApiError>`.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|e| ApiError::InvalidInput(format!("bad query string: {}", e.body_text())))
    }
}
