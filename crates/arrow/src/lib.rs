//! Records and Arrow: encoding Arrow arrays as JSON records ([`encode`]), inferring a schema
//! from records ([`infer`]), decoding records into batches ([`decode`]) and the schema file
//! ([`schema`]).

pub mod decode;
pub mod encode;
mod fields;
mod flat;
pub mod infer;
pub mod schema;

pub use sluice_stream::json::write_string as json_string;
