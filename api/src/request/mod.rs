//! Request plumbing shared by the generated handlers, one module per job; everything is
//! re-exported here, so generated code names it as `keycred_api::request::…`.

mod body;
mod context;
mod credentials;
mod etag;
mod json;
mod params;
mod routing;

pub use body::{parse_body, parse_optional_body, read_body_bytes, BodyKind, BodyTimedOut, MAX_BODY_BYTES};
pub use context::{client_address, request_id, ClientAddress, Operation, RequestContext, RequestId};
pub use credentials::{basic_credentials, bearer_token, BasicCredentials};
pub use etag::{with_etag, EntityTag};
pub use json::json_response;
pub use params::{parse_canonical_uuid, path_params, RawParams};
pub use routing::{method_not_allowed, not_found};
