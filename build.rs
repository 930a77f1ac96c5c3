//! Compiles the protos with protox (no system protoc) and writes the
//! descriptor set that server reflection serves.

use std::{env, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/leadqual/v1/verdict.proto",
    "proto/leadqual/v1/lead.proto",
    "proto/leadqual/v1/profile.proto",
    "proto/leadqual/v1/qualification_service.proto",
    "proto/leadqual/v1/admin_service.proto",
    // Served by reflection so clients can decode rich error details.
    "proto/google/rpc/error_details.proto",
    "proto/google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate! embeds the migrations; a new file must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("leadqual_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The per-item error of QualifyLeads: tonic-types' own type, so that
        // a Status's details convert to it without re-encoding by hand.
        .extern_path(".google.rpc.Status", "::tonic_types::pb::Status")
        // prost's codec, with malformed requests INVALID_ARGUMENT.
        .codec_path("crate::grpc::codec::LeadqualCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
