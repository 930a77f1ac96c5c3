//! Code generated from `proto/leadqual/v1` by `build.rs`.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("leadqual.v1");
}

/// The compiled descriptor set served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/leadqual_descriptor.bin"));
